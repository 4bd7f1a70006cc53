"""The in-memory form every dataset reader returns: ``LabelledData`` of ``Split``s, and helpers on it."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import InvalidInputError

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")

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

    def subset(self, idx: np.ndarray) -> Split:
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

    def check(self, where: str) -> LabelledData:
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


def require_path(path, what: str, hint: str = "") -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        extra = f"; {hint}" if hint else ""
        raise InvalidInputError(f"{what} not found: {path}{extra}")
    return path


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


def joined_splits(a: Split, b: Split) -> Split:
    """``a`` followed by ``b`` (fitting a final model on train + val); one-hot targets where one lacks soft ones."""
    k = next((s.soft.shape[1] for s in (a, b) if s.soft is not None), 0)

    def soft(s: Split) -> np.ndarray:
        if s.soft is not None:
            return s.soft
        return np.eye(k, dtype=np.float32)[s.labels.clip(0)] * (s.labels >= 0)[:, None]

    images = (np.concatenate([a.images, b.images]) if isinstance(a.images, np.ndarray)
              and isinstance(b.images, np.ndarray) and a.images.shape[1:] == b.images.shape[1:]
              else list(a.images) + list(b.images))
    if (a.boxes is None) != (b.boxes is None):
        raise InvalidInputError("cannot join a split of face crops with a split of boxed photos")
    both = lambda name: (None if getattr(a, name) is None or getattr(b, name) is None  # noqa: E731
                         else np.concatenate([getattr(a, name), getattr(b, name)]))
    return Split(images, np.concatenate([a.labels, b.labels]),
                 np.concatenate([soft(a), soft(b)]).astype(np.float32) if k else None, both("boxes"), both("leak"))


def duplicates_in(split: Split, others: Sequence[Split], *, excluding: Sequence[Split] = ()) -> np.ndarray:
    """(N,) bool: which images of ``split`` are byte-identical to an image of ``others`` (pixels, or file bytes)
    and to none of ``excluding``.

    What a model fitted on ``others`` has seen of ``split`` — e.g. the test images a train + val model saw in val
    (``excluding`` train: the leaks a train-only model has seen too).
    """
    def digests(s: Split) -> List[bytes]:
        return [hashlib.sha1(Path(img).read_bytes() if isinstance(img, (str, Path))
                             else np.ascontiguousarray(img).tobytes()).digest() for img in s.images]

    seen = {d for other in others for d in digests(other)}
    seen -= {d for other in excluding for d in digests(other)}
    return np.array([d in seen for d in digests(split)], bool)


def limit_splits(data: LabelledData, n: int) -> LabelledData:
    if n <= 0:
        return data
    return replace(data, splits={k: s.subset(np.arange(min(n, len(s)))) for k, s in data.splits.items()})
