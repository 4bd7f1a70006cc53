"""Benchmark library: statistics, report schema, Markdown/PNG output, TensorRT fields and --compare."""

import copy
import json
import struct
import sys

import numpy as np
import pytest

from fer_edge import bench
from fer_edge.backends.base import Backend
from fer_edge.card import FERPLUS_LABELS, ModelCard
from fer_edge.errors import InvalidInputError

FAKE_FP = {
    "cpu": {"model": "Fake CPU 9000", "logical_cores": 4, "usable_cores": 4, "arch": "x86_64",
            "simd": ["avx512_vnni", "avx2"]},
    "memory_total_mb": 8000.0,
    "os": {"system": "Linux", "release": "6.0", "distribution": "Test OS"},
    "python": "3.11.0",
    "python_implementation": "CPython",
    "packages": {"numpy": "2.0", "onnxruntime": "1.20", "opencv": "4.10", "torch": None},
    "fer_edge": "0.1.0",
    "gpu": None,
    "gpus": [],
    "cuda_driver": None,
    "cuda_toolkit": None,
    "tensorrt": None,
    "jetson": None,
}


class FakeBackend(Backend):
    """Describes itself like the real backends (details()); bench never probes attributes."""

    name = "onnxruntime"
    providers = ["CPUExecutionProvider"]
    precision = "fp32"
    path = "/models/fake.onnx"
    engine_build_s = None
    device_memory_bytes = None

    def __init__(self):
        self.card = ModelCard(labels=FERPLUS_LABELS, name="fake", arch="fakenet", version="1")
        self.calls = []

    @property
    def kind(self):
        return "onnxruntime-cpu" if self.name == "onnxruntime" else self.name

    @property
    def on_gpu(self):
        return self.name == "tensorrt"

    def details(self):
        out = super().details()
        out.update(providers=self.providers, engine_build_s=self.engine_build_s,
                   device_memory_bytes=self.device_memory_bytes)
        return out

    def infer(self, batch):
        self.calls.append(batch.shape)
        return np.zeros((batch.shape[0], 8), np.float32)


class FakeFace:
    def __init__(self, box):
        self.box = box


class FakeRecognizer:
    """predict() sleeps nothing, reports fixed per-stage timings and finds one face per 'face patch'."""

    def __init__(self):
        self.backend = FakeBackend()
        self.card = self.backend.card
        self.timings = {}
        self.closed = False
        self.n = 0

    def predict(self, frame, boxes=None):
        self.n += 1
        jitter = (self.n % 7) * 0.01
        if boxes is not None:
            faces = [FakeFace(tuple(b)) for b in boxes]
        else:
            big = frame.shape[0] // 2 <= 240 and frame[frame.shape[0] // 2, frame.shape[1] // 2].tolist() != [118] * 3
            faces = [FakeFace((200.0, 120.0, 440.0, 360.0))] if big else [FakeFace((10.0 + i, 10.0, 100.0, 100.0))
                                                                           for i in range(4)]
        self.timings = {"detect": 0.0 if boxes is not None else 2.0 + jitter, "preprocess": 0.2, "infer": 0.1 + jitter,
                        "postprocess": 0.05}
        self.timings["total"] = sum(self.timings.values())
        return faces

    def close(self):
        self.closed = True


def fake_report(**kw):
    config = bench.BenchConfig(runs=kw.pop("runs", 6), warmup=1, batches=(1, 4), cold_start=False, **kw)
    return bench.run_benchmark(config, recognizer=FakeRecognizer(), fingerprint=copy.deepcopy(FAKE_FP),
                               command="fer-edge bench fake.onnx")


def test_summarize_matches_numpy():
    data = [5.0, 1.0, 2.0, 3.0, 4.0, 100.0]
    s = bench.summarize(data)
    assert s["n"] == 6 and s["min"] == 1.0 and s["max"] == 100.0
    assert s["p50"] == pytest.approx(np.percentile(data, 50))
    assert s["p99"] == pytest.approx(np.percentile(data, 99), abs=1e-3)
    assert s["std"] == pytest.approx(np.std(data, ddof=1), abs=1e-3)
    with pytest.raises(InvalidInputError):
        bench.summarize([])


def test_time_calls_warms_up_then_times():
    calls = []
    out = bench.time_calls(lambda: calls.append(1), runs=7, warmup=3)
    assert len(calls) == 10 and len(out) == 7 and all(t >= 0 for t in out)


def test_config_rejects_bad_values():
    with pytest.raises(InvalidInputError):
        bench.BenchConfig(runs=0)
    with pytest.raises(InvalidInputError):
        bench.BenchConfig(batches=(1, 0))
    with pytest.raises(InvalidInputError):
        bench.BenchConfig(frame_size=(32, 32))


def test_benchmark_frames_have_one_and_four_faces():
    frames = bench.benchmark_frames((640, 480))
    assert frames["one"].shape == (480, 640, 3) and frames["one"].dtype == np.uint8
    assert frames["boxes_one"].shape == (1, 4) and frames["boxes_four"].shape == (4, 4)
    for x1, y1, x2, y2 in frames["boxes_four"].astype(int):
        assert frames["four"][y1:y2, x1:x2].std() > 10  # a textured patch, not background


def test_report_from_fake_recognizer_is_valid_and_complete():
    report = fake_report()
    bench.validate_report(report)
    assert report["device"]["slug"] == "fake-cpu-9000"
    assert bench.report_stem(report) == "fake-cpu-9000-onnxruntime-cpu-fp32"
    sc = report["scenarios"]
    assert set(sc) == {"frame_1face", "frame_4faces", "box_1face"}
    assert sc["frame_1face"]["stages"]["detect"]["p50"] == pytest.approx(2.03, abs=0.03)
    assert sc["box_1face"]["stages"]["detect"]["p50"] == 0.0
    assert all(sc[k]["stages"][s]["n"] == 6 for k in sc for s in bench.STAGES)
    assert [c["batch"] for c in report["classifier"]] == [1, 4]
    c4 = report["classifier"][1]
    assert c4["per_face_ms"] == pytest.approx(c4["latency_ms"]["p50"] / 4, abs=1e-4)
    assert report["tensorrt"] == {"engine_build_s": None, "gpu_memory_mb": None, "note": "not a TensorRT backend"}
    assert report["video"]["fps_detect_every_frame"] is None and report["video"]["reason"]
    assert report["model"]["card_sha256"] == FakeBackend().card.sha256()
    assert any("only 6 timed runs" in n for n in report["notes"])
    assert len(report["samples"]["frame_1face"]["total"]) == 6
    json.dumps(report, allow_nan=False)  # strict JSON


def test_bars_apply_only_at_one_thread():
    assert fake_report(threads=1)["bars"]["applies"] is True
    report = fake_report()
    assert report["bars"]["applies"] is False
    assert report["bars"]["frame_1face_total_ms"]["pass"] is True  # fake total is ~2.4 ms
    bar = report["bars"]["classification_per_face_ms"]
    assert bar["best"] <= bar["measured"] and bar["bar"] == 0.5


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.pop("scenarios"), "report.scenarios: missing"),
    (lambda r: r["config"].__setitem__("runs", "100"), "report.config.runs: expected int"),
    (lambda r: r["scenarios"]["frame_1face"]["stages"]["total"].__setitem__("p50", float("nan")), "not a finite"),
    (lambda r: r["classifier"][0].pop("per_face_ms"), "report.classifier[0].per_face_ms: missing"),
    (lambda r: r["device"]["fingerprint"]["cpu"].__setitem__("logical_cores", True), "expected int/NoneType, got bool"),
    (lambda r: r.__setitem__("kind", "other"), "report.kind"),
])
def test_schema_rejects_broken_reports(mutate, message):
    report = fake_report()
    mutate(report)
    with pytest.raises(InvalidInputError, match="not a valid fer-edge bench report") as info:
        bench.validate_report(report)
    assert message in str(info.value)


def _png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_write_report_json_markdown_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    report = fake_report(runs=20)
    paths = bench.write_report(report, tmp_path)
    assert paths["json"].name == "fake-cpu-9000-onnxruntime-cpu-fp32.json"
    assert bench.load_report(paths["json"])["scenarios"] == report["scenarios"]
    md = paths["markdown"].read_text()
    assert "**20 timed runs**" in md and "| std |" in md
    assert "| **frame_1face** | detect | 2.0" in md
    assert "Fake CPU 9000 (4/4 cores usable; avx512_vnni, avx2)" in md
    assert "![fake-cpu-9000-onnxruntime-cpu-fp32-latency]" in md
    assert len(paths["plots"]) == 2
    import matplotlib.image as mpimg

    for png in paths["plots"]:
        w, h = _png_size(png)
        assert w >= 300 and h >= 200 and png.stat().st_size > 5000
        pixels = mpimg.imread(str(png))
        assert np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0] > 10  # drawn, not blank


def test_report_says_which_test_time_augmentation_ran():
    """A card with tta=flip doubles the classifier's rows: the report and its markdown say so."""
    plain = fake_report()
    assert plain["config"]["tta"] == "none"
    flipping = FakeRecognizer()
    flipping.tta = "flip"
    report = bench.run_benchmark(bench.BenchConfig(runs=3, warmup=0, batches=(1,), cold_start=False),
                                 recognizer=flipping, fingerprint=copy.deepcopy(FAKE_FP), command="x")
    assert report["config"]["tta"] == "flip"
    assert "test-time augmentation flip" in bench.render_markdown(report)


def test_text_report_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    paths = bench.write_report(fake_report(), tmp_path / "named.json")
    assert paths["plots"] == [] and paths["json"].name == "named.json"
    assert paths["markdown"].read_text().startswith("# fer-edge bench: fake-cpu-9000")
    assert not list(tmp_path.glob("*.png"))


def test_tensorrt_fields_come_from_backend_details():
    engine = FakeBackend()
    engine.name, engine.engine_build_s, engine.device_memory_bytes = "tensorrt", 93.25, 64 * 2**20
    assert bench.tensorrt_fields(engine, lambda: None) == {"engine_build_s": 93.25, "gpu_memory_mb": 64.0,
                                                            "note": None}
    engine.device_memory_bytes = None
    assert bench.tensorrt_fields(engine, lambda: 321.0) == {"engine_build_s": 93.25, "gpu_memory_mb": 321.0,
                                                             "note": None}
    engine.engine_build_s = None
    got = bench.tensorrt_fields(engine, lambda: None)
    assert got["engine_build_s"] is None and got["gpu_memory_mb"] is None
    assert "build time unknown" in got["note"] and "GPU memory unknown" in got["note"]
    assert bench.tensorrt_fields(FakeBackend(), lambda: 1.0)["note"] == "not a TensorRT backend"


def test_report_with_tensorrt_backend_fills_trt_fields():
    rec = FakeRecognizer()
    rec.backend.name = "tensorrt"
    rec.backend.engine_build_s = 40.0
    rec.backend.precision = "int8"
    fp = copy.deepcopy(FAKE_FP)
    fp["gpu"] = {"name": "NVIDIA H100 80GB HBM3", "driver": "550", "compute_capability": "9.0",
                 "memory_total_mb": 81559.0}
    report = bench.run_benchmark(bench.BenchConfig(runs=3, warmup=0, batches=(2,), cold_start=False),
                                 recognizer=rec, fingerprint=fp, gpu_memory=lambda: 512.0)
    assert report["tensorrt"]["engine_build_s"] == 40.0 and report["tensorrt"]["gpu_memory_mb"] == 512.0
    assert bench.report_stem(report) == "nvidia-h100-80gb-hbm3-tensorrt-int8"
    assert report["bars"]["applies"] is False


def test_compare_reports_ratios():
    a = fake_report()
    b = copy.deepcopy(a)
    b["device"]["slug"] = "jetson-orin-nano"
    for st in b["scenarios"]["frame_1face"]["stages"].values():
        st["p50"] = st["p50"] * 2
    text = bench.compare_reports(a, b)
    assert "A: fake-cpu-9000 / onnxruntime-cpu / fp32" in text and "B: jetson-orin-nano" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("| frame_1face total p50 ms"))
    assert row.endswith("| 2.00x |")
    assert "| frame_4faces total p50 ms" in text and "1.00x" in text
    assert "TensorRT engine build" not in text  # null in both: left out


def test_load_report_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError, match="not JSON"):
        bench.load_report(bad)
    with pytest.raises(InvalidInputError, match="cannot read"):
        bench.load_report(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(InvalidInputError, match="missing"):
        bench.load_report(tmp_path / "other.json")


def test_committed_example_reports_match_the_schema():
    from pathlib import Path

    reports = sorted((Path(__file__).resolve().parents[2] / "reports").glob("*.json"))
    reports = [p for p in reports if not p.name.startswith("pytest-benchmark")]
    if not reports:
        pytest.skip("no example report committed in reports/")
    for path in reports:
        report = bench.load_report(path)
        assert path.stem == bench.report_stem(report)
        assert report["config"]["runs"] >= bench.MIN_RUNS
        assert path.with_suffix(".md").is_file()


def test_one_fps_loop_behind_measure_fps_and_the_report_video_section(monkeypatch):
    """The report's video FPS and ``measure_fps`` time the frame loop with the same code (fer_edge.bench.fps)."""
    import fer_edge.pipeline
    import fer_edge.video
    from fer_edge.bench import fps

    assert fer_edge.pipeline.measure_fps is bench.measure_fps  # old import paths still reach the one copy
    assert fer_edge.video.moving_faces_frames is bench.moving_faces_frames
    calls = []
    monkeypatch.setattr(fps, "_time_stream", lambda rec, clip, detect_every, **kw: calls.append(
        (len(clip), detect_every)) or {"fps": 10.0, "frames": len(clip)})
    out = bench.measure_video(object(), np.zeros((64, 64, 3), np.uint8), frames=12)
    assert calls == [(12, 1), (12, 5)]
    assert out["fps_detect_every_frame"] == out["fps_detect_every_5th"] == 10.0
