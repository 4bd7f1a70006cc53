"""Backend template: the public ``infer`` validates, subclasses implement ``_infer`` (Polygraphy's habit)."""

from __future__ import annotations

import logging
from typing import Optional, Tuple

import numpy as np

from ..card import ModelCard
from ..errors import InvalidInputError

log = logging.getLogger(__name__)


class Backend:
    """Runs a classifier on preprocessed batches.

    Subclasses set ``card``, ``max_batch`` (None = unbounded) and implement ``_infer``.
    """

    card: ModelCard
    max_batch: Optional[int] = None
    name = "backend"
    precision = "fp32"

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Return (N, num_classes) float32 logits or probabilities (``card.output`` says which)."""
        if not isinstance(batch, np.ndarray):
            raise InvalidInputError(f"infer() needs a numpy array, got {type(batch).__name__}")
        expected = self.card.input_shape
        if batch.ndim != 4 or tuple(batch.shape[1:]) != expected:
            raise InvalidInputError(
                f"infer() needs a batch shaped (N, {expected[0]}, {expected[1]}, {expected[2]}) "
                f"as the model card says, got {batch.shape}; use fer_edge.preprocess to build it"
            )
        if batch.dtype != np.float32:
            raise InvalidInputError(f"infer() needs float32 input, got {batch.dtype}")
        if batch.shape[0] == 0:
            return np.zeros((0, self.card.num_classes), dtype=np.float32)
        batch = np.ascontiguousarray(batch)
        if self.max_batch is not None and batch.shape[0] > self.max_batch:
            chunks = [self._infer(batch[i : i + self.max_batch]) for i in range(0, batch.shape[0], self.max_batch)]
            return np.concatenate(chunks, axis=0)
        return self._infer(batch)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def io_summary(self) -> Tuple[Tuple[str, tuple, str], ...]:
        """((name, shape, dtype), ...) of inputs then outputs, for ``fer-edge info``."""
        return ()

    def close(self) -> None:
        """Release the backend's resources (idempotent)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
