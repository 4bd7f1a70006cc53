"""Loss presets: the ``loss:`` shorthand of a training config → ``LossConfig`` switches.

A new loss method adds its switch to ``LossConfig`` and, if it deserves a shorthand, one line here.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from fer_edge.errors import InvalidInputError

from .ce import class_weights_from_counts
from .config import LossConfig

LOSS_PRESETS = {
    "ce": {},
    "adcorre": {"adcorre": True},
    "weighted_cluster": {"weighted_cluster": True},
    "diversity": {"diversity": True},
    "dlp": {"locality": True},
    "derl": {"derl": True},
    "dlp_derl": {"derl": True, "locality": True},
}


def loss_config(preset: str, overrides: Mapping[str, Any] = (), *, label_smoothing: float = 0.0,
                soft_targets: bool = False, class_counts: Optional[Sequence[int]] = None) -> LossConfig:
    """The ``LossConfig`` of ``preset`` with ``overrides`` (any ``LossConfig`` field) applied on top.

    ``class_weights: auto`` becomes weights from ``class_counts``; label smoothing and soft targets come from
    the training config unless the overrides set them.
    """
    if preset not in LOSS_PRESETS:
        raise InvalidInputError(f"TrainConfig.loss must be one of {sorted(LOSS_PRESETS)}, got {preset!r}")
    kw = dict(LOSS_PRESETS[preset])
    kw.update(dict(overrides))
    if kw.get("class_weights") == "auto":
        kw["class_weights"] = class_weights_from_counts(class_counts)
    kw.setdefault("label_smoothing", label_smoothing)
    kw.setdefault("soft_targets", soft_targets)
    try:
        return LossConfig(**kw)
    except TypeError as exc:
        raise InvalidInputError(f"TrainConfig.loss_kwargs: {exc}") from exc
