"""Backend template: the public ``infer`` validates, pads static batches and chunks; subclasses implement ``_infer``.

Also the options every backend takes (``BackendOptions``) and the device-side input path (``DeviceView``,
``device_input``/``infer_device``) through which the CUDA preprocessing kernel writes straight into an engine's
input buffer (Polygraphy's DeviceView idea).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..card import ModelCard
from ..errors import FerEdgeError, InvalidInputError, ModelFormatError

log = logging.getLogger(__name__)

CUDA_IMPLEMENTATIONS = ("auto", "cuda-python", "pycuda")
PROB_TOLERANCE = 1e-2  # probabilities from INT8/FP16 graphs sum to 1 within a few 1e-3


@dataclass(frozen=True)
class BackendOptions:
    """How to open a model; one frozen value instead of loose keyword arguments.

    Args:
        device: CUDA device ordinal (TensorRT, ONNX Runtime's GPU providers).
        threads: intra-op CPU threads (ONNX Runtime); None lets the library decide.
        providers: ONNX Runtime execution providers in order of preference; None picks by availability.
        cuda: the device memory/stream layer for TensorRT: "auto", "cuda-python" or "pycuda".
        cache_dir: engine cache folder; None = ``$FER_EDGE_CACHE`` or the user cache folder.
        warmup: run one batch at the largest batch size at load so the first real call is not slow.
        cuda_graphs: capture one CUDA graph per batch shape (TensorRT) and replay it.
        precision: for building an engine from an ONNX model ("auto" follows the model's card).
        check_integrity: verify the card's integrity record at load (``fer_edge.integrity``); turn it off only for
            a graph you edited on purpose.
    """

    device: int = 0
    threads: Optional[int] = None
    providers: Optional[Tuple[str, ...]] = None
    cuda: str = "auto"
    cache_dir: Optional[str] = None
    warmup: bool = True
    cuda_graphs: bool = False
    precision: str = "auto"
    check_integrity: bool = True

    def __post_init__(self):
        if self.threads is not None and int(self.threads) < 1:
            raise InvalidInputError(f"threads must be >= 1, got {self.threads}")
        if int(self.device) < 0:
            raise InvalidInputError(f"device must be a CUDA ordinal >= 0, got {self.device}")
        if self.cuda not in CUDA_IMPLEMENTATIONS:
            raise InvalidInputError(f"cuda must be one of {CUDA_IMPLEMENTATIONS}, got {self.cuda!r}")
        if self.providers is not None:
            if isinstance(self.providers, str):
                object.__setattr__(self, "providers", (self.providers,))
            else:
                object.__setattr__(self, "providers", tuple(self.providers))
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", str(self.cache_dir))

    @classmethod
    def from_kwargs(cls, options: Optional[BackendOptions] = None, **kw) -> BackendOptions:
        """``options`` updated by the keyword arguments that are not None (Recognizer's public kwargs)."""
        import dataclasses

        base = options if options is not None else cls()
        unknown = sorted(set(kw) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise InvalidInputError(f"unknown backend option(s) {unknown}; see fer_edge.backends.BackendOptions")
        changes = {k: v for k, v in kw.items() if v is not None}
        return dataclasses.replace(base, **changes) if changes else base


@dataclass(frozen=True)
class DeviceView:
    """A device buffer seen as a tensor: raw pointer, shape and dtype (no ownership)."""

    ptr: int
    shape: Tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


class Backend:
    """Runs a classifier on preprocessed batches.

    Subclasses set ``card``, ``max_batch`` (largest rows per call; None = unbounded), ``static_batch`` (the
    model's fixed batch; every call is padded up to it) and implement ``_infer``.
    """

    card: ModelCard
    max_batch: Optional[int] = None
    static_batch: Optional[int] = None
    name = "backend"
    thread_safe = False  # True when infer() may run on several threads at once (Recognizer serialises it otherwise)
    precision = "fp32"
    on_gpu: bool = False

    # ------------------------------------------------------------------ self-description
    @property
    def label(self) -> str:
        """Human-readable backend description, e.g. ``onnxruntime[CPUExecutionProvider]``."""
        return f"{self.name} {self.precision}"

    @property
    def kind(self) -> str:
        """Short id used in report file names (``onnxruntime-cpu``, ``tensorrt``)."""
        return self.name

    def details(self) -> Dict[str, Any]:
        """What ``bench`` and ``info`` print: one dict, no attribute probing."""
        path = getattr(self, "path", None)
        return {
            "backend": self.name,
            "kind": self.kind,
            "label": self.label,
            "on_gpu": self.on_gpu,
            "precision": self.precision,
            "path": None if path is None else str(path),
            "max_batch": self.max_batch,
            "static_batch": self.static_batch,
            "providers": [],
            "engine_build_s": None,
            "device_memory_bytes": None,
        }

    # ------------------------------------------------------------------ host path
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
        if self.static_batch is None and (self.max_batch is None or batch.shape[0] <= self.max_batch):
            return self.check_outputs(self._infer(batch), batch.shape[0])
        step = self.static_batch or self.max_batch
        chunks = [self._infer_padded(batch[i : i + step]) for i in range(0, batch.shape[0], step)]
        return self.check_outputs(chunks[0] if len(chunks) == 1 else np.concatenate(chunks, axis=0), batch.shape[0])

    def check_outputs(self, out: np.ndarray, rows: int) -> np.ndarray:
        """Refuse output that cannot be right: a row count other than the input's, a class count other than the
        card's, NaN/inf, or "probabilities" outside [0, 1] or not summing to 1 (a logits graph under a probs card).

        A damaged model otherwise answers every face with a constant or NaN verdict and no error.
        """
        where = getattr(self, "path", None)
        where = getattr(where, "name", None) or self.name
        out = np.asarray(out)
        if out.ndim != 2 or out.shape[0] != rows:
            raise ModelFormatError(
                f"{where} returned output shaped {out.shape} for {rows} input(s); a classifier returns one row per "
                "input (N, classes): the graph is not a per-image classifier or is damaged"
            )
        if out.shape[1] != self.card.num_classes:
            self.card.check_output_width(out.shape[1], where=where)
        if not np.all(np.isfinite(out)):
            raise ModelFormatError(
                f"{where} returned NaN or infinite scores; its weights are damaged (or the input was): re-export or "
                "re-download the model"
            )
        if self.card.output == "probs" and rows:
            sums = out.sum(axis=1, dtype=np.float64)
            if out.min() < -PROB_TOLERANCE or out.max() > 1 + PROB_TOLERANCE or np.any(
                    np.abs(sums - 1.0) > PROB_TOLERANCE):
                raise ModelFormatError(
                    f"{where}: its card says the output is probabilities, but rows sum to {float(sums.min()):.3g}.."
                    f"{float(sums.max()):.3g} with values in [{float(out.min()):.3g}, {float(out.max()):.3g}]; the "
                    "card is wrong (the graph outputs logits?): re-export with output='logits'"
                )
        return out.astype(np.float32, copy=False)

    def _infer_padded(self, chunk: np.ndarray) -> np.ndarray:
        """Run one chunk; a static-batch model gets it padded with zero rows, and the padding is dropped."""
        n = chunk.shape[0]
        if self.static_batch is None or n == self.static_batch:
            return self._infer(chunk)
        padded = np.zeros((self.static_batch,) + chunk.shape[1:], dtype=chunk.dtype)
        padded[:n] = chunk
        return self._infer(padded)[:n]

    def warmup(self) -> None:
        """One call at the largest batch the model takes (so lazy allocation happens at load, not on a frame)."""
        # Two rows for a dynamic batch: a graph hard-wired to batch 1 then fails here, at load, with a clear error.
        rows = self.static_batch or self.max_batch or 2
        self.infer(np.zeros((rows,) + self.card.input_shape, dtype=np.float32))

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------ device path
    @property
    def stream(self) -> Optional[int]:
        """Raw ``cudaStream_t`` handle the backend executes on; None for host-only backends."""
        return None

    def device_input(self, batch: int) -> Optional[DeviceView]:
        """The backend's own input buffer sized for ``batch`` rows (None for host-only backends).

        A producer (the CUDA preprocessing kernel) writes there on ``self.stream``, then calls ``infer_device``.
        """
        return None

    def infer_device(self, batch: int) -> np.ndarray:
        """Run on what ``device_input(batch)`` holds; return host (batch, classes) float32."""
        raise FerEdgeError(f"the {self.name} backend runs on host arrays only; call infer(batch) instead")

    # ------------------------------------------------------------------ misc
    def io_summary(self) -> Tuple[Tuple[str, tuple, str], ...]:
        """((name, shape, dtype), ...) of inputs then outputs, for ``fer-edge info``."""
        return ()

    def close(self) -> None:
        """Release the backend's resources (idempotent)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_device_batch(backend: Backend, batch: int) -> int:
    """Validate a device-path batch size against the backend's limits."""
    if not isinstance(batch, (int, np.integer)) or int(batch) < 1:
        raise InvalidInputError(f"device batch must be a positive integer, got {batch!r}")
    limit = backend.static_batch or backend.max_batch
    if limit is not None and int(batch) > limit:
        raise InvalidInputError(f"device batch {batch} exceeds the model's largest batch {limit}; split it")
    return int(batch)

