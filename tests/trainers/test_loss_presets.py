"""Loss presets live with the losses: a shorthand is one line in losses/presets.py, used by training."""

import pytest

torch = pytest.importorskip("torch")

from fer_edge.trainers.config import TrainConfig  # noqa: E402
from fer_edge.trainers.losses import LOSS_PRESETS, loss_config  # noqa: E402
from fer_edge.trainers.train import build_criterion  # noqa: E402

from fer_edge.errors import InvalidInputError  # noqa: E402

pytestmark = pytest.mark.torch


def test_each_preset_switches_on_its_method_and_overrides_win():
    assert loss_config("adcorre").adcorre and not loss_config("ce").adcorre
    assert loss_config("dlp_derl").derl and loss_config("dlp_derl").locality
    lc = loss_config("ce", {"label_smoothing": 0.2, "class_weights": "auto"}, label_smoothing=0.05,
                     soft_targets=True, class_counts=[10, 30])
    assert lc.label_smoothing == 0.2 and lc.soft_targets
    assert len(lc.class_weights) == 2 and lc.class_weights[0] > lc.class_weights[1]  # rarer class weighs more
    with pytest.raises(InvalidInputError, match="TrainConfig.loss must be one of"):
        loss_config("nope")
    with pytest.raises(InvalidInputError, match="loss_kwargs"):
        loss_config("ce", {"not_a_field": 1})


def test_a_preset_added_in_losses_is_usable_from_a_config(monkeypatch):
    monkeypatch.setitem(LOSS_PRESETS, "ce_smooth", {"label_smoothing": 0.3})
    crit = build_criterion(TrainConfig(loss="ce_smooth"), 3, soft_targets=False)
    assert crit.cfg.label_smoothing == 0.3
