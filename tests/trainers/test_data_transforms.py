"""Training inputs equal the runtime's preprocessing; batched augmentation is correct, bounded and reproducible."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fer_edge.trainers.transforms import AugmentConfig, BatchAugment, materialize  # noqa: E402

from fer_edge.card import ModelCard  # noqa: E402
from fer_edge.datasets import Split  # noqa: E402
from fer_edge.preprocess import preprocess  # noqa: E402

pytestmark = pytest.mark.torch
OFF = dict(hflip=0.0, rotate=0.0, scale=0.0, translate=0.0, brightness=0.0, contrast=0.0, erasing=0.0)


@pytest.mark.parametrize("color", ["gray", "rgb"])
def test_materialize_is_exactly_the_runtime_preprocessing(color):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (40, 52, 3)).astype(np.uint8) for _ in range(3)]
    boxes = np.array([[4, 5, 30, 33], [0, 0, 52, 40], [10, 2, 20, 38]], np.float32)
    mean, std = ((0.5,), (0.5,)) if color == "gray" else ((0.4, 0.5, 0.6), (0.2, 0.25, 0.3))
    card = ModelCard(labels=("a", "b"), input_size=(24, 24), color=color, mean=mean, std=std, crop_margin=1.2)
    t = materialize(Split(frames, np.array([0, 1, 0]), boxes=boxes), card)
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(t.x[i].numpy(), preprocess(f, boxes[i], card)[0])
    # no boxes: whole image is the face crop
    t2 = materialize(Split(np.stack(frames), np.array([0, 1, 0])), card)
    np.testing.assert_array_equal(t2.x[1].numpy(), preprocess(frames[1], None, card)[0])


def _batch(n=8, side=16):
    g = torch.Generator().manual_seed(3)
    return torch.rand(n, 1, side, side, generator=g) * 2 - 1


CARD = ModelCard(labels=("a", "b"), input_size=(16, 16))


def test_identity_and_flip():
    x = _batch()
    aug = BatchAugment(AugmentConfig(**OFF), CARD)
    assert aug.identity
    torch.testing.assert_close(aug(x, torch.Generator().manual_seed(0)), x)
    flip = BatchAugment(AugmentConfig(**dict(OFF, hflip=1.0)), CARD)
    torch.testing.assert_close(flip(x, torch.Generator().manual_seed(0)), x.flip(-1))


def test_affine_with_zero_amplitude_is_identity_and_small_amplitude_is_close():
    x = _batch()
    tiny = BatchAugment(AugmentConfig(**dict(OFF, rotate=1e-6)), CARD)
    torch.testing.assert_close(tiny(x, torch.Generator().manual_seed(0)), x, atol=1e-4, rtol=0)
    shift = BatchAugment(AugmentConfig(**dict(OFF, translate=0.25)), CARD)
    y = shift(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not torch.allclose(y, x)
    assert float(y.min()) >= float(x.min()) - 1e-5 and float(y.max()) <= float(x.max()) + 1e-5  # border padding


def test_erasing_covers_the_configured_share():
    x = torch.full((64, 1, 20, 20), 5.0)  # a value noise never equals exactly
    aug = BatchAugment(AugmentConfig(**dict(OFF, erasing=1.0, erasing_area=(0.1, 0.2))), CARD)
    y = aug(x, torch.Generator().manual_seed(0))
    share = (y != 5.0).float().mean(dim=(1, 2, 3))
    assert float(share.min()) > 0.03 and float(share.max()) <= 0.25


def test_brightness_contrast_stay_in_the_pixel_range():
    x = _batch()
    aug = BatchAugment(AugmentConfig(**dict(OFF, brightness=0.5, contrast=0.5)), CARD)
    y = aug(x, torch.Generator().manual_seed(0))
    assert float(y.min()) >= -1.0 - 1e-6 and float(y.max()) <= 1.0 + 1e-6  # (0..1 - 0.5) / 0.5
    assert not torch.allclose(y, x)


def test_same_generator_seed_same_augmentation():
    x = _batch()
    aug = BatchAugment(AugmentConfig(brightness=0.2, contrast=0.2), CARD)
    a = aug(x, torch.Generator().manual_seed(11))
    b = aug(x, torch.Generator().manual_seed(11))
    c = aug(x, torch.Generator().manual_seed(12))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_gamma_jitter_keeps_the_ends_and_moves_mid_tones():
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3).repeat(32, 1, 3, 1)  # pixels 0, 0.5, 1
    aug = BatchAugment(AugmentConfig(**dict(OFF, gamma_jitter=0.5)), CARD)
    y = aug(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(y[..., 0], x[..., 0])
    torch.testing.assert_close(y[..., 2], x[..., 2])
    mid = y[:, 0, 0, 1]
    assert float(mid.min()) < -0.05 and float(mid.max()) > 0.05  # both darker and brighter mid-tones


def test_blur_smooths_only_the_chosen_share_and_keeps_the_mean():
    x = torch.zeros(200, 1, 16, 16)
    x[..., ::2] = 1.0  # vertical stripes: all high frequency
    x[..., 1::2] = -1.0
    aug = BatchAugment(AugmentConfig(**dict(OFF, blur=0.5, blur_sigma=1.5)), CARD)
    y = aug(x, torch.Generator().manual_seed(0))
    blurred = (y - x).abs().amax(dim=(1, 2, 3)) > 1e-6
    assert 0.35 < float(blurred.float().mean()) < 0.65
    contrast = y[blurred].amax(dim=(1, 2, 3)) - y[blurred].amin(dim=(1, 2, 3))
    assert float(contrast.max()) < 2.0  # the ±1 stripes lost amplitude
    torch.testing.assert_close(y.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-5, rtol=0)


def test_augment_config_reads_every_field_from_the_train_config():
    from fer_edge.trainers.config import TrainConfig

    cfg = TrainConfig(data="d.npz", gamma_jitter=0.3, blur=0.2, blur_sigma=1.2, brightness=0.1)
    aug = AugmentConfig.from_train_config(cfg)
    assert (aug.gamma_jitter, aug.blur, aug.blur_sigma, aug.brightness) == (0.3, 0.2, 1.2, 0.1)
