"""BlazeFace on the labelled VOC photos in ../shared/data/frames: recall at IoU >= 0.5, false positives, dogs.jpg.

Run with ``-s`` to see the per-variant numbers quoted in docs/detector.md.
"""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from fer_edge.detect import BlazeFace  # noqa: E402

pytestmark = pytest.mark.data

# Measured (docs/detector.md): short 5/18 recall, 0.25 FP/image; full 17/18, 0.00 FP/image. Floors = one or two
# faces fewer, ceilings = one more false positive per two images.
RECALL_FLOOR = {"short": 4 / 18, "full": 15 / 18}
FP_PER_IMAGE_CEILING = {"short": 0.75, "full": 0.5}


def load_boxes(xml_path):
    """dlib imglab XML → {file name: (N, 4) x1, y1, x2, y2}."""
    out = {}
    for image in ET.parse(str(xml_path)).getroot().iter("image"):
        boxes = [
            [float(b.get("left")), float(b.get("top")),
             float(b.get("left")) + float(b.get("width")), float(b.get("top")) + float(b.get("height"))]
            for b in image.iter("box")
        ]
        out[image.get("file")] = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    return out


def iou_matrix(a, b):
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def greedy_match(quality, ok):
    """One-to-one matches (gt, det) taken best quality first among pairs where ``ok``."""
    pairs = sorted(zip(*np.nonzero(ok)), key=lambda ij: -quality[ij])
    used_g, used_d, matches = set(), set(), []
    for g, d in pairs:
        if g not in used_g and d not in used_d:
            used_g.add(g), used_d.add(d), matches.append((g, d))
    return matches


def evaluate(detector, folder, labels):
    totals = {"faces": 0, "tp_iou": 0, "tp_centre": 0, "fp": 0, "images": 0, "ious": []}
    for name, gt in labels.items():
        frame = cv2.imread(str(folder / name))
        assert frame is not None, name
        found = detector.detect(frame)
        det = found.boxes.astype(np.float64)
        iou = iou_matrix(gt, det) if len(det) else np.zeros((len(gt), 0))
        by_iou = greedy_match(iou, iou >= 0.5)
        centres = (det[:, :2] + det[:, 2:]) / 2
        inside = (
            (centres[None, :, 0] > gt[:, None, 0]) & (centres[None, :, 0] < gt[:, None, 2])
            & (centres[None, :, 1] > gt[:, None, 1]) & (centres[None, :, 1] < gt[:, None, 3])
        )
        by_centre = greedy_match(iou, inside)
        totals["faces"] += len(gt)
        totals["tp_iou"] += len(by_iou)
        totals["tp_centre"] += len(by_centre)
        totals["fp"] += len(det) - len(by_iou)
        totals["images"] += 1
        totals["ious"] += [iou[g, d] for g, d in by_iou]
    return totals


@pytest.fixture(scope="module")
def frames(shared_data):
    folder = shared_data / "frames"
    if not (folder / "training.xml").is_file():
        pytest.skip(f"{folder}/training.xml not present")
    return folder


@pytest.mark.parametrize("variant", ["short", "full"])
def test_recall_and_false_positives(variant, frames):
    labels = load_boxes(frames / "training.xml")
    assert sum(len(b) for b in labels.values()) == 18
    with BlazeFace(variant, threads=1) as det:
        t = evaluate(det, frames, labels)
    recall = t["tp_iou"] / t["faces"]
    fp_per_image = t["fp"] / t["images"]
    print(
        f"\nblazeface {variant}: recall@IoU0.5 {t['tp_iou']}/{t['faces']} = {recall:.3f}, "
        f"recall@centre-in-box {t['tp_centre']}/{t['faces']} = {t['tp_centre'] / t['faces']:.3f}, "
        f"false positives {t['fp']} in {t['images']} images = {fp_per_image:.2f}/image, "
        f"mean IoU of matches {np.mean(t['ious']) if t['ious'] else float('nan'):.3f}"
    )
    assert recall >= RECALL_FLOOR[variant] - 1e-9
    assert fp_per_image <= FP_PER_IMAGE_CEILING[variant]


@pytest.mark.parametrize("variant", ["short", "full"])
def test_dogs_have_no_face(variant, frames):
    frame = cv2.imread(str(frames / "dogs.jpg"))
    if frame is None:
        pytest.skip("dogs.jpg not present")
    with BlazeFace(variant, threads=1) as det:
        found = det.detect(frame)
    assert len(found) == 0, f"false face(s) at {found.boxes.round().tolist()} scores {found.scores.tolist()}"


def test_default_detector_finds_95_percent_and_no_dog(frames):
    """Acceptance of issue 15: the default detector's recall at IoU >= 0.4 on training.xml, and no box on dogs."""
    from fer_edge.detect import DEFAULT_DETECTOR, create_detector

    labels = load_boxes(frames / "training.xml")
    det = create_detector(DEFAULT_DETECTOR, threads=1)
    found = 0
    for name, gt in labels.items():
        boxes = det.detect(cv2.imread(str(frames / name))).boxes.astype(np.float64)
        iou = iou_matrix(gt, boxes) if len(boxes) else np.zeros((len(gt), 0))
        found += len(greedy_match(iou, iou >= 0.4))
    print(f"\n{DEFAULT_DETECTOR}: recall@IoU0.4 {found}/18")
    assert found / 18 >= 0.95
    dogs = cv2.imread(str(frames / "dogs.jpg"))
    assert dogs is not None and len(det.detect(dogs)) == 0
