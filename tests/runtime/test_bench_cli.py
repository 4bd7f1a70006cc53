"""`fer-edge bench` end to end on the tiny ONNX classifier and the bundled BlazeFace detector."""

import json

import pytest

from fer_edge import bench, cli


@pytest.fixture(scope="module")
def cli_report(tiny_onnx_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    code = cli.main(["bench", str(tiny_onnx_model), "--threads", "1", "--runs", "8", "--warmup", "2",
                     "--batch", "1,3", "--no-plots", "--profile", "--out", str(out)])
    return code, out


def test_cli_bench_writes_valid_json_and_markdown(cli_report, capsys):
    code, out = cli_report
    assert code == 0
    (json_path,) = out.glob("*.json")
    report = bench.load_report(json_path)
    assert json_path.stem == bench.report_stem(report)
    assert json_path.stem.endswith("-onnxruntime-cpu-fp32")
    assert report["config"]["threads"] == 1 and report["config"]["runs"] == 8
    assert [c["batch"] for c in report["classifier"]] == [1, 3]
    assert report["model"]["name"] == "tiny-test" and report["model"]["file"] == "tiny.onnx"
    # the astronaut frames give exactly 1 and 4 detections (no "detector found" note)
    assert not [n for n in report["notes"] if n.startswith("detector found")]
    assert report["scenarios"]["frame_1face"]["stages"]["detect"]["p50"] > 0
    assert report["cold_start"]["faces"] == 1 and report["cold_start"]["peak_rss_mb"] > 10
    assert report["cold_start"]["import_s"] > 0 and report["cold_start"]["error"] is None
    fp = report["device"]["fingerprint"]
    assert fp["cpu"]["model"] and fp["packages"]["onnxruntime"] and fp["python"]
    nodes = report["profile"]["classifier_nodes"]
    assert nodes["op_types"]["Gemm"] >= 0 and {n["op"] for n in nodes["nodes"]} >= {"Gemm", "GlobalAveragePool"}
    # the default detector (yunet.py: decode_yunet, _select...) or BlazeFace (detect) shows in the profile
    assert any(k in row["function"] for row in report["profile"]["predict_functions"] for k in ("yunet", "detect"))
    md = (out / f"{json_path.stem}.md").read_text()
    assert "**8 timed runs**" in md and "frame_1face" in md and "Classifier node profile" in md


def test_cli_compare(cli_report, tmp_path, capsys):
    _, out = cli_report
    (a,) = out.glob("*.json")
    report = json.loads(a.read_text())
    report["config"]["threads"] = None
    b = tmp_path / "b.json"
    b.write_text(json.dumps(report))
    capsys.readouterr()
    assert cli.main(["bench", "--compare", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert "threads 1" in text and "threads default" in text and "| classifier b3 faces/s |" in text
    assert "1.00x" in text


def test_cli_compare_bad_file_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "x.json"
    bad.write_text("[]")
    assert cli.main(["bench", "--compare", str(bad), str(bad)]) == 1
    err = capsys.readouterr().err
    assert "not a valid fer-edge bench report" in err and "Traceback" not in err


def test_cli_bench_missing_model_is_one_line_error(tmp_path, capsys):
    assert cli.main(["bench", str(tmp_path / "nope.onnx"), "--runs", "1", "--no-cold-start"]) == 1
    assert "not found" in capsys.readouterr().err


def test_benchmark_suites_collect_only_when_named():
    """benchmarks/ imports cleanly and is collected when named; the default test run never includes it."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    named = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "benchmarks"], cwd=root,
                           capture_output=True, text=True, timeout=120)
    assert named.returncode == 0, named.stdout[-2000:] + named.stderr[-2000:]
    ids = [ln for ln in named.stdout.splitlines() if "::" in ln]
    assert any("test_perf_classify.py::test_classify" in i for i in ids)
    assert any("test_perf_predict.py::test_predict_frame" in i for i in ids)
    text = (root / "pyproject.toml").read_text()
    assert 'testpaths = ["tests"]' in text  # a bare `pytest` collects tests/ only
