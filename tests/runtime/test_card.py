import json

import pytest

from fer_edge.card import FERPLUS_LABELS, SCHEMA_VERSION, ModelCard
from fer_edge.errors import ModelFormatError


def make(**kw):
    return ModelCard(labels=FERPLUS_LABELS, **kw)


def test_json_round_trip_keeps_every_field():
    card = make(input_size=(64, 64), color="rgb", mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.4), crop_margin=1.3,
                output="probs", precision="int8", name="m", arch="edgenet_s", version="2",
                metrics={"acc": 0.9}, provenance={"data": "ferplus"})
    back = ModelCard.from_json(card.to_json())
    assert back == card
    assert back.to_dict() == card.to_dict()
    assert json.loads(card.to_json())["schema_version"] == SCHEMA_VERSION


def test_alpha_beta_matches_mean_std():
    card = make(mean=(0.5,), std=(0.25,))
    (a,), (b,) = card.alpha_beta()
    for pixel in (0, 128, 255):
        assert pixel * a + b == pytest.approx((pixel / 255 - 0.5) / 0.25, abs=1e-6)


@pytest.mark.parametrize("bad, message", [
    (dict(labels=("a",)), "at least two"),
    (dict(labels=("a", "a")), "not unique"),
    (dict(color="hsv"), "color"),
    (dict(color="rgb"), "mean/std need 3"),
    (dict(std=(0.0,)), "positive"),
    (dict(output="scores"), "output"),
    (dict(precision="int4"), "precision"),
    (dict(input_size=(4, 4)), "input_size"),
    (dict(schema_version=SCHEMA_VERSION + 1), "upgrade"),
])
def test_invalid_cards_are_rejected_with_the_field_named(bad, message):
    kw = dict(labels=FERPLUS_LABELS)
    kw.update(bad)
    with pytest.raises(ModelFormatError, match=message):
        ModelCard(**kw)


def test_label_count_must_match_output_width():
    with pytest.raises(ModelFormatError, match="outputs 7 classes but its card lists 8"):
        make().check_output_width(7)
    make().check_output_width(8)


def test_from_dict_rejects_unknown_fields_and_bad_json():
    with pytest.raises(ModelFormatError, match="Unknown model card field"):
        ModelCard.from_dict(dict(make().to_dict(), colour="gray"))
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        ModelCard.from_json("{nope")
    with pytest.raises(ModelFormatError, match="no 'labels'"):
        ModelCard.from_dict({"input_size": [48, 48]})


def test_sha256_is_stable_and_content_sensitive():
    assert make().sha256() == make().sha256()
    assert make().sha256() != make(crop_margin=1.2).sha256()
