"""The runtime must import without any of the tools' heavy dependencies (DESIGN.md §3)."""

import subprocess
import sys

RUNTIME_MODULES = [
    "fer_edge", "fer_edge.card", "fer_edge.preprocess", "fer_edge.recognizer", "fer_edge.draw", "fer_edge.face",
    "fer_edge.errors", "fer_edge.backends", "fer_edge.backends.onnxruntime", "fer_edge.backends.tensorrt",
    "fer_edge.detect", "fer_edge.cli", "fer_edge.commands.predict", "fer_edge.commands.info",
]
OPTIONAL = ["fer_edge.video", "fer_edge.tracking", "fer_edge.pipeline", "fer_edge.writers", "fer_edge.bench",
            "fer_edge.cuda"]
FORBIDDEN = ["torch", "onnx", "onnxsim", "tensorrt", "matplotlib", "pycuda"]


def test_runtime_imports_no_tool_dependencies():
    code = f"""
import importlib, importlib.util, sys
mods = {RUNTIME_MODULES!r} + [m for m in {OPTIONAL!r} if importlib.util.find_spec(m) is not None]
for m in mods:
    importlib.import_module(m)
bad = [m for m in {FORBIDDEN!r} if m in sys.modules]
print(",".join(bad))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"runtime import pulled in: {out.stdout.strip()}"
