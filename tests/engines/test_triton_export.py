"""`fer-edge export-triton`: the repository's configs parsed with Triton's own ModelConfig proto and checked against
the graph and card; the generated model.py run on a real frame through a fake triton_python_backend_utils."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from fakes.engine_files import fake_engine
from fakes.fake_triton_pb_utils import InferenceRequest, Tensor, make_fake_pb_utils
from fakes.tiny_models import write_tiny_classifier
from fer_edge.engines.triton import (
    TritonExportConfig,
    pbtxt_string,
    preferred_batch_sizes,
    triton_repository,
)

from fer_edge import Recognizer
from fer_edge.backends.onnxruntime import card_from_session
from fer_edge.card import FERPLUS_LABELS, ModelCard
from fer_edge.cli import main as cli_main
from fer_edge.errors import InvalidInputError, ModelFormatError
from fer_edge.recognizer import DEFAULT_MODEL

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="needs tritonclient (extra serve)")
from google.protobuf import json_format, text_format  # noqa: E402


def parse_config(path: Path):
    """config.pbtxt → Triton's ModelConfig message (fails on any field name Triton does not know)."""
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def card_of(path: Path) -> ModelCard:
    return card_from_session(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]))


def astronaut_frame() -> np.ndarray:
    skimage = pytest.importorskip("skimage.data")
    return cv2.cvtColor(skimage.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    repo = tmp_path_factory.mktemp("triton") / "models"
    result = triton_repository(DEFAULT_MODEL, repo, TritonExportConfig(max_batch=8, instances=2, queue_delay_us=250))
    return result


def test_classifier_config_matches_graph_and_card(exported):
    card = card_of(DEFAULT_MODEL)
    model_dir = exported.repo / exported.classifier
    cfg = parse_config(model_dir / "config.pbtxt")
    served = model_dir / "1" / "model.onnx"
    assert served.read_bytes() == DEFAULT_MODEL.read_bytes()
    session = ort.InferenceSession(str(served), providers=["CPUExecutionProvider"])
    (gin,), (gout,) = session.get_inputs(), session.get_outputs()
    assert cfg.name == exported.classifier == model_dir.name
    assert cfg.platform == "onnxruntime_onnx" and cfg.default_model_filename == "model.onnx"
    assert cfg.max_batch_size == 8
    assert [i.name for i in cfg.input] == [gin.name] and [o.name for o in cfg.output] == [gout.name]
    assert cfg.input[0].data_type == model_config_pb2.TYPE_FP32 and gin.type == "tensor(float)"
    assert list(cfg.input[0].dims) == list(gin.shape[1:]) == list(card.input_shape)
    assert cfg.output[0].data_type == model_config_pb2.TYPE_FP32 and gout.type == "tensor(float)"
    assert list(cfg.output[0].dims) == list(gout.shape[1:]) == [card.num_classes]
    assert isinstance(gin.shape[0], str)  # dynamic batch axis in the graph, so max_batch_size > 0 is valid
    # classification extension: label_filename beside config.pbtxt, one card label per line in output order
    assert cfg.output[0].label_filename == "labels.txt"
    assert (model_dir / "labels.txt").read_text().splitlines() == list(card.labels)
    assert list(cfg.dynamic_batching.preferred_batch_size) == [4, 8]
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 250
    assert len(cfg.instance_group) == 1
    assert cfg.instance_group[0].count == 2
    assert cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    assert ModelCard.from_json(cfg.parameters["fer_edge.card"].string_value) == card
    assert [w.batch_size for w in cfg.model_warmup] == [1, 8]
    for warm in cfg.model_warmup:
        spec = warm.inputs[gin.name]
        assert spec.zero_data and list(spec.dims) == list(card.input_shape)
        assert spec.data_type == model_config_pb2.TYPE_FP32


def test_frames_config_declares_the_wire_contract(exported):
    cfg = parse_config(exported.repo / exported.frames / "config.pbtxt")
    assert cfg.name == exported.frames == f"{exported.classifier}_frames"
    assert cfg.backend == "python" and cfg.max_batch_size == 0
    inputs = {i.name: i for i in cfg.input}
    assert set(inputs) == {"IMAGE", "FRAME"} and all(i.optional for i in cfg.input)
    assert list(inputs["FRAME"].dims) == [-1, -1, -1] and inputs["FRAME"].data_type == model_config_pb2.TYPE_UINT8
    outputs = {o.name: o for o in cfg.output}
    assert list(outputs["PROBABILITIES"].dims) == [-1, len(FERPLUS_LABELS)]
    assert outputs["LABELS"].data_type == model_config_pb2.TYPE_STRING
    assert cfg.parameters["classifier"].string_value == "classifier.onnx"
    assert (exported.repo / exported.frames / "1" / "classifier.onnx").read_bytes() == DEFAULT_MODEL.read_bytes()
    assert cfg.instance_group[0].count == 2


def load_frames_model(folder: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", make_fake_pb_utils())
    spec = importlib.util.spec_from_file_location("fer_edge_test_frames_model", folder / "1" / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = parse_config(folder / "config.pbtxt")
    # The args dict the Python backend passes to initialize(): model_config is the config as JSON.
    args = {
        "model_config": json_format.MessageToJson(cfg, preserving_proto_field_name=True),
        "model_instance_kind": "CPU", "model_instance_name": f"{cfg.name}_0_0", "model_instance_device_id": "0",
        "model_repository": str(folder), "model_version": "1", "model_name": cfg.name,
    }
    model = module.TritonPythonModel()
    model.initialize(args)
    return model


def outputs_of(response):
    assert not response.has_error(), response.error().message()
    return {t.name(): t.as_numpy() for t in response.output_tensors()}


def test_frames_model_execute_equals_recognizer_on_a_real_frame(exported, monkeypatch):
    frame = astronaut_frame()
    model = load_frames_model(exported.repo / exported.frames, monkeypatch)
    ok, png = cv2.imencode(".png", frame)
    assert ok
    requests = [
        InferenceRequest([Tensor("FRAME", frame)]),
        InferenceRequest([Tensor("IMAGE", png.reshape(-1))]),
        InferenceRequest([]),
        InferenceRequest([Tensor("IMAGE", np.frombuffer(b"not an image", np.uint8).copy())]),
        InferenceRequest([Tensor("FRAME", np.zeros((64, 64, 3), np.uint8))]),
    ]
    responses = model.execute(requests)
    assert len(responses) == len(requests)
    with Recognizer(DEFAULT_MODEL, threads=1) as rec:
        want = rec.predict(frame)
    assert len(want) >= 1
    for response in responses[:2]:
        got = outputs_of(response)
        assert got["BOXES"].shape == (len(want), 4) and got["PROBABILITIES"].shape == (len(want), 8)
        np.testing.assert_allclose(got["BOXES"], np.array([f.box for f in want]), atol=1e-4)
        np.testing.assert_allclose(got["SCORES"], [f.score for f in want], atol=1e-6)
        assert [b.decode() for b in got["LABELS"]] == [f.label for f in want]
        np.testing.assert_allclose(got["PROBABILITIES"], [[f.probs[k] for k in FERPLUS_LABELS] for f in want],
                                   atol=1e-6)
    assert responses[2].has_error() and "exactly one input" in responses[2].error().message()
    assert responses[3].has_error() and "decode" in responses[3].error().message()
    empty = outputs_of(responses[4])
    assert empty["BOXES"].shape == (0, 4) and empty["PROBABILITIES"].shape == (0, 8) and empty["LABELS"].shape == (0,)
    model.finalize()


def test_pbtxt_strings_round_trip_through_text_format():
    text = 'a "quoted" back\\slash\nnew line, tab\t and ü'
    msg = text_format.Parse(f"name: {pbtxt_string(text)}", model_config_pb2.ModelConfig())
    assert msg.name == text


def test_preferred_batch_sizes():
    assert preferred_batch_sizes(1) == [1]
    assert preferred_batch_sizes(16) == [4, 8, 16]
    assert preferred_batch_sizes(12) == [4, 8, 12]


# ------------------------------------------------------------------------------------------------- bad input
def test_model_without_card_is_refused(tmp_path):
    model = write_tiny_classifier(tmp_path / "nocard.onnx", card=False)
    with pytest.raises(ModelFormatError, match="no fer_edge model card"):
        triton_repository(model, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_labels_that_disagree_with_the_output_are_refused(tmp_path):
    card = ModelCard(labels=FERPLUS_LABELS, name="mismatch")
    model = write_tiny_classifier(tmp_path / "m.onnx", card=card, classes=7)
    with pytest.raises(ModelFormatError, match="7 classes but its card lists 8"):
        triton_repository(model, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_non_empty_repository_needs_force_and_keeps_other_models(tmp_path, tiny_onnx_model):
    repo = tmp_path / "repo"
    (repo / "other_model").mkdir(parents=True)
    (repo / "other_model" / "config.pbtxt").write_text("keep me")
    with pytest.raises(InvalidInputError, match="not empty; pass --force"):
        triton_repository(tiny_onnx_model, repo)
    assert sorted(p.name for p in repo.iterdir()) == ["other_model"]
    result = triton_repository(tiny_onnx_model, repo, TritonExportConfig(force=True))
    assert sorted(p.name for p in repo.iterdir()) == ["other_model", result.classifier, result.frames]
    assert (repo / "other_model" / "config.pbtxt").read_text() == "keep me"
    (repo / result.classifier / "labels.txt").write_text("stale")
    triton_repository(tiny_onnx_model, repo, TritonExportConfig(force=True, max_batch=4))
    assert (repo / result.classifier / "labels.txt").read_text().splitlines() == list(FERPLUS_LABELS)
    assert parse_config(repo / result.classifier / "config.pbtxt").max_batch_size == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging leftovers


def test_failure_half_way_leaves_nothing(tmp_path, tiny_onnx_model, monkeypatch):
    import fer_edge.engines.triton as triton

    def boom(*a, **k):
        raise ModelFormatError("simulated failure while writing the frames model")

    monkeypatch.setattr(triton, "frames_config_text", boom)
    with pytest.raises(ModelFormatError, match="simulated"):
        triton_repository(tiny_onnx_model, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kw, message", [
    (dict(kind="tpu"), "kind must be one of"),
    (dict(max_batch=0), "max_batch must be an integer >= 1"),
    (dict(instances=-1), "instances must be"),
    (dict(name="bad name/with slash"), "model name"),
    (dict(detector="nope"), "detector must be one of"),
])
def test_bad_config_values_are_typed_errors(kw, message):
    with pytest.raises(InvalidInputError, match=message):
        TritonExportConfig(**kw)


def test_cli_unknown_kind_and_success(tmp_path, tiny_onnx_model, capsys):
    assert cli_main(["export-triton", str(tiny_onnx_model), "--repo", str(tmp_path / "r"), "--kind", "tpu"]) == 1
    assert "kind must be one of" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    assert cli_main(["export-triton", str(tiny_onnx_model), "--repo", str(tmp_path / "r"), "--max-batch", "4",
                     "--instances", "3", "--no-frames"]) == 0
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["tiny-test"]
    cfg = parse_config(tmp_path / "r" / "tiny-test" / "config.pbtxt")
    assert cfg.max_batch_size == 4 and cfg.instance_group[0].count == 3
    assert cli_main(["export-triton", str(tiny_onnx_model), "--repo", str(tmp_path / "r")]) == 1
    assert "--force" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------- engine path
def test_engine_becomes_a_tensorrt_plan_model(tmp_path, tiny_onnx_model):
    engine = fake_engine(tmp_path, tiny_onnx_model)
    result = triton_repository(engine, tmp_path / "repo", TritonExportConfig(kind="gpu", max_batch=32))
    model_dir = tmp_path / "repo" / result.classifier
    cfg = parse_config(model_dir / "config.pbtxt")
    assert cfg.platform == "tensorrt_plan" and cfg.default_model_filename == "model.plan"
    assert (model_dir / "1" / "model.plan").read_bytes() == engine.read_bytes()
    assert cfg.input[0].name == "input" and cfg.output[0].name == "logits" and list(cfg.output[0].dims) == [8]
    assert cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert cfg.parameters["fer_edge.tensorrt_version"].string_value == "10.3.0"
    assert cfg.parameters["fer_edge.gpu_name"].string_value == "Orin"
    assert ModelCard.from_json(cfg.parameters["fer_edge.card"].string_value) == card_of(tiny_onnx_model)
    frames = tmp_path / "repo" / result.frames / "1"
    assert (frames / "classifier.engine").read_bytes() == engine.read_bytes()
    assert (frames / "classifier.engine.json").read_text() == (tmp_path / "model.engine.json").read_text()
    with pytest.raises(InvalidInputError, match="exceeds the engine's optimisation profile"):
        triton_repository(engine, tmp_path / "repo2", TritonExportConfig(kind="gpu", max_batch=64))
    with pytest.raises(InvalidInputError, match="--kind gpu"):
        triton_repository(engine, tmp_path / "repo3", TritonExportConfig(kind="cpu"))
    assert not (tmp_path / "repo2").exists() and not (tmp_path / "repo3").exists()


def test_engine_tensor_names_need_its_onnx(tmp_path, tiny_onnx_model):
    engine = fake_engine(tmp_path, tiny_onnx_model, onnx_path=False)
    with pytest.raises(InvalidInputError, match="pass the ONNX it was built from"):
        triton_repository(engine, tmp_path / "r1", TritonExportConfig(kind="gpu"))
    wrong = tmp_path / "wrong.onnx"
    wrong.write_bytes(DEFAULT_MODEL.read_bytes())
    with pytest.raises(ModelFormatError, match="sha256 differs"):
        triton_repository(engine, tmp_path / "r2", TritonExportConfig(kind="gpu", onnx=str(wrong)))
    triton_repository(engine, tmp_path / "r3", TritonExportConfig(kind="gpu", onnx=str(tiny_onnx_model)))
    cfg = parse_config(tmp_path / "r3" / "tiny-test" / "config.pbtxt")
    assert cfg.input[0].name == "input" and cfg.output[0].name == "logits"


def test_engine_without_sidecar_or_damaged_is_refused(tmp_path, tiny_onnx_model):
    engine = fake_engine(tmp_path, tiny_onnx_model)
    engine.write_bytes(engine.read_bytes()[:-3])
    with pytest.raises(ModelFormatError, match="truncated"):
        triton_repository(engine, tmp_path / "repo", TritonExportConfig(kind="gpu"))
    (tmp_path / "model.engine.json").unlink()
    with pytest.raises(ModelFormatError, match="no sidecar"):
        triton_repository(engine, tmp_path / "repo", TritonExportConfig(kind="gpu"))
    assert not (tmp_path / "repo").exists()
