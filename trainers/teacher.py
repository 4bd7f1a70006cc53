"""Teacher soft targets for distillation: computed once from one or more trained models, stored, reused.

Storing the teachers' outputs (not the teachers) keeps a distilled student's epochs as cheap as plain ones, and
lets a GPU machine train the teachers while the CPU trains the student later.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from fer_edge.atomic import atomic_path
from fer_edge.datasets import LabelledData, Split
from fer_edge.errors import InvalidInputError
from fer_edge.recognizer import class_probabilities

logger = logging.getLogger(__name__)
FORMAT = "fer_edge.teacher/1"


def teacher_targets(models: Sequence, data_path, *, dataset: str = "auto", split: str = "train",
                    temperature: float = 1.0, tta_flip: bool = True, threads: Optional[int] = None,
                    batch_size: int = 256, fer2013_csv: str = "", label_set: str = "") -> dict:
    """The ensemble's class distribution for every image of ``split``, in the dataset's row order.

    Each model's logits (averaged with the mirrored image when ``tta_flip``) are divided by ``temperature``,
    turned into probabilities and averaged over models (a model whose card says ``output: probs`` is not
    softmaxed twice: ``class_probabilities``). Rows keep the dataset order so training can pair them.
    """
    from fer_edge.datasets import load_dataset

    from .arrays import arrays_from_split
    from .evaluate import _label_mapping, logits_runner, predict_logits

    if not models:
        raise InvalidInputError("teacher_targets needs at least one model (.onnx, .engine or .ckpt)")
    if not temperature > 0:
        raise InvalidInputError(f"temperature must be > 0, got {temperature}")
    data = load_dataset(data_path, dataset, fer2013_csv=fer2013_csv, label_set=label_set)
    if split not in data.splits:
        raise InvalidInputError(f"{data_path}: has no {split!r} split (available: {sorted(data.splits)})")
    probs = None
    prepared = {}  # teachers with the same input geometry and normalisation share one preprocessed split
    for path in models:
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"teacher model not found: {path}")
        with logits_runner(path, threads=threads, batch_size=batch_size) as (predict, card, _):
            mapping = _label_mapping(data.labels, card.labels, str(data_path), str(path))
            if list(mapping[:-1]) != list(range(len(data.labels))) or card.num_classes != data.num_classes:
                raise InvalidInputError(f"{path}: its labels {list(card.labels)} are not the dataset's "
                                        f"{list(data.labels)} in the same order; a teacher must share the label order")
            key = (card.input_shape, card.color, card.alpha_beta(), card.crop_margin, card.interpolation)
            if key not in prepared:
                prepared[key] = arrays_from_split(data.splits[split], card, where=f"{data_path}:{split}",
                                                  progress=True)
            arrays = prepared[key]
            if arrays.skipped:
                raise InvalidInputError(f"{data_path}:{split}: {arrays.skipped} unreadable images; teacher rows would "
                                        "not line up with the training rows — fix or remove those images first")
            outputs = np.asarray(predict_logits(predict, arrays.x, tta_flip), np.float64)
            p = class_probabilities(outputs, card.output, temperature)
        probs = p if probs is None else probs + p
        logger.info("teacher %s: %s accuracy on its hard labels %.4f", path.name, split,
                    float(np.mean(p.argmax(1)[arrays.labels >= 0] == arrays.labels[arrays.labels >= 0])))
    probs = (probs / len(models)).astype(np.float32)
    return {"probs": probs, "labels": list(data.labels), "hard": data.splits[split].labels.astype(np.int64),
            "meta": {"models": [str(m) for m in models], "split": split, "temperature": temperature,
                     "tta_flip": bool(tta_flip), "data": str(data_path)}}


def save_teacher(targets: dict, path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, format=np.array(FORMAT), probs=targets["probs"],
                                labels=np.array(targets["labels"]), hard=targets["hard"],
                                meta=np.array(json.dumps(targets["meta"])))
    return path


def with_teacher(data: LabelledData, path, weight: float) -> LabelledData:
    """``data`` whose train soft targets are ``(1 - weight) * own + weight * teacher``.

    Rows the dataset excludes (no vote for any class, or label -1 without votes) are not brought back by the
    teacher: distillation refines the targets of the images the protocol trains on, nothing else.
    """
    from dataclasses import replace

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"TrainConfig.teacher: {path} not found; make it with `fer-edge teacher`")
    with np.load(path, allow_pickle=False) as z:
        if "format" not in z or str(z["format"]) != FORMAT:
            raise InvalidInputError(f"TrainConfig.teacher: {path} is not a teacher file ({FORMAT})")
        probs, labels, hard = z["probs"].astype(np.float32), [str(x) for x in z["labels"]], z["hard"]
    train: Split = data.splits["train"]
    if labels != list(data.labels) or probs.shape != (len(train), data.num_classes):
        raise InvalidInputError(f"TrainConfig.teacher: {path} holds {probs.shape} targets for labels {labels}; the "
                                f"training split has {len(train)} images and labels {list(data.labels)}")
    if not np.array_equal(hard, train.labels):
        raise InvalidInputError(f"TrainConfig.teacher: {path} was made from other data (its rows' labels differ); "
                                "re-make it from this dataset")
    if not np.isfinite(probs).all() or (probs < 0).any():
        raise InvalidInputError(f"TrainConfig.teacher: {path} holds non-finite or negative probabilities")
    own = train.soft if train.soft is not None else np.eye(data.num_classes, dtype=np.float32)[train.labels.clip(0)]
    usable = own.sum(1) > 0 if train.soft is not None else train.labels >= 0
    blended = np.where(usable[:, None], (1 - weight) * own + weight * probs, 0).astype(np.float32)
    return replace(data, splits={**data.splits, "train": replace(train, soft=blended)})
