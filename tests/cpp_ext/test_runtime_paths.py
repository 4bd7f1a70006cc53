"""How the runtime finds and drives the kernel without a GPU: availability reasons, the choice Recognizer makes,
and the NVRTC path's launches (against a fake ``cuda.bindings.driver``: parameters, grid, stream, chunks, cache).
"""

import ctypes
import logging
import types

import numpy as np
import pytest

from fer_edge.card import FERPLUS_LABELS, ModelCard
from fer_edge.cuda.base import CudaError
from fer_edge.preprocess import cuda as pcuda
from fer_edge.preprocess import kernel_abi as abi
from fer_edge.preprocess import kernel_launchers as kl
from fer_edge.preprocess import preprocessors

CARD = ModelCard(labels=FERPLUS_LABELS, input_size=(20, 16), color="gray")


class FakeDriver:
    """The few ``cuda.bindings.driver`` calls NvrtcKernel makes; each returns (err, value) like the real ones."""

    class CUdevice_attribute:
        CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = "major"
        CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = "minor"

    def __init__(self, capability=(8, 7)):
        self.capability, self.calls, self.launches = capability, [], []

    def __getattr__(self, name):
        def call(*args):
            self.calls.append((name,) + args)
            if name == "cuDeviceGetAttribute":
                return 0, self.capability[0] if args[0] == "major" else self.capability[1]
            if name == "cuLaunchKernel":
                pointers = ctypes.cast(args[9], ctypes.POINTER(ctypes.c_void_p))
                params = abi.FerLaunchParams.from_address(pointers[0])  # read while the caller keeps it alive
                self.launches.append({"grid": args[1:4], "block": args[4:7], "stream": args[8],
                                      "n": params.num_boxes, "out": params.out, "src": params.src,
                                      "boxes": np.ctypeslib.as_array(params.boxes)[: params.num_boxes].copy()})
                return (0,)
            if name in ("cuInit", "cuCtxSetCurrent", "cuModuleUnload", "cuDevicePrimaryCtxRelease"):
                return (0,)
            return 0, f"<{name}>"

        return call


@pytest.fixture
def fake_nvrtc(monkeypatch, tmp_path):
    driver = FakeDriver()
    nvrtc = types.SimpleNamespace(nvrtcGetSupportedArchs=lambda: (0, [75, 80, 86, 87, 89, 90]))
    compiled = []
    monkeypatch.setattr(kl, "require", lambda name, *a: driver if name.endswith("driver") else nvrtc)
    monkeypatch.setattr(kl, "nvrtc_compile", lambda arch, output: compiled.append((arch, output)) or b"CUBIN")
    return driver, compiled, tmp_path / "cache"


def test_nvrtc_kernel_compiles_once_per_capability_and_caches(fake_nvrtc):
    driver, compiled, cache = fake_nvrtc
    kernel = kl.NvrtcKernel(device=0, cache=cache)
    assert compiled == [("sm_87", "cubin")] and kernel.arch == "sm_87"
    (cached,) = cache.iterdir()
    assert cached.name.startswith("preprocess-sm_87-") and cached.read_bytes() == b"CUBIN"
    kl.NvrtcKernel(device=0, cache=cache)
    assert len(compiled) == 1  # the second load reads the cache
    assert ("cuModuleLoadData", b"CUBIN") in driver.calls
    kernel.close()
    kernel.close()
    assert [c[0] for c in driver.calls].count("cuModuleUnload") == 1
    with pytest.raises(CudaError, match="closed"):
        kernel.launch(abi.make_config(CARD, "gray", 8, 8, 8, 0, 1.0), 1, 0, np.zeros((0, 4), np.float32), 2)


def test_nvrtc_launches_carry_the_boxes_by_value_in_chunks_on_the_given_stream(fake_nvrtc):
    driver, _, cache = fake_nvrtc
    kernel = kl.NvrtcKernel(device=0, cache=cache)
    cfg = abi.make_config(CARD, "bgr", 640, 480, 640 * 3, 0, 1.2)
    boxes = np.stack([np.arange(70), np.arange(70), np.arange(70) + 20, np.arange(70) + 30], 1).astype(np.float32)
    kernel.launch(cfg, 0x1000, 0, boxes, 0x90000, stream=0x5EED)
    first, second = driver.launches
    assert (first["n"], second["n"]) == (64, 6)
    assert first["grid"] == (1, 3, 64) and first["block"] == (32, 8, 1)  # 16 wide, 20 high, one box per z
    assert first["stream"] == second["stream"] == 0x5EED and first["src"] == 0x1000
    assert second["out"] - first["out"] == 64 * 1 * 20 * 16 * 4
    np.testing.assert_array_equal(np.concatenate([first["boxes"], second["boxes"]]), boxes)
    with pytest.raises(abi.KernelStatusError) as info:
        kernel.launch(cfg, 0x1000, 0, np.array([[1, 1, np.nan, 4]], np.float32), 0x90000, stream=1)
    assert info.value.code == 5 and len(driver.launches) == 2  # refused before any launch


def test_old_gpus_get_ptx_and_ancient_ones_a_clear_error(fake_nvrtc):
    driver, compiled, cache = fake_nvrtc
    driver.capability = (12, 0)
    assert kl.NvrtcKernel(device=0, cache=cache).arch == "compute_90" and compiled[-1] == ("compute_90", "ptx")
    driver.capability = (6, 2)
    with pytest.raises(CudaError, match="build the kernel on the device"):
        kl.NvrtcKernel(device=0, cache=cache)


def test_availability_says_why(monkeypatch, tmp_path):
    monkeypatch.setattr(pcuda, "_driver_status", lambda: (False, "no CUDA driver (libcuda missing)"))
    status = pcuda.available()
    assert not status and "no CUDA driver" in status.reason
    monkeypatch.setattr(pcuda, "_driver_status", lambda: (True, "1 CUDA device(s)"))
    monkeypatch.delenv(pcuda.LIBRARY_ENV, raising=False)
    monkeypatch.setattr(pcuda.kernel_sources, "library_dir", lambda: tmp_path)
    monkeypatch.setattr(kl, "nvrtc_status", lambda: (False, "no NVRTC (libnvrtc.so not found)"))
    status = pcuda.available()
    assert not status and "no built library" in status.reason and "no NVRTC" in status.reason
    monkeypatch.setattr(kl, "nvrtc_status", lambda: (True, "NVRTC 13.0"))
    assert pcuda.available().source == "nvrtc"
    (tmp_path / "libfer_edge_preproc.so").write_bytes(b"")
    assert pcuda.available().source == "library"


def test_cuda_choice_raises_with_the_reason_and_auto_falls_back(monkeypatch, caplog):
    monkeypatch.setattr(pcuda, "available", lambda: pcuda.KernelAvailability(False, "", "no CUDA driver (test)"))

    class GpuBackend:
        name, on_gpu = "gpu", True

        def device_input(self, n):
            return object()

    with pytest.raises(CudaError, match="no CUDA driver \\(test\\)"):
        preprocessors.create_preprocessor("cuda", GpuBackend())
    with caplog.at_level(logging.INFO, logger="fer_edge.preprocess.preprocessors"):
        pre = preprocessors.create_preprocessor("auto", GpuBackend())
    assert pre.name == "cpu" and "no CUDA driver (test)" in caplog.text
    host = types.SimpleNamespace(name="onnxruntime", on_gpu=False)
    assert preprocessors.create_preprocessor("auto", host).name == "cpu"  # host backend: never worth it


def test_a_host_build_library_is_refused_as_the_device_kernel(monkeypatch, host_kernel):
    monkeypatch.setattr(pcuda, "available", lambda: pcuda.KernelAvailability(True, "library", "test"))
    monkeypatch.setenv(pcuda.LIBRARY_ENV, str(host_kernel.path))
    with pytest.raises(CudaError, match="host build"):
        pcuda.load_kernel()


def test_predict_cli_preprocess_choice(tiny_onnx_model, tmp_path, capsys, monkeypatch):
    """`fer-edge predict --preprocess`: cpu runs; cuda where the kernel cannot run is a clear error, exit 1."""
    import cv2

    from fer_edge.cli import main

    image = tmp_path / "face.png"
    cv2.imwrite(str(image), np.full((40, 40), 250, np.uint8))
    args = ["predict", str(image), "--model", str(tiny_onnx_model), "--detector", "none", "--threads", "1"]
    assert main(args + ["--preprocess", "cpu"]) == 0
    monkeypatch.setattr(pcuda, "available", lambda: pcuda.KernelAvailability(False, "", "no CUDA driver (test)"))
    assert main(args + ["--preprocess", "cuda"]) == 1
    assert "cannot run here: no CUDA driver (test)" in capsys.readouterr().err
