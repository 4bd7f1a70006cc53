"""MixUp / CutMix blend images and target distributions consistently, reproducibly, and only when asked."""

import pytest

torch = pytest.importorskip("torch")

from fer_edge.trainers.batch_mix import MixConfig, mix_batch  # noqa: E402
from fer_edge.trainers.config import TrainConfig  # noqa: E402

from fer_edge.errors import InvalidInputError  # noqa: E402

pytestmark = pytest.mark.torch


def _batch(n=16, side=12):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, 1, side, side, generator=g)
    soft = torch.nn.functional.one_hot(torch.arange(n) % 4, 4).float()
    return x, soft


def test_off_or_skipped_batches_are_returned_unchanged():
    x, soft = _batch()
    for cfg in (MixConfig(), MixConfig(mixup=0.4, prob=0.0)):
        xm, sm, lam = mix_batch(x, soft, cfg, torch.Generator().manual_seed(0))
        assert lam == 1.0 and xm is x and sm is soft


def test_mixup_blends_images_and_targets_with_the_same_share():
    x, soft = _batch()
    xm, sm, lam = mix_batch(x, soft, MixConfig(mixup=1.0), torch.Generator().manual_seed(3))
    assert 0.0 < lam < 1.0
    torch.testing.assert_close(sm.sum(1), torch.ones(len(x)))
    # each mixed image is lam * own + (1 - lam) * partner, and its target's own-class share is at least lam
    own = (sm * soft).sum(1)
    assert float(own.min()) >= lam - 1e-6
    partner = (xm - lam * x) / (1 - lam)
    matches = [(partner[i] - x).flatten(1).abs().amax(1).min() for i in range(len(x))]
    assert max(float(m) for m in matches) < 1e-4


def test_cutmix_pastes_one_box_and_mixes_targets_by_its_area():
    x = torch.arange(8, dtype=torch.float32).view(8, 1, 1, 1).repeat(1, 1, 10, 10)  # image i is constant i
    soft = torch.eye(8)
    xm, sm, lam = mix_batch(x, soft, MixConfig(cutmix=1.0), torch.Generator().manual_seed(5))
    assert 0.0 < lam < 1.0
    for i in range(8):
        changed = xm[i] != i
        if changed.any():
            area = float(changed.float().mean())
            assert area == pytest.approx(1 - lam)
            assert float(sm[i, i]) == pytest.approx(lam)


def test_same_generator_same_mix():
    x, soft = _batch()
    cfg = MixConfig(mixup=0.4, cutmix=1.0)
    a = mix_batch(x, soft, cfg, torch.Generator().manual_seed(9))
    b = mix_batch(x, soft, cfg, torch.Generator().manual_seed(9))
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])


@pytest.mark.parametrize("bad, word", [
    (dict(mixup=0.4, targets="hard"), "targets: soft"),
    (dict(cutmix=-1.0), "cutmix"),
    (dict(mix_prob=1.5), "mix_prob"),
    (dict(blur=2.0), "blur"),
    (dict(blur_sigma=9.0), "blur_sigma"),
    (dict(gamma_jitter=-0.1), "gamma_jitter"),
])
def test_bad_settings_are_typed_errors_naming_the_key(bad, word):
    with pytest.raises(InvalidInputError, match=word):
        TrainConfig(data="d.npz", **bad)

