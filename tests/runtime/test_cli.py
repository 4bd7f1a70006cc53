import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from fer_edge import __version__
from fer_edge.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_predict_folder_writes_json_and_annotations(tiny_onnx_model, tmp_path, capsys):
    images = tmp_path / "imgs"
    images.mkdir()
    cv2.imwrite(str(images / "bright.png"), np.full((40, 40), 250, np.uint8))
    cv2.imwrite(str(images / "dark.png"), np.full((40, 40), 3, np.uint8))
    (images / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    code = main(["predict", str(images), "--model", str(tiny_onnx_model), "--detector", "none", "--json",
                 "--out", str(out), "--threads", "1"])
    assert code == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["faces"][0]["label"] for r in lines] == ["happiness", "surprise"]
    assert (out / "bright_annotated.jpg").is_file() and (out / "dark_annotated.jpg").is_file()
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 2


def test_info_prints_the_card(tiny_onnx_model, capsys):
    assert main(["info", str(tiny_onnx_model)]) == 0
    text = capsys.readouterr().out
    assert "happiness" in text and "precision:  fp32" in text and "tensor input" in text


def test_library_errors_are_one_line_exit_1(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fer_edge.cli", "info", str(tmp_path / "missing.onnx")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("fer-edge info: Model file not found")


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_predict_twice_into_its_own_folder_does_not_annotate_its_output(tiny_onnx_model, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "face.png"), np.full((40, 40), 250, np.uint8))
    for _ in range(2):
        assert main(["predict", str(tmp_path), "--model", str(tiny_onnx_model), "--detector", "none", "--json",
                     "--out", str(tmp_path), "--threads", "1"]) == 0
    records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["image"].rsplit("/", 1)[-1] for r in records] == ["face.png", "face.png"]
    assert sorted(p.name for p in tmp_path.glob("*.jpg")) == ["face_annotated.jpg"]


def test_bench_writes_to_a_scratch_folder_by_default_not_the_committed_reports():
    import argparse
    from pathlib import Path

    from fer_edge.commands import bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = Path(parser.parse_args([]).out)
    assert out.parts[0] == "out"  # not reports/, which holds committed examples
    gitignore = Path(__file__).resolve().parents[2] / ".gitignore"
    if gitignore.is_file():  # a source checkout: the default folder is ignored, never committed
        assert "out/" in gitignore.read_text().splitlines()


def test_predict_says_when_no_face_is_found_and_keeps_going(tiny_onnx_model, tmp_path, capsys):
    """A frame without a face gets a hint on stderr; the next image (with a face) is still classified."""
    skimage = pytest.importorskip("skimage.data")
    images = tmp_path / "imgs"
    images.mkdir()
    cv2.imwrite(str(images / "a_empty.png"), np.full((240, 320, 3), 128, np.uint8))
    cv2.imwrite(str(images / "b_astronaut.png"), cv2.cvtColor(skimage.astronaut(), cv2.COLOR_RGB2BGR))
    code = main(["predict", str(images), "--model", str(tiny_onnx_model), "--json", "--threads", "1",
                 "--min-face", "20"])
    assert code == 0
    captured = capsys.readouterr()
    records = [json.loads(x) for x in captured.out.splitlines()]
    assert [len(r["faces"]) for r in records] == [0, 1]
    hint = [line for line in captured.err.splitlines() if "a_empty.png" in line]
    assert len(hint) == 1 and "no face found by detector yunet" in hint[0]
    assert "--detector yunet_far" in hint[0] and "--min-face (now 20" in hint[0]
    assert "b_astronaut.png" not in captured.err


def test_every_command_is_one_module_in_fer_edge_commands():
    import importlib

    from fer_edge.cli import COMMANDS

    for name, (module_name, text) in COMMANDS.items():
        assert module_name.startswith("fer_edge.commands."), (name, module_name)
        module = importlib.import_module(module_name)
        assert callable(module.add_arguments) and callable(module.run) and text, name
