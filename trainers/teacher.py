"""Teacher soft targets for distillation: computed once from one or more trained models, stored, reused.

Storing the teachers' outputs (not the teachers) keeps a distilled student's epochs as cheap as plain ones, and
lets a GPU machine train the teachers while the CPU trains the student later.
"""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from fer_edge.atomic import atomic_path
from fer_edge.datasets import LabelledData, Split
from fer_edge.errors import InvalidInputError
from fer_edge.recognizer import class_probabilities

logger = logging.getLogger(__name__)
FORMAT = "fer_edge.teacher/2"  # per split probs_<split> / hard_<split>
FORMAT_V1 = "fer_edge.teacher/1"  # train only: probs / hard


def teacher_targets(models: Sequence, data_path, *, dataset: str = "auto", splits: Sequence[str] = ("train",),
                    temperature: float = 1.0, tta_flip: bool = True, threads: Optional[int] = None,
                    batch_size: int = 256, fer2013_csv: str = "", label_set: str = "",
                    prepared: Optional[dict] = None) -> dict:
    """The ensemble's class distribution for every image of each split in ``splits``, in the dataset's row order.

    Each model's logits (averaged with the mirrored image when ``tta_flip``) are divided by ``temperature``,
    turned into probabilities and averaged over models (a model whose card says ``output: probs`` is not
    softmaxed twice: ``class_probabilities``). Rows keep the dataset order so training can pair them. A val
    split is scored too when the final model is fitted on train + val (``TrainConfig.fit_val``). Callers that score
    the same data several times (``tools/compare_candidates.py``: each model single-crop, then flipped) pass one
    ``prepared`` dict to every call, so each split is preprocessed once per input geometry.

    Returns ``{"probs": {split: (N, K)}, "hard": {split: (N,)}, "labels": [...], "meta": {...}}``.
    """
    from fer_edge.datasets import load_dataset

    from .arrays import arrays_from_split
    from .evaluate import _label_mapping, logits_runner, predict_logits

    if not models:
        raise InvalidInputError("teacher_targets needs at least one model (.onnx, .engine or .ckpt)")
    if not temperature > 0:
        raise InvalidInputError(f"temperature must be > 0, got {temperature}")
    data = load_dataset(data_path, dataset, fer2013_csv=fer2013_csv, label_set=label_set)
    missing = [s for s in splits if s not in data.splits]
    if not splits or missing:
        raise InvalidInputError(f"{data_path}: has no {missing or 'requested'} split "
                                f"(available: {sorted(data.splits)})")
    probs = {s: None for s in splits}
    # teachers with the same input geometry and normalisation share one preprocessed split
    prepared = {} if prepared is None else prepared
    source = (str(data_path), dataset, fer2013_csv, label_set)
    for path in models:
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"teacher model not found: {path}")
        with logits_runner(path, threads=threads, batch_size=batch_size) as (predict, card, _):
            mapping = _label_mapping(data.labels, card.labels, str(data_path), str(path))
            if list(mapping[:-1]) != list(range(len(data.labels))) or card.num_classes != data.num_classes:
                raise InvalidInputError(f"{path}: its labels {list(card.labels)} are not the dataset's "
                                        f"{list(data.labels)} in the same order; a teacher must share the label order")
            for split in splits:
                key = (*source, split, card.input_shape, card.color, card.alpha_beta(), card.crop_margin,
                       card.interpolation)
                if key not in prepared:
                    prepared[key] = arrays_from_split(data.splits[split], card, where=f"{data_path}:{split}",
                                                      progress=True)
                arrays = prepared[key]
                if arrays.skipped:
                    raise InvalidInputError(f"{data_path}:{split}: {arrays.skipped} unreadable images; teacher "
                                            "rows would not line up with the training rows — fix or remove those "
                                            "images first")
                outputs = np.asarray(predict_logits(predict, arrays.x, tta_flip), np.float64)
                p = class_probabilities(outputs, card.output, temperature)
                probs[split] = p if probs[split] is None else probs[split] + p
                known = arrays.labels >= 0
                logger.info("teacher %s: %s accuracy on its hard labels %.4f", path.name, split,
                            float(np.mean(p.argmax(1)[known] == arrays.labels[known])))
    return {"probs": {s: (p / len(models)).astype(np.float32) for s, p in probs.items()},
            "hard": {s: data.splits[s].labels.astype(np.int64) for s in splits}, "labels": list(data.labels),
            "meta": {"models": [str(m) for m in models], "splits": list(splits), "temperature": temperature,
                     "tta_flip": bool(tta_flip), "data": str(data_path)}}


def save_teacher(targets: dict, path) -> Path:
    """Write ``teacher_targets``' result: per split ``probs_<split>`` and ``hard_<split>`` (format /2)."""
    path = Path(path)
    arrays = {}
    for split, probs in targets["probs"].items():
        arrays[f"probs_{split}"], arrays[f"hard_{split}"] = probs, targets["hard"][split]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, format=np.array(FORMAT), splits=np.array(list(targets["probs"])),
                                labels=np.array(targets["labels"]), meta=np.array(json.dumps(targets["meta"])),
                                **arrays)
    return path


def read_teacher(path) -> tuple:
    """``(labels, {split: (probs, hard)})`` of a teacher file; format /1 files (train only) read as well."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"TrainConfig.teacher: {path} not found; make it with `fer-edge teacher`")
    try:
        with np.load(path, allow_pickle=False) as z:
            fmt = str(z["format"]) if "format" in z else ""
            if fmt not in (FORMAT, FORMAT_V1):
                raise InvalidInputError(f"TrainConfig.teacher: {path} is not a teacher file ({FORMAT})")
            labels = [str(x) for x in z["labels"]]
            if fmt == FORMAT_V1:
                return labels, {"train": (z["probs"].astype(np.float32), z["hard"])}
            return labels, {str(s): (z[f"probs_{s}"].astype(np.float32), z[f"hard_{s}"]) for s in z["splits"]}
    except InvalidInputError:  # the format check above: its message already says what is wrong
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # truncated, not an .npz, arrays missing
        raise InvalidInputError(f"TrainConfig.teacher: {path} is not a readable teacher file ({exc}); "
                                "re-make it with `fer-edge teacher`") from exc


def with_teacher(data: LabelledData, path, weight: float, *, needs: Sequence[str] = ("train",)) -> LabelledData:
    """``data`` whose soft targets are ``(1 - weight) * own + weight * teacher`` in every split the file holds.

    ``needs`` are the splits the file must cover: ("train", "val") when val trains too (``TrainConfig.fit_val``),
    or val's rows would learn other targets than train's. Rows the dataset excludes (no vote for any class, or
    label -1 without votes) are not brought back by the teacher: distillation refines the targets of the images
    the protocol trains on, nothing else.
    """
    from dataclasses import replace

    labels, by_split = read_teacher(path)
    for name in needs:
        if name not in by_split:
            raise InvalidInputError(f"TrainConfig.teacher: {path} holds no {name}-split targets; re-make it with "
                                    f"`fer-edge teacher … --splits {' '.join(needs)}`")
    splits = dict(data.splits)
    for name, (probs, hard) in by_split.items():
        split: Optional[Split] = data.splits.get(name)
        if split is None:
            raise InvalidInputError(f"TrainConfig.teacher: {path} holds {name!r} targets; the dataset has no "
                                    f"{name!r} split (it has {sorted(data.splits)})")
        if labels != list(data.labels) or probs.shape != (len(split), data.num_classes):
            raise InvalidInputError(f"TrainConfig.teacher: {path} holds {probs.shape} {name} targets for labels "
                                    f"{labels}; the {name} split has {len(split)} images and labels "
                                    f"{list(data.labels)}")
        if not np.array_equal(hard, split.labels):
            raise InvalidInputError(f"TrainConfig.teacher: {path} was made from other data (its {name} rows' labels "
                                    "differ); re-make it from this dataset")
        if not np.isfinite(probs).all() or (probs < 0).any():
            raise InvalidInputError(f"TrainConfig.teacher: {path} holds non-finite or negative probabilities")
        own = split.soft if split.soft is not None else np.eye(data.num_classes, dtype=np.float32)[split.labels.clip(0)]
        usable = own.sum(1) > 0 if split.soft is not None else split.labels >= 0
        blended = np.where(usable[:, None], (1 - weight) * own + weight * probs, 0).astype(np.float32)
        splits[name] = replace(split, soft=blended)
    return replace(data, splits=splits)
