"""fer_edge.serving without a server: a fake InferenceServerClient routes requests into the exported model.py
(run through the fake triton_python_backend_utils), so the client's request building and answer decoding are
checked end to end; the Triton benchmark's bookkeeping is checked with a fake connection."""

from __future__ import annotations

import importlib.util
import json
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from fakes.fake_triton_pb_utils import InferenceRequest, Tensor, make_fake_pb_utils

from fer_edge import Recognizer
from fer_edge.errors import FerEdgeError, InvalidInputError, MissingDependencyError
from fer_edge.recognizer import DEFAULT_MODEL

tc_http = pytest.importorskip("tritonclient.http", reason="needs tritonclient (extra serve)")
model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
from fer_edge.engines.triton import triton_repository  # noqa: E402
from google.protobuf import json_format, text_format  # noqa: E402

from fer_edge.serving import TritonRecognizer, bench_triton, render_triton_markdown  # noqa: E402


class _Result:
    def __init__(self, outputs):
        self._outputs = outputs

    def as_numpy(self, name):
        return self._outputs.get(name)


class FakeTritonClient:
    """Answers like tritonclient.http.InferenceServerClient, executing the exported frames model in-process."""

    def __init__(self, folder, monkeypatch):
        monkeypatch.setitem(sys.modules, "triton_python_backend_utils", make_fake_pb_utils())
        spec = importlib.util.spec_from_file_location("fer_edge_fake_client_model", folder / "1" / "model.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cfg = text_format.Parse((folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
        self.config = json_format.MessageToDict(cfg, preserving_proto_field_name=True)
        self.model = module.TritonPythonModel()
        self.model.initialize({"model_config": json.dumps(self.config), "model_repository": str(folder),
                               "model_version": "1", "model_instance_kind": "CPU", "model_name": cfg.name})
        self.calls = []

        self.classifier_config = json_format.MessageToDict(text_format.Parse(
            (folder.parent / cfg.name[: -len("_frames")] / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()),
            preserving_proto_field_name=True)
        self.classifier = ort.InferenceSession(str(folder.parent / self.classifier_config["name"] / "1" / "model.onnx"),
                                               providers=["CPUExecutionProvider"])
        self.labels = (folder.parent / self.classifier_config["name"] / "labels.txt").read_text().splitlines()

    def get_model_config(self, name):
        return {self.config["name"]: self.config, self.classifier_config["name"]: self.classifier_config}[name]

    def _classify(self, inputs, outputs):
        """What Triton's ONNX Runtime backend and classification extension would answer (value:index:label)."""
        (inp,) = inputs
        batch = np.frombuffer(inp._get_binary_data(), np.float32).reshape(inp.shape())
        scores = self.classifier.run(None, {inp.name(): batch})[0]
        k = outputs[0]._get_tensor()["parameters"].get("classification", 0)
        if not k:
            return _Result({outputs[0].name(): scores})
        top = np.argsort(-scores, axis=1)[:, :k]
        rows = [[f"{scores[r, i]:f}:{i}:{self.labels[i]}".encode() for i in top[r]] for r in range(len(scores))]
        return _Result({outputs[0].name(): np.array(rows, dtype=np.object_)})

    def get_server_metadata(self):
        return {"name": "triton", "version": "fake"}

    def infer(self, model_name, inputs, outputs=None):
        if model_name == self.classifier_config["name"]:
            return self._classify(inputs, outputs)
        self.calls.append((model_name, [(i.name(), i.datatype(), list(i.shape())) for i in inputs]))
        tensors = []
        for inp in inputs:
            raw = inp._get_binary_data()  # the bytes tritonclient would put on the wire
            tensors.append(Tensor(inp.name(), np.frombuffer(raw, np.uint8).reshape(inp.shape())))
        (response,) = self.model.execute([InferenceRequest(tensors)])
        if response.has_error():
            raise RuntimeError(response.error().message())
        return _Result({t.name(): t.as_numpy() for t in response.output_tensors()})

    def close(self):
        self.model.finalize()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return triton_repository(DEFAULT_MODEL, tmp_path_factory.mktemp("serving") / "models")


def test_client_round_trip_equals_recognizer(exported, monkeypatch):
    skimage = pytest.importorskip("skimage.data")
    frame = cv2.cvtColor(skimage.astronaut(), cv2.COLOR_RGB2BGR)
    fake = FakeTritonClient(exported.repo / exported.frames, monkeypatch)
    with Recognizer(DEFAULT_MODEL, threads=1) as rec:
        want = rec.predict(frame)
    with TritonRecognizer("fake:8000", exported.classifier, client=fake) as remote:
        assert remote.card.labels == rec.card.labels
        for faces in (remote.predict(frame), remote.predict_image(cv2.imencode(".png", frame)[1].tobytes())):
            assert [f.label for f in faces] == [f.label for f in want] and len(want) >= 1
            for got, exp in zip(faces, want):
                np.testing.assert_allclose(got.box, exp.box, atol=1e-4)
                assert got.confidence == pytest.approx(exp.confidence, abs=1e-6)
                assert got.probs == pytest.approx(exp.probs, abs=1e-6)
        assert remote.predict(np.zeros((50, 60, 3), np.uint8)) == []
        assert fake.calls[0] == (exported.frames, [("FRAME", "UINT8", list(frame.shape))])
        assert fake.calls[1][1][0][0] == "IMAGE"
        info = remote.server_info()
        assert info["server"] == "triton fake" and info["backend"] == "python"
        with pytest.raises(InvalidInputError):
            remote.predict_image(b"")
        with pytest.raises(InvalidInputError):
            remote.predict(np.zeros((4, 4), np.float32))


def test_classify_raw_scores_and_top_k(exported, monkeypatch):
    from fer_edge.preprocess import preprocess

    skimage = pytest.importorskip("skimage.data")
    face = cv2.cvtColor(skimage.astronaut(), cv2.COLOR_RGB2BGR)[0:256, 96:352]
    fake = FakeTritonClient(exported.repo / exported.frames, monkeypatch)
    # classify() is the plain classifier model: compare with the local model without the card's flip TTA
    with Recognizer(DEFAULT_MODEL, detector=None, threads=1, tta="none") as rec, \
            TritonRecognizer("fake:8000", exported.classifier, client=fake) as remote:
        batch = np.concatenate([preprocess(face, None, rec.card), preprocess(face[:, ::-1].copy(), None, rec.card)])
        want = rec.backend.infer(batch)
        np.testing.assert_allclose(remote.classify(batch), want, atol=1e-5)
        top = remote.classify(batch, top_k=3)
        assert [[i for _, i, _ in row] for row in top] == [list(np.argsort(-w)[:3]) for w in want]
        assert top[0][0][2] == rec.card.labels[int(np.argmax(want[0]))]
        with pytest.raises(InvalidInputError):
            remote.classify(batch[0])


def test_fake_pb_utils_names_exist_in_the_real_backend():
    """Every name the fake offers is in the real Python backend (when nvidia-pytriton ships it): the functions in
    its triton_python_backend_utils.py, the classes and methods as pybind11 strings in the compiled stub."""
    import ast
    import importlib.util as iu
    from pathlib import Path

    from fakes import fake_triton_pb_utils as fake_module

    spec = iu.find_spec("pytriton")
    if spec is None:
        pytest.skip("nvidia-pytriton (which ships the real Python backend) is not installed")
    dist = Path(spec.origin).parent / "tritonserver"
    real_py = dist / "backends" / "python" / "triton_python_backend_utils.py"
    functions = {n.name for n in ast.parse(real_py.read_text()).body if isinstance(n, ast.FunctionDef)}
    stubs = sorted((dist / "python_backend_stubs").glob("*/triton_python_backend_stub"))
    assert stubs, f"no Python backend stub under {dist}"
    stub = stubs[-1].read_bytes()
    fake = make_fake_pb_utils()
    for name in ("get_input_tensor_by_name", "get_output_tensor_by_name"):
        assert name in functions and callable(getattr(fake, name))
    for cls in ("Tensor", "InferenceRequest", "InferenceResponse", "TritonError", "TritonModelException", "Logger"):
        assert hasattr(fake, cls) and cls.encode() in stub, cls
        methods = [m for m, v in vars(getattr(fake_module, cls)).items() if callable(v) or isinstance(v, classmethod)]
        for method in methods:
            if not method.startswith("_"):
                assert method.encode() in stub, f"{cls}.{method} is not a name of the real backend"


def test_unknown_protocol_and_missing_tritonclient(monkeypatch):
    with pytest.raises(InvalidInputError, match="protocol"):
        TritonRecognizer("x", protocol="carrier-pigeon")
    monkeypatch.setitem(sys.modules, "tritonclient.grpc", None)
    with pytest.raises(MissingDependencyError, match=r"fer-edge\[serve\]"):
        TritonRecognizer("x", protocol="grpc")


class FakeConnection:
    def __init__(self, fail=False):
        self.fail = fail

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def server_info(self):
        return {"server": "triton fake", "model": "m_frames", "backend": "python", "url": "fake", "protocol": "http",
                "instance_group": [{"count": 2, "kind": "KIND_CPU"}]}

    def predict(self, frame):
        if self.fail:
            raise RuntimeError("server went away")
        time.sleep(0.001)
        return []


def test_bench_rows_count_every_request():
    frames = [np.zeros((32, 32, 3), np.uint8)]
    report = bench_triton("fake", "m", frames, clients=(1, 3), requests_per_client=4, warmup=1,
                          connect=FakeConnection)
    assert [(r["clients"], r["requests"]) for r in report["rows"]] == [(1, 4), (3, 12)]
    for r in report["rows"]:
        assert r["p50_ms"] >= 1.0 and r["p99_ms"] >= r["p50_ms"] and r["requests_per_s"] > 0
    text = render_triton_markdown(report)
    assert "triton fake" in text and "`python`" in text and "2x KIND_CPU" in text
    with pytest.raises(FerEdgeError, match="failed at 2 concurrent clients"):
        bench_triton("fake", "m", frames, clients=(2,), requests_per_client=2, connect=lambda: FakeConnection(True))
    with pytest.raises(InvalidInputError):
        bench_triton("fake", "m", [], connect=FakeConnection)
