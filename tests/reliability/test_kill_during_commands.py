"""`kill -9` at any point of a real `fer-edge quantize` run: nothing partial at the final path, no temp left after.

The writer-level kills (atomic_path, VideoWriter) are in tests/runtime/test_untrusted_text_and_writes.py; this one
kills the whole command process at spread moments of its own run time, from start-up to publishing.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("onnx")

import fer_edge  # noqa: E402
from fer_edge.backends import backend_from_path  # noqa: E402

SOURCE = Path(fer_edge.__file__).resolve().parent / "assets" / "ferplus_default_fp32.onnx"
KILLS = 12


def _command(out: Path):
    return [sys.executable, "-m", "fer_edge.cli", "quantize", str(SOURCE), "--precision", "fp16", "-o", str(out)]


def _run(out: Path) -> float:
    t0 = time.monotonic()
    subprocess.run(_command(out), check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.monotonic() - t0


def test_killed_quantize_leaves_no_partial_model_and_the_next_run_cleans_up(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    out = folder / "model.fp16.onnx"
    duration = _run(tmp_path / "warm.onnx")  # how long one run takes here: the kills spread over it
    killed = 0
    for k in range(1, KILLS + 1):
        if out.exists():
            out.unlink()
        proc = subprocess.Popen(_command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
        time.sleep(duration * (0.3 + 0.7 * k / (KILLS + 1)))  # start-up is most of a run: favour the end
        proc.send_signal(signal.SIGKILL)
        rc = proc.wait(30)
        killed += rc == -signal.SIGKILL
        if out.exists():  # the run finished before the kill: then the file must be whole
            with backend_from_path(out, threads=1) as backend:  # integrity-checked load
                assert backend.card.precision == "fp16"
    assert killed >= KILLS // 4, f"only {killed} of {KILLS} runs were killed before they finished"
    _run(out)  # the next run publishes and removes the temp files its killed predecessors left
    with backend_from_path(out, threads=1) as backend:
        assert backend.card.precision == "fp16"
    leftovers = sorted(p.name for p in folder.iterdir() if p.name != out.name)
    assert leftovers == [], f"temp files left behind: {leftovers}"
