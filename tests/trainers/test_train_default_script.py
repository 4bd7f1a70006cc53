"""tools/train_default.sh, the bundled model's reproduce script, run with a recording stand-in for `fer-edge`:
the generations teach each other in the documented order, and a failed student stops the script."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "train_default.sh"

# Records its arguments, then makes the file or run folder the real command would write.
FAKE_FER_EDGE = """#!/usr/bin/env bash
echo "$*" >> "$FAKE_LOG"
out=""; prev=""
for a in "$@"; do
  case "$prev" in --out) out=$a ;; --set) [[ $a == output_dir=* ]] && out=${a#output_dir=} ;; esac
  prev=$a
done
if [[ $1 == train ]]; then
  [[ -n $FAKE_FAIL && "$*" == *"$FAKE_FAIL"* ]] && exit 7
  mkdir -p "$out"; touch "$out/best.ckpt"
else
  touch "$out"
fi
"""


def _run(tmp_path, fail=""):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs the git history (the script takes releases 1 and 2 from it)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "fer-edge"
    fake.write_text(FAKE_FER_EDGE)
    fake.chmod(0o755)
    log = tmp_path / "calls.log"
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_LOG=str(log), FAKE_FAIL=fail,
               STEPS="distill train", DATA="data.npz", TEACHERS=str(tmp_path / "t"), RUN=str(tmp_path / "run"))
    proc = subprocess.run(["bash", str(SCRIPT)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    calls = log.read_text().splitlines() if log.exists() else []
    return proc, [c.replace(str(tmp_path / "t") + "/", "") for c in calls]


def test_each_generation_is_taught_by_the_one_before(tmp_path):
    proc, calls = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    teachers = [c for c in calls if c.startswith("teacher")]
    trains = [c for c in calls if c.startswith("train")]
    assert [t.split("--out ")[1].split()[0] for t in teachers] == ["gen1_a.npz", "gen1_b.npz", "gen2.npz", "gen3.npz"]
    assert teachers[2].split()[1:4] == ["release2_fp32.onnx", "gen1_a/best.ckpt", "gen1_b/best.ckpt"]
    assert teachers[3].split()[1:4] == ["release2_fp32.onnx", "gen2_s/best.ckpt", "gen2_sw/best.ckpt"]
    by_run = {t.split("output_dir=")[1].split()[0]: t for t in trains}  # pairs run side by side: any order
    assert len(trains) == 5 and trains[-1] is by_run[str(tmp_path / "run")]
    assert "teacher=gen1_a.npz" in by_run["gen1_a"] and "teacher=gen1_b.npz" in by_run["gen1_b"]
    assert all("epochs=60" in by_run[g] for g in ("gen1_a", "gen1_b"))
    assert "teacher=gen2.npz" in by_run["gen2_s"] and "arch=edgenet_sw" in by_run["gen2_sw"]
    assert "teacher=gen3.npz" in trains[-1]
    assert (tmp_path / "t" / "release2_fp32.onnx").stat().st_size > 100_000  # taken from git history


def test_a_failed_student_stops_the_script(tmp_path):
    proc, calls = _run(tmp_path, fail="t/gen2_sw ")
    assert proc.returncode == 7
    assert not any("gen3.npz" in c for c in calls), "generation 3 must not start from a failed generation 2"
