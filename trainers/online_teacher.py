"""Teachers run on every augmented batch, so the distillation target describes the image the student sees.

A stored teacher file (``trainers/teacher.py``) scores each clean training image once; the student then sees it
rotated, shifted, partly erased or mixed with another face while still being told the clean image's distribution.
Scoring the augmented batch itself ("consistent teaching", Beyer et al., CVPR 2022) keeps input and target
together, at the price of the teachers' forward passes in every step.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from fer_edge.card import ModelCard
from fer_edge.errors import InvalidInputError
from fer_edge.recognizer import class_probabilities

logger = logging.getLogger(__name__)


class OnlineTeacher:
    """The mean softmax of several models on a normalised batch; close() (or ``with``) releases their backends."""

    def __init__(self, models: Sequence, card: ModelCard, *, threads=None, batch_size: int = 256):
        from .evaluate import logits_runner

        if not models:
            raise InvalidInputError("TrainConfig.teacher_models is empty; name one or more .ckpt/.onnx files")
        self._stack = contextlib.ExitStack()
        self.predictors = []
        try:
            for path in map(Path, models):
                if not path.is_file():
                    raise InvalidInputError(f"TrainConfig.teacher_models: {path} not found")
                predict, tcard, _ = self._stack.enter_context(logits_runner(path, threads=threads,
                                                                            batch_size=batch_size))
                _check_compatible(path, tcard, card)
                self.predictors.append((predict, tcard.output))
        except BaseException:
            self._stack.close()
            raise
        logger.info("online teacher: %d model(s) scored on every augmented batch", len(self.predictors))

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        """(N, K) float32: the teachers' softmax on ``x`` (the student's normalised input), averaged."""
        xn = np.ascontiguousarray(x.detach().float().cpu().numpy())
        p = sum(class_probabilities(np.asarray(predict(xn), np.float64), output)
                for predict, output in self.predictors) / len(self.predictors)
        return torch.from_numpy(p.astype(np.float32)).to(x.device)

    def blend(self, x: torch.Tensor, soft: torch.Tensor, weight: float) -> torch.Tensor:
        """``(1 - weight) * soft + weight * teachers(x)``: the target for this batch."""
        return (1.0 - weight) * soft + weight * self.probs(x)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> "OnlineTeacher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_compatible(path: Path, teacher: ModelCard, student: ModelCard) -> None:
    """A teacher reads the student's input tensor directly, so geometry, normalisation and labels must agree."""
    if list(teacher.labels) != list(student.labels):
        raise InvalidInputError(f"teacher {path}: labels {list(teacher.labels)} differ from the student's "
                                f"{list(student.labels)}; a teacher must share the label order")
    if teacher.input_shape != student.input_shape or teacher.alpha_beta() != student.alpha_beta():
        raise InvalidInputError(
            f"teacher {path}: input {teacher.input_shape} {teacher.color} mean {teacher.mean} std {teacher.std} "
            f"differs from the student's {student.input_shape} {student.color} mean {student.mean} std "
            f"{student.std}; an online teacher reads the student's batch, so use a teacher trained on the same "
            "input, or a stored teacher file (`fer-edge teacher`, TrainConfig.teacher), which preprocesses per model")
