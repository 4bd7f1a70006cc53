"""A runtime-only install (`pip install fer-edge`): every subcommand works or says in one line which extra it needs.

Each command runs in a fresh interpreter whose import system refuses the optional packages, as a clean
virtualenv without the extras would.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fer_edge.card import FERPLUS_LABELS
from fer_edge.cli import COMMANDS

OPTIONAL = ("torch", "torchvision", "onnx", "onnxsim", "tqdm", "yaml", "matplotlib", "tensorrt", "modelopt")

# Installs a finder that refuses the optional packages, then runs the CLI with the remaining arguments.
_RUNNER = f"""
import importlib.abc, sys
BLOCKED = {OPTIONAL!r}
class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Refuse())
from fer_edge.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run_without_extras(*argv, cwd):
    proc = subprocess.run([sys.executable, "-c", _RUNNER, *map(str, argv)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert "Traceback" not in proc.stderr, proc.stderr
    for name in OPTIONAL:  # the refusal really happened: nothing optional got in
        assert f"No module named '{name}'" not in proc.stdout
    return proc


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_onnx_model):
    root = tmp_path_factory.mktemp("no_extras")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(8, 48, 48), dtype=np.uint8)
    y = np.arange(8)
    np.savez(root / "tiny.npz", x_train=x, y_train=y, x_test=x, y_test=y, class_names=np.array(FERPLUS_LABELS))
    (root / "model.ckpt").write_bytes(b"not used: the extra check comes first")
    return {"root": root, "onnx": tiny_onnx_model, "npz": root / "tiny.npz"}


def _cases(w):
    """Arguments that make each command reach its work, and the extra it must name (None: it must work)."""
    return {
        "train": (["--data", w["npz"], "--output", w["root"] / "run"], "train"),
        "export": ([w["root"] / "model.ckpt"], "train,export"),
        "quantize": ([w["onnx"], "--precision", "fp16"], "export"),
        "eval": ([w["root"] / "model.ckpt", "--data", w["npz"]], "train"),
        "info": ([w["onnx"]], None),
    }


def test_every_command_works_or_names_its_extra(workspace):
    cases = _cases(workspace)
    for name in COMMANDS:
        argv, extra = cases.get(name, (["--help"], None))
        proc = _run_without_extras(name, *argv, cwd=workspace["root"])
        if extra is None and proc.returncode == 0:
            continue
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, (name, proc.returncode, proc.stderr)
        wanted = extra or ""
        assert f"pip install 'fer-edge[{wanted}" in lines[0], (name, lines[0])


def test_eval_of_an_onnx_model_needs_no_torch(workspace):
    proc = _run_without_extras("eval", workspace["onnx"], "--data", workspace["npz"], "--no-png",
                               "--out", workspace["root"] / "eval", cwd=workspace["root"])
    assert proc.returncode == 0, proc.stderr
    assert "test (all images, n=8): accuracy" in proc.stdout
    assert Path(workspace["root"] / "eval" / "metrics.json").is_file()


def test_a_checkpoint_needs_torch_even_through_the_library(workspace, monkeypatch):
    from fer_edge.trainers.evaluate import evaluate_model_file

    from fer_edge.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch → ImportError, as without the extra
    with pytest.raises(MissingDependencyError, match=r"fer-edge\[train\]"):
        evaluate_model_file(workspace["root"] / "model.ckpt", workspace["npz"])
