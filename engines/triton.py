"""Triton Inference Server model repository from a classifier and its card (`fer-edge export-triton`).

Writes ``<name>/`` (the classifier: ONNX on ``onnxruntime_onnx`` or a TensorRT plan on ``tensorrt_plan``, with
``config.pbtxt``, labels for the classification extension, the card as a parameter, warm-up) and
``<name>_frames/`` (a Python-backend model running ``fer_edge.Recognizer``: camera frame in, faces out).
Tensor names, types and dims come from the graph (or the engine's sidecar), labels and normalisation from the
card, so the served model cannot drift from the one we tested. Needs only the runtime (onnxruntime reads the
graph), so it works on a device without the [export] extra.
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from fer_edge.card import CARD_METADATA_KEY, ModelCard
from fer_edge.detect.registry import DEFAULT_DETECTOR, detector_names
from fer_edge.errors import InvalidInputError, ModelFormatError
from fer_edge.integrity import sha256_file

from .staging import staged_folder

log = logging.getLogger(__name__)

KINDS = ("cpu", "gpu")
FRAMES_SUFFIX = "_frames"
LABELS_FILE = "labels.txt"
CARD_PARAMETER = CARD_METADATA_KEY
FRAMES_TEMPLATE = Path(__file__).resolve().parent / "templates" / "triton_frames_model.py"
# ONNX Runtime's type strings -> Triton's model-config data types.
ONNX_TO_TRITON = {
    "tensor(float)": "TYPE_FP32",
    "tensor(float16)": "TYPE_FP16",
    "tensor(double)": "TYPE_FP64",
    "tensor(int8)": "TYPE_INT8",
    "tensor(uint8)": "TYPE_UINT8",
    "tensor(int32)": "TYPE_INT32",
    "tensor(int64)": "TYPE_INT64",
}
# The _frames model's tensors: the wire contract that fer_edge.serving speaks.
FRAMES_INPUTS = (("IMAGE", "TYPE_UINT8", (-1,)), ("FRAME", "TYPE_UINT8", (-1, -1, -1)))
FRAMES_OUTPUTS = ("BOXES", "SCORES", "LABELS", "PROBABILITIES")


@dataclass(frozen=True)
class TritonExportConfig:
    """How the repository is laid out and scheduled.

    Attributes:
        max_batch: Triton ``max_batch_size`` of the classifier (the largest batch the dynamic batcher forms).
        instances: model instances per device (``instance_group.count``) for both models.
        kind: "cpu" (KIND_CPU) or "gpu" (KIND_GPU); a TensorRT plan needs "gpu".
        queue_delay_us: ``max_queue_delay_microseconds`` of the dynamic batcher.
        frames: also write the ``<name>_frames`` Python-backend model.
        detector: face detector the frames model runs (a name from ``fer_edge.detect``).
        frames_threads: CPU threads per frames-model instance (detector and classifier).
        name: model name in the repository (default: the card's name, made Triton-safe).
        force: replace same-named models in a repository that is not empty.
        onnx: for an engine: the ONNX it was built from (default: the sidecar's ``onnx_path``), for tensor names.
    """

    max_batch: int = 16
    instances: int = 1
    kind: str = "cpu"
    queue_delay_us: int = 100
    frames: bool = True
    detector: str = DEFAULT_DETECTOR
    frames_threads: int = 1
    name: Optional[str] = None
    force: bool = False
    onnx: Optional[str] = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInputError(f"kind must be one of {KINDS}, got {self.kind!r}")
        for key in ("max_batch", "instances", "frames_threads"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidInputError(f"{key} must be an integer >= 1, got {value!r}")
        if not isinstance(self.queue_delay_us, int) or self.queue_delay_us < 0:
            raise InvalidInputError(f"queue_delay_us must be an integer >= 0, got {self.queue_delay_us!r}")
        if self.detector not in detector_names():
            raise InvalidInputError(f"detector must be one of {list(detector_names())}, got {self.detector!r}")
        if self.name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.name):
            raise InvalidInputError(f"model name {self.name!r} must be letters, digits, '_', '-' or '.'")


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as Triton sees it (``dims`` without the batch axis)."""

    name: str
    data_type: str
    dims: Tuple[int, ...]


@dataclass(frozen=True)
class ClassifierSource:
    """The classifier file, its card and its graph's tensors.

    Attributes:
        path: the ``.onnx`` or ``.engine``/``.plan`` file.
        platform: "onnxruntime_onnx" or "tensorrt_plan".
        card: the model card (from ONNX metadata or the engine sidecar).
        input: the image input (batch axis dropped).
        output: the class-score output (batch axis dropped).
        static_batch: the graph's fixed batch size, or None for a dynamic batch axis.
        sidecar: what the engine sidecar says that the config records (TensorRT version, GPU, profile max batch).
    """

    path: Path
    platform: str
    card: ModelCard
    input: TensorSpec
    output: TensorSpec
    static_batch: Optional[int] = None
    sidecar: Mapping[str, Any] = field(default_factory=dict)

    @property
    def model_filename(self) -> str:
        return "model.onnx" if self.platform == "onnxruntime_onnx" else "model.plan"


@dataclass(frozen=True)
class TritonExport:
    """What ``triton_repository`` wrote: the repository, the model names and every file."""

    repo: Path
    classifier: str
    frames: Optional[str]
    files: Tuple[Path, ...]


# ---------------------------------------------------------------------------------------------- reading models
def _onnx_graph(path: Path):
    """(card or None, inputs, outputs) of an ONNX file read with ONNX Runtime."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types for unreadable graphs
        raise ModelFormatError(f"ONNX Runtime cannot read {path}: {str(exc).splitlines()[0]}") from exc
    text = session.get_modelmeta().custom_metadata_map.get(CARD_METADATA_KEY)
    card = None if text is None else ModelCard.from_json(text)
    return card, session.get_inputs(), session.get_outputs()


def _batch_and_dims(shape: Sequence[Any], where: str) -> Tuple[Optional[int], Tuple[int, ...]]:
    if len(shape) < 2:
        raise ModelFormatError(f"{where} has shape {list(shape)}; expected a batch axis first")
    batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
    dims = tuple(int(d) if isinstance(d, int) and d > 0 else -1 for d in shape[1:])
    return batch, dims


def _tensor(name: str, type_name: str, shape: Sequence[Any], table: Mapping[str, str], where: str):
    if type_name not in table:
        raise ModelFormatError(f"{where} tensor {name!r} has type {type_name!r}, which this export cannot map")
    batch, dims = _batch_and_dims(shape, f"{where} tensor {name!r}")
    return batch, TensorSpec(name, table[type_name], dims)


def _check_against_card(card: ModelCard, inp: TensorSpec, out: TensorSpec, where: str) -> None:
    if any(d != -1 and d != w for d, w in zip(inp.dims, card.input_shape)) or len(inp.dims) != 3:
        raise ModelFormatError(
            f"{where} input {inp.name!r} has dims {list(inp.dims)} (after the batch axis) but its card says "
            f"{list(card.input_shape)} (C, H, W); re-export the model with a matching card"
        )
    if len(out.dims) != 1:
        raise ModelFormatError(f"{where} output {out.name!r} has dims {list(out.dims)}; expected (batch, classes)")
    if out.dims[0] != -1:
        card.check_output_width(out.dims[0], where=where)


def _source_from_onnx(path: Path) -> ClassifierSource:
    card, inputs, outputs = _onnx_graph(path)
    if card is None:
        raise ModelFormatError(
            f"{path.name} has no fer_edge model card in its metadata, so its labels and normalisation are unknown; "
            "re-export it with `fer-edge export` (or attach a card) before exporting to Triton"
        )
    if len(inputs) != 1 or len(outputs) < 1:
        raise ModelFormatError(f"{path.name} has {len(inputs)} inputs and {len(outputs)} outputs; expected 1 and 1")
    batch, inp = _tensor(inputs[0].name, inputs[0].type, inputs[0].shape, ONNX_TO_TRITON, path.name)
    _, out = _tensor(outputs[0].name, outputs[0].type, outputs[0].shape, ONNX_TO_TRITON, path.name)
    inp = TensorSpec(inp.name, inp.data_type, tuple(card.input_shape))
    out = TensorSpec(out.name, out.data_type, (card.num_classes,) if out.dims == (-1,) else out.dims)
    _check_against_card(card, inp, out, path.name)
    return ClassifierSource(path, "onnxruntime_onnx", card, inp, out, batch)


def _onnx_for_engine(engine: Path, ec, onnx: Optional[str]) -> Path:
    """The ONNX an engine was built from (``onnx`` or the sidecar's ``onnx_path``), checked by its sha256."""
    candidates = [Path(onnx)] if onnx is not None else ([Path(ec.onnx_path)] if ec.onnx_path else [])
    if onnx is not None and not candidates[0].is_file():
        raise InvalidInputError(f"ONNX file not found: {onnx}")
    candidates = [c for c in candidates if c.is_file()]
    if not candidates:
        raise InvalidInputError(
            f"The Triton config of {engine.name} needs its output tensor's name, which the sidecar does not record "
            f"and its source ONNX ({ec.onnx_path or 'unknown'}) is not here; pass the ONNX it was built from with "
            "--onnx"
        )
    path = candidates[0]
    if sha256_file(path) != ec.onnx_sha256:
        raise ModelFormatError(
            f"{path.name} is not the ONNX {engine.name} was built from (its sha256 differs from the sidecar's "
            "onnx_sha256); pass the ONNX the engine was built from with --onnx"
        )
    return path


def _source_from_engine(path: Path, onnx: Optional[str]) -> ClassifierSource:
    from fer_edge.backends.engine_card import EngineCard

    ec = EngineCard.load(path)  # ModelFormatError naming the rebuild command when missing or damaged
    ec.check_file(path)  # truncated / replaced engines are refused before they reach a server
    card = ec.model_card
    ref = _source_from_onnx(_onnx_for_engine(path, ec, onnx))
    input_name = next(iter(ec.profile))
    if input_name != ref.input.name:
        raise ModelFormatError(f"{path.name}'s profile names input {input_name!r} but its ONNX has "
                               f"{ref.input.name!r}; rebuild the engine with `fer-edge build`")
    inp = TensorSpec(ref.input.name, ref.input.data_type, tuple(card.input_shape))
    out = TensorSpec(ref.output.name, ref.output.data_type, (card.num_classes,))
    _check_against_card(card, inp, out, path.name)
    return ClassifierSource(path, "tensorrt_plan", card, inp, out, None,
                            sidecar={"tensorrt_version": ec.tensorrt_version, "profile_max_batch": ec.max_batch,
                                     "gpu_name": ec.gpu_name, "compute_capability": ec.compute_capability,
                                     "precision": ec.precision})


def classifier_source(model, onnx: Optional[str] = None) -> ClassifierSource:
    """Read a classifier's card and tensors: ``.onnx`` from the graph, ``.engine``/``.plan`` from its sidecar."""
    path = Path(model)
    if not path.is_file():
        raise InvalidInputError(f"Model file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return _source_from_onnx(path)
    if suffix in (".engine", ".plan"):
        return _source_from_engine(path, onnx)
    raise InvalidInputError(f"Cannot export {path.name}: expected a .onnx model or a .engine/.plan built by fer-edge")


# ------------------------------------------------------------------------------------------------ config text
def pbtxt_string(text: str) -> str:
    """A protobuf text-format string literal (quotes, backslashes and control characters escaped)."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\{ord(ch):03o}")
        elif ord(ch) > 127:
            out.append("".join(f"\\{b:03o}" for b in ch.encode("utf-8")))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _dims(dims: Sequence[int]) -> str:
    return "[ " + ", ".join(str(int(d)) for d in dims) + " ]"


def _parameters(values: Mapping[str, str]) -> List[str]:
    return [f"parameters {{ key: {pbtxt_string(k)} value {{ string_value: {pbtxt_string(v)} }} }}"
            for k, v in values.items()]


def preferred_batch_sizes(max_batch: int) -> List[int]:
    """Batch sizes the dynamic batcher should aim for: powers of two from 4 up to ``max_batch``, and it."""
    sizes = {p for p in (4, 8, 16, 32, 64, 128) if p <= max_batch}
    sizes.add(max_batch)
    return sorted(sizes)


def classifier_config_text(source: ClassifierSource, name: str, config: TritonExportConfig) -> str:
    """``config.pbtxt`` of the classifier model."""
    kind = "KIND_GPU" if config.kind == "gpu" else "KIND_CPU"
    inp, out = source.input, source.output
    warm = [f"model_warmup [ {{ name: {pbtxt_string(f'zeros_batch_{b}')} batch_size: {b} inputs {{ key: "
            f"{pbtxt_string(inp.name)} value {{ data_type: {inp.data_type} dims: {_dims(inp.dims)} zero_data: true "
            "} } } ]" for b in sorted({1, config.max_batch})]
    params = {CARD_PARAMETER: source.card.to_json(), "fer_edge.output": source.card.output}
    for key in ("tensorrt_version", "gpu_name", "compute_capability"):
        if source.sidecar.get(key):
            params[f"fer_edge.{key}"] = str(source.sidecar[key])
    lines = [
        f"# Written by `fer-edge export-triton` from {source.path.name}: labels and normalisation come from the card.",
        f"name: {pbtxt_string(name)}",
        f"platform: {pbtxt_string(source.platform)}",
        f"default_model_filename: {pbtxt_string(source.model_filename)}",
        f"max_batch_size: {config.max_batch}",
        f"input [ {{ name: {pbtxt_string(inp.name)} data_type: {inp.data_type} format: FORMAT_NCHW "
        f"dims: {_dims(inp.dims)} }} ]",
        f"output [ {{ name: {pbtxt_string(out.name)} data_type: {out.data_type} dims: {_dims(out.dims)} "
        f"label_filename: {pbtxt_string(LABELS_FILE)} }} ]",
        f"dynamic_batching {{ preferred_batch_size: {_dims(preferred_batch_sizes(config.max_batch))} "
        f"max_queue_delay_microseconds: {config.queue_delay_us} }}",
        f"instance_group [ {{ count: {config.instances} kind: {kind} }} ]",
        *warm,
        *_parameters(params),
    ]
    return "\n".join(lines) + "\n"


def frames_config_text(source: ClassifierSource, name: str, classifier_file: str, config: TritonExportConfig) -> str:
    """``config.pbtxt`` of the frame-level Python-backend model (one frame per request, no batching)."""
    kind = "KIND_GPU" if config.kind == "gpu" else "KIND_CPU"
    classes = source.card.num_classes
    inputs = ", ".join(f"{{ name: {pbtxt_string(n)} data_type: {t} dims: {_dims(d)} optional: true }}"
                       for n, t, d in FRAMES_INPUTS)
    outputs = ", ".join([
        '{ name: "BOXES" data_type: TYPE_FP32 dims: [ -1, 4 ] }',
        '{ name: "SCORES" data_type: TYPE_FP32 dims: [ -1 ] }',
        '{ name: "LABELS" data_type: TYPE_STRING dims: [ -1 ] }',
        f'{{ name: "PROBABILITIES" data_type: TYPE_FP32 dims: [ -1, {classes} ] }}',
    ])
    params = {
        "classifier": classifier_file,
        "detector": config.detector,
        "threads": str(config.frames_threads),
        CARD_PARAMETER: source.card.to_json(),
    }
    lines = [
        "# Written by `fer-edge export-triton`: a camera frame in (IMAGE = encoded JPEG/PNG bytes as UINT8, or",
        "# FRAME = raw HxWxC uint8 BGR), faces out; runs fer_edge.Recognizer, so fer-edge must be installed in the",
        "# Python backend's environment (with numpy<2 for Triton releases whose backend stub predates numpy 2).",
        f"name: {pbtxt_string(name)}",
        'backend: "python"',
        "max_batch_size: 0",
        f"input [ {inputs} ]",
        f"output [ {outputs} ]",
        f"instance_group [ {{ count: {config.instances} kind: {kind} }} ]",
        'model_warmup [ { name: "blank_frame" batch_size: 1 inputs { key: "FRAME" value { data_type: TYPE_UINT8 '
        "dims: [ 64, 64, 3 ] zero_data: true } } } ]",
        *_parameters(params),
    ]
    return "\n".join(lines) + "\n"


def labels_text(card: ModelCard) -> str:
    """One label per line in output order: Triton's classification extension answers ``value:index:label``."""
    for label in card.labels:
        if "\n" in label or "\r" in label:
            raise ModelFormatError(f"label {label!r} contains a line break; a labels file cannot hold it")
    return "".join(f"{label}\n" for label in card.labels)


def safe_model_name(card: ModelCard) -> str:
    """The card's name as a Triton model (and folder) name."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", card.name).strip("._-")
    return name or "fer_classifier"


# ------------------------------------------------------------------------------------------------ publishing
def _check_batch(source: ClassifierSource, config: TritonExportConfig) -> None:
    if source.static_batch is not None and source.static_batch != 1:
        raise ModelFormatError(
            f"{source.path.name} has a fixed batch of {source.static_batch}; Triton's dynamic batcher needs a dynamic "
            "batch axis (re-export without --static-batch) or a batch of 1"
        )
    if source.static_batch == 1 and config.max_batch != 1:
        raise InvalidInputError(
            f"{source.path.name} has a fixed batch of 1, so --max-batch must be 1 (got {config.max_batch}); "
            "re-export with a dynamic batch axis to let Triton batch requests"
        )
    profile_max = source.sidecar.get("profile_max_batch")
    if profile_max is not None and config.max_batch > profile_max:
        raise InvalidInputError(
            f"--max-batch {config.max_batch} exceeds the engine's optimisation profile (max batch {profile_max}); "
            f"pass --max-batch {profile_max} or rebuild the engine with a larger profile"
        )
    if source.platform == "tensorrt_plan" and config.kind != "gpu":
        raise InvalidInputError("a TensorRT plan runs only on a GPU instance; pass --kind gpu (or export the .onnx)")


def triton_repository(model, repo, config: TritonExportConfig = TritonExportConfig()) -> TritonExport:
    """Write (or add to) a Triton model repository serving ``model``; nothing is left half-written on failure.

    Args:
        model: classifier ``.onnx`` (with its card) or ``.engine``/``.plan`` (with its ``.json`` sidecar).
        repo: the repository folder (created if missing; a non-empty one needs ``config.force``).
        config: batching, instances, device kind, frames model options.

    Returns:
        The model names and every file written.
    """
    source = classifier_source(model, config.onnx)
    _check_batch(source, config)
    name = config.name or safe_model_name(source.card)
    frames = name + FRAMES_SUFFIX if config.frames else None
    if config.frames and not FRAMES_TEMPLATE.is_file():
        raise ModelFormatError(f"The frames-model template {FRAMES_TEMPLATE} is missing from this install")
    repo = Path(repo)
    written: List[Path] = []
    with staged_folder(repo, config.force, "Triton model repository") as staging:
        model_dir = staging / name
        (model_dir / "1").mkdir(parents=True)
        shutil.copyfile(source.path, model_dir / "1" / source.model_filename)
        (model_dir / LABELS_FILE).write_text(labels_text(source.card), encoding="utf-8")
        (model_dir / "config.pbtxt").write_text(classifier_config_text(source, name, config), encoding="utf-8")
        if frames:
            frames_dir = staging / frames
            (frames_dir / "1").mkdir(parents=True)
            classifier_file = "classifier" + (".onnx" if source.platform == "onnxruntime_onnx" else ".engine")
            shutil.copyfile(source.path, frames_dir / "1" / classifier_file)
            if source.platform == "tensorrt_plan":
                from fer_edge.backends.engine_card import sidecar_path

                shutil.copyfile(sidecar_path(source.path), frames_dir / "1" / (classifier_file + ".json"))
            shutil.copyfile(FRAMES_TEMPLATE, frames_dir / "1" / "model.py")
            (frames_dir / LABELS_FILE).write_text(labels_text(source.card), encoding="utf-8")
            (frames_dir / "config.pbtxt").write_text(
                frames_config_text(source, frames, classifier_file, config), encoding="utf-8")
        written = [repo / p.relative_to(staging) for p in sorted(staging.rglob("*")) if p.is_file()]
    log.info("wrote Triton models %s%s into %s", name, f" and {frames}" if frames else "", repo)
    return TritonExport(repo, name, frames, tuple(written))
