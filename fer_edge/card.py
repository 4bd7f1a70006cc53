"""ModelCard: the one contract that travels with every artefact (checkpoint, ONNX, engine).

The runtime reads labels, input geometry and normalisation from the card and never hard-codes them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from .errors import ModelFormatError

SCHEMA_VERSION = 1
CARD_METADATA_KEY = "fer_edge.card"

COLORS = ("gray", "rgb", "bgr")
OUTPUTS = ("logits", "probs")
PRECISIONS = ("fp32", "fp16", "int8", "mixed")
INTERPOLATIONS = ("linear",)

FERPLUS_LABELS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
FER2013_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@dataclass(frozen=True)
class ModelCard:
    """What a classifier expects and what it was trained on.

    Attributes:
        labels: class names in output order.
        input_size: (height, width) of the network input in pixels.
        color: channel layout the network expects: "gray" (1 channel), "rgb" or "bgr" (3 channels).
        mean: per-channel mean on the 0..1 scale; the input is ``(pixel / 255 - mean) / std``.
        std: per-channel standard deviation on the 0..1 scale.
        interpolation: resampling used to resize a face crop ("linear" = bilinear, half-pixel centres).
        crop_margin: the face box is expanded to a square of side ``max(w, h) * crop_margin``.
        output: whether the graph outputs "logits" or "probs".
        precision: numeric precision of the artefact the card describes.
        name: short model name.
        arch: architecture name in the trainer's registry.
        version: model version string.
        metrics: measured metrics (e.g. {"ferplus_test_accuracy": 0.87}).
        provenance: where the model came from (data, licence, command, parent hashes).
        schema_version: card schema version; bumped on incompatible changes.
    """

    labels: Tuple[str, ...]
    input_size: Tuple[int, int] = (48, 48)
    color: str = "gray"
    mean: Tuple[float, ...] = (0.5,)
    std: Tuple[float, ...] = (0.5,)
    interpolation: str = "linear"
    crop_margin: float = 1.0
    output: str = "logits"
    precision: str = "fp32"
    name: str = "unnamed"
    arch: str = ""
    version: str = "0"
    metrics: Mapping[str, Any] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        # Normalise sequences to tuples so that equality and hashing of cards read from JSON work.
        object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))
        object.__setattr__(self, "input_size", tuple(int(x) for x in self.input_size))
        object.__setattr__(self, "mean", tuple(float(x) for x in self.mean))
        object.__setattr__(self, "std", tuple(float(x) for x in self.std))
        object.__setattr__(self, "metrics", dict(self.metrics))
        object.__setattr__(self, "provenance", dict(self.provenance))
        self.validate()

    # ----------------------------------------------------------------- derived
    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        """(C, H, W) of one network input."""
        return (self.channels, self.input_size[0], self.input_size[1])

    def alpha_beta(self) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
        """Per-channel ``x * alpha + beta`` on 0..255 pixels equal to ``(x / 255 - mean) / std``."""
        alpha = tuple(1.0 / (255.0 * s) for s in self.std)
        beta = tuple(-m / s for m, s in zip(self.mean, self.std))
        return alpha, beta

    # -------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise ModelFormatError naming the bad field."""
        def bad(msg: str) -> ModelFormatError:
            return ModelFormatError(f"Invalid model card ({self.name}): {msg}")

        if self.schema_version > SCHEMA_VERSION:
            raise bad(
                f"schema_version {self.schema_version} is newer than this fer_edge understands "
                f"({SCHEMA_VERSION}); upgrade fer-edge"
            )
        if len(self.labels) < 2:
            raise bad("needs at least two labels")
        if len(set(self.labels)) != len(self.labels):
            raise bad(f"labels are not unique: {list(self.labels)}")
        if len(self.input_size) != 2 or min(self.input_size) < 8:
            raise bad(f"input_size must be (height, width) with both >= 8, got {self.input_size}")
        if self.color not in COLORS:
            raise bad(f"color must be one of {COLORS}, got {self.color!r}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise bad(f"mean/std need {self.channels} value(s) for color={self.color!r}")
        if any(s <= 0 for s in self.std):
            raise bad(f"std must be positive, got {self.std}")
        if self.interpolation not in INTERPOLATIONS:
            raise bad(f"interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")
        if not 0.5 <= self.crop_margin <= 4.0:
            raise bad(f"crop_margin must be in [0.5, 4], got {self.crop_margin}")
        if self.output not in OUTPUTS:
            raise bad(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if self.precision not in PRECISIONS:
            raise bad(f"precision must be one of {PRECISIONS}, got {self.precision!r}")

    def check_output_width(self, width: int, where: str = "the model") -> None:
        """Raise if the model's class dimension disagrees with the number of labels."""
        if int(width) != self.num_classes:
            raise ModelFormatError(
                f"{where} outputs {width} classes but its card lists {self.num_classes} labels "
                f"{list(self.labels)}; re-export the model with a matching card"
            )

    # ------------------------------------------------------------- round trip
    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("labels", "input_size", "mean", "std"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        if not isinstance(data, Mapping):
            raise ModelFormatError(f"A model card must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown and int(data.get("schema_version", SCHEMA_VERSION)) <= SCHEMA_VERSION:
            raise ModelFormatError(f"Unknown model card field(s) {unknown}; is the card from another tool?")
        if "labels" not in data:
            raise ModelFormatError("Model card has no 'labels'")
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ModelFormatError):
                raise
            raise ModelFormatError(f"Model card has a field of the wrong type: {exc}") from exc

    def to_json(self, indent: Optional[int] = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelFormatError(f"Model card is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    def sha256(self) -> str:
        """Stable hash of the card content (used in benchmark reports and engine cache keys)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def replace(self, **changes: Any) -> ModelCard:
        return dataclasses.replace(self, **changes)


def card_for_labels(labels: Sequence[str], **kw: Any) -> ModelCard:
    """Convenience constructor used by tools that know only the label set."""
    return ModelCard(labels=tuple(labels), **kw)
