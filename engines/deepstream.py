"""DeepStream nvinfer secondary-classifier config from a classifier and its card (`fer-edge export-deepstream`).

nvinfer normalises every crop as ``y = net-scale-factor * (x - offsets[c])`` on 0..255 pixels; the card asks for
``(x / 255 - mean[c]) / std[c]``. They agree when ``net-scale-factor = 1 / (255 * std)`` and
``offsets[c] = 255 * mean[c]`` — possible only when every channel has the same std (one scale factor), so a card
with per-channel std is refused. nvinfer's default classifier parser reads probabilities, so a logits graph gets a
Softmax appended (needs the [export] extra); an engine that outputs logits is refused.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from fer_edge.card import ModelCard
from fer_edge.errors import InvalidInputError, ModelFormatError

from .staging import staged_folder
from .triton import ClassifierSource, classifier_source, safe_model_name

log = logging.getLogger(__name__)

COLOR_FORMATS = {"rgb": 0, "bgr": 1, "gray": 2}  # nvinfer model-color-format
NETWORK_MODES = {"fp32": 0, "int8": 1, "fp16": 2, "mixed": 2}  # nvinfer network-mode
STD_RTOL = 1e-6


@dataclass(frozen=True)
class DeepStreamExportConfig:
    """Where the classifier sits in the pipeline and how nvinfer schedules it.

    Attributes:
        gie_unique_id: this classifier's id.
        operate_on_gie_id: the face detector's ``gie-unique-id``.
        operate_on_class_ids: the detector's class ids that are faces.
        classifier_threshold: nvinfer attaches a label only when its probability exceeds this.
        async_mode: ``classifier-async-mode`` (classify tracked objects without blocking the pipeline).
        batch_size: objects per nvinfer batch.
        min_object: ``input-object-min-width``/``-height``: smaller faces are not classified.
        gpu_id: GPU index.
        name: file-name stem (default: the card's name).
        force: replace same-named files in a non-empty output folder.
    """

    gie_unique_id: int = 2
    operate_on_gie_id: int = 1
    operate_on_class_ids: Tuple[int, ...] = (0,)
    classifier_threshold: float = 0.3
    async_mode: bool = True
    batch_size: int = 16
    min_object: Tuple[int, int] = (24, 24)
    gpu_id: int = 0
    name: Optional[str] = None
    force: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "operate_on_class_ids", tuple(int(c) for c in self.operate_on_class_ids))
        object.__setattr__(self, "min_object", tuple(int(v) for v in self.min_object))
        for key in ("gie_unique_id", "operate_on_gie_id", "batch_size"):
            if int(getattr(self, key)) < 1:
                raise InvalidInputError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.gie_unique_id == self.operate_on_gie_id:
            raise InvalidInputError("gie_unique_id must differ from operate_on_gie_id (the detector's id)")
        if not 0.0 <= float(self.classifier_threshold) < 1.0:
            raise InvalidInputError(f"classifier_threshold must be in [0, 1), got {self.classifier_threshold}")
        if not self.operate_on_class_ids or min(self.operate_on_class_ids) < 0:
            raise InvalidInputError("operate_on_class_ids needs at least one class id >= 0")
        if len(self.min_object) != 2 or min(self.min_object) < 1:
            raise InvalidInputError(f"min_object must be (width, height) >= 1, got {self.min_object}")
        if self.name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.name):
            raise InvalidInputError(f"name {self.name!r} must be letters, digits, '_', '-' or '.'")


def nvinfer_normalisation(card: ModelCard) -> Tuple[float, Tuple[float, ...]]:
    """(net-scale-factor, offsets) with ``nsf * (x - offsets[c]) == (x / 255 - mean[c]) / std[c]``.

    Raises ModelFormatError when the card's std differs between channels (nvinfer has one scale factor).
    """
    stds = card.std
    if any(not math.isclose(s, stds[0], rel_tol=STD_RTOL) for s in stds):
        raise ModelFormatError(
            f"The card of {card.name} normalises with per-channel std {list(stds)}, but nvinfer applies one "
            "net-scale-factor to every channel (y = net-scale-factor * (x - offsets)); it cannot express this. "
            "Retrain or re-export with one std for all channels, or fold the normalisation into the ONNX graph "
            "(and set std to 1/255 with mean 0 in its card)"
        )
    return 1.0 / (255.0 * stds[0]), tuple(255.0 * m for m in card.mean)


def labels_line(card: ModelCard) -> str:
    """nvinfer's classifier labels file: one line per output layer, the labels separated by ';'."""
    for label in card.labels:
        if ";" in label or "\n" in label:
            raise ModelFormatError(f"label {label!r} contains ';' or a line break, which nvinfer's labels file "
                                   "uses as separators")
    return ";".join(card.labels) + "\n"


def _fmt(value: float) -> str:
    return repr(float(value))


def nvinfer_config_text(source: ClassifierSource, model_file: str, labels_file: str, card: ModelCard,
                        config: DeepStreamExportConfig) -> str:
    """The ``[property]`` group of an nvinfer secondary classifier (DeepStream 7.x / 9.x key names)."""
    scale, offsets = nvinfer_normalisation(card)
    c, h, w = card.input_shape
    model_key = "onnx-file" if source.platform == "onnxruntime_onnx" else "model-engine-file"
    precision = source.sidecar.get("precision", card.precision)  # an engine's own build precision wins
    props: List[Tuple[str, str]] = [
        ("gpu-id", str(config.gpu_id)),
        ("net-scale-factor", _fmt(scale)),
        ("offsets", ";".join(_fmt(o) for o in offsets)),
        ("model-color-format", str(COLOR_FORMATS[card.color])),
        (model_key, model_file),
    ]
    if source.platform == "onnxruntime_onnx":
        # nvinfer builds and caches the engine here on first run (per device).
        props.append(("model-engine-file", f"{model_file}_b{config.batch_size}_gpu{config.gpu_id}_"
                                           f"{['fp32', 'int8', 'fp16'][NETWORK_MODES[precision]]}.engine"))
    props += [
        ("labelfile-path", labels_file),
        ("infer-dims", f"{c};{h};{w}"),
        ("batch-size", str(config.batch_size)),
        ("network-mode", str(NETWORK_MODES[precision])),
        ("network-type", "1"),
        ("process-mode", "2"),
        ("gie-unique-id", str(config.gie_unique_id)),
        ("operate-on-gie-id", str(config.operate_on_gie_id)),
        ("operate-on-class-ids", ";".join(str(i) for i in config.operate_on_class_ids)),
        ("classifier-type", "fer_edge_expression"),
        ("classifier-threshold", _fmt(config.classifier_threshold)),
        ("classifier-async-mode", "1" if config.async_mode else "0"),
        ("input-object-min-width", str(config.min_object[0])),
        ("input-object-min-height", str(config.min_object[1])),
        ("output-blob-names", source.output.name),
        ("maintain-aspect-ratio", "0"),
        ("scaling-filter", "1"),
        ("secondary-reinfer-interval", "0"),
    ]
    header = [
        f"# nvinfer secondary classifier written by `fer-edge export-deepstream` from {source.path.name}.",
        f"# Card {card.name} v{card.version}: {card.color} {h}x{w}, (x/255 - {list(card.mean)}) / {list(card.std)}",
        "# = net-scale-factor * (x - offsets). nvinfer crops the detector's box as it is (no square expansion by",
        f"# the card's crop_margin {card.crop_margin}); expand boxes upstream if your detector's are tight.",
        "# Not yet run on a DeepStream install: see docs/serving.md.",
    ]
    return "\n".join(header + ["[property]"] + [f"{k}={v}" for k, v in props]) + "\n"


def sample_app_text(classifier_config: str, name: str, config: DeepStreamExportConfig) -> str:
    """A deepstream-app config: one file source → face detector (primary) → this classifier → tracker → screen."""
    return "\n".join([
        f"# deepstream-app -c this file: a face detector as primary GIE, {name} as secondary classifier.",
        "# Replace config_infer_primary_face.txt with your face detector's nvinfer config (gie-unique-id="
        f"{config.operate_on_gie_id}, face class id {config.operate_on_class_ids[0]}), e.g. NVIDIA's FaceDetect.",
        "# Not yet run on a DeepStream install: see docs/serving.md.",
        "[application]", "enable-perf-measurement=1", "perf-measurement-interval-sec=5", "",
        "[source0]", "enable=1", "type=3", "uri=file:///opt/nvidia/deepstream/deepstream/samples/streams/"
        "sample_720p.mp4", "num-sources=1", "gpu-id=0", "",
        "[streammux]", "gpu-id=0", "batch-size=1", "width=1280", "height=720", "batched-push-timeout=40000",
        "live-source=0", "",
        "[primary-gie]", "enable=1", "gpu-id=0", f"gie-unique-id={config.operate_on_gie_id}",
        "config-file=config_infer_primary_face.txt", "",
        "[tracker]", "enable=1", "tracker-width=640", "tracker-height=384",
        "ll-lib-file=/opt/nvidia/deepstream/deepstream/lib/libnvds_nvmultiobjecttracker.so", "",
        "[secondary-gie0]", "enable=1", "gpu-id=0", f"gie-unique-id={config.gie_unique_id}",
        f"operate-on-gie-id={config.operate_on_gie_id}",
        f"operate-on-class-ids={';'.join(str(i) for i in config.operate_on_class_ids)}",
        f"config-file={classifier_config}", "",
        "[osd]", "enable=1", "gpu-id=0", "border-width=2", "text-size=15", "", "[sink0]", "enable=1", "type=2",
        "sync=1", "gpu-id=0", "",
    ]) + "\n"


def parse_nvinfer_config(text: str) -> Dict[str, Dict[str, str]]:
    """GKeyFile-style ``[group]`` / ``key=value`` text → {group: {key: value}} (comments and blanks skipped)."""
    groups: Dict[str, Dict[str, str]] = {}
    current: Optional[str] = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            if current in groups:
                raise ModelFormatError(f"line {number}: group [{current}] appears twice")
            groups[current] = {}
            continue
        if current is None or "=" not in line:
            raise ModelFormatError(f"line {number}: {raw!r} is not 'key=value' inside a [group]")
        key, value = (part.strip() for part in line.split("=", 1))
        if key in groups[current]:
            raise ModelFormatError(f"line {number}: key {key!r} appears twice in [{current}]")
        groups[current][key] = value
    return groups


def _probabilities_onnx(source: ClassifierSource, out: Path) -> ModelCard:
    """Write ``source`` with a Softmax after its logits output (same output name) and a card saying "probs"."""
    from fer_edge._optional import require

    onnx = require("onnx", "export", "appending a Softmax for DeepStream's classifier parser")
    from .artifact import attach_card, card_for_step, file_sha256, load_onnx, save_onnx

    model = load_onnx(source.path)
    graph = model.graph
    name = source.output.name
    logits = f"{name}__logits"
    for node in graph.node:
        node.output[:] = [logits if o == name else o for o in node.output]
        node.input[:] = [logits if i == name else i for i in node.input]
    graph.node.append(onnx.helper.make_node("Softmax", [logits], [name], axis=1, name="fer_edge_softmax"))
    card = card_for_step(source.card, "softmax", file_sha256(source.path), "fer-edge export-deepstream",
                         output="probs")
    attach_card(model, card)
    save_onnx(model, out)
    return card


def deepstream_config(model, out, config: DeepStreamExportConfig = DeepStreamExportConfig(),
                      onnx: Optional[str] = None) -> Dict[str, Path]:
    """Write the nvinfer classifier config, labels, model and a sample deepstream-app config into ``out``.

    Args:
        model: classifier ``.onnx`` (with its card) or ``.engine``/``.plan`` (with its sidecar).
        out: output folder (created if missing; a non-empty one needs ``config.force``).
        config: pipeline placement and scheduling.
        onnx: for an engine: the ONNX it was built from (default: its sidecar's ``onnx_path``).

    Returns:
        {"config", "labels", "model", "app"} → paths written.
    """
    source = classifier_source(model, onnx)
    card = source.card
    nvinfer_normalisation(card)  # refuse before writing anything
    labels_line(card)
    if source.platform == "tensorrt_plan" and card.output != "probs":
        raise ModelFormatError(
            f"{source.path.name} outputs logits, but nvinfer's classifier parser expects probabilities; pass the "
            "ONNX instead (a Softmax is appended) or build the engine from an ONNX exported with --output-kind probs"
        )
    name = config.name or safe_model_name(card)
    model_file = f"{name}.onnx" if source.platform == "onnxruntime_onnx" else f"{name}.engine"
    files = {"config": f"config_infer_secondary_{name}.txt", "labels": f"labels_{name}.txt", "model": model_file,
             "app": f"deepstream_app_{name}.txt"}
    out = Path(out)
    with staged_folder(out, config.force, "DeepStream output folder") as staging:
        if source.platform == "onnxruntime_onnx" and card.output == "logits":
            card = _probabilities_onnx(source, staging / model_file)
        else:
            shutil.copyfile(source.path, staging / model_file)
        (staging / files["labels"]).write_text(labels_line(card), encoding="utf-8")
        (staging / files["config"]).write_text(
            nvinfer_config_text(source, model_file, files["labels"], card, config), encoding="utf-8")
        (staging / files["app"]).write_text(sample_app_text(files["config"], name, config), encoding="utf-8")
    log.info("wrote DeepStream classifier %s into %s", name, out)
    return {key: out / value for key, value in files.items()}
