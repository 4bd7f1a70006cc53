"""ONNX artefact helpers shared by every step: card in metadata_props, provenance, sha256, atomic writes.

Each step (export, simplify, quantize, fp16) reads the parent's card, records itself in ``provenance`` and
publishes its output with temp file + rename, so nothing half-written ever sits at the output path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ContextManager, Dict, Mapping, Optional, Tuple

import numpy as np

from fer_edge._optional import require
from fer_edge.card import CARD_METADATA_KEY, ModelCard, card_from_metadata
from fer_edge.errors import InvalidInputError, ModelFormatError
from fer_edge.integrity import integrity_record
from fer_edge.integrity import sha256_file as file_sha256  # noqa: F401  (the one file hash; export steps import it from here)

EXPORT_EXTRA = "export"


def _onnx():
    return require("onnx", EXPORT_EXTRA, "ONNX export and quantization")


@dataclass(frozen=True)
class StepResult:
    """What one conversion step produced.

    Attributes:
        path: the published artefact.
        card: the card written into it.
        max_abs_diff: largest |output difference| against the parent (torch or the previous ONNX).
        details: step-specific numbers (node counts, agreement, calibration info...).
    """

    path: Path
    card: ModelCard
    max_abs_diff: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict)


def load_onnx(path):
    """Load an ONNX model or raise ModelFormatError saying what to do."""
    onnx = _onnx()
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(f"ONNX file not found: {path}")
    try:
        return onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError and friends
        raise ModelFormatError(f"{path} is not a readable ONNX model: {str(exc).splitlines()[0] if str(exc) else exc}; "
                               "re-export it with `fer-edge export`") from exc


def card_from_model(model, where: str = "the model") -> ModelCard:
    """Read the fer_edge card from an ONNX ModelProto's ``metadata_props``.

    Raises:
        ModelFormatError: the model carries no card (names the fix).
    """
    card = card_from_metadata(((p.key, p.value) for p in model.metadata_props), where=where)
    if card is not None:
        return card
    raise ModelFormatError(
        f"{where} has no fer_edge model card (metadata key {CARD_METADATA_KEY!r}); export it with "
        "`fer-edge export CKPT`, or attach one with fer_edge.engines.artifact.attach_card(model, ModelCard(...))"
    )


def attach_card(model, card: ModelCard) -> ModelCard:
    """Write ``card`` into ``model.metadata_props`` (replacing an existing card, keeping other keys), sealed with
    an integrity record over the model as it is now (``fer_edge.integrity``); returns the sealed card.

    Attach the card last, after the graph is final: ``save_onnx`` re-seals a card whose record no longer matches.
    """
    _put_card(model, card)
    sealed = card.replace(integrity=integrity_record(model.SerializeToString(), card))
    _put_card(model, sealed)
    return sealed


def _put_card(model, card: ModelCard) -> None:
    keep = [(p.key, p.value) for p in model.metadata_props if p.key != CARD_METADATA_KEY]
    del model.metadata_props[:]
    for key, value in keep + [(CARD_METADATA_KEY, card.to_json())]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def card_for_step(parent: ModelCard, step: str, parent_sha256: str, tool: str, **info: Any) -> ModelCard:
    """Child card: same fields, plus ``provenance`` recording this step (parent hash, tool, extra info).

    ``provenance["history"]`` keeps every step in order; the top-level ``parent_sha256`` and ``tool`` describe
    the latest one. ``precision`` and ``output`` may be overridden through ``info`` keys of the same name.
    """
    changes: Dict[str, Any] = {}
    for key in ("precision", "output"):
        if key in info:
            changes[key] = info.pop(key)
    prov = dict(parent.provenance)
    entry = dict(step=step, parent_sha256=parent_sha256, tool=tool, **info)
    prov["history"] = list(prov.get("history", [])) + [entry]
    prov["parent_sha256"] = parent_sha256
    prov["tool"] = tool
    if info.get("calibration") is not None:
        prov["calibration"] = info["calibration"]
    return parent.replace(provenance=prov, **changes)


def atomic_path(out, suffix: str = ".onnx") -> ContextManager[Path]:
    """Yield a temp path beside ``out``; on success it is renamed onto ``out``, on failure it is removed."""
    from fer_edge.atomic import atomic_path as _atomic_path

    return _atomic_path(out, suffix)


def save_onnx(model, path) -> None:
    """Save a ModelProto as one self-contained file (no external-data side file)."""
    onnx = _onnx()
    data = model.SerializeToString()
    card = card_from_metadata((p.key, p.value) for p in model.metadata_props)
    if card is not None and card.integrity != integrity_record(data, card):
        attach_card(model, card)  # the graph changed after attach_card: seal what is written
        data = model.SerializeToString()
    if len(data) >= 2 ** 31 - 1:
        raise ModelFormatError("the model is larger than 2 GB and cannot be stored in one ONNX file")
    with open(path, "wb") as fh:
        fh.write(data)
    # Checker on the written file: catches malformed graphs before they are published.
    onnx.checker.check_model(str(path))


def ort_session(model_or_path, threads: int = 1):
    """A CPU ONNX Runtime session for checks (never the user's providers)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    src = model_or_path if isinstance(model_or_path, (str, Path)) else model_or_path.SerializeToString()
    return ort.InferenceSession(str(src) if isinstance(src, Path) else src, sess_options=opts,
                                providers=["CPUExecutionProvider"])


def fixed_batch(model) -> Optional[int]:
    """The first graph input's batch size if it is fixed (a static-batch export), else None."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return int(dims[0].dim_value) if dims and dims[0].dim_value > 0 else None


def run_session(session, batch: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Run a single-input session over ``batch`` in chunks; returns the first output as float32.

    A model with a fixed batch size is fed exactly that many samples per run (the last chunk padded by repeating
    its final sample, the padding dropped from the result).
    """
    inp = session.get_inputs()[0]
    name = inp.name
    fixed = inp.shape[0] if inp.shape and isinstance(inp.shape[0], int) and inp.shape[0] > 0 else None
    chunk = fixed or chunk
    outs = []
    for i in range(0, len(batch), chunk):
        part = batch[i : i + chunk]
        n = len(part)
        if fixed and n < fixed:
            part = np.concatenate([part, np.repeat(part[-1:], fixed - n, axis=0)])
        outs.append(session.run(None, {name: part})[0][:n])
    return np.concatenate(outs, axis=0).astype(np.float32) if outs else np.zeros((0, 0), np.float32)


def probe_batch(card: ModelCard, n: int = 8, seed: int = 0) -> np.ndarray:
    """Deterministic inputs for parity checks: random 0..255 images normalised as the card says."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(n,) + card.input_shape).astype(np.float32)
    alpha, beta = card.alpha_beta()
    a = np.asarray(alpha, np.float32).reshape(1, -1, 1, 1)
    b = np.asarray(beta, np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray(pixels * a + b, dtype=np.float32)


def default_output(path, tag: str) -> Path:
    """``model.onnx`` → ``model.<tag>.onnx`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{tag}.onnx")


def check_distinct(src, out) -> None:
    """Refuse to overwrite the input in place (a failed step would lose the parent)."""
    if Path(src).resolve() == Path(out).resolve():
        raise InvalidInputError(f"output {out} is the input file; choose another output path")


def open_parent(path, out, tag: str) -> Tuple[Path, Path, Any, ModelCard]:
    """Start an ONNX → ONNX step: resolve its paths and read the parent model and its card.

    Args:
        path: the parent ``.onnx`` (must carry a card).
        out: output path; None means ``<stem>.<tag>.onnx`` beside ``path``.
        tag: the step's file tag ("sim", "int8", "fp16").

    Returns:
        (path, out, model, card) with both paths as ``Path``.

    Raises:
        InvalidInputError: ``out`` is the input file.
        ModelFormatError: the parent is missing, unreadable, or has no card.
    """
    path = Path(path)
    out = Path(out) if out is not None else default_output(path, tag)
    check_distinct(path, out)
    model = load_onnx(path)
    return path, out, model, card_from_model(model, str(path))


def agreement(reference: np.ndarray, other: np.ndarray) -> Tuple[float, float, float]:
    """(top-1 agreement, max |Δ|, mean |Δ|) between two (N, K) output arrays.

    A row of ``other`` holding NaN or inf counts as a disagreement and makes the differences inf, so a converted
    model that overflows can never pass a parity check through ``argmax`` landing on the right class by chance.

    Raises:
        ModelFormatError: the two outputs have different shapes.
    """
    reference, other = np.asarray(reference), np.asarray(other)
    if reference.shape != other.shape:
        raise ModelFormatError(f"converted model outputs shape {other.shape}, its parent {reference.shape}; "
                               "the conversion changed the graph's output")
    finite = np.isfinite(other).all(axis=tuple(range(1, other.ndim))) if other.size else np.ones(len(other), bool)
    delta = np.abs(reference - other)
    delta = np.where(np.isfinite(delta), delta, np.inf)
    agree = float(np.mean((reference.argmax(1) == other.argmax(1)) & finite)) if len(reference) else 1.0
    return agree, float(delta.max()) if delta.size else 0.0, float(delta.mean()) if delta.size else 0.0


def node_count(model) -> int:
    return len(model.graph.node)


def opt(value: Optional[Any], default: Any) -> Any:
    return default if value is None else value
