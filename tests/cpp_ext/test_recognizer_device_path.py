"""Recognizer with the CUDA preprocessor, on the fake CUDA layer: the order and streams of the device path.

The "device" is tests/fakes/fake_cuda.py's host memory; the kernel launched on it is the real kernel code (host
build) reading and writing that memory, so the numbers are checked too, not just the call order.
"""

import numpy as np
import pytest
from fakes.fake_cuda import FakeCudaApi

from fer_edge import Recognizer
from fer_edge.backends.base import Backend, DeviceView
from fer_edge.card import FERPLUS_LABELS, ModelCard
from fer_edge.cuda.base import Stream
from fer_edge.preprocess import preprocess_reference
from fer_edge.preprocess.cuda import CudaPreprocessor
from fer_edge.recognizer import boxes_in_frame

CARD = ModelCard(labels=FERPLUS_LABELS, input_size=(24, 20), color="rgb", mean=(0.5,) * 3, std=(0.25,) * 3)
WEIGHTS = np.linspace(-1, 1, 8, dtype=np.float32)


def fake_logits(batch: np.ndarray) -> np.ndarray:
    """A deterministic 'network': per-row channel means mixed into 8 logits."""
    means = batch.astype(np.float32).reshape(batch.shape[0], batch.shape[1], -1).mean(axis=2)
    return (means.sum(axis=1, keepdims=True) * WEIGHTS[None, :]).astype(np.float32)


class KernelOnFakeMemory:
    """The kernel's host build run on FakeCudaApi's 'device' memory; records each launch and its stream."""

    device = True
    label = "host build on fake device memory"

    def __init__(self, api: FakeCudaApi, host_kernel):
        self.api, self.host = api, host_kernel

    def _address(self, ptr: int) -> int:
        for base, mem in self.api.memory.items():
            if base <= ptr < base + mem.nbytes:
                return mem.ctypes.data + (ptr - base)
        raise AssertionError(f"kernel given {ptr:#x}, which is not fake device memory")

    def launch(self, cfg, src, src_uv, boxes, out, stream):
        self.api.calls.append(("kernel", int(stream), int(boxes.shape[0])))
        uv = self._address(src_uv) if src_uv else 0
        self.host.launch(cfg, self._address(src), uv, boxes, self._address(out), 0)


class FakeGpuBackend(Backend):
    """A TensorRT-like backend: own input buffer, own stream, execute then D2H of the logits on that stream."""

    name, precision, on_gpu = "fakegpu", "fp32", True
    STREAM = 0x5EED

    def __init__(self, api: FakeCudaApi, static_batch=None, max_batch=None, dtype=np.float32):
        self.cuda, self.card = api, CARD
        self.static_batch, self.max_batch, self.dtype = static_batch, max_batch, np.dtype(dtype)
        rows = static_batch or max_batch or 64
        self._d_in = api.malloc(rows * int(np.prod(CARD.input_shape)) * self.dtype.itemsize)
        self._d_out = api.malloc(rows * 8 * 4)
        self._stream = Stream(api, self.STREAM, native="backend-stream")
        self.seen = []

    @property
    def stream(self):
        return self._stream.handle

    def device_input(self, batch):
        return DeviceView(self._d_in.ptr, (batch,) + CARD.input_shape, self.dtype)

    def infer_device(self, batch):
        self.cuda.calls.append(("execute", self.stream, batch))
        inputs = self.cuda.read(self._d_in.ptr, (batch,) + CARD.input_shape, self.dtype)
        self.seen.append(inputs)
        self.cuda.memory[self._d_out.ptr][: batch * 32] = np.frombuffer(fake_logits(inputs).tobytes(), np.uint8)
        host = np.empty((batch, 8), np.float32)
        self.cuda.memcpy_dtoh_async(host, self._d_out.ptr, self._stream)
        self.cuda.calls.append(("dtoh_on", self.stream))
        self._stream.synchronize()
        return host

    def _infer(self, batch):
        self.seen.append(batch.copy())
        return fake_logits(batch)


@pytest.fixture
def api():
    return FakeCudaApi()


def frames(n=2, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (61 + i, 83 + 2 * i, 3), dtype=np.uint8) for i in range(n)]


BOXES = np.array([[5, 6, 40, 50], [-10, -5, 20, 30], [30, 20, 90, 70]], np.float32)


def test_device_path_order_preprocess_execute_copy_back_on_one_stream(api, host_kernel):
    backend = FakeGpuBackend(api)
    pre = CudaPreprocessor(api=api, kernel=KernelOnFakeMemory(api, host_kernel))
    frame = frames(1)[0]
    with Recognizer(backend, detector=None, preprocess=pre) as rec:
        assert rec._device_path and "preprocess='cuda'" in repr(rec)
        api.calls.clear()
        faces = rec.predict(frame, boxes=BOXES)
    seq = [c[0] for c in api.calls if c[0] in ("htod", "kernel", "execute", "dtoh", "dtoh_on")]
    assert seq == ["htod", "kernel", "execute", "dtoh", "dtoh_on"]  # uint8 frame up, logits down, nothing else
    (kernel,) = [c for c in api.calls if c[0] == "kernel"]
    (execute,) = [c for c in api.calls if c[0] == "execute"]
    assert kernel[1] == execute[1] == FakeGpuBackend.STREAM  # the kernel runs on the engine's stream
    assert api.uploads[0].dtype == np.uint8 and api.uploads[0].shape == frame.shape
    # What the engine read is the reference preprocessing of the frame (the kernel's own code, 1e-4 grey levels).
    ref = preprocess_reference(frame, boxes_in_frame(BOXES, frame.shape), CARD)  # predict() clips caller boxes
    np.testing.assert_allclose(backend.seen[0], ref, atol=1e-4 / 255 / 0.25)
    assert len(faces) == 3
    np.testing.assert_allclose(sorted(f.probs["neutral"] for f in faces),
                               sorted(np.exp(fake_logits(ref))[:, 0] / np.exp(fake_logits(ref)).sum(1)), rtol=1e-4)


def test_static_batch_engine_gets_chunks_of_its_batch(api, host_kernel):
    """6 faces over 2 frames on a batch-4 engine: two launches per chunk boundary, outputs back in order."""
    backend = FakeGpuBackend(api, static_batch=4)
    pre = CudaPreprocessor(api=api, kernel=KernelOnFakeMemory(api, host_kernel))
    imgs = frames(2, seed=1)
    with Recognizer(backend, detector=None, preprocess=pre) as rec:
        api.calls.clear()
        out, _ = rec._classify([(imgs[0], BOXES, None), (imgs[1], BOXES, None)])
    executes = [c for c in api.calls if c[0] == "execute"]
    assert [c[2] for c in executes] == [4, 4]  # the static batch every time; the 2 unused rows are dropped
    assert [c[2] for c in api.calls if c[0] == "kernel"] == [3, 1, 2]  # frame 1's boxes split across chunks
    ref = np.concatenate([preprocess_reference(imgs[0], BOXES, CARD), preprocess_reference(imgs[1], BOXES, CARD)])
    np.testing.assert_allclose(out, fake_logits(ref), rtol=1e-4, atol=1e-5)


def test_fp16_engine_input_is_written_as_fp16(api, host_kernel):
    backend = FakeGpuBackend(api, dtype=np.float16)
    pre = CudaPreprocessor(api=api, kernel=KernelOnFakeMemory(api, host_kernel))
    frame = frames(1, seed=2)[0]
    with Recognizer(backend, detector=None, preprocess=pre) as rec:
        rec.predict(frame, boxes=BOXES[:2])
    assert backend.seen[0].dtype == np.float16
    ref = preprocess_reference(frame, boxes_in_frame(BOXES[:2], frame.shape), CARD)
    assert np.all(np.abs(backend.seen[0].astype(np.float32) - ref) <= np.spacing(np.abs(ref.astype(np.float16))) +
                  1e-4 / 255 / 0.25)


def test_host_backend_gets_the_kernel_result_copied_back(api, host_kernel):
    """A host backend (ONNX Runtime): kernel into a device buffer on the preprocessor's stream, one D2H, infer()."""

    class HostBackend(FakeGpuBackend):
        on_gpu = False

    backend = HostBackend(api)
    pre = CudaPreprocessor(api=api, kernel=KernelOnFakeMemory(api, host_kernel))
    imgs = frames(2, seed=3)
    with Recognizer(backend, detector=None, preprocess=pre) as rec:
        assert not rec._device_path
        api.calls.clear()
        results = rec.predict_batch(imgs)
    seq = [c[0] for c in api.calls if c[0] in ("htod", "kernel", "execute", "dtoh")]
    assert seq == ["htod", "htod", "kernel", "kernel", "dtoh"]
    assert all(c[1] == 0xABC for c in api.calls if c[0] == "kernel")  # the preprocessor's own stream
    ref = np.concatenate([preprocess_reference(f, None, CARD) for f in imgs])
    np.testing.assert_allclose(backend.seen[0], ref, atol=1e-4 / 255 / 0.25)
    assert [len(r) for r in results] == [1, 1]


def test_preprocess_choice_is_checked(api):
    from fer_edge.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="preprocess must be one of"):
        Recognizer(FakeGpuBackend(api), detector=None, preprocess="gpu")
    with Recognizer(FakeGpuBackend(api), detector=None, preprocess="cpu") as rec:
        assert rec.preprocessor.name == "cpu" and not rec._device_path
