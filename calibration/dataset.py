"""Calibration sets: the runtime's own input tensors (through ``fer_edge.preprocess``) from images, video or .npz.

INT8 ranges are only as good as the data they were measured on, so calibration uses exactly the tensors the
runtime feeds: same detector, same crop, same resize and normalisation. Subsets are deterministic and, when
labels exist, class-balanced.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from fer_edge.card import ModelCard
from fer_edge.detect.registry import DEFAULT_DETECTOR
from fer_edge.errors import InvalidInputError
from fer_edge.preprocess import preprocess

log = logging.getLogger(__name__)

DEFAULT_SIZE = 512
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
#: "auto" treats an image whose longest side is at most this many pixels as an already-cropped face.
CROP_MAX_SIDE = 160
FACES = ("auto", "detect", "crops")


@dataclass(frozen=True)
class CalibrationSet:
    """Preprocessed network inputs for calibration.

    Attributes:
        inputs: (N, C, H, W) float32, exactly what the runtime feeds the model.
        labels: (N,) int class indices into the card's labels, or None.
        source: where the samples came from (path or description).
        skipped: files/frames that gave no face or could not be read.
    """

    inputs: np.ndarray
    labels: Optional[np.ndarray] = None
    source: str = ""
    skipped: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(len(self.inputs))

    def sha256(self) -> str:
        """Hash of the input bytes (recorded in the quantized model's provenance)."""
        return hashlib.sha256(np.ascontiguousarray(self.inputs).tobytes()).hexdigest()

    def info(self) -> Dict[str, Any]:
        """JSON-able summary for provenance."""
        d: Dict[str, Any] = {"source": self.source, "samples": len(self), "sha256": self.sha256()}
        if self.labels is not None:
            labels = np.asarray(self.labels, dtype=np.int64)
            known = labels[labels >= 0]  # negative = unlabelled (the .npz reader keeps them when labels run out)
            d["class_counts"] = np.bincount(known, minlength=int(known.max()) + 1 if known.size else 0).tolist()
            if known.size < labels.size:
                d["unlabelled"] = int(labels.size - known.size)
        if self.skipped:
            d["skipped"] = int(self.skipped)
        d.update(self.extra)
        return d

    def batches(self, batch_size: int) -> Iterable[np.ndarray]:
        """The inputs in order, ``batch_size`` at a time (the last batch may be short)."""
        for i in range(0, len(self), int(batch_size)):
            yield self.inputs[i : i + int(batch_size)]

    def save(self, path) -> Path:
        """Write ``inputs`` (and ``labels``) to an .npz atomically; ``calibration_set_from_npz`` reads it back."""
        import io

        from .cache import atomic_write_bytes

        buf = io.BytesIO()
        arrays = {"inputs": self.inputs}
        if self.labels is not None:
            arrays["labels"] = self.labels
        np.savez(buf, **arrays)
        return atomic_write_bytes(path, buf.getvalue())


def balanced_subset(n: int, labels: Optional[np.ndarray] = None, size: int = DEFAULT_SIZE, seed: int = 0) -> np.ndarray:
    """Deterministic indices of at most ``size`` samples out of ``n``, round-robin over classes when labelled.

    Without labels: a seeded random choice. With labels: each class is shuffled with the seed, then classes are
    taken in turn so rare classes get as many samples as they have, up to an equal share. Returned sorted.
    """
    size = int(size)
    if size < 1:
        raise InvalidInputError(f"calibration size must be >= 1, got {size}")
    rng = np.random.default_rng(seed)
    if n <= size:
        return np.arange(n)
    if labels is None:
        return np.sort(rng.choice(n, size=size, replace=False))
    labels = np.asarray(labels).reshape(-1)
    valid = np.flatnonzero(labels >= 0)
    per_class = [rng.permutation(valid[labels[valid] == c]) for c in np.unique(labels[valid])]
    picked: List[int] = []
    depth = 0
    while len(picked) < size and any(depth < len(p) for p in per_class):
        for p in per_class:
            if depth < len(p) and len(picked) < size:
                picked.append(int(p[depth]))
        depth += 1
    return np.sort(np.asarray(picked, dtype=np.int64))


def _progress(total: int, desc: str, enabled: bool):
    """A tqdm bar when asked for and installed, else a no-op with the same ``update``/``close``."""
    if enabled:
        try:
            from tqdm import tqdm

            return tqdm(total=total, desc=desc, unit="img", leave=False)
        except ImportError:
            pass

    class _Null:
        def update(self, n: int = 1) -> None:
            pass

        def close(self) -> None:
            pass

    return _Null()


# --------------------------------------------------------------------------- detector
def _resolve_detector(detector: Any):
    """A detector object (has ``.detect``) from a name or instance; the real BlazeFace is imported lazily."""
    if detector is None or hasattr(detector, "detect"):
        return detector
    if isinstance(detector, str):
        from fer_edge.detect import create_detector

        return create_detector(detector)
    raise InvalidInputError(
        f"detector must be a name like 'yunet' or an object with .detect(frame), got {detector!r}"
    )


def _largest_box(detections) -> Optional[np.ndarray]:
    boxes = np.asarray(detections.boxes, dtype=np.float32).reshape(-1, 4)
    if len(boxes) == 0:
        return None
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return boxes[int(np.argmax(area))][None]


class _Cropper:
    """Frame → one preprocessed face (largest detected face, or the whole frame when it is a crop)."""

    def __init__(self, card: ModelCard, faces: str, detector: Any):
        if faces not in FACES:
            raise InvalidInputError(f"faces must be one of {FACES}, got {faces!r}")
        self.card, self.faces, self._detector_spec, self._detector = card, faces, detector, None
        self.no_face = 0

    def _detect(self, frame: np.ndarray) -> Optional[np.ndarray]:
        if self._detector is None:
            self._detector = _resolve_detector(self._detector_spec or DEFAULT_DETECTOR)
        return _largest_box(self._detector.detect(frame))

    def __call__(self, frame: np.ndarray) -> Optional[np.ndarray]:
        is_crop = self.faces == "crops" or (self.faces == "auto" and max(frame.shape[:2]) <= CROP_MAX_SIDE)
        if is_crop:
            return preprocess(frame, None, self.card)
        box = self._detect(frame)
        if box is None:
            self.no_face += 1
            return None
        return preprocess(frame, box, self.card)


def _no_faces_error(where: str, tried: int, cropper: _Cropper) -> InvalidInputError:
    if cropper.no_face:
        return InvalidInputError(
            f"the face detector found no face in any of the {tried} images/frames of {where}; calibrate on pictures "
            "of faces, or pass faces='crops' (CLI: --faces crops) if they are already face crops"
        )
    return InvalidInputError(f"no usable calibration sample in {where}")


# --------------------------------------------------------------------------- sources
def _label_of(path: Path, root: Path, card: ModelCard) -> int:
    """Class index from the first sub-folder name when it is one of the card's labels, else -1."""
    rel = path.relative_to(root).parts
    if len(rel) > 1 and rel[0] in card.labels:
        return card.labels.index(rel[0])
    return -1


def calibration_set_from_images(
    folder,
    card: ModelCard,
    *,
    size: int = DEFAULT_SIZE,
    faces: str = "auto",
    detector: Any = None,
    seed: int = 0,
    progress: bool = False,
) -> CalibrationSet:
    """Calibration set from an image folder (recursive; ``<label>/...`` sub-folders give class labels).

    Args:
        folder: directory of images.
        card: the model's card (preprocessing).
        size: number of samples kept (class-balanced when labelled).
        faces: "crops" (every image is a face crop), "detect" (run the detector, keep the largest face) or
            "auto" (crops if the longest side is at most 160 px, else detect).
        detector: detector name or object with ``.detect(frame)``; default ``DEFAULT_DETECTOR`` (yunet; loaded
            only if needed).
        seed: subset selection seed.
        progress: show a tqdm progress bar.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInputError(f"calibration folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InvalidInputError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}; point --calib at a folder of face images, a "
            "video or an .npz"
        )
    labels = np.asarray([_label_of(p, folder, card) for p in files])
    has_labels = bool(np.any(labels >= 0))
    # Select first (cheap), then read and crop; unreadable or faceless files are replaced by the next candidates.
    order = balanced_subset(len(files), labels if has_labels else None, size=len(files), seed=seed)
    order = _interleave(order, labels if has_labels else None, seed)
    cropper = _Cropper(card, faces, detector)
    inputs, kept_labels, unreadable = [], [], 0
    bar = _progress(min(size, len(files)), "calibration images", progress)
    for i in order:
        if len(inputs) >= size:
            break
        bar.update()
        frame = _read_image(files[i])
        if frame is None:
            unreadable += 1
            log.warning("cannot read %s; skipped", files[i])
            continue
        x = cropper(frame)
        if x is None:
            continue
        inputs.append(x)
        kept_labels.append(labels[i])
    bar.close()
    if not inputs:
        if unreadable == len(files):
            raise InvalidInputError(f"none of the {len(files)} images in {folder} could be read; check the files")
        raise _no_faces_error(str(folder), len(files) - unreadable, cropper)
    if cropper.no_face:
        log.warning("%d image(s) in %s had no detected face and were skipped", cropper.no_face, folder)
    return CalibrationSet(
        np.concatenate(inputs), np.asarray(kept_labels, np.int64) if has_labels else None, str(folder),
        skipped=unreadable + cropper.no_face, extra={"faces": faces},
    )


def _read_image(path: Path) -> Optional[np.ndarray]:
    """Read an image as the runtime's image sources do (unchanged channels; 16-bit scaled to 8-bit), or None."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        return None
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        return None
    return image


def _interleave(order: np.ndarray, labels: Optional[np.ndarray], seed: int) -> np.ndarray:
    """Candidate order for greedy filling: round-robin over classes (or a seeded shuffle without labels)."""
    rng = np.random.default_rng(seed)
    if labels is None:
        return rng.permutation(order)
    groups = [rng.permutation(order[labels[order] == c]) for c in np.unique(labels[order])]
    out = []
    for depth in range(max(len(g) for g in groups)):
        out.extend(int(g[depth]) for g in groups if depth < len(g))
    return np.asarray(out, dtype=np.int64)


def calibration_set_from_video(
    path,
    card: ModelCard,
    *,
    size: int = DEFAULT_SIZE,
    every: int = 5,
    faces: str = "detect",
    detector: Any = None,
    max_frames: int = 20000,
) -> CalibrationSet:
    """Calibration set from a video file: every ``every``-th frame, largest detected face, first ``size`` faces."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"calibration video not found: {path}")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InvalidInputError(f"cannot open video {path}; check the codec or extract frames to a folder")
    cropper = _Cropper(card, faces, detector)
    inputs, index, tried = [], 0, 0
    try:
        while len(inputs) < size and index < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            if index % max(1, int(every)) == 0:
                tried += 1
                x = cropper(frame)
                if x is not None:
                    inputs.append(x)
            index += 1
    finally:
        cap.release()
    if tried == 0:
        raise InvalidInputError(f"no frames could be decoded from {path}")
    if not inputs:
        raise _no_faces_error(str(path), tried, cropper)
    return CalibrationSet(np.concatenate(inputs), None, str(path), skipped=cropper.no_face,
                          extra={"faces": faces, "every": int(every)})


_NPZ_IMAGE_KEYS = ("x_train", "x", "images", "x_val")
_NPZ_LABEL_KEYS = {"x_train": "y_train", "x_val": "y_val", "x_test": "y_test", "x": "y", "images": "labels"}


def calibration_set_from_npz(
    path, card: ModelCard, *, size: int = DEFAULT_SIZE, key: Optional[str] = None, seed: int = 0
) -> CalibrationSet:
    """Calibration set from an .npz.

    Either ``inputs`` (N, C, H, W) float32 already preprocessed (as ``CalibrationSet.save`` writes) with optional
    ``labels``, or uint8 face crops under ``key`` (default: the first of x_train, x, images, x_val; FER+ layout)
    with labels under the matching ``y_*``/``labels`` key; crops go through ``fer_edge.preprocess``.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"calibration file not found: {path}")
    try:
        data = np.load(str(path), allow_pickle=False)
    except Exception as exc:
        raise InvalidInputError(f"{path} is not a readable .npz: {exc}") from exc
    with data:
        names = list(data.files)
        if key is None and "inputs" in names:
            inputs = np.asarray(data["inputs"], dtype=np.float32)
            labels = np.asarray(data["labels"]) if "labels" in names else None
            if inputs.ndim != 4 or tuple(inputs.shape[1:]) != card.input_shape:
                raise InvalidInputError(
                    f"{path}: 'inputs' is {inputs.shape}, the card needs (N, {', '.join(map(str, card.input_shape))})"
                )
            idx = balanced_subset(len(inputs), labels, size=size, seed=seed)
            return CalibrationSet(inputs[idx], None if labels is None else labels[idx].astype(np.int64), str(path))
        key = key or next((k for k in _NPZ_IMAGE_KEYS if k in names), None)
        if key is None or key not in names:
            raise InvalidInputError(
                f"{path} has none of the keys 'inputs', {', '.join(_NPZ_IMAGE_KEYS)} (has {names}); pass key=..."
            )
        images = data[key]
        label_key = _NPZ_LABEL_KEYS.get(key)
        labels = np.asarray(data[label_key]).astype(np.int64) if label_key in names else None
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) == 0:
        raise InvalidInputError(f"{path}[{key}] must be non-empty uint8 (N, H, W[, C]) face crops, got "
                                f"{images.dtype} {images.shape}")
    idx = balanced_subset(len(images), labels, size=size, seed=seed)
    if labels is not None and np.any(labels[idx] < 0):  # unlabelled samples only when labelled ones run out
        log.info("%s: %d unlabelled samples in the subset", path, int(np.sum(labels[idx] < 0)))
    inputs = np.concatenate([preprocess(images[i], None, card) for i in idx])
    return CalibrationSet(inputs, None if labels is None else labels[idx], f"{path}[{key}]")


def calibration_set_from_reader(
    reader: Union[Sequence, Iterable], card: ModelCard, *, size: int = DEFAULT_SIZE, seed: int = 0,
    name: str = "reader",
) -> CalibrationSet:
    """Calibration set from a dataset reader: items ``(image uint8, label)`` or bare images (face crops).

    A sequence (``__len__`` + ``__getitem__``) is subsampled without reading every item when unlabelled;
    an iterable is read once, up to 50 × ``size`` items.
    """
    items: List[Tuple[np.ndarray, int]] = []
    if hasattr(reader, "__len__") and hasattr(reader, "__getitem__"):
        source = (reader[i] for i in range(len(reader)))
    else:
        source = iter(reader)
    for n, item in enumerate(source):
        if n >= 50 * size:
            break
        img, lab = (item[0], int(item[1])) if isinstance(item, tuple) else (item, -1)
        items.append((np.asarray(img), lab))
    if not items:
        raise InvalidInputError(f"dataset {name} yielded no samples")
    labels = np.asarray([lab for _, lab in items])
    has_labels = bool(np.any(labels >= 0))
    idx = balanced_subset(len(items), labels if has_labels else None, size=size, seed=seed)
    inputs = np.concatenate([preprocess(items[i][0], None, card) for i in idx])
    return CalibrationSet(inputs, labels[idx] if has_labels else None, name)


def calibration_set_from_dataset(
    path, card: ModelCard, *, dataset: str = "auto", split: str = "train", size: int = DEFAULT_SIZE, seed: int = 0,
) -> CalibrationSet:
    """Calibration set from any layout the dataset readers know (``fer_edge.datasets``: FER+ csv or folders,
    RAF-DB, AffectNet, ...): a class-balanced subset of ``split``, labels mapped onto the card's by name."""
    from fer_edge.datasets import load_dataset

    data = load_dataset(path, dataset, check=False)
    if split not in data.splits:
        raise InvalidInputError(f"{path}: has no {split!r} split (available: {sorted(data.splits)})")
    part = data.splits[split]
    low = [x.lower() for x in card.labels]
    to_card = np.asarray([low.index(x.lower()) if x.lower() in low else -1 for x in data.labels] + [-1], np.int64)
    labels = to_card[part.labels]  # -1 (no label) stays -1 through the sentinel
    order = balanced_subset(len(part), labels, size=min(size, len(part)), seed=seed)
    inputs, kept = [], []
    for i in order:
        img = part.images[i]
        if isinstance(img, (str, Path)):
            img = _read_image(Path(img))
            if img is None:
                continue
        box = None if part.boxes is None else part.boxes[i]
        inputs.append(preprocess(img, box, card))
        kept.append(i)
    if not inputs:
        raise InvalidInputError(f"{path}:{split}: none of the {len(order)} sampled images could be read")
    has_labels = bool(np.any(labels[kept] >= 0))
    return CalibrationSet(np.concatenate(inputs), labels[kept] if has_labels else None, f"{path}[{split}]")


def calibration_set_from_path(path, card: ModelCard, **kw: Any) -> CalibrationSet:
    """Dispatch on what ``path`` is: a dataset layout the readers recognise (FER+ csv/folders, RAF-DB, AffectNet)
    → that dataset's train split; other folder → images; .npz → arrays; video suffix → video."""
    from fer_edge.datasets import guess_dataset

    path = Path(path)
    if path.exists() and path.suffix.lower() != ".npz":
        try:
            layout = guess_dataset(path)
        except InvalidInputError:
            layout = None
        if layout not in (None, "folder", "npz"):
            return calibration_set_from_dataset(path, card, dataset=layout,
                                                **{k: v for k, v in kw.items() if k in ("size", "seed")})
    if path.is_dir():
        return calibration_set_from_images(path, card, **kw)
    if not path.exists():
        raise InvalidInputError(f"calibration data not found: {path}; pass an image folder, a video or an .npz")
    if path.suffix.lower() in (".npz",) + VIDEO_SUFFIXES:
        kw.pop("progress", None)  # only the image-folder path reads slowly enough to need a bar
    if path.suffix.lower() == ".npz":
        kw.pop("faces", None)
        kw.pop("detector", None)
        return calibration_set_from_npz(path, card, **kw)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        kw.pop("seed", None)
        return calibration_set_from_video(path, card, **kw)
    raise InvalidInputError(
        f"cannot use {path.name} as calibration data; pass an image folder, a video ({', '.join(VIDEO_SUFFIXES)}) "
        "or an .npz"
    )
