"""TensorRTBackend and the runtime builder against faithful fakes of TensorRT 8.5 / 10 / 11 and a host-memory GPU.

What is asserted is the control logic: the exact TensorRT calls per version, profile shapes, the sidecar checks,
the typed errors, the order preprocess → H2D → execute → D2H on one stream. The numbers the fake engine computes
(``logits[:, k] = mean(x) * (k + 1)``) let results be checked exactly. Nothing here ran on a GPU.
"""

import json
import sys

import numpy as np
import pytest
from fakes.tiny_models import write_tiny_classifier
from fakes.trt_world import TrtWorld

from fer_edge import Recognizer
from fer_edge.backends import BackendOptions, backend_from_path
from fer_edge.backends.engine_build import BuildConfig, build_engine
from fer_edge.backends.engine_card import EngineCard, _checksum, sidecar_path
from fer_edge.backends.tensorrt import TensorRTBackend
from fer_edge.errors import EngineMismatchError, InvalidInputError, MissingDependencyError, ModelFormatError

V85, V10, V11 = "8.5.2.2", "10.13.0.35", "11.4.0.106"


def expected_logits(batch):
    means = batch.reshape(batch.shape[0], -1).astype(np.float64).mean(axis=1)
    return (means[:, None] * np.arange(1, 9)[None, :]).astype(np.float32)


@pytest.fixture
def onnx32(tmp_path):
    return write_tiny_classifier(tmp_path / "tiny.onnx")


@pytest.fixture
def onnx_qdq(tmp_path):
    return write_tiny_classifier(tmp_path / "tiny_qdq.onnx", qdq=True)


def build(world, onnx, tmp_path, name="m.engine", **kw):
    out = tmp_path / name
    build_engine(onnx, out, BuildConfig(**kw), trt=world.trt, cuda=world.cuda, cache_dir=tmp_path / "cache")
    return out


# ------------------------------------------------------------------------------------------- build per version
def test_trt11_builds_strongly_typed_with_no_precision_flags(trt_world, onnx_qdq, tmp_path):
    trt_world.use(V11)
    out = build(trt_world, onnx_qdq, tmp_path)
    strongly = 1 << int(trt_world.trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert trt_world.calls("create_network") == [("create_network", strongly)] and strongly == 1
    assert trt_world.calls("config.set_flag") == []  # no BuilderFlag.INT8 (it does not exist on 11)
    assert trt_world.calls("profile.set_shape") == [
        ("profile.set_shape", "input", (1, 1, 48, 48), (8, 1, 48, 48), (32, 1, 48, 48))]
    assert trt_world.calls("config.set_memory_pool_limit") == [("config.set_memory_pool_limit", "WORKSPACE", 256 << 20)]
    side = EngineCard.load(out)
    assert (side.precision, side.build_mode, side.tensorrt_version) == ("int8", "strongly_typed", "11.4.0")
    assert side.profile == {"input": [[1, 1, 48, 48], [8, 1, 48, 48], [32, 1, 48, 48]]}
    assert side.gpu_name == "Orin" and side.compute_capability == "8.7" and side.build_seconds >= 0
    assert side.peak_memory_mb > 0 and len(side.onnx_sha256) == 64


def test_trt11_refuses_precision_the_onnx_does_not_carry(trt_world, onnx32, tmp_path):
    trt_world.use(V11)
    with pytest.raises(InvalidInputError, match="strongly typed only.*fer-edge quantize"):
        build(trt_world, onnx32, tmp_path, precision="int8")
    assert trt_world.calls("build_serialized_network") == []


def test_trt10_qdq_graph_is_strongly_typed(trt_world, onnx_qdq, tmp_path):
    trt_world.use(V10)
    build(trt_world, onnx_qdq, tmp_path)
    assert trt_world.calls("create_network") == [("create_network", 1 << 1)]  # STRONGLY_TYPED is 1 on 10.x
    assert trt_world.calls("config.set_flag") == []


def test_trt10_fp32_onnx_int8_takes_the_legacy_flags_and_a_calibrator(trt_world, onnx32, tmp_path):
    from fakes.fake_cuda import FakeCudaApi
    from fer_edge.calibration.legacy import legacy_calibrator

    trt_world.use(V10)
    calib = legacy_calibrator(np.random.default_rng(0).standard_normal((16, 1, 48, 48)).astype(np.float32),
                              tmp_path / "c.cache", batch_size=8, trt=trt_world.trt, cuda=FakeCudaApi())
    out = tmp_path / "m.engine"
    build_engine(onnx32, out, BuildConfig(precision="int8"), trt=trt_world.trt, cuda=trt_world.cuda,
                 calibrator=calib, cache_dir=tmp_path)
    assert trt_world.calls("create_network") == [("create_network", 0)]  # weakly typed
    assert [c[1] for c in trt_world.calls("config.set_flag")] == ["INT8", "FP16"]
    assert len([c for c in trt_world.calls("get_batch") if c[1] is not None]) == 2
    assert (tmp_path / "c.cache").read_text().startswith("TRT-101300-EntropyCalibration2")
    assert EngineCard.load(out).build_mode == "flags"


def test_trt85_explicit_batch_flags_and_entropy_calibrator_with_cache(trt_world, onnx32, tmp_path):
    from fer_edge.calibration.cache import CalibrationCache
    from fer_edge.calibration.legacy import legacy_calibrator

    trt_world.use(V85)
    cache = tmp_path / "c.cache"
    CalibrationCache.from_amax({"input": 1.0}, (8, 5, 2)).save(cache)
    calib = legacy_calibrator(None, cache, trt=trt_world.trt)
    assert isinstance(calib, trt_world.trt.IInt8EntropyCalibrator2)
    out = tmp_path / "m.engine"
    build_engine(onnx32, out, BuildConfig(precision="int8", batches=(1, 4, 8)), trt=trt_world.trt,
                 cuda=trt_world.cuda, calibrator=calib, cache_dir=tmp_path)
    assert trt_world.calls("create_network") == [("create_network", 1 << 0)]  # EXPLICIT_BATCH
    assert [c[1] for c in trt_world.calls("config.set_flag")] == ["INT8", "FP16"]
    assert trt_world.calls("calibration_cache_used") and not trt_world.calls("get_batch")
    assert trt_world.calls("config.set_calibration_profile")
    assert EngineCard.load(out).profile["input"][2] == [8, 1, 48, 48]


def test_trt85_fp16_and_qdq(trt_world, onnx32, onnx_qdq, tmp_path):
    trt_world.use(V85)
    build(trt_world, onnx32, tmp_path, precision="fp16")
    assert [c[1] for c in trt_world.calls("config.set_flag")] == ["FP16"]
    trt_world.trt.calls.clear()
    build(trt_world, onnx_qdq, tmp_path, name="q.engine")
    assert [c[1] for c in trt_world.calls("config.set_flag")] == ["INT8", "FP16"]  # 8.x reads Q/DQ with INT8 set


def test_int8_without_calibration_data_is_a_typed_error(trt_world, onnx32, tmp_path):
    trt_world.use(V10)
    with pytest.raises(InvalidInputError, match="--calib"):
        build(trt_world, onnx32, tmp_path, precision="int8")


@pytest.mark.parametrize("version, kw, cc", [(V10, {"fast_int8": False}, (6, 2)), (V11, {}, (5, 3))])
def test_int8_on_a_board_without_int8_is_refused(monkeypatch, onnx_qdq, tmp_path, version, kw, cc):

    world = TrtWorld(monkeypatch, version, gpu="Jetson TX2" if cc == (6, 2) else "Jetson Nano", cc=cc, **kw)
    with pytest.raises(InvalidInputError, match="no INT8.*--precision fp16"):
        build(world, onnx_qdq, tmp_path)


def test_dla_version_compatible_and_timing_cache(monkeypatch, onnx32, tmp_path):

    world = TrtWorld(monkeypatch, V10, num_dla_cores=2)
    out = build(world, onnx32, tmp_path, precision="fp16", dla_core=1, version_compatible=True)
    flags = [c[1] for c in world.calls("config.set_flag")]
    assert flags == ["FP16", "VERSION_COMPATIBLE", "GPU_FALLBACK"]
    side = EngineCard.load(out)
    assert side.dla_core == 1 and side.version_compatible
    assert "--dla 1" in side.rebuild_command(out)
    timing = list((tmp_path / "cache" / "timing").iterdir())
    assert [p.name for p in timing] == ["trt-10.13.0-orin-sm87.cache"]
    build(world, onnx32, tmp_path, name="again.engine", precision="fp16")
    assert world.calls("config.create_timing_cache")[-1][1] == b"TIMING"  # the saved cache was read back
    with pytest.raises(InvalidInputError, match="DLA core 2"):
        build(world, onnx32, tmp_path, name="x.engine", precision="fp16", dla_core=2)
    with pytest.raises(InvalidInputError, match="FP16 or INT8"):
        build(world, onnx32, tmp_path, name="y.engine", dla_core=0)
    world.use(V85)
    with pytest.raises(InvalidInputError, match="version-compatible"):
        build(world, onnx32, tmp_path, name="z.engine", version_compatible=True)


# ------------------------------------------------------------------------------------------------ running
@pytest.mark.parametrize("version", [V85, V10, V11])
def test_recognizer_on_an_engine_predicts_through_one_stream(trt_world, onnx32, onnx_qdq, tmp_path, monkeypatch,
                                                            version):
    trt_world.use(version)
    out = build(trt_world, onnx_qdq if version == V11 else onnx32, tmp_path)
    from fer_edge.preprocess import preprocessors as preprocessors_module

    real_preprocess = preprocessors_module.preprocess

    def logged_preprocess(*a, **k):
        trt_world.cuda.calls.append(("preprocess",))
        return real_preprocess(*a, **k)

    monkeypatch.setattr(preprocessors_module, "preprocess", logged_preprocess)
    with Recognizer(out, detector=None, preprocess="cpu") as rec:  # the CPU path's host copies (kernel: tests/cpp_ext)
        assert isinstance(rec.backend, TensorRTBackend) and rec.backend.on_gpu
        crops = [np.full((50, 40, 3), v, np.uint8) for v in (30, 200, 120)]
        trt_world.cuda.calls.clear()
        faces = rec.predict(crops[1])
        seq = [c[0] for c in trt_world.cuda.calls]
        assert seq == ["preprocess", "htod", "execute", "dtoh", "sync"]
        assert [c for c in trt_world.cuda.calls if c[0] == "execute"] == [("execute", rec.backend.stream)]
        assert faces[0].label == rec.card.labels[7]  # bright crop: the largest class index wins
        batch = np.concatenate([real_preprocess(c, None, rec.card) for c in crops])
        np.testing.assert_allclose(rec.backend.infer(batch), expected_logits(batch), rtol=1e-5, atol=1e-6)
        named = trt_world.calls("context.set_tensor_address")
        assert {c[1] for c in named} == {"input", "logits"}  # named tensors on every supported version
        shapes = trt_world.calls("context.set_input_shape")
        assert shapes[-1] == ("context.set_input_shape", "input", (3, 1, 48, 48))
        d = rec.backend.details()
        assert d["backend"] == "tensorrt" and d["on_gpu"] and d["engine_build_s"] is not None
        assert rec.backend.label.startswith(f"tensorrt {version.split('.')[0]}.")


def test_bindings_api_when_named_tensors_are_missing(monkeypatch, onnx32, tmp_path):
    """TensorRT < 8.5 (JetPack 4.6's 8.2) has only binding indices and execute_async_v2."""

    world = TrtWorld(monkeypatch, V85)
    out = build(world, onnx32, tmp_path)
    del world.trt.IExecutionContext.execute_async_v3
    with TensorRTBackend(out, trt=world.trt, cuda=world.cuda) as be:
        x = np.random.default_rng(1).random((2, 1, 48, 48), np.float32)
        np.testing.assert_allclose(be.infer(x), expected_logits(x), rtol=1e-5)
    assert world.calls("context.execute_async_v2") and not world.calls("context.set_tensor_address")


def test_static_batch_engine_pads_and_chunks(trt_world, tmp_path):
    onnx = write_tiny_classifier(tmp_path / "s4.onnx", batch=4)
    out = build(trt_world, onnx, tmp_path)
    assert EngineCard.load(out).profile["input"] == [[4, 1, 48, 48]] * 3
    with TensorRTBackend(out) as be:
        assert be.static_batch == 4
        for n in (1, 4, 5):
            x = np.random.default_rng(n).random((n, 1, 48, 48), np.float32)
            np.testing.assert_allclose(be.infer(x), expected_logits(x), rtol=1e-5, atol=1e-6)
        assert {c[2] for c in trt_world.calls("execute")} == {4}


def test_device_path_clone_and_cuda_graphs(trt_world, onnx32, tmp_path):
    out = build(trt_world, onnx32, tmp_path)
    cuda = trt_world.cuda
    with TensorRTBackend(out, options=BackendOptions(cuda_graphs=True)) as be:
        view = be.device_input(2)
        assert view.shape == (2, 1, 48, 48) and view.dtype == np.float32
        x = np.random.default_rng(3).random((2, 1, 48, 48), np.float32)
        cuda.memory[view.ptr][: x.nbytes] = np.frombuffer(x.tobytes(), np.uint8)  # what the kernel would write
        np.testing.assert_allclose(be.infer_device(2), expected_logits(x), rtol=1e-5)
        np.testing.assert_allclose(be.infer_device(2), expected_logits(x), rtol=1e-5)  # graph replay
        assert [c[0] for c in cuda.calls].count("graph_launch") == 1
        with pytest.raises(InvalidInputError, match="exceeds"):
            be.device_input(64)
        twin = be.clone()
        try:
            assert twin.stream is not None and twin._d_in.ptr != be._d_in.ptr
            assert twin._shared.engine is be._shared.engine  # one engine, two execution contexts
            y = np.random.default_rng(4).random((3, 1, 48, 48), np.float32)
            np.testing.assert_allclose(twin.infer(y), be.infer(y), rtol=1e-6)
        finally:
            twin.close()
        assert be.infer(x).shape == (2, 8)  # closing the clone leaves the original working
    assert not cuda.memory  # every device buffer freed


def test_fp16_io_engine_casts_on_the_host(monkeypatch, tmp_path):

    from fer_edge.card import FERPLUS_LABELS, ModelCard

    card = ModelCard(labels=FERPLUS_LABELS, precision="fp16")
    onnx = write_tiny_classifier(tmp_path / "h.onnx", card=card)
    world = TrtWorld(monkeypatch, V10)
    out = build(world, onnx, tmp_path)
    assert world.calls("create_network") == [("create_network", 1 << 1)]  # FP16 ONNX: strongly typed on 10
    with TensorRTBackend(out) as be:
        assert be.precision == "fp16"
        x = np.random.default_rng(5).random((2, 1, 48, 48), np.float32)
        np.testing.assert_allclose(be.infer(x), expected_logits(x), rtol=1e-5)


# ------------------------------------------------------------------------------------------------ bad input
def test_tensorrt_missing_names_pip_extra_and_jetpack_package(monkeypatch, onnx32, tmp_path):

    world = TrtWorld(monkeypatch, V10)
    out = build(world, onnx32, tmp_path)
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(MissingDependencyError) as err:
        backend_from_path(out)
    assert "pip install 'fer-edge[trt]'" in str(err.value) and "python3-libnvinfer" in str(err.value)


def test_broken_engine_files_are_typed_errors(trt_world, onnx32, tmp_path):
    out = build(trt_world, onnx32, tmp_path)
    good = out.read_bytes()
    side = sidecar_path(out)
    good_side = side.read_text()

    out.write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelFormatError, match="truncated.*fer-edge build"):
        TensorRTBackend(out)
    out.write_bytes(b"")
    with pytest.raises(ModelFormatError, match="0 bytes"):
        TensorRTBackend(out)
    out.write_bytes(bytes(b ^ 0xFF for b in good))  # same size, corrupt
    with pytest.raises(ModelFormatError, match="sha256"):
        TensorRTBackend(out)
    out.write_bytes(good)
    side.unlink()
    with pytest.raises(ModelFormatError, match="no sidecar"):
        TensorRTBackend(out)
    side.write_text("{not json")
    with pytest.raises(ModelFormatError, match="not readable JSON"):
        TensorRTBackend(out)
    tampered = json.loads(good_side)
    tampered["precision"] = "int8"  # a plausible hand edit
    side.write_text(json.dumps(tampered))
    with pytest.raises(ModelFormatError, match="edited after the build"):
        TensorRTBackend(out)
    tampered = json.loads(good_side)
    tampered["engine_sha256"] = "0" * 64
    side.write_text(json.dumps(tampered))
    with pytest.raises(ModelFormatError, match="edited after the build"):
        TensorRTBackend(out)
    tampered = json.loads(good_side)
    tampered["profile"] = {"input": [[1, 1, 48, 48]]}
    tampered["checksum"] = _checksum(tampered)  # edited consistently but malformed
    side.write_text(json.dumps(tampered))
    with pytest.raises(ModelFormatError, match="damaged or was edited"):
        TensorRTBackend(out)
    side.write_text(good_side)
    folder = tmp_path / "dir.engine"
    folder.mkdir()
    with pytest.raises(ModelFormatError, match="directory"):
        TensorRTBackend(folder)
    with TensorRTBackend(out) as be:  # the restored pair loads
        assert be.card.labels


def test_deserialize_returning_none_is_a_typed_error(trt_world, onnx32, tmp_path):
    import hashlib

    out = build(trt_world, onnx32, tmp_path)
    junk = b"NOTAPLAN" * 10
    out.write_bytes(junk)
    data = json.loads(sidecar_path(out).read_text())
    data.update(engine_sha256=hashlib.sha256(junk).hexdigest(), engine_bytes=len(junk))
    data["checksum"] = _checksum(data)
    sidecar_path(out).write_text(json.dumps(data))  # a consistent pair TensorRT still rejects
    with pytest.raises(ModelFormatError, match="could not deserialise.*corrupt or truncated plan"):
        TensorRTBackend(out)


def test_engine_from_another_tensorrt_or_gpu_names_the_rebuild_command(trt_world, onnx32, tmp_path):
    out = build(trt_world, onnx32, tmp_path, batches=(1, 4, 16))
    trt_world.use("10.3.0")
    with pytest.raises(EngineMismatchError) as err:
        TensorRTBackend(out)
    msg = str(err.value)
    assert "TensorRT 10.13.0" in msg and "10.3.0" in msg
    assert f"fer-edge build {onnx32.resolve()} --precision fp32 --batch 1,4,16 -o {out}" in msg
    assert not trt_world.calls("deserialize_cuda_engine")  # refused before TensorRT sees it
    trt_world.use(V10, gpu="NVIDIA GeForce RTX 4090", cc=(8, 9))
    with pytest.raises(EngineMismatchError, match="compute 8.7.*RTX 4090.*fer-edge build"):
        TensorRTBackend(out)
    trt_world.use(V10, gpu="Orin NX", cc=(8, 7))
    with pytest.raises(EngineMismatchError, match="built on Orin but this GPU is Orin NX"):
        TensorRTBackend(out)


def test_version_compatible_engine_loads_in_the_next_major(trt_world, onnx32, tmp_path):
    out = build(trt_world, onnx32, tmp_path, version_compatible=True)
    trt_world.use("10.16.1")
    # the fake runtime itself refuses another version's plan, like a real non-lean runtime would for a plain plan;
    # what is checked here is that fer_edge's sidecar check lets a VC engine through to TensorRT
    with pytest.raises(ModelFormatError, match="Version tag"):
        TensorRTBackend(out)
    trt_world.use("8.6.1")
    with pytest.raises(EngineMismatchError):
        TensorRTBackend(out)


def test_installed_but_broken_tensorrt_is_not_called_missing(monkeypatch):
    """An ImportError from inside tensorrt (libnvinfer/CUDA mismatch) is not 'pip install the extra'."""
    import importlib.abc

    from fer_edge.backends.trt_differences import import_tensorrt
    from fer_edge.errors import FerEdgeError

    class Broken(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            import importlib.util

            return importlib.util.spec_from_loader(name, self) if name == "tensorrt" else None

        def create_module(self, spec):
            return None

        def exec_module(self, module):
            raise ImportError("libnvinfer.so.10: cannot open shared object file")

    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Broken()] + sys.meta_path)
    with pytest.raises(FerEdgeError, match="installed but cannot be imported.*libnvinfer") as err:
        import_tensorrt()
    assert not isinstance(err.value, MissingDependencyError)


def test_build_progress_is_reported_where_tensorrt_has_a_progress_monitor(monkeypatch, onnx32, tmp_path, caplog):
    import fer_edge.backends.engine_build as eb

    made = []
    real = eb.progress_monitor
    monkeypatch.setattr(eb, "progress_monitor", lambda trt: made.append(real(trt)) or made[-1])
    world = TrtWorld(monkeypatch, V10)
    with caplog.at_level("INFO", logger="fer_edge.backends.engine_build"):
        build(world, onnx32, tmp_path)
    assert made and made[0].phases == ["Building engine", "Tactic selection"] and not made[0].bars
    assert "TensorRT build: Building engine (2 steps)" in caplog.text
    assert "first build can take minutes" in caplog.text
    world.use(V85)  # 8.x has no IProgressMonitor: the build only logs
    build(world, onnx32, tmp_path, name="old.engine")
    assert len(made) == 1 and not hasattr(world.trt, "IProgressMonitor")
