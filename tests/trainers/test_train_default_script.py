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
  case "$prev" in --out|-o) out=$a ;; --set) [[ $a == output_dir=* ]] && out=${a#output_dir=} ;; esac
  prev=$a
done
if [[ $1 == train ]]; then
  [[ -n $FAKE_FAIL && "$*" == *"$FAKE_FAIL"* ]] && exit 7
  mkdir -p "$out"; touch "$out/best.ckpt"
else
  touch "$out"
fi
"""


def _run(tmp_path, steps="distill gen2 train", fail=""):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs the git history (the script takes releases 1 and 2 from it)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "fer-edge"
    fake.write_text(FAKE_FER_EDGE)
    fake.chmod(0o755)
    log = tmp_path / "calls.log"
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_LOG=str(log), FAKE_FAIL=fail,
               STEPS=steps, DATA="data.npz", TEACHERS=str(tmp_path / "t"), RUN=str(tmp_path / "run"))
    proc = subprocess.run(["bash", str(SCRIPT)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    calls = log.read_text().splitlines() if log.exists() else []
    calls = [c.replace(str(tmp_path / "t") + "/", "").replace(str(tmp_path / "run"), "RUN") for c in calls]
    return proc, [c for c in calls if c.startswith("teacher")], [c for c in calls if c.startswith("train")]


def _outputs(calls, flag):
    return [c.split(flag)[1].split()[0] for c in calls]


def test_the_release_is_taught_by_generation_3(tmp_path):
    proc, teachers, trains = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _outputs(teachers, "--out ") == ["gen1_a.npz", "gen1_b.npz", "gen2.npz", "gen3.npz"]
    assert teachers[2].split()[1:4] == ["release2_fp32.onnx", "gen1_a/best.ckpt", "gen1_b/best.ckpt"]
    assert teachers[3].split()[1:4] == ["release2_fp32.onnx", "gen2_s/best.ckpt", "gen2_sw/best.ckpt"]
    assert sorted(_outputs(trains[:2], "output_dir=")) == ["gen1_a", "gen1_b"]  # side by side: either order
    assert all(t.endswith("epochs=60") for t in trains[:2]) and all("threads=1" in t for t in trains[:2])
    gen2 = {_outputs([t], "output_dir=")[0]: t for t in trains[2:4]}
    assert sorted(gen2) == ["gen2_s", "gen2_sw"] and all("teacher=gen2.npz" in t for t in gen2.values())
    assert "arch=edgenet_sw" in gen2["gen2_sw"] and "arch=" not in gen2["gen2_s"]
    assert len(trains) == 5 and "teacher=gen3.npz" in trains[4] and "output_dir=RUN" in trains[4]
    assert "epochs=" not in trains[4], "the release trains for the config's epochs (140)"
    assert (tmp_path / "t" / "release2_fp32.onnx").stat().st_size > 100_000  # taken from git history


def test_generation_3_at_70_epochs_is_taught_by_the_same_file(tmp_path):
    proc, teachers, trains = _run(tmp_path, steps="gen3")
    assert proc.returncode == 0, proc.stderr
    assert teachers == [] and _outputs(trains, "output_dir=") == ["gen3_s"]
    assert "teacher=gen3.npz" in trains[0] and "epochs=70" in trains[0]


def test_consistent_teaching_scores_the_generation_3_teachers_online(tmp_path):
    proc, teachers, trains = _run(tmp_path, steps="consistent")
    assert proc.returncode == 0, proc.stderr
    assert teachers == [], "online teachers need no stored teacher file"
    assert sorted(_outputs(trains, "output_dir=")) == ["gen3_ct", "gen3_ct_seed1"]
    online = "teacher_models=[release2_fp32.onnx,release3_fp32.onnx,gen2_sw_fp32.onnx]"  # in $TEACHERS
    assert all(online in t and "--set teacher= " in t for t in trains)
    assert sum("seed=1" in t for t in trains) == 1
    assert (tmp_path / "t" / "release3_fp32.onnx").stat().st_size > 100_000  # taken from git history
    assert (tmp_path / "t" / "gen2_sw_fp32.onnx").exists()  # exported from the gen2 step's student


def test_a_failed_student_stops_the_script(tmp_path):
    proc, teachers, trains = _run(tmp_path, fail="t/gen1_b ")
    assert proc.returncode == 7
    assert "gen2.npz" not in " ".join(teachers), "generation 2 must not start from a failed generation 1"
    assert not any("gen2_s" in t for t in trains)
    assert not any("output_dir=RUN" in t for t in trains)
