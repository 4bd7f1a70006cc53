"""ModelCard: the one contract that travels with every artefact (checkpoint, ONNX, engine).

The runtime reads labels, input geometry and normalisation from the card and never hard-codes them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

from .errors import ModelFormatError

SCHEMA_VERSION = 1
CARD_METADATA_KEY = "fer_edge.card"

COLORS = ("gray", "rgb", "bgr")
OUTPUTS = ("logits", "probs")
PRECISIONS = ("fp32", "fp16", "int8", "mixed")
INTERPOLATIONS = ("linear",)
MAX_INPUT_SIDE = 4096  # a classifier input larger than this is a damaged card, not a model
STD_RANGE = (1e-3, 1e3)  # on the 0..1 scale; outside it the normalisation amplifies noise or erases the image
MEAN_LIMIT = 100.0
TTAS = ("none", "flip")  # test-time augmentation: "flip" averages in the mirrored crop's output

# Card fields added after integrity records were first written: left out of the digest while at their default.
FIELDS_ADDED_AFTER_INTEGRITY = {"tta": "none"}
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
        integrity: the integrity record written by export/quantize (``fer_edge.integrity``): a sha256 over
            the graph and this card, checked when the model is loaded. Empty for cards that carry none.
        tta: test-time augmentation the runtime applies by default: "none", or "flip" (average with the
            horizontally mirrored crop; about +1 pt FER+ accuracy for ~1.6x classifier time).
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
    integrity: Mapping[str, Any] = field(default_factory=dict)
    tta: str = "none"
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        # Normalise sequences to tuples so that equality and hashing of cards read from JSON work. Types are
        # checked strictly: a card is untrusted input (a string is not a list of labels, 1.5 is not a version).
        object.__setattr__(self, "labels", _strings(self.labels, "labels"))
        object.__setattr__(self, "input_size", _ints(self.input_size, "input_size"))
        object.__setattr__(self, "mean", _floats(self.mean, "mean"))
        object.__setattr__(self, "std", _floats(self.std, "std"))
        for name in ("metrics", "provenance", "integrity"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise ModelFormatError(f"Invalid model card: {name} must be a JSON object, got {type(value).__name__}")
            object.__setattr__(self, name, dict(value))
        for name in ("color", "interpolation", "output", "precision", "name", "arch", "version"):
            if not isinstance(getattr(self, name), str):
                raise ModelFormatError(
                    f"Invalid model card: {name} must be a string, got {type(getattr(self, name)).__name__}")
        if isinstance(self.crop_margin, bool) or not isinstance(self.crop_margin, numbers.Real):
            raise ModelFormatError(
                f"Invalid model card: crop_margin must be a number, got {type(self.crop_margin).__name__}")
        object.__setattr__(self, "crop_margin", float(self.crop_margin))
        sv = self.schema_version
        if isinstance(sv, bool) or not isinstance(sv, numbers.Integral):
            if isinstance(sv, numbers.Real) and math.isfinite(sv) and float(sv).is_integer():
                sv = int(sv)
            else:
                raise ModelFormatError(f"Invalid model card: schema_version must be an integer, got {sv!r}")
        object.__setattr__(self, "schema_version", sv)
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

        if self.schema_version < 1:
            raise bad(f"schema_version must be >= 1, got {self.schema_version}")
        if self.schema_version > SCHEMA_VERSION:
            raise bad(
                f"schema_version {self.schema_version} is newer than this fer_edge understands "
                f"({SCHEMA_VERSION}); upgrade fer-edge"
            )
        if len(self.labels) < 2:
            raise bad("needs at least two labels")
        if len(set(self.labels)) != len(self.labels):
            raise bad(f"labels are not unique: {list(self.labels)}")
        for label in self.labels:
            if not label.strip() or unsafe_characters(label):
                raise bad(f"label {label!r} is empty or holds control characters")
        for name in ("name", "arch", "version"):
            if unsafe_characters(getattr(self, name)):
                raise bad(f"{name} {getattr(self, name)!r} holds control characters")
        if len(self.input_size) != 2 or min(self.input_size) < 8 or max(self.input_size) > MAX_INPUT_SIDE:
            raise bad(f"input_size must be (height, width) with both in [8, {MAX_INPUT_SIDE}], got {self.input_size}")
        if self.color not in COLORS:
            raise bad(f"color must be one of {COLORS}, got {self.color!r}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise bad(f"mean/std need {self.channels} value(s) for color={self.color!r}")
        if not all(math.isfinite(m) and abs(m) <= MEAN_LIMIT for m in self.mean):
            raise bad(f"mean must be finite numbers within +-{MEAN_LIMIT:g} (0..1 pixel scale), got {self.mean}")
        if any(s <= 0 for s in self.std):
            raise bad(f"std must be positive, got {self.std}")
        if not all(math.isfinite(s) and STD_RANGE[0] <= s <= STD_RANGE[1] for s in self.std):
            raise bad(f"std must be finite and within [{STD_RANGE[0]:g}, {STD_RANGE[1]:g}] (0..1 pixel scale), "
                      f"got {self.std}")
        if self.interpolation not in INTERPOLATIONS:
            raise bad(f"interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")
        if not 0.5 <= self.crop_margin <= 4.0:
            raise bad(f"crop_margin must be in [0.5, 4], got {self.crop_margin}")
        if self.output not in OUTPUTS:
            raise bad(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if self.precision not in PRECISIONS:
            raise bad(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.tta not in TTAS:
            raise bad(f"tta must be one of {TTAS}, got {self.tta!r}")

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
        unknown = sorted(str(k) for k in set(data) - known)
        version = data.get("schema_version", SCHEMA_VERSION)
        if isinstance(version, bool) or not isinstance(version, numbers.Real) or not math.isfinite(version):
            raise ModelFormatError(f"Model card schema_version must be an integer, got {version!r}")
        if unknown and version <= SCHEMA_VERSION:
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

    def canonical_json(self) -> str:
        """The card without its integrity record, in one fixed JSON form (what the integrity digest covers)."""
        d = self.to_dict()
        d.pop("integrity", None)
        for key, default in FIELDS_ADDED_AFTER_INTEGRITY.items():  # at their default, older records still match
            if d.get(key) == default:
                del d[key]
        return json.dumps(d, sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ModelFormatError(f"Model card is not UTF-8 text: {exc}") from exc
        if not isinstance(text, str):
            raise ModelFormatError(f"A model card must be JSON text, got {type(text).__name__}")
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ModelFormatError(f"Model card is not valid JSON: {exc}") from exc
        except ValueError as exc:  # NaN / Infinity, which JSON does not have
            raise ModelFormatError(f"Model card is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    def sha256(self) -> str:
        """Stable hash of the card content (used in benchmark reports and engine cache keys)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def replace(self, **changes: Any) -> ModelCard:
        return dataclasses.replace(self, **changes)


def card_from_metadata(entries: Iterable[Tuple[str, str]], where: str = "the model") -> Optional[ModelCard]:
    """The card among a model's metadata (key, value) entries, or None when it carries none.

    The one rule for the runtime and the export tools alike: more than one ``fer_edge.card`` entry is a damaged
    (or tampered) model, never "use the first" or "use the last".
    """
    values = [value for key, value in entries if key == CARD_METADATA_KEY]
    if len(values) > 1:
        raise ModelFormatError(
            f"{where} carries {len(values)} fer_edge model cards (metadata key {CARD_METADATA_KEY!r}); a model has "
            "exactly one: re-export it with `fer-edge export` or re-attach one card"
        )
    return ModelCard.from_json(values[0]) if values else None


def unsafe_characters(text: str) -> bool:
    """True when ``text`` holds control characters (terminal escapes) or bidirectional overrides."""
    return any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in text)


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _sequence(value: Any, field_name: str) -> Sequence[Any]:
    if not isinstance(value, (str, bytes, Mapping)):
        try:
            return tuple(value)
        except TypeError:
            pass
    raise ModelFormatError(
        f"Invalid model card: {field_name} must be a list, got {type(value).__name__} {str(value)[:40]!r}")


def _strings(value: Any, field_name: str) -> Tuple[str, ...]:
    items = _sequence(value, field_name)
    if not all(isinstance(x, str) for x in items):
        raise ModelFormatError(f"Invalid model card: every entry of {field_name} must be a string")
    return tuple(items)


def _ints(value: Any, field_name: str) -> Tuple[int, ...]:
    items = _sequence(value, field_name)
    out = []
    for x in items:
        if isinstance(x, bool) or not isinstance(x, numbers.Real) or not float(x).is_integer():
            raise ModelFormatError(f"Invalid model card: {field_name} needs whole numbers, got {x!r}")
        out.append(int(x))
    return tuple(out)


def _floats(value: Any, field_name: str) -> Tuple[float, ...]:
    items = _sequence(value, field_name)
    if not all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in items):
        raise ModelFormatError(f"Invalid model card: {field_name} needs numbers, got {list(items)!r}")
    return tuple(float(x) for x in items)


def card_for_labels(labels: Sequence[str], **kw: Any) -> ModelCard:
    """Convenience constructor used by tools that know only the label set."""
    return ModelCard(labels=tuple(labels), **kw)
