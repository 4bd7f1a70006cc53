"""The CUDA preprocessor writing straight into TensorRTBackend's input buffer (the seam of issues 13 and 14).

Fake TensorRT 10 + fake CUDA memory; the kernel is the real kernel code (host build) run on that memory. Checks the
whole device path of Recognizer.predict: frame upload → kernel → execute → D2H, the last three on the engine's stream,
and that the engine read exactly the reference preprocessing.
"""

import numpy as np
from fakes.tiny_models import write_tiny_classifier
from fakes.trt_world import TrtWorld
from test_recognizer_device_path import KernelOnFakeMemory

from fer_edge import Recognizer
from fer_edge.backends.engine_build import BuildConfig, build_engine
from fer_edge.preprocess import preprocess_reference
from fer_edge.preprocess.cuda import CudaPreprocessor
from fer_edge.recognizer import boxes_in_frame


def test_kernel_writes_the_engine_input_and_everything_runs_on_its_stream(monkeypatch, tmp_path, host_kernel):
    world = TrtWorld(monkeypatch, "10.13.0.35")
    onnx = write_tiny_classifier(tmp_path / "tiny.onnx")
    engine = tmp_path / "tiny.engine"
    build_engine(onnx, engine, BuildConfig(batches=(1, 4, 8), timing_cache=None), trt=world.trt, cuda=world.cuda)
    api = world.cuda
    pre = CudaPreprocessor(api=api, kernel=KernelOnFakeMemory(api, host_kernel))
    frame = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    boxes = np.array([[5, 6, 50, 60], [40, 20, 110, 85], [-10, -5, 30, 40]], np.float32)
    with Recognizer(engine, detector=None, preprocess=pre) as rec:
        assert rec._device_path
        stream = rec.backend.stream
        api.calls.clear()
        faces = rec.predict(frame, boxes=boxes)
        seq = [c for c in api.calls if c[0] in ("htod", "kernel", "execute", "dtoh", "sync")]
        # the frame goes up on the preprocessor's own stream (one wait), then kernel → engine → D2H on the engine's
        assert [c[0] for c in seq] == ["htod", "sync", "kernel", "execute", "dtoh", "sync"]
        assert [c[1] for c in seq if c[0] in ("kernel", "execute")] == [stream, stream]
        ref = preprocess_reference(frame, boxes_in_frame(boxes, frame.shape), rec.card)
        seen = api.read(rec.backend.device_input(3).ptr, ref.shape)
        np.testing.assert_allclose(seen, ref, atol=1e-4 / 255 / 0.5)
        means = ref.reshape(3, -1).astype(np.float64).mean(axis=1)
        want = sorted(float(m * 8) for m in means)  # the fake engine: logit k = mean * (k + 1); top class is 8
        assert len(faces) == 3
        got = sorted(np.log(f.probs[rec.card.labels[7]] / f.probs[rec.card.labels[0]]) / 7 * 8 for f in faces)
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
