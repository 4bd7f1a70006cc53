"""Flip test-time augmentation: the card field, Recognizer(tta=...), and the averaging it does."""

import numpy as np
import pytest

from fer_edge import Recognizer
from fer_edge.backends.base import Backend
from fer_edge.backends.flip_tta import FlipTTABackend
from fer_edge.card import FERPLUS_LABELS, ModelCard
from fer_edge.errors import InvalidInputError, ModelFormatError
from fer_edge.recognizer import softmax

CARD = ModelCard(labels=FERPLUS_LABELS, name="lopsided")


class LopsidedBackend(Backend):
    """Class 0 scores the left half's brightness, class 1 the right half's: a mirror swaps them."""

    name = "lopsided"

    def __init__(self, card=CARD, max_batch=None):
        self.card, self.max_batch, self.calls = card, max_batch, []

    def _infer(self, batch):
        self.calls.append(batch.shape[0])
        w = batch.shape[3] // 2
        out = np.zeros((batch.shape[0], self.card.num_classes), np.float32)
        out[:, 0] = batch[:, 0, :, :w].mean(axis=(1, 2)) * 4
        out[:, 1] = batch[:, 0, :, w:].mean(axis=(1, 2)) * 2
        return out


def _half_lit_crop():
    crop = np.zeros((48, 48), np.uint8)
    crop[:, :24] = 255  # bright left half
    return crop


def test_flip_averages_the_crop_and_its_mirror():
    plain = LopsidedBackend()
    batch = np.random.default_rng(0).standard_normal((3, 1, 48, 48)).astype(np.float32)
    expected = (plain.infer(batch) + plain.infer(np.ascontiguousarray(batch[..., ::-1]))) / 2
    tta = FlipTTABackend(LopsidedBackend())
    np.testing.assert_allclose(tta.infer(batch), expected, rtol=1e-6, atol=1e-6)
    assert tta.inner.calls == [6]  # crop and mirror go through the model in one batch


def test_recognizer_flip_changes_the_verdict_of_a_lopsided_model():
    crop = _half_lit_crop()
    with Recognizer(LopsidedBackend(), detector=None, tta="none") as rec:
        plain = rec.predict_crops(crop)[0]
    with Recognizer(LopsidedBackend(), detector=None, tta="flip") as rec:
        flipped = rec.predict_crops(crop)[0]
    # Left-lit: plain logits (4, -2) favour class 0; averaged with the mirror (-4, 2) both are 0.
    assert plain.label == "neutral"
    assert plain.confidence == pytest.approx(softmax(np.array([[4.0, -2, 0, 0, 0, 0, 0, 0]]))[0, 0], abs=1e-5)
    assert flipped.probs["neutral"] == pytest.approx(flipped.probs["happiness"], abs=1e-6)
    expected = np.full(8, 1 / 8)
    np.testing.assert_allclose([flipped.probs[k] for k in FERPLUS_LABELS], expected, atol=1e-5)


def test_card_default_applies_and_argument_overrides():
    card = CARD.replace(tta="flip")
    with Recognizer(LopsidedBackend(card), detector=None) as rec:
        assert rec.tta == "flip" and isinstance(rec.backend, FlipTTABackend)
    with Recognizer(LopsidedBackend(card), detector=None, tta="none") as rec:
        assert rec.tta == "none" and not isinstance(rec.backend, FlipTTABackend)


def test_static_batch_one_inner_model_still_works():
    tta = FlipTTABackend(LopsidedBackend(max_batch=1))
    out = tta.infer(np.ones((3, 1, 48, 48), np.float32))
    assert out.shape == (3, 8) and tta.inner.calls == [1] * 6


def test_bad_tta_values_are_typed_errors():
    with pytest.raises(InvalidInputError, match="tta must be one of"):
        Recognizer(LopsidedBackend(), detector=None, tta="mirror")
    with pytest.raises(ModelFormatError, match="tta must be one of"):
        CARD.replace(tta="rotate")
    assert ModelCard.from_dict(CARD.replace(tta="flip").to_dict()).tta == "flip"


def test_tta_default_leaves_the_integrity_digest_of_older_cards_unchanged():
    older = {k: v for k, v in CARD.to_dict().items() if k != "tta"}
    assert ModelCard.from_dict(older).canonical_json() == CARD.replace(tta="none").canonical_json()
    assert CARD.replace(tta="flip").canonical_json() != CARD.canonical_json()
