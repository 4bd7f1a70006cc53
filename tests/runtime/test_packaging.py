"""The wheel holds only fer_edge/… (tools remapped into fer_edge.*), with the bundled assets."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_contains_only_the_fer_edge_namespace(tmp_path):
    pytest.importorskip("build")
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".venv", ".venv-triton", ".git", "build", "dist",
                                                             "*.egg-info", "__pycache__", "out", "runs", "reports"))
    dist = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(src)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (wheel,) = dist.glob("fer_edge-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"fer_edge"}
    for expected in ("fer_edge/recognizer.py", "fer_edge/trainers/__init__.py", "fer_edge/engines/__init__.py",
                     "fer_edge/calibration/__init__.py", "fer_edge/assets/blazeface_short.onnx",
                     "fer_edge/engines/templates/triton_frames_model.py",
                     "fer_edge/assets/yunet.onnx", "fer_edge/assets/LICENSE.yunet.txt",
                     "fer_edge/preprocess/cuda.py", "fer_edge/_kernels/src/preprocess.cu",
                     "fer_edge/_kernels/src/fer_preprocess_pixel.h", "fer_edge/_kernels/include/fer_edge/preprocess.h"):
        assert expected in names
    assert not any("/tests/" in n for n in names)
    assert not any(n.startswith("cpp_ext/") or "CMakeLists" in n for n in names)
