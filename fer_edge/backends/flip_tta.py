"""Flip test-time augmentation as a Backend wrapper, so every predict path and backend gets it unchanged."""

from __future__ import annotations

import numpy as np

from .base import Backend


class FlipTTABackend(Backend):
    """Runs each crop and its horizontal mirror in one batch and averages the two outputs.

    Logits are averaged as logits and probabilities as probabilities, so ``card.output`` keeps its meaning.
    Faces are close to mirror-symmetric in expression, which is why the mirror is a second, free opinion.
    """

    on_gpu = False  # mirrored rows are made on the host; the device input path does not apply

    def __init__(self, inner: Backend):
        self.inner = inner
        self.card = inner.card
        self.precision = inner.precision
        self.name = f"{inner.name}+flip"
        self.path = getattr(inner, "path", None)
        # No batch limit here: the inner backend chunks and pads the doubled batch to its own limits.

    @property
    def label(self) -> str:
        return f"{self.inner.label} + flip TTA"

    def details(self):
        return {**self.inner.details(), "label": self.label, "tta": "flip"}

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        n = batch.shape[0]
        both = np.concatenate([batch, batch[..., ::-1]], axis=0)
        out = self.inner.infer(np.ascontiguousarray(both))
        return (out[:n] + out[n:]) * np.float32(0.5)

    def io_summary(self):
        return self.inner.io_summary()

    def close(self) -> None:
        self.inner.close()
