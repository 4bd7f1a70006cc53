"""The runtime must import without any of the tools' heavy dependencies (DESIGN.md §3).

Every module of the physical ``fer_edge`` package is found by walking it (pkgutil), so a new runtime module is
covered without editing a list; the tool packages installed as ``fer_edge.trainers/engines/calibration`` are not
part of the runtime and are skipped.
"""

import subprocess
import sys

FORBIDDEN = ["torch", "onnx", "onnxsim", "tensorrt", "matplotlib", "pycuda"]
TOOL_PACKAGES = ("fer_edge.trainers", "fer_edge.engines", "fer_edge.calibration")


def test_runtime_imports_no_tool_dependencies():
    code = f"""
import importlib, pkgutil, sys
import fer_edge
mods = ["fer_edge"] + [m.name for m in pkgutil.walk_packages(fer_edge.__path__, "fer_edge.")
                       if not m.name.startswith({TOOL_PACKAGES!r})]
for m in mods:
    importlib.import_module(m)
bad = [m for m in {FORBIDDEN!r} if m in sys.modules]
print(len(mods))
print(",".join(bad))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, bad = (out.stdout.splitlines() + [""])[:2]
    assert int(count) >= 30, f"the walk found only {count} runtime modules"
    assert bad.strip() == "", f"runtime import pulled in: {bad.strip()}"
