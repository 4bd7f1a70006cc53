import numpy as np
import pytest
from fakes.tiny_models import write_tiny_classifier

from fer_edge.backends import backend_from_path
from fer_edge.backends.onnxruntime import OnnxRuntimeBackend, choose_providers
from fer_edge.card import FERPLUS_LABELS, ModelCard
from fer_edge.errors import FerEdgeError, InvalidInputError, ModelFormatError


def test_reads_card_from_metadata_and_infers(tiny_onnx_model):
    with backend_from_path(tiny_onnx_model, threads=1) as backend:
        assert isinstance(backend, OnnxRuntimeBackend)
        assert backend.card.labels == FERPLUS_LABELS
        bright = np.ones((2, 1, 48, 48), np.float32)
        out = backend.infer(bright)
        assert out.shape == (2, 8) and out.dtype == np.float32
        assert out[0].argmax() == 1
        assert backend.infer(-bright)[0].argmax() == 2
        assert backend.infer(np.zeros((0, 1, 48, 48), np.float32)).shape == (0, 8)


def test_cpu_provider_is_always_chosen_last():
    assert choose_providers()[-1] == "CPUExecutionProvider"
    with pytest.raises(InvalidInputError, match="not available"):
        choose_providers(["NoSuchExecutionProvider"])


@pytest.mark.parametrize("batch, message", [
    (np.zeros((1, 3, 48, 48), np.float32), r"\(N, 1, 48, 48\)"),
    (np.zeros((1, 1, 48, 48), np.float64), "float32"),
    ([[0.0]], "numpy array"),
])
def test_infer_validates_input(tiny_onnx_model, batch, message):
    with backend_from_path(tiny_onnx_model, threads=1) as backend:
        with pytest.raises(InvalidInputError, match=message):
            backend.infer(batch)


def test_model_without_card_needs_an_explicit_card(tmp_path):
    path = write_tiny_classifier(tmp_path / "nocard.onnx", card=False)
    with pytest.raises(ModelFormatError, match="no fer_edge model card"):
        backend_from_path(path)
    card = ModelCard(labels=FERPLUS_LABELS)
    with pytest.warns(UserWarning, match="no model card"):
        backend = OnnxRuntimeBackend(path, card=card)
    with backend:
        assert backend.card is card


def test_card_label_count_must_match_the_graph(tmp_path):
    seven = ModelCard(labels=FERPLUS_LABELS[:7])
    path = write_tiny_classifier(tmp_path / "mismatch.onnx", card=seven, classes=8)
    with pytest.raises(ModelFormatError, match="outputs 8 classes but its card lists 7"):
        backend_from_path(path)


def test_card_input_geometry_must_match_the_graph(tmp_path):
    card = ModelCard(labels=FERPLUS_LABELS, input_size=(64, 64))
    path = write_tiny_classifier(tmp_path / "geom.onnx", card=card, size=48)
    with pytest.raises(ModelFormatError, match="48 height but its card says 64"):
        backend_from_path(path)


def test_bad_paths(tmp_path):
    with pytest.raises(ModelFormatError, match="not found"):
        backend_from_path(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a model")
    with pytest.raises(ModelFormatError, match="damaged or not an ONNX model") as info:
        backend_from_path(junk)
    assert "INVALID_PROTOBUF" not in str(info.value) and "fer-edge export" in str(info.value)
    other = tmp_path / "weights.pt"
    other.write_bytes(b"x")
    with pytest.raises(ModelFormatError, match="suffix"):
        backend_from_path(other)
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"x")
    with pytest.raises(ModelFormatError, match="no sidecar"):  # the file is checked before tensorrt is imported
        backend_from_path(engine)


def test_closed_backend_raises_a_typed_error(tiny_onnx_model):
    backend = backend_from_path(tiny_onnx_model)
    batch = np.zeros((1, *backend.card.input_shape), np.float32)
    backend.close()
    backend.close()  # idempotent
    with pytest.raises(FerEdgeError, match="closed"):  # was AttributeError: 'NoneType' has no 'run'
        backend.infer(batch)
