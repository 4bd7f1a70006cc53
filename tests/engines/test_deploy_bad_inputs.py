"""Bad inputs to export/simplify/quantize give errors that name the fix, and leave nothing at the output path."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from fakes.tiny_fer import LABELS, SIZE, make_card
from fakes.tiny_models import card_of  # noqa: E402

from fer_edge.errors import InvalidInputError, ModelFormatError


def _no_tmp_left(folder):
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_onnx_without_a_card(tmp_path, tiny_onnx_model):
    import onnx
    from fer_edge.engines.quantize import qdq_from_onnx
    from fer_edge.engines.simplify import simplified_onnx

    model = onnx.load(str(tiny_onnx_model))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    with pytest.raises(ModelFormatError, match="no fer_edge model card.*fer-edge export"):
        simplified_onnx(bare, tmp_path / "out.onnx")
    with pytest.raises(ModelFormatError, match="no fer_edge model card"):
        qdq_from_onnx(bare, np.zeros((4, 1, 48, 48), np.float32), tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_not_an_onnx_file(tmp_path):
    from fer_edge.engines.simplify import simplified_onnx

    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01garbage")
    with pytest.raises(ModelFormatError, match="not a readable ONNX"):
        simplified_onnx(junk)
    with pytest.raises(ModelFormatError, match="not found"):
        simplified_onnx(tmp_path / "missing.onnx")


@pytest.mark.torch
def test_checkpoint_of_unknown_architecture(tmp_path):
    import torch
    from fer_edge.engines.export import onnx_from_checkpoint
    from fer_edge.trainers.checkpoint import save_checkpoint

    ckpt = save_checkpoint(tmp_path / "alien.pt", dict(arch="alienet_9000", num_classes=4, in_chans=1,
                                                        model_kwargs={}, state_dict={"w": torch.zeros(1)},
                                                        card=make_card().to_dict()))
    with pytest.raises(ModelFormatError, match="alienet_9000") as err:
        onnx_from_checkpoint(ckpt, tmp_path / "alien.onnx")
    assert "edgenet_tiny" in str(err.value)  # the message lists the known architectures
    assert not (tmp_path / "alien.onnx").exists() and _no_tmp_left(tmp_path)
    with pytest.raises(ModelFormatError, match="not found"):
        onnx_from_checkpoint(tmp_path / "nope.pt", tmp_path / "x.onnx")


@pytest.mark.torch
def test_failed_quantization_leaves_nothing_behind(pipeline, tmp_path):
    from fer_edge.engines.quantize import QuantConfig, qdq_from_onnx

    out = tmp_path / "q.onnx"
    with pytest.raises(ModelFormatError, match="agrees with FP32 on only"):
        qdq_from_onnx(pipeline["simplify"].path, pipeline["calib"], out, QuantConfig(min_agreement=1.01))
    assert not out.exists() and _no_tmp_left(tmp_path)
    # an existing file at the output path survives a failed run untouched
    out.write_bytes(b"previous")
    with pytest.raises(ModelFormatError):
        qdq_from_onnx(pipeline["simplify"].path, pipeline["calib"], out, QuantConfig(min_agreement=1.01))
    assert out.read_bytes() == b"previous"


@pytest.mark.torch
def test_quantize_argument_errors(pipeline, tmp_path):
    from fer_edge.engines.quantize import QuantConfig, qdq_from_onnx

    src = pipeline["simplify"].path
    with pytest.raises(InvalidInputError, match=r"shaped \(N, 1, 32, 32\)"):
        qdq_from_onnx(src, np.zeros((4, 3, 32, 32), np.float32), tmp_path / "a.onnx")
    with pytest.raises(InvalidInputError, match="empty"):
        qdq_from_onnx(src, np.zeros((0, 1, SIZE, SIZE), np.float32), tmp_path / "a.onnx")
    with pytest.raises(InvalidInputError, match="already int8"):
        qdq_from_onnx(pipeline["int8"].path, pipeline["calib"], tmp_path / "a.onnx")
    with pytest.raises(InvalidInputError, match="is the input"):
        qdq_from_onnx(src, pipeline["calib"], src)
    with pytest.raises(InvalidInputError, match="method"):
        QuantConfig(method="kl")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="no images"):
        qdq_from_onnx(src, empty, tmp_path / "a.onnx")
    from fer_edge.engines.quantize import modelopt_available

    if not modelopt_available():
        from fer_edge.errors import MissingDependencyError

        with pytest.raises(MissingDependencyError, match="modelopt"):
            qdq_from_onnx(src, pipeline["calib"], tmp_path / "m.onnx", QuantConfig(tool="modelopt"))


def test_precision_the_target_cannot_do():
    from fer_edge.engines.targets import check_precision_for_target

    with pytest.raises(InvalidInputError, match="jetson-nano cannot run int8.*--precision fp16"):
        check_precision_for_target("int8", "jetson-nano")
    with pytest.raises(InvalidInputError, match="calibration|Q/DQ"):
        check_precision_for_target("int8", "tensorrt11", recipe="cache")
    with pytest.raises(InvalidInputError, match="unknown target"):
        check_precision_for_target("fp16", "tpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_precision_for_target("fp16", "onnxruntime")
    assert caught and "not faster" in str(caught[0].message)
    assert check_precision_for_target("int8", "tensorrt10", recipe="cache").name == "tensorrt10"


@pytest.mark.torch
def test_cli_errors_are_one_line_and_exit_1(pipeline, tmp_path, capsys):
    from fer_edge.cli import main

    src = str(pipeline["simplify"].path)
    assert main(["quantize", src, "--precision", "int8", "--target", "jetson-nano", "--calib", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "cannot run int8" in err and "Traceback" not in err
    assert main(["quantize", src, "--precision", "int8"]) == 1
    assert "--calib" in capsys.readouterr().err
    empty = tmp_path / "calib"
    empty.mkdir()
    assert main(["quantize", src, "--calib", str(empty), "-o", str(tmp_path / "x.onnx")]) == 1
    assert "no images" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.torch
def test_cli_export_and_quantize_end_to_end(trained_checkpoint, tmp_path):
    import cv2
    from fakes.tiny_fer import synthetic_crops

    from fer_edge.cli import main

    out = tmp_path / "m.onnx"
    assert main(["export", str(trained_checkpoint), "-o", str(out)]) == 0
    assert card_of(out).provenance["history"][-1]["step"] == "simplify"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "side files left by export"
    imgs, labels = synthetic_crops(32, seed=9)
    for i, (im, lab) in enumerate(zip(imgs, labels)):
        (tmp_path / "calib" / LABELS[lab]).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / "calib" / LABELS[lab] / f"{i}.png"), im)
    assert main(["quantize", str(out), "--calib", str(tmp_path / "calib"), "--size", "16",
                 "--trt-cache", str(tmp_path / "m.cache"), "--report", str(tmp_path / "calib")]) == 0
    int8 = tmp_path / "m.int8.onnx"
    assert card_of(int8).precision == "int8"
    assert (tmp_path / "m.cache").read_text().startswith("TRT-8502-EntropyCalibration2\ninput: ")
    assert (tmp_path / "m.int8.report.json").is_file() and (tmp_path / "m.int8.report.md").is_file()
    assert main(["quantize", str(out), "--precision", "fp16"]) == 0
    assert card_of(tmp_path / "m.fp16.onnx").precision == "fp16"


@pytest.mark.torch
@pytest.mark.parametrize("extra, message", [
    (["--trt-version", "8.5.x"], "--trt-version must look like"),
    (["--trt-version", "11.4.0"], "no calibration caches"),
    (["--target", "tensorrt11"], "cannot use an INT8 cache"),
    (["--precision", "fp16"], "--precision int8"),
])
def test_cli_trt_cache_arguments_fail_before_any_work(pipeline, tmp_path, capsys, extra, message):
    from fer_edge.cli import main

    src = str(pipeline["simplify"].path)
    out = tmp_path / "q.onnx"
    # --calib names a folder that does not exist: the argument check must come before reading it.
    args = ["quantize", src, "--calib", str(tmp_path / "missing"), "-o", str(out),
            "--trt-cache", str(tmp_path / "c.cache")] + extra
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "c.cache").exists()


def test_non_finite_calibration_inputs_are_refused():
    from fer_edge.calibration.dataset import CalibrationSet
    from fer_edge.engines.quantize import calibration_inputs

    card = make_card()
    arr = np.zeros((4,) + card.input_shape, np.float32)
    arr[2, 0, 0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="1 sample"):
        calibration_inputs(arr, card)
    arr[2, 0, 0, 0] = np.inf
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        calibration_inputs(CalibrationSet(arr, None, "set"), card)
