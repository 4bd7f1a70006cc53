"""Detector evaluation against labelled face boxes: truth readers (dlib XML, VOC XML, CSV), matching, metrics.

``fer-edge eval-detector`` prints and saves what ``evaluate_detector`` returns; docs/detector.md's table comes
from it. A face counts as found when a detection overlaps it with IoU >= ``iou`` (one-to-one, best IoU first);
every unmatched detection is a false box.
"""

from __future__ import annotations

import csv
import statistics
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidInputError
from .base import FaceDetector

__all__ = ["SIZE_BINS", "ImageTruth", "evaluate_detector", "greedy_match", "iou_matrix", "read_truth", "size_bin"]

#: Face-size bins (longer side of the labelled box, frame pixels): (label, low inclusive, high exclusive).
SIZE_BINS = (("<40", 0.0, 40.0), ("40-80", 40.0, 80.0), ("80-200", 80.0, 200.0), (">200", 200.0, float("inf")))


@dataclass
class ImageTruth:
    """Labelled faces of one image: (N, 4) x1, y1, x2, y2 boxes, and (M, 4) boxes to ignore (dlib ``ignore``)."""

    boxes: np.ndarray
    ignore: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float64))


def _boxes(rows: List[List[float]]) -> np.ndarray:
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def _read_dlib(root: ET.Element) -> Dict[str, ImageTruth]:
    out = {}
    for image in root.iter("image"):
        keep, ignore = [], []
        for b in image.iter("box"):
            x, y = float(b.get("left")), float(b.get("top"))
            box = [x, y, x + float(b.get("width")), y + float(b.get("height"))]
            (ignore if b.get("ignore") in ("1", "true") else keep).append(box)
        out[image.get("file")] = ImageTruth(_boxes(keep), _boxes(ignore))
    return out


def _read_voc(root: ET.Element, path: Path) -> Dict[str, ImageTruth]:
    name = root.findtext("filename")
    if not name:
        raise InvalidInputError(f"{path}: VOC annotation without <filename>")
    boxes = []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        if bb is None:
            continue
        boxes.append([float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")])
    return {name: ImageTruth(_boxes(boxes))}


def _read_csv(path: Path) -> Dict[str, ImageTruth]:
    out: Dict[str, List[List[float]]] = {}
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"image", "x1", "y1", "x2", "y2"}
        if not need <= set(reader.fieldnames or ()):
            raise InvalidInputError(f"{path}: CSV truth needs the header image,x1,y1,x2,y2 (got {reader.fieldnames}); "
                                    "a row with empty x1..y2 lists an image with no face")
        for n, row in enumerate(reader, start=2):
            rows = out.setdefault(row["image"], [])
            values = [row[k].strip() for k in ("x1", "y1", "x2", "y2")]
            if not any(values):
                continue
            try:
                rows.append([float(v) for v in values])
            except ValueError:
                raise InvalidInputError(f"{path}, line {n}: box {values} is not four numbers") from None
    return {name: ImageTruth(_boxes(rows)) for name, rows in out.items()}


def read_truth(path) -> Dict[str, ImageTruth]:
    """Labelled face boxes by image name from a dlib imglab XML, a VOC XML (or a folder of them), or a CSV.

    CSV: header ``image,x1,y1,x2,y2``, one row per face; a row with empty x1..y2 lists an image with no face.
    VOC: every ``<object>``'s ``<bndbox>`` is a face. dlib: ``<box top left width height>``; ``ignore='1'``
    boxes are neither misses nor false boxes.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.xml"))
        if not files:
            raise InvalidInputError(f"no .xml files in {path}")
        out: Dict[str, ImageTruth] = {}
        for f in files:
            out.update(read_truth(f))
        return out
    if not path.is_file():
        raise InvalidInputError(f"truth file {path} does not exist")
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    if path.suffix.lower() != ".xml":
        raise InvalidInputError(f"truth file {path}: use a dlib or VOC .xml or a .csv (image,x1,y1,x2,y2)")
    try:
        root = ET.parse(str(path)).getroot()
    except ET.ParseError as exc:
        raise InvalidInputError(f"truth file {path} is not valid XML: {exc}") from None
    if root.tag == "dataset":
        return _read_dlib(root)
    if root.tag == "annotation":
        return _read_voc(root, path)
    raise InvalidInputError(f"truth file {path}: root <{root.tag}> is neither dlib's <dataset> nor VOC's <annotation>")


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xyxy boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def greedy_match(iou: np.ndarray, threshold: float) -> List[Tuple[int, int]]:
    """One-to-one (truth, detection) pairs with IoU >= threshold, best IoU first."""
    pairs = sorted(zip(*np.nonzero(iou >= threshold)), key=lambda ij: -iou[ij])
    used_t, used_d, matches = set(), set(), []
    for t, d in pairs:
        if t not in used_t and d not in used_d:
            used_t.add(t)
            used_d.add(d)
            matches.append((int(t), int(d)))
    return matches


def size_bin(box: np.ndarray) -> str:
    """The ``SIZE_BINS`` label of a box (by its longer side)."""
    side = float(max(box[2] - box[0], box[3] - box[1]))
    return next(label for label, lo, hi in SIZE_BINS if lo <= side < hi)


def evaluate_detector(
    detector: FaceDetector,
    images: Sequence[Tuple[str, np.ndarray]],
    truth: Dict[str, ImageTruth],
    iou: float = 0.4,
    repeat: int = 3,
    name: Optional[str] = None,
) -> Dict[str, object]:
    """Recall (overall and by face size), precision, false boxes per image, mean IoU and latency of ``detector``.

    Args:
        images: (name, BGR frame) pairs; every name must be in ``truth``.
        iou: IoU a detection needs with a labelled face to count as finding it.
        repeat: timed ``detect`` calls per image after one warm-up. ``latency_ms`` gives, per frame size, the
            median and the minimum over all calls (on a busy machine the minimum is the repeatable number).
        name: what to call the detector in the results (default: its ``name`` attribute).
    """
    if not 0.0 < iou <= 1.0:
        raise InvalidInputError(f"iou must be in (0, 1], got {iou}")
    bins = {label: {"faces": 0, "found": 0} for label, _, _ in SIZE_BINS}
    faces = found = detections = false_boxes = 0
    ious: List[float] = []
    times_by_size: Dict[str, List[float]] = {}
    per_image = []
    for image_name, frame in images:
        t = truth[image_name]
        detector.detect(frame)  # warm-up (first call of a new input shape)
        runs = []
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            det = detector.detect(frame)
            runs.append((time.perf_counter() - t0) * 1e3)
        ms = statistics.median(runs)
        times_by_size.setdefault(f"{frame.shape[1]}x{frame.shape[0]}", []).extend(runs)
        boxes = det.boxes.astype(np.float64)
        if len(t.ignore) and len(boxes):  # detections on ignored faces count neither way
            boxes = boxes[~(iou_matrix(boxes, t.ignore) >= iou).any(axis=1)]
        m = iou_matrix(t.boxes, boxes)
        matches = greedy_match(m, iou)
        for label in (size_bin(b) for b in t.boxes):
            bins[label]["faces"] += 1
        for ti, _ in matches:
            bins[size_bin(t.boxes[ti])]["found"] += 1
        ious += [float(m[ti, di]) for ti, di in matches]
        faces += len(t.boxes)
        found += len(matches)
        detections += len(boxes)
        false_boxes += len(boxes) - len(matches)
        per_image.append({"image": image_name, "faces": len(t.boxes), "found": len(matches),
                          "false_boxes": len(boxes) - len(matches), "ms": round(ms, 3)})
    n = len(per_image)
    for b in bins.values():
        b["recall"] = None if b["faces"] == 0 else round(b["found"] / b["faces"], 4)
    return {
        "detector": name or getattr(detector, "name", type(detector).__name__),
        "settings": repr(detector),
        "images": n,
        "faces": faces,
        "found": found,
        "recall": None if faces == 0 else round(found / faces, 4),
        "recall_by_size": bins,
        "detections": detections,
        "precision": None if detections == 0 else round(found / detections, 4),
        "false_boxes": false_boxes,
        "false_boxes_per_image": None if n == 0 else round(false_boxes / n, 4),
        "mean_iou": None if not ious else round(float(np.mean(ious)), 4),
        "latency_ms": {size: {"calls": len(v), "median": round(statistics.median(v), 3), "min": round(min(v), 3)}
                       for size, v in sorted(times_by_size.items())},
        "per_image": per_image,
    }


def markdown_table(results: Sequence[Dict[str, object]], iou: float, title: Optional[str] = None) -> str:
    """The results of several detectors as one Markdown table (plus a latency table)."""
    labels = [label for label, _, _ in SIZE_BINS]
    lines = [f"### {title}", ""] if title else []
    lines += [f"Recall at IoU >= {iou} by face size (longer side of the labelled box, px); found/labelled.", "",
              "| detector | recall | " + " | ".join(labels) + " | precision | false boxes / image | mean IoU |",
              "|---|---|" + "---|" * len(labels) + "---|---|---|"]
    for r in results:
        cells = []
        for label in labels:
            b = r["recall_by_size"][label]
            cells.append("–" if b["faces"] == 0 else f"{b['found']}/{b['faces']} = {b['recall']:.2f}")
        recall = "–" if r["recall"] is None else f"{r['found']}/{r['faces']} = {r['recall']:.3f}"
        precision = "–" if r["precision"] is None else f"{r['precision']:.3f}"
        fpi = "–" if r["false_boxes_per_image"] is None else f"{r['false_boxes']} / {r['images']} = " \
            f"{r['false_boxes_per_image']:.2f}"
        miou = "–" if r["mean_iou"] is None else f"{r['mean_iou']:.3f}"
        lines.append(f"| `{r['detector']}` | {recall} | " + " | ".join(cells) + f" | {precision} | {fpi} | {miou} |")
    sizes = sorted({s for r in results for s in r["latency_ms"]})
    if sizes:
        lines += ["", "Latency of `detect()` per call, ms, median (min) over all calls on images of each size:", "",
                  "| detector | " + " | ".join(sizes) + " |", "|---|" + "---|" * len(sizes)]
        for r in results:
            cells = [f"{r['latency_ms'][s]['median']:.2f} ({r['latency_ms'][s]['min']:.2f})" if s in r["latency_ms"]
                     else "–" for s in sizes]
            lines.append(f"| `{r['detector']}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
