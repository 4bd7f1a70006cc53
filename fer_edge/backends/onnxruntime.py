"""ONNX Runtime backend: any CPU, and NVIDIA GPUs through the TensorRT or CUDA execution providers."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..card import CARD_METADATA_KEY, ModelCard
from ..errors import FerEdgeError, InvalidInputError, ModelFormatError
from ..integrity import ModelBytes, read_model_bytes, verify_integrity
from .base import Backend, BackendOptions

log = logging.getLogger(__name__)

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def _ort():
    import onnxruntime

    return onnxruntime


def choose_providers(requested: Optional[Sequence[str]] = None) -> list:
    """Providers to use: ``requested`` if all are available, else TensorRT EP → CUDA EP → CPU by availability."""
    available = _ort().get_available_providers()
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise InvalidInputError(
                f"ONNX Runtime provider(s) {missing} are not available in this install (available: {available}); "
                "install onnxruntime-gpu for CUDA/TensorRT or leave providers=None"
            )
        return list(requested)
    return [p for p in PREFERRED_PROVIDERS if p in available] or ["CPUExecutionProvider"]


_FLOAT_OUTPUTS = ("tensor(float)", "tensor(float16)", "tensor(double)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def provider_entries(providers: Sequence[str], device: int) -> list:
    """Providers as ONNX Runtime takes them: GPU providers get ``device_id`` when the device is not 0."""
    if not device:
        return list(providers)
    return [(p, {"device_id": str(int(device))}) if p in GPU_PROVIDERS else p for p in providers]


def card_from_session(session) -> Optional[ModelCard]:
    """The card stored in the model's ``metadata_props`` (key ``fer_edge.card``), or None."""
    meta = session.get_modelmeta().custom_metadata_map
    text = meta.get(CARD_METADATA_KEY)
    return None if text is None else ModelCard.from_json(text)


def _load_error(path: Path, exc: Exception) -> ModelFormatError:
    """A ModelFormatError for a graph ONNX Runtime refused; a file that is not a protobuf at all is called damaged."""
    text = str(exc)
    if "INVALID_PROTOBUF" in text or "Protobuf parsing failed" in text:
        size = path.stat().st_size if path.is_file() else 0
        return ModelFormatError(
            f"{path} is damaged or not an ONNX model ({size} bytes that do not parse as ONNX: truncated download, "
            "a text/HTML page saved under .onnx, or a file cut off while being written). Download it again or "
            "re-create it with `fer-edge export CKPT`; `sha256sum` should match the source's checksum"
        )
    return ModelFormatError(f"ONNX Runtime cannot load {path}: {text.splitlines()[0] if text else type(exc).__name__}")


class OnnxRuntimeBackend(Backend):
    """Classifier in an ONNX file, run by ONNX Runtime.

    Args:
        path: the ``.onnx`` file (its card is read from ``metadata_props``).
        options: threads, providers, warm-up (``BackendOptions``).
        card: card for a model exported without one (a warning is logged).
        threads, providers, warmup: shorthands that override ``options`` when given.
    """

    name = "onnxruntime"
    thread_safe = True  # InferenceSession.run is safe to call from several threads

    def __init__(
        self,
        path,
        *,
        options: Optional[BackendOptions] = None,
        card: Optional[ModelCard] = None,
        threads: Optional[int] = None,
        providers: Optional[Sequence[str]] = None,
        warmup: Optional[bool] = None,
    ):
        ort = _ort()
        self.options = BackendOptions.from_kwargs(options, threads=threads, providers=providers, warmup=warmup)
        self.path = Path(path)
        session_options = ort.SessionOptions()
        session_options.log_severity_level = 3
        if self.options.threads is not None:
            session_options.intra_op_num_threads = int(self.options.threads)
            session_options.inter_op_num_threads = 1
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.providers = choose_providers(self.options.providers)
        # Read the card (one rule: exactly one card entry) and check the integrity record before ONNX Runtime
        # parses the graph: a damaged or tampered file is refused with a clear error, never run.
        parsed = ModelBytes(read_model_bytes(self.path), where=self.path.name)
        stored = parsed.card()
        if stored is not None and self.options.check_integrity:
            if not verify_integrity(parsed, stored):
                log.info("%s carries no integrity record (exported before fer-edge wrote one); not verified",
                         self.path.name)
        del parsed
        try:
            self._session = ort.InferenceSession(str(self.path), sess_options=session_options,
                                                 providers=provider_entries(self.providers, self.options.device))
        except Exception as exc:  # ORT raises its own exception types for unreadable graphs
            raise _load_error(self.path, exc) from exc
        if stored is None and card is None:
            raise ModelFormatError(
                f"{self.path.name} has no fer_edge model card in its metadata; re-export it with "
                "`fer-edge export`, or pass the card explicitly: "
                "Recognizer(path, card=ModelCard(labels=..., input_size=..., ...))"
            )
        if stored is None:
            warnings.warn(f"{self.path.name} has no model card; using the card passed by the caller", stacklevel=2)
        self.card = card if card is not None else stored
        self.precision = self.card.precision
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1:
            raise ModelFormatError(f"{self.path.name} has {len(inputs)} inputs; a classifier needs exactly one")
        if not outputs:
            raise ModelFormatError(f"{self.path.name} has no outputs; a classifier needs one (N, classes) output")
        if inputs[0].type != "tensor(float)":
            raise ModelFormatError(
                f"{self.path.name} takes {inputs[0].type} input; fer_edge feeds float32 (N, C, H, W) batches: "
                "re-export the classifier with a float input"
            )
        if outputs[0].type not in _FLOAT_OUTPUTS:
            raise ModelFormatError(
                f"{self.path.name} returns {outputs[0].type}; a classifier returns float scores (N, classes)")
        self._input_name = inputs[0].name
        self._output_name = outputs[0].name
        self._check_shapes(inputs[0].shape, outputs[0].shape)
        if self.options.warmup:
            self.warmup()

    def _check_shapes(self, in_shape, out_shape) -> None:
        static_in = [d if isinstance(d, int) else None for d in in_shape]
        if len(static_in) != 4:
            raise ModelFormatError(f"{self.path.name} input is {in_shape}; expected (N, C, H, W)")
        for got, want, what in zip(static_in[1:], self.card.input_shape, ("channels", "height", "width")):
            if got is not None and got != want:
                raise ModelFormatError(
                    f"{self.path.name} input has {got} {what} but its card says {want}; re-export with a matching card"
                )
        fixed = static_in[0] if static_in[0] not in (None, -1, 0) else None
        self.static_batch = fixed  # the base class pads each chunk up to it
        self.max_batch = fixed
        if len(out_shape) != 2:
            raise ModelFormatError(f"{self.path.name} output is {out_shape}; expected (N, num_classes)")
        if isinstance(out_shape[1], int):
            self.card.check_output_width(out_shape[1], where=self.path.name)

    @property
    def on_gpu(self) -> bool:  # type: ignore[override]
        return bool(self.providers) and self.providers[0] in ("CUDAExecutionProvider", "TensorrtExecutionProvider")

    @property
    def label(self) -> str:
        return f"onnxruntime[{self.providers[0] if self.providers else 'CPUExecutionProvider'}]"

    @property
    def kind(self) -> str:
        """``onnxruntime-cpu`` / ``-cuda`` / ``-trt`` after the first execution provider (report file names)."""
        first = (self.providers[0] if self.providers else "CPU").replace("ExecutionProvider", "").lower()
        return "onnxruntime-" + ("trt" if first == "tensorrt" else first)

    def details(self):
        out = super().details()
        out["providers"] = list(self.providers)
        out["threads"] = self.options.threads
        return out

    def _live_session(self):
        if self._session is None:
            raise FerEdgeError(f"the ONNX Runtime backend for {self.path.name} was closed; create a new one")
        return self._session

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        session = self._live_session()
        try:
            out = session.run([self._output_name], {self._input_name: batch})[0]
        except Exception as exc:  # ORT's own exception types (Fail, InvalidArgument, RuntimeException...)
            raise ModelFormatError(
                f"ONNX Runtime failed to run {self.path.name} on a batch of {batch.shape[0]}: {_first_line(exc)}; "
                "the graph does not accept what its card describes (e.g. hard-wired to another batch size)"
            ) from exc
        if out.ndim != 2 or out.shape[1] != self.card.num_classes:
            if out.ndim != 2:
                raise ModelFormatError(
                    f"{self.path.name} returned output shaped {out.shape}; a classifier returns (N, classes)")
            self.card.check_output_width(out.shape[-1], where=self.path.name)
        return out.astype(np.float32, copy=False)

    def io_summary(self):
        session = self._live_session()
        rows = [(i.name, tuple(i.shape), i.type) for i in session.get_inputs()]
        return tuple(rows + [(o.name, tuple(o.shape), o.type) for o in session.get_outputs()])

    def close(self) -> None:
        self._session = None
