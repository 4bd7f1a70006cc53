"""Faces pasted at 20-560 px into 640x480 frames (tools/build_face_scenes.py): the default detector finds them at
the rates docs/detector.md states, and the close-ups as well as the group-photo faces.

The scenes use the labelled faces of ../shared/data/frames, so this runs where that folder is (CI has it beside
the repository) and skips otherwise. Run with ``-s`` to print the table.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("skimage")
cv2 = pytest.importorskip("cv2")

from fer_edge.detect import DEFAULT_DETECTOR, create_detector  # noqa: E402
from fer_edge.detect.evaluate import evaluate_detector, markdown_table, read_truth  # noqa: E402

pytestmark = pytest.mark.data

TOOL = Path(__file__).resolve().parents[2] / "tools" / "build_face_scenes.py"

#: docs/detector.md, "Faces pasted at known sizes", 640x480, default detector (yunet): found/labelled per bin.
#: Floors allow one face fewer per bin than measured.
DOCUMENTED = {"<40": (2, 32), "40-80": (11, 24), "80-200": (19, 21), ">200": (15, 15)}


def _builder():
    spec = importlib.util.spec_from_file_location("build_face_scenes", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scenes(shared_data, tmp_path_factory):
    frames = shared_data / "frames"
    if not (frames / "training.xml").is_file():
        pytest.skip(f"{frames}/training.xml not present")
    out = tmp_path_factory.mktemp("scenes")
    truth = _builder().build_scenes(out, frames, seed=0, frame_sizes=[(640, 480)])
    return out, read_truth(truth)


def test_default_detector_rates_by_face_size(scenes):
    folder, truth = scenes
    images = [(name, cv2.imread(str(folder / name))) for name in sorted(truth)]
    assert sum(len(t.boxes) for t in truth.values()) == 92
    det = create_detector(DEFAULT_DETECTOR, threads=1)
    result = evaluate_detector(det, images, truth, iou=0.4, repeat=1, name=DEFAULT_DETECTOR)
    print("\n" + markdown_table([result], 0.4))
    for label, (found, faces) in DOCUMENTED.items():
        got = result["recall_by_size"][label]
        assert got["faces"] == faces, label
        assert got["found"] >= found - 1, f"{label}: {got['found']}/{faces}, docs say {found}/{faces}"
    assert result["false_boxes"] <= 1
    # close-ups bigger than the frame's height (480, 560 px, cut by its edges) are found too
    close = [p for p in result["per_image"] if "_480px_" in p["image"] or "_560px_" in p["image"]]
    assert close and all(p["found"] == p["faces"] for p in close)
