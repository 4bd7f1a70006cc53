"""`fer-edge export-deepstream`: the nvinfer config parsed back and checked against the card and graph; its
net-scale-factor/offsets applied to test crops reproduce preprocess_reference; cards nvinfer cannot express refused."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from fakes.tiny_models import write_tiny_classifier
from fer_edge.engines.deepstream import (
    DeepStreamExportConfig,
    deepstream_config,
    nvinfer_normalisation,
    parse_nvinfer_config,
)

from fer_edge.backends.onnxruntime import OnnxRuntimeBackend, card_from_session
from fer_edge.card import FERPLUS_LABELS, ModelCard
from fer_edge.cli import main as cli_main
from fer_edge.errors import InvalidInputError, ModelFormatError
from fer_edge.preprocess import preprocess_reference
from fer_edge.recognizer import DEFAULT_MODEL, softmax

# nvinfer's [property] key names (gstnvinfer_property_parser.h, DeepStream 6.x-9.x), the subset a classifier may use.
NVINFER_PROPERTY_KEYS = {
    "gie-unique-id", "process-mode", "interval", "labelfile-path", "gpu-id", "secondary-reinfer-interval",
    "output-tensor-meta", "enable-dla", "use-dla-core", "batch-size", "network-mode", "model-engine-file",
    "int8-calib-file", "workspace-size", "output-blob-names", "network-type", "infer-dims", "model-color-format",
    "net-scale-factor", "offsets", "maintain-aspect-ratio", "symmetric-padding", "scaling-filter",
    "scaling-compute-hw", "network-input-order", "onnx-file", "classifier-type", "classifier-threshold",
    "classifier-async-mode", "input-object-min-width", "input-object-min-height", "input-object-max-width",
    "input-object-max-height", "operate-on-gie-id", "operate-on-class-ids", "parse-classifier-func-name",
    "custom-lib-path",
}


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "deepstream"
    config = DeepStreamExportConfig(operate_on_class_ids=(0, 2), classifier_threshold=0.25, batch_size=8,
                                    min_object=(30, 32))
    return deepstream_config(DEFAULT_MODEL, out, config)


def test_every_key_matches_the_card_and_graph(exported):
    card = card_from_session(session(DEFAULT_MODEL))
    groups = parse_nvinfer_config(exported["config"].read_text())
    assert list(groups) == ["property"]
    p = groups["property"]
    assert set(p) <= NVINFER_PROPERTY_KEYS, set(p) - NVINFER_PROPERTY_KEYS  # no misspelt key nvinfer would ignore
    assert p["process-mode"] == "2" and p["network-type"] == "1"
    assert p["gie-unique-id"] == "2" and p["operate-on-gie-id"] == "1" and p["operate-on-class-ids"] == "0;2"
    assert float(p["classifier-threshold"]) == 0.25 and p["classifier-async-mode"] == "1"
    assert p["model-color-format"] == {"gray": "2", "rgb": "0", "bgr": "1"}[card.color] == "2"
    assert p["network-mode"] == {"fp32": "0", "int8": "1", "fp16": "2"}[card.precision]
    assert p["batch-size"] == "8"
    assert p["input-object-min-width"] == "30" and p["input-object-min-height"] == "32"
    assert p["infer-dims"] == ";".join(str(d) for d in card.input_shape)
    assert float(p["net-scale-factor"]) == pytest.approx(1 / (255 * card.std[0]), rel=1e-12)
    assert [float(o) for o in p["offsets"].split(";")] == pytest.approx([255 * m for m in card.mean], rel=1e-12)
    # the files it names exist beside it, and hold the card's labels and a graph with the named output
    folder = exported["config"].parent
    assert (folder / p["labelfile-path"]).read_text() == ";".join(card.labels) + "\n"
    onnx_file = folder / p["onnx-file"]
    assert onnx_file == exported["model"]
    assert [o.name for o in session(onnx_file).get_outputs()] == [p["output-blob-names"]]
    assert "model-engine-file" in p and p["model-engine-file"].endswith(".engine")


def test_logits_graph_gets_a_softmax_and_stays_a_fer_edge_model(exported):
    original, served = session(DEFAULT_MODEL), session(exported["model"])
    x = np.random.default_rng(0).normal(size=(5, 1, 48, 48)).astype(np.float32)
    logits = original.run(None, {"input": x})[0]
    probs = served.run(None, {"input": x})[0]
    np.testing.assert_allclose(probs, softmax(logits), atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    card = card_from_session(served)
    assert card.output == "probs" and card.labels == FERPLUS_LABELS
    assert card.provenance["history"][-1]["step"] == "softmax"
    with OnnxRuntimeBackend(exported["model"], threads=1) as backend:  # integrity record checked at load
        np.testing.assert_allclose(backend.infer(x), probs, atol=1e-6)


@pytest.mark.parametrize("card", [
    ModelCard(labels=FERPLUS_LABELS, color="gray", mean=(0.5,), std=(0.5,), name="gray"),
    ModelCard(labels=FERPLUS_LABELS, color="gray", mean=(0.2,), std=(0.9,), name="gray2"),
    ModelCard(labels=FERPLUS_LABELS, color="rgb", mean=(0.485, 0.456, 0.406), std=(0.25,) * 3, name="rgb"),
    ModelCard(labels=FERPLUS_LABELS, color="bgr", mean=(0.1, 0.5, 0.9), std=(0.3,) * 3, name="bgr"),
])
def test_nvinfer_normalisation_reproduces_preprocess_reference(card, tmp_path):
    model = write_tiny_classifier(tmp_path / f"{card.name}.onnx", card=card, channels=card.channels)
    paths = deepstream_config(model, tmp_path / "out", DeepStreamExportConfig())
    p = parse_nvinfer_config(paths["config"].read_text())["property"]
    scale = float(p["net-scale-factor"])
    offsets = np.array([float(o) for o in p["offsets"].split(";")], np.float32)
    rng = np.random.default_rng(1)
    h, w = card.input_size
    for _ in range(3):
        if card.color == "gray":
            crop = rng.integers(0, 256, size=(h, w, 1), dtype=np.uint8)
            net_order = crop.astype(np.float32)  # nvinfer's GRAY8 crop
        else:
            crop = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)  # BGR, as fer_edge takes frames
            fmt = p["model-color-format"]
            net_order = crop[:, :, ::-1].astype(np.float32) if fmt == "0" else crop.astype(np.float32)
        assert len(offsets) == net_order.shape[2]
        nvinfer = scale * (net_order - offsets)  # y = net-scale-factor * (x - offsets), per channel
        reference = preprocess_reference(crop, None, card)[0].transpose(1, 2, 0)
        np.testing.assert_allclose(nvinfer, reference, atol=1e-4)


def test_per_channel_std_is_refused_with_nothing_written(tmp_path):
    card = ModelCard(labels=FERPLUS_LABELS, color="rgb", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                     name="imagenet")
    with pytest.raises(ModelFormatError, match="one\nnet-scale-factor|per-channel std"):
        nvinfer_normalisation(card)
    model = write_tiny_classifier(tmp_path / "m.onnx", card=card, channels=3)
    with pytest.raises(ModelFormatError, match="cannot express"):
        deepstream_config(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_sample_app_uses_the_classifier_behind_a_face_detector(exported):
    app = parse_nvinfer_config(exported["app"].read_text())
    assert app["primary-gie"]["gie-unique-id"] == "1" and app["primary-gie"]["enable"] == "1"
    sgie = app["secondary-gie0"]
    assert sgie["config-file"] == exported["config"].name
    assert sgie["gie-unique-id"] == "2" and sgie["operate-on-gie-id"] == "1" and sgie["operate-on-class-ids"] == "0;2"
    assert {"application", "source0", "streammux", "tracker", "osd", "sink0"} <= set(app)


def test_parser_rejects_malformed_text():
    with pytest.raises(ModelFormatError, match="twice"):
        parse_nvinfer_config("[property]\na=1\na=2\n")
    with pytest.raises(ModelFormatError, match="key=value"):
        parse_nvinfer_config("a=1\n")


def test_bad_inputs(tmp_path, tiny_onnx_model):
    with pytest.raises(ModelFormatError, match="no fer_edge model card"):
        deepstream_config(write_tiny_classifier(tmp_path / "nocard.onnx", card=False), tmp_path / "o1")
    with pytest.raises(ModelFormatError, match="7 classes but its card lists 8"):
        deepstream_config(write_tiny_classifier(tmp_path / "mm.onnx", classes=7,
                                                card=ModelCard(labels=FERPLUS_LABELS, name="mm")), tmp_path / "o2")
    (tmp_path / "o3").mkdir()
    (tmp_path / "o3" / "mine.txt").write_text("keep")
    with pytest.raises(InvalidInputError, match="not empty; pass --force"):
        deepstream_config(tiny_onnx_model, tmp_path / "o3")
    paths = deepstream_config(tiny_onnx_model, tmp_path / "o3", DeepStreamExportConfig(force=True))
    assert (tmp_path / "o3" / "mine.txt").read_text() == "keep" and paths["config"].is_file()
    for kw in (dict(gie_unique_id=1), dict(classifier_threshold=1.5), dict(batch_size=0), dict(min_object=(0, 5)),
               dict(operate_on_class_ids=())):
        with pytest.raises(InvalidInputError):
            DeepStreamExportConfig(**kw)
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_engines_need_probabilities_and_are_named_as_engines(tmp_path):
    from fakes.engine_files import fake_engine

    logits = write_tiny_classifier(tmp_path / "logits.onnx")
    with pytest.raises(ModelFormatError, match="expects probabilities"):
        deepstream_config(fake_engine(tmp_path, logits, name="logits.engine"), tmp_path / "o1")
    card = ModelCard(labels=FERPLUS_LABELS, output="probs", precision="fp32", name="probs-model")
    probs = write_tiny_classifier(tmp_path / "probs.onnx", card=card)
    engine = fake_engine(tmp_path, probs, name="probs.engine")
    paths = deepstream_config(engine, tmp_path / "o2")
    p = parse_nvinfer_config(paths["config"].read_text())["property"]
    assert "onnx-file" not in p and p["model-engine-file"] == "probs-model.engine"
    assert (tmp_path / "o2" / p["model-engine-file"]).read_bytes() == engine.read_bytes()
    assert p["network-mode"] == "2"  # the engine's build precision (fp16 in its sidecar), not the ONNX card's fp32
    assert p["output-blob-names"] == "logits"
    assert not (tmp_path / "o1").exists()


def test_cli(tmp_path, tiny_onnx_model, capsys):
    out = tmp_path / "ds"
    assert cli_main(["export-deepstream", str(tiny_onnx_model), "--out", str(out), "--face-class-ids", "1",
                     "--threshold", "0.4", "--sync", "--min-face", "40"]) == 0
    p = parse_nvinfer_config((out / "config_infer_secondary_tiny-test.txt").read_text())["property"]
    assert p["operate-on-class-ids"] == "1" and p["classifier-async-mode"] == "0"
    assert float(p["classifier-threshold"]) == 0.4 and p["input-object-min-width"] == "40"
    assert cli_main(["export-deepstream", str(tiny_onnx_model), "--out", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
