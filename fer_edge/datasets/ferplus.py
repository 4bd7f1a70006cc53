"""FER2013 (``fer2013.csv``) and FER+ (``fer2013new.csv`` votes, or the FERPlus image folders with ``label.csv``)."""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..card import FER2013_LABELS, FERPLUS_LABELS
from ..errors import InvalidInputError
from .base import SPLITS, LabelledData, Split
from .base import require_path as _require_path

logger = logging.getLogger(__name__)

# FER+ vote columns in fer2013new.csv / label.csv: 8 emotions then unknown, NF (not a face).
FERPLUS_VOTE_COLUMNS = FERPLUS_LABELS + ("unknown", "NF")

FER2013_SOURCE = {
    "dataset": "FER2013",
    "licence": "FER2013 images (ICML 2013 representation-learning challenge, Goodfellow et al.): no explicit "
               "licence, customarily used for research",
}
FERPLUS_SOURCE = {
    "dataset": "FER+ (FER2013 images with FER+ crowd labels)",
    "licence": "FER2013 images (ICML 2013 challenge, Goodfellow et al.): no explicit licence, customarily used "
               "for research; FER+ labels (c) Microsoft, MIT licence (Barsoum et al., ICMI 2016)",
}


def votes_to_majority(votes: np.ndarray, num_emotions: int = 8) -> np.ndarray:
    """FER+ majority rule: drop single-annotator votes; argmax if it holds > half of the rest and is an emotion.

    Args:
        votes: (N, V) vote counts (V >= num_emotions; extra columns are unknown / not-a-face).
        num_emotions: leading columns that are emotion classes.

    Returns:
        (N,) int64 labels, -1 where there is no clear emotion majority.
    """
    v = np.asarray(votes, dtype=np.float64).copy()
    v[v <= 1] = 0  # a vote given by a single annotator is treated as noise
    total = v.sum(1)
    arg = v.argmax(1)
    top = v.max(1)
    ok = (total > 0) & (top > total / 2) & (arg < num_emotions)
    return np.where(ok, arg, -1).astype(np.int64)


def votes_to_soft(votes: np.ndarray, num_emotions: int = 8) -> np.ndarray:
    """Normalise the emotion vote columns to a distribution (rows without emotion votes stay zero)."""
    v = np.asarray(votes, dtype=np.float32)[:, :num_emotions]
    s = v.sum(1, keepdims=True)
    return np.divide(v, s, out=np.zeros_like(v), where=s > 0)


def _decode_pixels(text: str, where: str) -> Optional[np.ndarray]:
    try:
        px = np.array(text.split(), dtype=np.uint8)
    except ValueError:
        return None
    side = int(round(np.sqrt(px.size)))
    if side * side != px.size or side == 0:
        return None
    return px.reshape(side, side)


_FER_USAGE = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}


def read_fer2013_rows(path: Path) -> List[Tuple[int, Optional[np.ndarray], str]]:
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        need = {"emotion", "pixels", "Usage"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise InvalidInputError(f"{path}: expected the FER2013 columns emotion,pixels,Usage, "
                                    f"found {reader.fieldnames}")
        for i, row in enumerate(reader):
            usage = _FER_USAGE.get(row["Usage"])
            if usage is None:
                raise InvalidInputError(f"{path}: row {i + 2} has unknown Usage {row['Usage']!r} "
                                        f"(expected {sorted(_FER_USAGE)})")
            try:
                label = int(row["emotion"])
            except ValueError:
                raise InvalidInputError(f"{path}: row {i + 2} has a non-integer emotion {row['emotion']!r}") from None
            rows.append((label, _decode_pixels(row["pixels"], f"{path}:{i + 2}"), usage))
    return rows


def read_fer2013_csv(path) -> LabelledData:
    """FER2013 ``fer2013.csv`` (columns emotion, pixels, Usage); labels in FER2013 order (0 = angry)."""
    path = _require_path(path, "FER2013 csv", "download fer2013.csv from the ICML 2013 challenge page")
    rows = read_fer2013_rows(path)
    bad = sum(1 for _, px, _ in rows if px is None)
    if bad:
        logger.warning("%s: skipped %d row(s) with unreadable pixels", path, bad)
    splits = {}
    for s in SPLITS:
        keep = [(lab, px) for lab, px, u in rows if u == s and px is not None]
        if keep:
            splits[s] = Split(np.stack([px for _, px in keep]), np.array([lab for lab, _ in keep]))
    return LabelledData(FER2013_LABELS, splits, dict(FER2013_SOURCE, path=str(path)))


FERPLUS_VOTES_HINT = "fer2013new.csv from Microsoft's FERPlus repository (github.com/microsoft/FERPlus)"


def read_ferplus_votes(votes_csv) -> List[tuple]:
    """Rows of ``fer2013new.csv`` as (image name, 10 vote counts); an empty name marks an image FER+ dropped."""
    votes_csv = _require_path(votes_csv, "FER+ votes csv", FERPLUS_VOTES_HINT)
    with open(votes_csv, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or [h.strip() for h in header[2:12]] != list(FERPLUS_VOTE_COLUMNS):
            raise InvalidInputError(f"{votes_csv}: expected header Usage,Image name,"
                                    f"{','.join(FERPLUS_VOTE_COLUMNS)}; found {header}")
        rows = []
        for i, row in enumerate(reader):
            if len(row) < 12:
                raise InvalidInputError(f"{votes_csv}: row {i + 2} has {len(row)} columns, expected 12")
            try:
                votes = [int(float(v)) for v in row[2:12]]
            except ValueError:
                raise InvalidInputError(f"{votes_csv}: row {i + 2} has a non-numeric vote count") from None
            rows.append((row[1].strip(), votes))
    return rows


def read_ferplus_csv(votes_csv, fer2013_csv) -> LabelledData:
    """FER+ ``fer2013new.csv`` (Usage, Image name, 10 vote columns) aligned row by row with ``fer2013.csv``."""
    fer2013_csv = _require_path(fer2013_csv, "FER2013 csv (set ferplus_csv to fer2013.csv)")
    rows = read_fer2013_rows(fer2013_csv)
    vote_rows = read_ferplus_votes(votes_csv)
    if len(vote_rows) != len(rows):
        raise InvalidInputError(f"{votes_csv} has {len(vote_rows)} rows but {fer2013_csv} has {len(rows)}; "
                                f"they must be the matching FER+ and FER2013 files")
    per: Dict[str, Tuple[list, list]] = {s: ([], []) for s in SPLITS}
    for (_, px, usage), (name, votes) in zip(rows, vote_rows):
        if px is None or not name:  # FER+ leaves the image name empty for dropped images
            continue
        per[usage][0].append(px)
        per[usage][1].append([float(v) for v in votes])
    splits = {}
    for s, (images, votes) in per.items():
        if images:
            votes = np.asarray(votes, np.float32)
            splits[s] = Split(np.stack(images), votes_to_majority(votes), soft=votes_to_soft(votes))
    return LabelledData(FERPLUS_LABELS, splits, dict(FERPLUS_SOURCE, path=str(votes_csv)))


FERPLUS_FOLDERS = {"FER2013Train": "train", "FER2013Valid": "val", "FER2013Test": "test"}
_BOX_RE = re.compile(r"-?\d+(?:\.\d+)?")


def read_ferplus_folders(root) -> LabelledData:
    """FERPlus image-folder layout (``FER2013Train/``, ``FER2013Valid/``, ``FER2013Test/``, each with ``label.csv``:
    image name, face box "(x, y, w, h)", 10 vote counts)."""
    root = _require_path(root, "FERPlus data folder", "it must contain FER2013Train/label.csv")
    splits = {}
    for folder, s in FERPLUS_FOLDERS.items():
        label_csv = root / folder / "label.csv"
        if not label_csv.is_file():
            continue
        paths, boxes, votes = [], [], []
        with open(label_csv, newline="", encoding="utf-8") as fh:
            for i, row in enumerate(csv.reader(fh)):
                if not row or not row[0].strip():
                    continue
                if len(row) < 12:
                    raise InvalidInputError(f"{label_csv}: line {i + 1} has {len(row)} fields, expected 12 "
                                            f"(name, box, 10 votes)")
                nums = [float(v) for v in _BOX_RE.findall(row[1])]
                if len(nums) != 4:
                    raise InvalidInputError(f"{label_csv}: line {i + 1}: face box {row[1]!r} is not (x, y, w, h)")
                x, y, w, h = nums
                paths.append(root / folder / row[0].strip())
                boxes.append([x, y, x + w, y + h])
                votes.append([float(v) for v in row[2:12]])
        if paths:
            v = np.asarray(votes, np.float32)
            splits[s] = Split(paths, votes_to_majority(v), soft=votes_to_soft(v), boxes=np.asarray(boxes, np.float32))
    if not splits:
        raise InvalidInputError(f"{root}: no {'/'.join(FERPLUS_FOLDERS)}/label.csv found (FERPlus layout)")
    return LabelledData(FERPLUS_LABELS, splits, dict(FERPLUS_SOURCE, path=str(root)))
