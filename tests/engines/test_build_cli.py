"""`fer-edge build` and engine_from_onnx against the fake TensorRT versions (no GPU: the control logic only)."""

import numpy as np
import pytest
from fakes.tiny_models import write_tiny_classifier
from fakes.trt_world import TrtWorld
from fer_edge.engines.build import BuildConfig, engine_from_onnx

from fer_edge.backends.engine_card import EngineCard
from fer_edge.cli import main


@pytest.fixture
def onnx(tmp_path):
    return write_tiny_classifier(tmp_path / "tiny.onnx")


def test_cli_build_writes_engine_and_sidecar(monkeypatch, onnx, tmp_path, capsys):
    monkeypatch.setenv("FER_EDGE_CACHE", str(tmp_path / "cache"))
    world = TrtWorld(monkeypatch, "10.13.0.35")
    out = tmp_path / "m.engine"
    assert main(["build", str(onnx), "--precision", "fp16", "--batch", "1,4,16", "--workspace", "128", "-o",
                 str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    side = EngineCard.load(out)
    assert side.precision == "fp16" and side.workspace_mb == 128
    assert side.profile["input"] == [[1, 1, 48, 48], [4, 1, 48, 48], [16, 1, 48, 48]]
    assert world.calls("config.set_memory_pool_limit") == [("config.set_memory_pool_limit", "WORKSPACE", 128 << 20)]
    assert (tmp_path / "cache" / "timing").is_dir()


def test_cli_build_errors_are_one_line(monkeypatch, onnx, tmp_path, capsys):
    TrtWorld(monkeypatch, "11.4.0.106")
    assert main(["build", str(onnx), "--precision", "int8", "-o", str(tmp_path / "x.engine"),
                 "--timing-cache", "off"]) == 1
    err = capsys.readouterr().err
    assert "strongly typed only" in err and "Traceback" not in err
    assert not (tmp_path / "x.engine").exists()
    with pytest.raises(SystemExit):
        main(["build", str(onnx), "--batch", "a,b"])


def test_engine_from_onnx_calibrates_on_tensorrt_10(monkeypatch, onnx, tmp_path):
    world = TrtWorld(monkeypatch, "10.13.0.35")
    data = np.random.default_rng(0).standard_normal((16, 1, 48, 48)).astype(np.float32)
    result = engine_from_onnx(onnx, BuildConfig(precision="int8", timing_cache=None), tmp_path / "i8.engine",
                              calib=data, cuda=world.cuda)
    assert result.sidecar.extra == {"flags": ["INT8", "FP16"], "calibrated": True}
    assert (tmp_path / "i8.calib.cache").is_file()  # default cache beside the engine
    assert len([c for c in world.calls("get_batch") if c[1] is not None]) == 2


def test_info_on_an_engine_prints_its_build(monkeypatch, onnx, tmp_path, capsys):
    TrtWorld(monkeypatch, "10.13.0.35")
    out = tmp_path / "m.engine"
    assert main(["build", str(onnx), "-o", str(out), "--timing-cache", "off"]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "tensorrt 10.13 fp32" in text and "tensorrt_version: 10.13.0" in text and "Orin" in text
