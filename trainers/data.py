"""Dataset readers: each public layout (FER2013, FER+, RAF-DB, AffectNet, class folders, .npz) → one in-memory form.

A reader returns ``LabelledData``: the declared label order (stored in the model card), and per split the images
(arrays or file paths), optional face boxes, hard labels (-1 = none), optional soft targets and leak flags.
``fer_edge.trainers.transforms.materialize`` then runs every image through ``fer_edge.preprocess`` once.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from fer_edge.card import FER2013_LABELS, FERPLUS_LABELS
from fer_edge.errors import InvalidInputError

logger = logging.getLogger(__name__)

# RAF-DB basic: EmoLabel/list_patition_label.txt uses 1..7 in this order (RAF-DB README).
RAFDB_LABELS = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")
# AffectNet official csv "expression" codes 0..7 (8 = none, 9 = uncertain, 10 = no face: excluded).
AFFECTNET_LABELS = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt")
# FER+ vote columns in fer2013new.csv / label.csv: 8 emotions then unknown, NF (not a face).
FERPLUS_VOTE_COLUMNS = FERPLUS_LABELS + ("unknown", "NF")

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")

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
RAFDB_SOURCE = {
    "dataset": "RAF-DB basic",
    "licence": "RAF-DB: released for non-commercial research use only under the RAF-DB agreement (Li et al., "
               "CVPR 2017)",
}
AFFECTNET_SOURCE = {
    "dataset": "AffectNet",
    "licence": "AffectNet: research-only licence agreement (Mollahosseini et al., 2017); not for commercial use",
}

ImageItem = Union[np.ndarray, str, Path]


@dataclass
class Split:
    """One split of a dataset.

    Attributes:
        images: uint8 arrays (HxW gray or HxWx3 BGR), an (N, H, W[, C]) uint8 array, or image file paths.
        labels: (N,) int64 class indices; -1 = no hard label (excluded from accuracy).
        soft: (N, K) float32 target distributions, or None (one-hot from ``labels``).
        boxes: (N, 4) float32 x1, y1, x2, y2 face boxes, or None (each image is already a face crop).
        leak: (N,) bool, True where the image duplicates one of an earlier split, or None.
    """

    images: Union[Sequence[ImageItem], np.ndarray]
    labels: np.ndarray
    soft: Optional[np.ndarray] = None
    boxes: Optional[np.ndarray] = None
    leak: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        n = len(self.labels)
        if len(self.images) != n:
            raise InvalidInputError(f"split has {len(self.images)} images but {n} labels")
        for name in ("soft", "boxes", "leak"):
            v = getattr(self, name)
            if v is not None and len(v) != n:
                raise InvalidInputError(f"split has {n} labels but {len(v)} {name}")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> "Split":
        idx = np.asarray(idx, dtype=np.int64)
        if isinstance(self.images, np.ndarray):
            images = self.images[idx]
        else:
            images = [self.images[i] for i in idx]
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return Split(images, self.labels[idx], pick(self.soft), pick(self.boxes), pick(self.leak))


@dataclass
class LabelledData:
    """A dataset in its declared label order: ``splits`` maps "train"/"val"/"test" to ``Split``."""

    labels: Tuple[str, ...]
    splits: Dict[str, Split]
    source: Dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def check(self, where: str) -> "LabelledData":
        """Validate label ranges and class presence; raise InvalidInputError naming ``where``."""
        k = self.num_classes
        if "train" not in self.splits or len(self.splits["train"]) == 0:
            raise InvalidInputError(f"{where}: no training images found")
        for name, split in self.splits.items():
            bad = (split.labels < -1) | (split.labels >= k)
            if bad.any():
                raise InvalidInputError(
                    f"{where}: split {name!r} has label {int(split.labels[bad][0])} outside 0..{k - 1} "
                    f"for the {k} classes {list(self.labels)}"
                )
            if split.soft is not None and split.soft.shape[1] != k:
                raise InvalidInputError(f"{where}: split {name!r} has {split.soft.shape[1]} soft-target columns, "
                                        f"expected {k}")
        train = self.splits["train"]
        counts = np.bincount(train.labels[train.labels >= 0], minlength=k)
        if train.soft is not None:
            counts = counts + (train.soft.sum(0) > 0)
        empty = [self.labels[i] for i in range(k) if counts[i] == 0]
        if empty:
            raise InvalidInputError(
                f"{where}: class(es) {empty} have no training images; add images or drop the class from the label set"
            )
        return self


# ---------------------------------------------------------------------------------------------------- helpers
def _require_path(path, what: str, hint: str = "") -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        extra = f"; {hint}" if hint else ""
        raise InvalidInputError(f"{what} not found: {path}{extra}")
    return path


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


def split_off_val(data: LabelledData, fraction: float, seed: int) -> LabelledData:
    """Hold out a stratified ``fraction`` of train as val when the dataset has no val split."""
    if "val" in data.splits or fraction <= 0:
        return data
    train = data.splits["train"]
    rng = np.random.default_rng(seed)
    val_idx: List[int] = []
    keys = train.labels if (train.labels >= 0).any() else np.zeros(len(train), np.int64)
    for c in np.unique(keys):
        idx = np.flatnonzero(keys == c)
        rng.shuffle(idx)
        val_idx.extend(idx[: int(round(len(idx) * fraction))].tolist())
    mask = np.zeros(len(train), bool)
    mask[val_idx] = True
    splits = dict(data.splits)
    splits["train"] = train.subset(np.flatnonzero(~mask))
    splits["val"] = train.subset(np.flatnonzero(mask))
    logger.info("no val split: held out %d of %d training images (val_fraction=%s)", mask.sum(), len(mask), fraction)
    return replace(data, splits=splits)


def limit_splits(data: LabelledData, n: int) -> LabelledData:
    if n <= 0:
        return data
    return replace(data, splits={k: s.subset(np.arange(min(n, len(s)))) for k, s in data.splits.items()})


# ---------------------------------------------------------------------------------------------------- readers
def read_npz(path, *, labels: Optional[Sequence[str]] = None, label_set: str = "") -> LabelledData:
    """An ``.npz`` with ``x_<split>`` uint8 images and ``y_<split>`` labels (train/val/test).

    ``ferplus.npz`` specifics are used when present: ``votes_<split>`` (N, 10) become soft targets,
    ``class_names`` the label order, ``leak_<split>`` the duplicate flags. Otherwise label names come from
    ``class_names`` in the file or ``labels``.

    Args:
        label_set: "" reads ``y_<split>`` / ``class_names``; a name such as ``"fer2013"`` reads the alternative
            labels ``fer2013_y_<split>`` / ``fer2013_class_names`` stored beside them (hard labels only).
    """
    path = _require_path(path, "dataset file", "pass the .npz with x_train/y_train (and x_val/x_test)")
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InvalidInputError(f"{path}: not a readable .npz file: {exc}") from exc
    with z:
        keys = set(z.files)
        if "x_train" not in keys or "y_train" not in keys:
            raise InvalidInputError(f"{path}: needs arrays x_train and y_train (found {sorted(keys)})")
        prefix = f"{label_set}_" if label_set else ""
        if label_set and f"{prefix}class_names" not in keys:
            sets = sorted(k[:-len("_class_names")] for k in keys if k.endswith("_class_names"))
            raise InvalidInputError(f"{path}: has no label set {label_set!r} (no {prefix}class_names array); "
                                    f"available: {sets or 'none'}; leave labels empty for y_*/class_names")
        if f"{prefix}class_names" in keys:
            names = tuple(str(x) for x in z[f"{prefix}class_names"].tolist())
        elif labels:
            names = tuple(labels)
        else:
            raise InvalidInputError(f"{path}: has no 'class_names' array; pass the label names in order")
        is_ferplus = not label_set and "votes_train" in keys and names == FERPLUS_LABELS
        splits: Dict[str, Split] = {}
        for s in SPLITS:
            if f"x_{s}" not in keys:
                continue
            if f"{prefix}y_{s}" not in keys:
                raise InvalidInputError(f"{path}: has x_{s} but no {prefix}y_{s}")
            x = z[f"x_{s}"]
            if x.dtype != np.uint8 or x.ndim not in (3, 4):
                raise InvalidInputError(f"{path}: x_{s} must be (N, H, W[, C]) uint8, got {x.shape} {x.dtype}")
            y = z[f"{prefix}y_{s}"].astype(np.int64)
            soft = votes_to_soft(z[f"votes_{s}"], len(names)) if is_ferplus and f"votes_{s}" in keys else None
            leak = z[f"leak_{s}"].astype(bool) if f"leak_{s}" in keys else None
            splits[s] = Split(x, y, soft=soft, leak=leak)
    source = dict(FERPLUS_SOURCE) if is_ferplus else {"dataset": path.stem}
    if label_set:
        source["labels"] = label_set
    source["path"] = str(path)
    return LabelledData(names, splits, source)


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


def _read_fer2013_rows(path: Path) -> List[Tuple[int, Optional[np.ndarray], str]]:
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
    rows = _read_fer2013_rows(path)
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
    rows = _read_fer2013_rows(fer2013_csv)
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


_FERPLUS_FOLDERS = {"FER2013Train": "train", "FER2013Valid": "val", "FER2013Test": "test"}
_BOX_RE = re.compile(r"-?\d+(?:\.\d+)?")


def read_ferplus_folders(root) -> LabelledData:
    """FERPlus image-folder layout (``FER2013Train/``, ``FER2013Valid/``, ``FER2013Test/``, each with ``label.csv``:
    image name, face box "(x, y, w, h)", 10 vote counts)."""
    root = _require_path(root, "FERPlus data folder", "it must contain FER2013Train/label.csv")
    splits = {}
    for folder, s in _FERPLUS_FOLDERS.items():
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
        raise InvalidInputError(f"{root}: no {'/'.join(_FERPLUS_FOLDERS)}/label.csv found (FERPlus layout)")
    return LabelledData(FERPLUS_LABELS, splits, dict(FERPLUS_SOURCE, path=str(root)))


def read_rafdb(root) -> LabelledData:
    """RAF-DB basic: ``EmoLabel/list_patition_label.txt`` ("train_00001.jpg 5", labels 1..7) + ``Image/aligned``."""
    root = _require_path(root, "RAF-DB folder", "it must contain EmoLabel/ and Image/aligned/")
    label_file = root / "EmoLabel" / "list_patition_label.txt"
    if not label_file.is_file():
        raise InvalidInputError(f"RAF-DB label file not found: {label_file}")
    image_dir = root / "Image" / "aligned"
    if not image_dir.is_dir():
        raise InvalidInputError(f"RAF-DB aligned images not found: {image_dir}")
    per: Dict[str, Tuple[list, list]] = {"train": ([], []), "test": ([], [])}
    for i, line in enumerate(label_file.read_text(encoding="utf-8").splitlines()):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit():
            raise InvalidInputError(f"{label_file}: line {i + 1} {line!r} is not 'name label'")
        name, lab = parts[0], int(parts[1])
        if not 1 <= lab <= len(RAFDB_LABELS):
            raise InvalidInputError(f"{label_file}: line {i + 1}: unknown label {lab} (RAF-DB basic uses 1..7)")
        split = "train" if name.startswith("train") else "test" if name.startswith("test") else None
        if split is None:
            raise InvalidInputError(f"{label_file}: line {i + 1}: image {name!r} is neither train_* nor test_*")
        stem, _, suffix = name.rpartition(".")
        per[split][0].append(image_dir / f"{stem}_aligned.{suffix}")
        per[split][1].append(lab - 1)
    splits = {s: Split(p, np.array(y)) for s, (p, y) in per.items() if p}
    return LabelledData(RAFDB_LABELS, splits, dict(RAFDB_SOURCE, path=str(root)))


def _class_folder_index(name: str, labels: Sequence[str], numeric_base: Optional[int], where: Path) -> int:
    low = name.lower()
    lowered = [x.lower() for x in labels]
    if low in lowered:
        return lowered.index(low)
    aliases = {"happy": "happiness", "sad": "sadness", "angry": "anger", "surprised": "surprise",
               "fearful": "fear", "disgusted": "disgust", "happiness": "happy", "sadness": "sad", "anger": "angry",
               "surprise": "surprised"}
    if aliases.get(low) in lowered:
        return lowered.index(aliases[low])
    if name.isdigit() and numeric_base is not None:
        i = int(name) - numeric_base
        if 0 <= i < len(labels):
            return i
    raise InvalidInputError(f"{where / name}: unknown class folder {name!r}; expected one of {list(labels)}"
                            + (f" or {numeric_base}..{numeric_base + len(labels) - 1}" if numeric_base is not None
                               else ""))


def _scan_class_folders(root: Path, labels: Optional[Sequence[str]], numeric_base: Optional[int]):
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise InvalidInputError(f"{root}: no class folders found (expected root/<class>/*.jpg)")
    if labels is None:
        labels = tuple(p.name for p in folders)
    if numeric_base is None and all(p.name.isdigit() for p in folders):
        numeric_base = 0 if min(int(p.name) for p in folders) == 0 else 1
    paths, ys = [], []
    for folder in folders:
        idx = _class_folder_index(folder.name, labels, numeric_base, root)
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InvalidInputError(f"{folder}: class folder is empty (no {'/'.join(IMAGE_SUFFIXES)} files)")
        paths.extend(files)
        ys.extend([idx] * len(files))
    return tuple(labels), paths, np.array(ys, dtype=np.int64)


def read_class_folders(root, *, labels: Optional[Sequence[str]] = None, numeric_base: Optional[int] = None,
                       source: Optional[Mapping[str, Any]] = None) -> LabelledData:
    """Any ``root/<class>/*.jpg`` folder, or ``root/{train,val,test}/<class>/*.jpg``.

    Args:
        root: dataset folder.
        labels: declared label order; default = sorted folder names. Folder names must match a label
            (case-insensitive, common aliases like happy/happiness) or be numbers ``numeric_base + index``.
        numeric_base: first number of numeric class folders (auto: 0 if a "0" folder exists else 1).
        source: provenance (dataset name, licence) for the model card.
    """
    root = _require_path(root, "image folder", "expected root/<class>/*.jpg or root/train/<class>/*.jpg")
    split_dirs = {s: root / d for s in SPLITS for d in ((s,) + (("valid", "validation") if s == "val" else ()))
                  if (root / d).is_dir()}
    splits = {}
    if "train" in split_dirs:
        found_labels = labels
        for s, d in split_dirs.items():
            found_labels, paths, ys = _scan_class_folders(d, found_labels, numeric_base)
            splits[s] = Split(paths, ys)
        labels = found_labels
    else:
        labels, paths, ys = _scan_class_folders(root, labels, numeric_base)
        splits["train"] = Split(paths, ys)
    return LabelledData(tuple(labels), splits, dict(source or {"dataset": root.name}, path=str(root)))


def read_rafdb_folders(root) -> LabelledData:
    """RAF-DB in ``train/<k>`` / ``test/<k>`` folders (k = 1..7 RAF-DB codes, or 0..6, or class names)."""
    return read_class_folders(root, labels=RAFDB_LABELS, source=RAFDB_SOURCE)


def read_affectnet_folders(root, *, num_classes: int = 8) -> LabelledData:
    """AffectNet class folders (``train_set``/``val_set`` or train/val; numeric 0..7 codes or names)."""
    root = _require_path(root, "AffectNet folder")
    labels = AFFECTNET_LABELS[:num_classes]
    for train_name, val_name in (("train_set", "val_set"), ("train", "val")):
        if (root / train_name).is_dir():
            splits = {"train": read_class_folders(root / train_name, labels=labels, numeric_base=0).splits["train"]}
            if (root / val_name).is_dir():
                splits["val"] = read_class_folders(root / val_name, labels=labels, numeric_base=0).splits["train"]
            return LabelledData(labels, splits, dict(AFFECTNET_SOURCE, path=str(root)))
    data = read_class_folders(root, labels=labels, numeric_base=0, source=AFFECTNET_SOURCE)
    return data


_AFFECTNET_CSV_COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "expression")


def _read_affectnet_csv(csv_path: Path, image_root: Path, num_classes: int) -> Split:
    paths, boxes, ys = [], [], []
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not set(_AFFECTNET_CSV_COLUMNS) <= set(reader.fieldnames):
            raise InvalidInputError(f"{csv_path}: expected AffectNet columns {list(_AFFECTNET_CSV_COLUMNS)}, "
                                    f"found {reader.fieldnames}")
        for i, row in enumerate(reader):
            try:
                y = int(row["expression"])
                x0, y0 = float(row["face_x"]), float(row["face_y"])
                w, h = float(row["face_width"]), float(row["face_height"])
            except ValueError:
                raise InvalidInputError(f"{csv_path}: line {i + 2} has a non-numeric box or expression") from None
            if y < 0 or y > 10:
                raise InvalidInputError(f"{csv_path}: line {i + 2}: unknown expression code {y} (AffectNet uses 0..10)")
            if y >= num_classes:  # 7 = contempt when 7 classes; 8..10 = none / uncertain / no face
                continue
            paths.append(image_root / row["subDirectory_filePath"])
            boxes.append([x0, y0, x0 + max(w, 1.0), y0 + max(h, 1.0)])
            ys.append(y)
    return Split(paths, np.array(ys, np.int64), boxes=np.asarray(boxes, np.float32).reshape(-1, 4))


def read_affectnet_csv(root, *, num_classes: int = 8) -> LabelledData:
    """Official AffectNet release: ``training.csv``/``validation.csv`` with face boxes + ``Manually_Annotated_Images/``.

    The official validation set serves as test (AffectNet's test set is not public) and val is held out from
    train (``val_fraction``). ``root`` is the folder holding the csv files, or a csv file itself.
    """
    root = _require_path(root, "AffectNet folder or csv")
    folder = root.parent if root.is_file() else root
    train_csv = root if root.is_file() else folder / "training.csv"
    if not train_csv.is_file():
        raise InvalidInputError(f"AffectNet training csv not found: {train_csv}")
    image_root = folder / "Manually_Annotated_Images"
    if not image_root.is_dir():
        image_root = folder
    splits = {"train": _read_affectnet_csv(train_csv, image_root, num_classes)}
    val_csv = folder / "validation.csv"
    if val_csv.is_file() and not root.is_file():
        splits["test"] = _read_affectnet_csv(val_csv, image_root, num_classes)
    return LabelledData(AFFECTNET_LABELS[:num_classes], splits, dict(AFFECTNET_SOURCE, path=str(root)))


# ------------------------------------------------------------------------------------------------- dispatch
def guess_dataset(path) -> str:
    """The reader name for a path ("npz", "fer2013_csv", "ferplus_folders", "rafdb", ...)."""
    path = Path(path)
    if path.is_file():
        if path.suffix == ".npz":
            return "npz"
        if path.suffix == ".csv":
            with open(path, encoding="utf-8") as fh:
                header = fh.readline()
            if "emotion" in header and "pixels" in header:
                return "fer2013_csv"
            if "Image name" in header:
                return "ferplus_csv"
            if "subDirectory_filePath" in header:
                return "affectnet_csv"
        raise InvalidInputError(f"{path}: cannot tell the dataset format from the file; set dataset=... "
                                f"(one of npz, fer2013_csv, ferplus_csv, affectnet_csv)")
    if path.is_dir():
        if (path / "EmoLabel" / "list_patition_label.txt").is_file():
            return "rafdb"
        if any((path / d / "label.csv").is_file() for d in _FERPLUS_FOLDERS):
            return "ferplus_folders"
        if (path / "training.csv").is_file():
            return "affectnet_csv"
        return "folder"
    raise InvalidInputError(f"dataset path not found: {path}; set data=... to the dataset file or folder")


def load_dataset(path, dataset: str = "auto", *, labels: Optional[Sequence[str]] = None, fer2013_csv: str = "",
                 affectnet_classes: int = 8, label_set: str = "") -> LabelledData:
    """Read a dataset with the named reader (``"auto"`` guesses from the path) and validate it.

    ``label_set`` picks alternative labels stored in an ``.npz`` (see ``read_npz``); other readers reject it.
    """
    if not str(path):
        raise InvalidInputError("no dataset given; set data=PATH (config key 'data' or --data)")
    path = Path(path).expanduser()
    if dataset == "auto":
        dataset = guess_dataset(path)
    if label_set and dataset != "npz":
        raise InvalidInputError(f"labels={label_set!r} selects labels stored in an .npz, but {path} is read with "
                                f"the {dataset!r} reader; leave labels empty")
    if dataset == "npz":
        data = read_npz(path, labels=labels, label_set=label_set)
    elif dataset == "fer2013_csv":
        data = read_fer2013_csv(path)
    elif dataset == "ferplus_csv":
        other = Path(fer2013_csv) if fer2013_csv else path.parent / "fer2013.csv"
        data = read_ferplus_csv(path, other)
    elif dataset == "ferplus_folders":
        data = read_ferplus_folders(path)
    elif dataset == "rafdb":
        data = read_rafdb(path)
    elif dataset == "rafdb_folders":
        data = read_rafdb_folders(path)
    elif dataset == "affectnet_csv":
        data = read_affectnet_csv(path, num_classes=affectnet_classes)
    elif dataset == "affectnet_folders":
        data = read_affectnet_folders(path, num_classes=affectnet_classes)
    elif dataset == "folder":
        data = read_class_folders(path, labels=labels)
    else:
        raise InvalidInputError(f"unknown dataset reader {dataset!r}")
    return data.check(str(path))
