"""Integrity record: written by the tools, checked at load, opt-out for graphs edited on purpose (issue 18)."""

import json

import numpy as np
import pytest

from fer_edge.backends import BackendOptions, backend_from_path
from fer_edge.card import CARD_METADATA_KEY, FERPLUS_LABELS, ModelCard
from fer_edge.errors import ModelFormatError
from fer_edge.integrity import ModelBytes, integrity_digest, read_model_bytes

onnx = pytest.importorskip("onnx")
from fakes.tiny_models import write_tiny_classifier  # noqa: E402
from fer_edge.engines.artifact import attach_card, card_from_model, save_onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402


@pytest.fixture()
def sealed(tmp_path):
    path = write_tiny_classifier(tmp_path / "plain.onnx")
    model = onnx.load(str(path))
    card = attach_card(model, card_from_model(model))
    out = tmp_path / "sealed.onnx"
    save_onnx(model, out)
    return out, card


def test_attach_card_seals_and_the_runtime_verifies(sealed):
    path, card = sealed
    assert card.integrity["algorithm"] == "sha256" and len(card.integrity["digest"]) == 64
    parsed = ModelBytes(read_model_bytes(path))
    assert parsed.card() == card
    assert integrity_digest(parsed, card) == card.integrity["digest"]
    with backend_from_path(path) as backend:
        assert backend.card == card


def test_an_edited_weight_is_refused_unless_the_check_is_turned_off(sealed, tmp_path):
    path, _ = sealed
    model = onnx.load(str(path))
    w = numpy_helper.to_array(model.graph.initializer[0]).copy()
    w[0, 1] = 5.0
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(w, model.graph.initializer[0].name))
    edited = tmp_path / "edited.onnx"
    edited.write_bytes(model.SerializeToString())  # not through save_onnx: the old record stays
    with pytest.raises(ModelFormatError, match="failed its integrity check"):
        backend_from_path(edited)
    with backend_from_path(edited, options=BackendOptions(check_integrity=False)) as backend:
        assert backend.infer(np.zeros((1, 1, 48, 48), np.float32)).shape == (1, 8)


def test_a_tampered_card_field_is_refused(sealed, tmp_path):
    path, card = sealed
    model = onnx.load(str(path))
    d = json.loads(card.to_json())
    d["labels"] = list(reversed(d["labels"]))
    for prop in model.metadata_props:
        if prop.key == CARD_METADATA_KEY:
            prop.value = json.dumps(d)
    bad = tmp_path / "swapped_labels.onnx"
    bad.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFormatError, match="integrity"):
        backend_from_path(bad)


def test_save_onnx_reseals_a_graph_changed_after_attach(tmp_path):
    path = write_tiny_classifier(tmp_path / "plain.onnx")
    model = onnx.load(str(path))
    attach_card(model, card_from_model(model))
    model.graph.node[0].name = "renamed_after_attach"
    out = tmp_path / "resealed.onnx"
    save_onnx(model, out)
    with backend_from_path(out) as backend:
        assert backend.card.integrity


def test_duplicate_cards_are_refused_by_runtime_and_tools_alike(tmp_path):
    path = write_tiny_classifier(tmp_path / "plain.onnx")
    model = onnx.load(str(path))
    text = ModelCard(labels=FERPLUS_LABELS, name="second").to_json()
    entry = model.metadata_props.add()
    entry.key, entry.value = CARD_METADATA_KEY, text
    dup = tmp_path / "dup.onnx"
    dup.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFormatError, match="carries 2 fer_edge model cards"):
        backend_from_path(dup)
    with pytest.raises(ModelFormatError, match="carries 2 fer_edge model cards"):
        card_from_model(onnx.load(str(dup)))


def test_a_card_without_record_still_loads(tmp_path):
    path = write_tiny_classifier(tmp_path / "legacy.onnx")
    with backend_from_path(path) as backend:
        assert backend.card.integrity == {}


@pytest.mark.parametrize("name", ["ferplus_default.onnx", "ferplus_default_fp32.onnx"])
def test_bundled_classifiers_carry_a_matching_record(name):
    from fer_edge.integrity import verify_integrity
    from fer_edge.recognizer import ASSETS

    parsed = ModelBytes(read_model_bytes(ASSETS / name), name)
    assert verify_integrity(parsed, parsed.card()) is True
    sidecar = json.loads((ASSETS / name).with_suffix(".json").read_text())
    assert ModelCard.from_dict(sidecar) == parsed.card()


def test_fer_edge_info_refuses_an_edited_graph_unless_told_not_to_check(sealed, tmp_path, capsys):
    from fer_edge.cli import main

    path, _ = sealed
    model = onnx.load(str(path))
    model.graph.node[0].name = "edited"
    edited = tmp_path / "edited_info.onnx"
    edited.write_bytes(model.SerializeToString())
    assert main(["info", str(edited)]) == 1
    assert "failed its integrity check" in capsys.readouterr().err
    assert main(["info", str(edited), "--no-integrity-check"]) == 0
    assert "NOT checked" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["blazeface_short.onnx", "blazeface_full.onnx", "yunet.onnx"])
def test_bundled_detectors_carry_a_record_and_a_damaged_copy_is_refused(name, tmp_path):
    from fer_edge.detect.session import detector_session
    from fer_edge.integrity import verify_file_integrity
    from fer_edge.recognizer import ASSETS

    data = (ASSETS / name).read_bytes()
    assert verify_file_integrity(ModelBytes(data, name)) is True
    model = onnx.load_from_string(data)
    init = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    w = numpy_helper.to_array(init).copy()
    w.flat[0] += 1.0
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    damaged = tmp_path / name
    damaged.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFormatError, match="failed its integrity check"):
        detector_session(damaged, threads=1, providers=None)


def test_the_engine_builder_reads_the_card_by_the_same_rules(sealed, tmp_path):
    from fer_edge.backends.engine_build import onnx_facts

    path, card = sealed
    assert onnx_facts(path)[0] == card
    model = onnx.load(str(path))
    model.graph.node[0].name = "edited"
    edited = tmp_path / "edited_build.onnx"
    edited.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFormatError, match="failed its integrity check"):
        onnx_facts(edited)
    entry = model.metadata_props.add()
    entry.key, entry.value = CARD_METADATA_KEY, card.to_json()
    edited.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFormatError, match="carries 2 fer_edge model cards"):
        onnx_facts(edited)
