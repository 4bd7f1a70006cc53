"""Build ``ferplus.npz`` from the public downloads: FER2013's ``fer2013.csv`` and Microsoft's ``fer2013new.csv``.

The archive is the one the configs, the model card and ``fer-edge eval`` read (``read_npz``): 48×48 uint8 faces,
the 10 FER+ vote counts, majority labels by the FER+ rule (``votes_to_majority``), the original FER2013 labels,
the csv row of every image and the duplicate-leak flags of val/test.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Dict

import numpy as np

from ..atomic import atomic_path
from ..card import FER2013_LABELS, FERPLUS_LABELS
from ..errors import InvalidInputError
from .base import SPLITS, require_path
from .ferplus import FERPLUS_VOTE_COLUMNS, read_fer2013_rows, read_ferplus_votes, votes_to_majority

logger = logging.getLogger(__name__)

FER2013_HINT = "fer2013.csv of the ICML 2013 'Challenges in Representation Learning' facial expression challenge"


def _leak_flags(earlier: set, images: np.ndarray) -> np.ndarray:
    return np.array([hashlib.sha1(x.tobytes()).digest() in earlier for x in images], dtype=bool)


def ferplus_arrays(fer2013_csv, ferplus_csv) -> Dict[str, np.ndarray]:
    """The arrays of ``ferplus.npz`` from the two csv files (which must have the same rows, in order)."""
    fer2013_csv = require_path(fer2013_csv, "FER2013 csv", FER2013_HINT)
    rows = read_fer2013_rows(fer2013_csv)
    votes = read_ferplus_votes(ferplus_csv)
    if len(votes) != len(rows):
        raise InvalidInputError(f"{ferplus_csv} has {len(votes)} rows but {fer2013_csv} has {len(rows)}; pass the "
                                "matching FER+ and FER2013 files (both list the 35,887 FER2013 images in order)")
    per: Dict[str, Dict[str, list]] = {s: {"x": [], "votes": [], "row": [], "fer2013_y": []} for s in SPLITS}
    unreadable = 0
    for i, ((label, px, usage), (name, v)) in enumerate(zip(rows, votes)):
        if not name:  # FER+ leaves the image name empty for images it dropped
            continue
        if px is None:
            unreadable += 1
            continue
        p = per[usage]
        p["x"].append(px)
        p["votes"].append(v)
        p["row"].append(i)
        p["fer2013_y"].append(label)
    if unreadable:
        logger.warning("%s: skipped %d row(s) with unreadable pixels", fer2013_csv, unreadable)
    out: Dict[str, np.ndarray] = {}
    seen: set = set()
    for s in SPLITS:
        p = per[s]
        if not p["x"]:
            raise InvalidInputError(f"{fer2013_csv}: no usable image in the {s} split "
                                    "(Usage Training / PublicTest / PrivateTest)")
        x = np.stack(p["x"]).astype(np.uint8)
        votes_s = np.asarray(p["votes"], dtype=np.int64)
        if votes_s.min() < 0 or votes_s.max() > 255:
            raise InvalidInputError(f"{ferplus_csv}: vote counts must be 0..255")
        out[f"x_{s}"] = x
        out[f"votes_{s}"] = votes_s.astype(np.uint8)
        out[f"y_{s}"] = votes_to_majority(votes_s, len(FERPLUS_LABELS))
        out[f"row_{s}"] = np.asarray(p["row"], np.int64)
        out[f"fer2013_y_{s}"] = np.asarray(p["fer2013_y"], np.int64)
        if s != "train":
            out[f"leak_{s}"] = _leak_flags(seen, x)
        seen.update(hashlib.sha1(img.tobytes()).digest() for img in x)
    out["class_names"] = np.array(FERPLUS_LABELS)
    out["vote_names"] = np.array(FERPLUS_VOTE_COLUMNS)
    out["fer2013_class_names"] = np.array(FER2013_LABELS)
    return out


def write_ferplus_npz(fer2013_csv, ferplus_csv, out) -> Dict[str, Dict[str, int]]:
    """Build the archive and publish it atomically at ``out``; returns per-split counts (what the CLI prints)."""
    arrays = ferplus_arrays(fer2013_csv, ferplus_csv)
    out = Path(out)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    summary = {}
    for s in SPLITS:
        y = arrays[f"y_{s}"]
        counts = {name: int((y == k).sum()) for k, name in enumerate(FERPLUS_LABELS)}
        counts["excluded"] = int((y < 0).sum())
        counts["total"] = int(len(y))
        if f"leak_{s}" in arrays:
            counts["leak"] = int(arrays[f"leak_{s}"].sum())
        summary[s] = counts
    return summary
