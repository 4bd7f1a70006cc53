"""The card is untrusted input: strict types, finite normalisation, one card per model (issue 18, defects 2-3)."""

import json
import math

import pytest

from fer_edge.card import CARD_METADATA_KEY, FERPLUS_LABELS, ModelCard, card_from_metadata
from fer_edge.errors import FerEdgeError, ModelFormatError


def good_dict(**changes):
    d = ModelCard(labels=FERPLUS_LABELS).to_dict()
    d.update(changes)
    return d


@pytest.mark.parametrize("changes, message", [
    (dict(mean=[math.nan]), "mean must be finite"),
    (dict(mean=[math.inf]), "mean must be finite"),
    (dict(std=[math.inf]), "std must be finite"),
    (dict(std=[math.nan]), "std must be"),
    (dict(std=[1e-300]), "std must be finite and within"),
    (dict(labels="neutral,happy"), "labels must be a list"),
    (dict(labels=["a", 3]), "must be a string"),
    (dict(labels=["a", "\x1b[31mred"]), "control characters"),
    (dict(labels=["a", " "]), "empty"),
    (dict(name="x\x1b]0;owned\x07"), "control characters"),
    (dict(schema_version="1"), "schema_version must be an integer"),
    (dict(schema_version=1.5), "schema_version must be an integer"),
    (dict(schema_version=None), "schema_version must be an integer"),
    (dict(schema_version=0), "schema_version must be >= 1"),
    (dict(input_size=[48.5, 48]), "whole numbers"),
    (dict(input_size=[100000, 100000]), "input_size"),
    (dict(input_size="48"), "must be a list"),
    (dict(crop_margin="1.2"), "crop_margin must be a number"),
    (dict(crop_margin=math.nan), "crop_margin"),
    (dict(metrics=[1, 2]), "metrics must be a JSON object"),
    (dict(integrity="abc"), "integrity must be a JSON object"),
    (dict(color=["gray"]), "color must be a string"),
])
def test_damaged_card_fields_raise_model_format_error(changes, message):
    with pytest.raises(ModelFormatError, match=message):
        ModelCard.from_dict(good_dict(**changes))


def test_nan_and_infinity_literals_in_card_json_are_refused():
    text = json.dumps(good_dict()).replace('"mean": [0.5]', '"mean": [NaN]')
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        ModelCard.from_json(text)
    with pytest.raises(ModelFormatError, match="UTF-8"):
        ModelCard.from_json(b"\xff\xfe")


def test_deeply_nested_card_json_is_a_typed_error():
    with pytest.raises(FerEdgeError):
        ModelCard.from_json("[" * 100000 + "]" * 100000)


def test_whole_float_schema_version_and_numpy_values_still_load():
    import numpy as np

    card = ModelCard.from_dict(good_dict(schema_version=1.0))
    assert card.schema_version == 1 and isinstance(card.schema_version, int)
    card = ModelCard(labels=FERPLUS_LABELS, mean=np.array([0.5], np.float32), input_size=np.array([48, 48]))
    assert card.mean == (0.5,) and card.input_size == (48, 48)


def test_one_card_rule_refuses_duplicates_and_takes_a_single_one():
    text = ModelCard(labels=FERPLUS_LABELS, name="one").to_json()
    assert card_from_metadata([("other", "x"), (CARD_METADATA_KEY, text)]).name == "one"
    assert card_from_metadata([("other", "x")]) is None
    with pytest.raises(ModelFormatError, match="carries 2 fer_edge model cards"):
        card_from_metadata([(CARD_METADATA_KEY, text), (CARD_METADATA_KEY, text)])


def test_canonical_json_leaves_out_the_integrity_record():
    card = ModelCard(labels=FERPLUS_LABELS)
    sealed = card.replace(integrity={"algorithm": "sha256", "digest": "0" * 64})
    assert card.canonical_json() == sealed.canonical_json()
    assert ModelCard.from_json(sealed.to_json()) == sealed
