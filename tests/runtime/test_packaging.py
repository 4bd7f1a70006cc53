"""The wheel holds only fer_edge/… (tools remapped into fer_edge.*), with the bundled assets."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_contains_only_the_fer_edge_namespace(tmp_path):
    pytest.importorskip("build")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(REPO)],
                   check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("fer_edge-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"fer_edge"}
    for expected in ("fer_edge/recognizer.py", "fer_edge/trainers/__init__.py", "fer_edge/engines/__init__.py",
                     "fer_edge/calibration/__init__.py", "fer_edge/assets/blazeface_short.onnx"):
        assert expected in names
    assert not any("/tests/" in n for n in names)
