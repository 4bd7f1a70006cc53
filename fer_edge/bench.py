"""Per-device benchmark report: per-stage latency percentiles, classifier throughput vs batch, cold start, memory.

One report (JSON + Markdown, PNG plots with matplotlib) per device, backend and precision, with the device
fingerprint inside, so reports from a Jetson, a desktop GPU and a laptop can be put side by side (``compare_reports``).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .detect.registry import DEFAULT_DETECTOR
from .errors import InvalidInputError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
REPORT_KIND = "fer_edge.bench"
STAGES = ("detect", "preprocess", "infer", "postprocess", "total")
MIN_RUNS = 50
#: Performance bars of the design (1 CPU thread): classifier per face, and a 640x480 frame with one face.
BARS_MS = {"classification_per_face": 0.5, "frame_1face_total": 5.0}

# Face region of skimage's astronaut image (rows, cols): head with some hair and neck, square.
_ASTRONAUT_HEAD = (slice(10, 250), slice(105, 345))


@dataclass(frozen=True)
class BenchConfig:
    """What to benchmark and how.

    Attributes:
        model: classifier path (``.onnx``/``.engine``); None = the bundled default model.
        backend: "auto", "onnxruntime" or "tensorrt".
        threads: CPU threads for detector and classifier; None = library default (all cores).
        providers: ONNX Runtime execution providers; None = by availability.
        detector: detector name given to the Recognizer.
        batches: classifier batch sizes for the throughput sweep.
        runs: timed runs per measurement (≥ 50 for a report; fewer only for tests).
        warmup: untimed runs before each measurement.
        frame_size: (width, height) of the synthetic camera frame.
        image: a BGR image file to use as the one-face frame instead of the bundled-test astronaut.
        cold_start: measure import + load + first predict in a fresh interpreter.
        video: measure video pipeline FPS (detection every frame and every 5th frame).
        video_frames: frames per video measurement.
        profile: record the top functions by own time (cProfile) of the one-face frame loop.
    """

    model: Optional[str] = None
    backend: str = "auto"
    threads: Optional[int] = None
    providers: Optional[Tuple[str, ...]] = None
    detector: str = DEFAULT_DETECTOR
    batches: Tuple[int, ...] = (1, 4, 16)
    runs: int = 100
    warmup: int = 10
    frame_size: Tuple[int, int] = (640, 480)
    image: Optional[str] = None
    cold_start: bool = True
    video: bool = False
    video_frames: int = 100
    profile: bool = False

    def __post_init__(self) -> None:
        if int(self.runs) < 1:
            raise InvalidInputError(f"runs must be >= 1 (>= {MIN_RUNS} for a meaningful report), got {self.runs}")
        if int(self.warmup) < 0:
            raise InvalidInputError(f"warmup must be >= 0, got {self.warmup}")
        if not self.batches or any(int(b) < 1 for b in self.batches):
            raise InvalidInputError(f"batches must be positive integers, got {self.batches}")
        w, h = self.frame_size
        if int(w) < 64 or int(h) < 64:
            raise InvalidInputError(f"frame_size must be at least 64x64, got {w}x{h}")
        if self.threads is not None and int(self.threads) < 1:
            raise InvalidInputError(f"threads must be >= 1, got {self.threads}")


# ------------------------------------------------------------------------------------------------ statistics
def summarize(samples_ms: Sequence[float]) -> Dict[str, float]:
    """Percentiles and moments of latency samples in ms: n, p50, p90, p99, mean, std, min, max."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        raise InvalidInputError("cannot summarise zero samples")
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {
        "n": int(a.size),
        "p50": round(float(p50), 4),
        "p90": round(float(p90), 4),
        "p99": round(float(p99), 4),
        "mean": round(float(a.mean()), 4),
        "std": round(float(a.std(ddof=1)) if a.size > 1 else 0.0, 4),
        "min": round(float(a.min()), 4),
        "max": round(float(a.max()), 4),
    }


def time_calls(fn: Callable[[], Any], runs: int, warmup: int) -> List[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times; the wall time of each timed call in ms."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def time_stages(recognizer, call: Callable[[], Any], runs: int, warmup: int) -> Dict[str, List[float]]:
    """Run ``call`` (a ``recognizer.predict``) and collect ``recognizer.timings`` per stage after each timed run."""
    for _ in range(warmup):
        call()
    samples: Dict[str, List[float]] = {s: [] for s in STAGES}
    for _ in range(runs):
        call()
        for s in STAGES:
            samples[s].append(float(recognizer.timings.get(s, float("nan"))))
    return samples


# ------------------------------------------------------------------------------------------------ frames
def _face_patch() -> Tuple[np.ndarray, str]:
    """A BGR head crop: skimage's astronaut (public domain NASA photo) when available, else a drawn face."""
    try:
        from skimage import data  # dev/test dependency, optional here

        img = data.astronaut()[:, :, ::-1]
        return np.ascontiguousarray(img[_ASTRONAUT_HEAD]), "skimage.data.astronaut() head"
    except Exception:  # skimage missing or its data unavailable
        import cv2

        patch = np.full((240, 240, 3), 200, np.uint8)
        cv2.ellipse(patch, (120, 125), (70, 92), 0, 0, 360, (140, 170, 215), -1)
        for x in (92, 148):
            cv2.circle(patch, (x, 105), 9, (40, 40, 40), -1)
        cv2.ellipse(patch, (120, 170), (28, 12), 0, 0, 180, (60, 60, 150), 3)
        return patch, "drawn face (install scikit-image for the astronaut photo)"


def benchmark_frames(
    frame_size: Tuple[int, int] = (640, 480), image: Optional[str] = None
) -> Dict[str, Any]:
    """The benchmark frames: one face centred, and four faces in a 2x2 grid, on a flat grey background.

    Returns:
        dict with "one" and "four" (HxWx3 uint8 BGR frames), "source" (where the face came from) and
        "boxes_one"/"boxes_four" (where the face patches were pasted; a fallback when detection finds nothing).
    """
    import cv2

    w, h = int(frame_size[0]), int(frame_size[1])
    if image is not None:
        patch = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if patch is None:
            raise InvalidInputError(f"cannot read the benchmark image {image}; pass a JPEG/PNG file")
        source = f"image {Path(image).name}"
    else:
        patch, source = _face_patch()

    def paste(frame, x, y, side):
        frame[y : y + side, x : x + side] = cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA)
        return [x, y, x + side, y + side]

    one = np.full((h, w, 3), 118, np.uint8)
    side1 = min(w, h) // 2
    boxes_one = [paste(one, (w - side1) // 2, (h - side1) // 2, side1)]
    four = np.full((h, w, 3), 118, np.uint8)
    cw, ch = w // 2, h // 2
    side4 = int(min(cw, ch) * 0.83)
    boxes_four = [paste(four, c * cw + (cw - side4) // 2, r * ch + (ch - side4) // 2, side4)
                  for r in range(2) for c in range(2)]
    return {"one": one, "four": four, "source": source,
            "boxes_one": np.asarray(boxes_one, np.float32), "boxes_four": np.asarray(boxes_four, np.float32)}


# ------------------------------------------------------------------------------------------------ runner
def backend_label(backend) -> str:
    """The report's backend id: "tensorrt", or "onnxruntime-cpu"/"-cuda"/"-trt" (``Backend.kind``)."""
    return str(backend.details()["kind"])


def runs_on_gpu(backend) -> bool:
    """Whether the classifier runs on an NVIDIA GPU (``Backend.on_gpu``)."""
    return bool(backend.details()["on_gpu"])


def _peak_rss_mb() -> Optional[float]:
    try:
        import resource
    except ImportError:  # Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0, 1)


_COLD_START = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from fer_edge.recognizer import Recognizer
t1 = time.perf_counter()
cfg = json.loads(sys.argv[1])
rec = Recognizer(cfg["model"], detector=cfg["detector"], backend=cfg["backend"], threads=cfg["threads"],
                 providers=cfg["providers"])
t2 = time.perf_counter()
faces = rec.predict(np.load(cfg["frame"]))
t3 = time.perf_counter()
try:
    import resource
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss = rss / 1048576.0 if sys.platform == "darwin" else rss / 1024.0
except ImportError:
    rss = None
print("FER_EDGE_COLD " + json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_predict_ms": (t3 - t2) * 1e3,
      "faces": len(faces), "peak_rss_mb": rss}))
"""


def measure_cold_start(config: BenchConfig, frame: np.ndarray, timeout: float = 120.0) -> Dict[str, Any]:
    """Import + load + first predict in a fresh interpreter; also its peak RSS and the process wall time."""
    with tempfile.TemporaryDirectory(prefix="fer_edge_bench_") as tmp:
        frame_path = os.path.join(tmp, "frame.npy")
        np.save(frame_path, frame)
        cfg = {"model": config.model, "detector": config.detector, "backend": config.backend,
               "threads": config.threads, "providers": list(config.providers) if config.providers else None,
               "frame": frame_path}
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _COLD_START, json.dumps(cfg)], capture_output=True, text=True,
                              timeout=timeout, check=False)
        wall = time.perf_counter() - t0
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("FER_EDGE_COLD ")), None)
    if done.returncode != 0 or line is None:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        log.warning("cold-start measurement failed: %s", tail)
        return {"import_s": None, "load_s": None, "first_predict_ms": None, "total_s": None, "process_wall_s":
                round(wall, 3), "peak_rss_mb": None, "faces": None, "error": tail}
    got = json.loads(line[len("FER_EDGE_COLD "):])
    total = got["import_s"] + got["load_s"] + got["first_predict_ms"] / 1e3
    return {"import_s": round(got["import_s"], 4), "load_s": round(got["load_s"], 4),
            "first_predict_ms": round(got["first_predict_ms"], 3), "total_s": round(total, 4),
            "process_wall_s": round(wall, 3),
            "peak_rss_mb": None if got["peak_rss_mb"] is None else round(got["peak_rss_mb"], 1),
            "faces": got["faces"], "error": None}


def tensorrt_fields(backend, gpu_memory: Callable[[], Optional[float]]) -> Dict[str, Any]:
    """Engine build time and GPU memory when the classifier is a TensorRT engine; nulls with a note otherwise.

    Both come from ``backend.details()`` (the TensorRT backend reads the build time from the engine's sidecar);
    GPU memory falls back to ``nvidia-smi``'s per-process figure.
    """
    details = backend.details()
    if details["backend"] != "tensorrt":
        return {"engine_build_s": None, "gpu_memory_mb": None, "note": "not a TensorRT backend"}
    build = details.get("engine_build_s")
    mem_bytes = details.get("device_memory_bytes")
    mem_mb = round(mem_bytes / 2**20, 1) if mem_bytes is not None else gpu_memory()
    notes = []
    if build is None:
        notes.append("engine build time unknown (engine loaded without a recorded build time)")
    if mem_mb is None:
        notes.append("GPU memory unknown (no per-process figure from nvidia-smi, e.g. on Jetson)")
    return {"engine_build_s": None if build is None else round(float(build), 3), "gpu_memory_mb": mem_mb,
            "note": "; ".join(notes) or None}


def _video_unavailable(reason: str) -> Dict[str, Any]:
    return {"fps_detect_every_frame": None, "fps_detect_every_5th": None, "frames": None, "reason": reason}


def measure_video(recognizer, frame: np.ndarray, frames: int) -> Dict[str, Any]:
    """Video pipeline FPS on a synthetic 1-face clip, detection every frame and every 5th frame."""
    from .pipeline import stream

    clip = [np.roll(frame, shift=(i % 9) - 4, axis=1) for i in range(8)]  # small motion so tracking has work
    out: Dict[str, Any] = {"frames": int(frames), "reason": None}
    quiet = [logging.getLogger(n) for n in ("fer_edge.video", "fer_edge.pipeline")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.WARNING)  # "frames ended" is expected here
    try:
        for every, field in ((1, "fps_detect_every_frame"), (5, "fps_detect_every_5th")):
            source = (clip[i % len(clip)] for i in range(frames))
            t0 = time.perf_counter()
            # In order (live=False): every frame is processed, none dropped.
            n = sum(1 for _ in stream(source, recognizer=recognizer, detect_every=every, live=False))
            out[field] = round(n / (time.perf_counter() - t0), 2) if n else None
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)
    return out


def _profile_top(call: Callable[[], Any], runs: int, top: int = 15) -> List[Dict[str, Any]]:
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(runs):
        call()
    prof.disable()
    stats = pstats.Stats(prof)
    rows = []
    for (file, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{Path(file).name}:{line}({func})", "calls_per_run": round(ncalls / runs, 2),
                     "own_ms_per_run": round(tottime / runs * 1e3, 4),
                     "cum_ms_per_run": round(cumtime / runs * 1e3, 4)})
    rows.sort(key=lambda r: r["own_ms_per_run"], reverse=True)
    return rows[:top]


def onnx_node_profile(path, card, threads: Optional[int], runs: int = 30, batch: int = 1,
                      top: int = 12) -> Dict[str, Any]:
    """Where the classifier's time goes: ONNX Runtime's per-node profile (CPU provider), median over ``runs``.

    Returns:
        {"batch", "runs", "nodes": [{"node", "op", "output_shape", "median_ms"}...] (slowest first, ``top`` of
        them), "op_types": {op: summed median ms}, "sum_ms": sum of all node medians}.
    """
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="fer_edge_prof_") as tmp:
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "ort")
        options.log_severity_level = 3
        if threads is not None:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: np.zeros((batch,) + card.input_shape, np.float32)}
        for _ in range(runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_node: Dict[str, List[float]] = {}
    meta: Dict[str, Tuple[str, Any]] = {}
    for ev in events:
        if ev.get("cat") != "Node" or not str(ev.get("name", "")).endswith("_kernel_time"):
            continue
        name = ev["name"][: -len("_kernel_time")]
        per_node.setdefault(name, []).append(ev["dur"] / 1e3)
        args = ev.get("args", {})
        shapes = args.get("output_type_shape") or [{}]
        meta[name] = (args.get("op_name", "?"), next(iter(shapes[0].values()), None) if shapes[0] else None)
    nodes = [{"node": n, "op": meta[n][0], "output_shape": meta[n][1], "median_ms": round(float(np.median(v)), 4)}
             for n, v in per_node.items()]
    nodes.sort(key=lambda r: r["median_ms"], reverse=True)
    op_types: Dict[str, float] = {}
    for r in nodes:
        op_types[r["op"]] = round(op_types.get(r["op"], 0.0) + r["median_ms"], 4)
    return {"batch": batch, "runs": runs, "nodes": nodes[:top],
            "op_types": dict(sorted(op_types.items(), key=lambda kv: -kv[1])),
            "sum_ms": round(sum(r["median_ms"] for r in nodes), 4)}


def run_benchmark(
    config: BenchConfig,
    *,
    recognizer=None,
    fingerprint: Optional[Dict[str, Any]] = None,
    command: Optional[str] = None,
    gpu_memory: Optional[Callable[[], Optional[float]]] = None,
    keep_samples: bool = True,
) -> Dict[str, Any]:
    """Measure everything a report holds and return the report dict (see ``REPORT_SCHEMA``).

    Args:
        config: what to measure.
        recognizer: an already built Recognizer-like object (``predict``, ``timings``, ``backend``, ``card``);
            None builds ``Recognizer(config.model, ...)``.
        fingerprint: device fingerprint; None probes this machine (``fer_edge.device_info.fingerprint``).
        command: the command line to record.
        gpu_memory: returns this process's GPU memory in MiB (for TensorRT); None asks nvidia-smi.
        keep_samples: store the raw per-run samples (needed for plots and later re-analysis).
    """
    from . import device_info
    from .preprocess import preprocess

    started = time.perf_counter()
    if config.runs < MIN_RUNS:
        log.warning("only %d timed runs; use >= %d for a report whose percentiles mean something",
                    config.runs, MIN_RUNS)
    fp = fingerprint if fingerprint is not None else device_info.fingerprint()
    own = recognizer is None
    if own:
        from .recognizer import Recognizer

        recognizer = Recognizer(config.model, detector=config.detector, backend=config.backend,
                                threads=config.threads, providers=config.providers)
    try:
        backend, card = recognizer.backend, recognizer.card
        frames = benchmark_frames(config.frame_size, config.image)
        notes: List[str] = []
        found_one = recognizer.predict(frames["one"])
        found_four = recognizer.predict(frames["four"])
        if len(found_one) != 1 or len(found_four) != 4:
            notes.append(f"detector found {len(found_one)} face(s) in the one-face frame and {len(found_four)} "
                         "in the four-face frame (expected 1 and 4)")
        box_one = (np.asarray([found_one[0].box], np.float32) if found_one else frames["boxes_one"])
        boxes_four = (np.asarray([f.box for f in found_four], np.float32) if len(found_four) == 4
                      else frames["boxes_four"])

        scenarios: Dict[str, Any] = {}
        samples: Dict[str, Any] = {}
        plan = (
            ("frame_1face", "predict(640x480 frame, 1 face): detection + classification", frames["one"], None, 1),
            ("frame_4faces", "predict(640x480 frame, 4 faces): detection + classification", frames["four"], None, 4),
            ("box_1face", "predict(frame, boxes=[1 box]): classification only, no detection", frames["one"],
             box_one, 1),
        )
        for key, text, frame, boxes, faces in plan:
            def call(frame=frame, boxes=boxes):
                return recognizer.predict(frame, boxes=boxes)

            stage_samples = time_stages(recognizer, call, config.runs, config.warmup)
            scenarios[key] = {"description": text.replace("640x480", "x".join(map(str, config.frame_size))),
                              "faces": faces, "stages": {s: summarize(v) for s, v in stage_samples.items()}}
            samples[key] = {s: [round(x, 4) for x in v] for s, v in stage_samples.items()}

        classifier = []
        samples["classifier"] = {}
        for b in config.batches:
            reps = -(-int(b) // boxes_four.shape[0])
            tensor = preprocess(frames["four"], np.tile(boxes_four, (reps, 1))[: int(b)], card)
            ms = time_calls(lambda t=tensor: backend.infer(t), config.runs, config.warmup)
            stats = summarize(ms)
            classifier.append({"batch": int(b), "latency_ms": stats,
                               "per_face_ms": round(stats["p50"] / int(b), 4),
                               "throughput_fps": round(int(b) * 1e3 / stats["p50"], 1) if stats["p50"] > 0 else None})
            samples["classifier"][str(int(b))] = [round(x, 4) for x in ms]

        profile = None
        if config.profile:
            profile = {"predict_functions": _profile_top(lambda: recognizer.predict(frames["one"]),
                                                         max(10, config.runs // 2)),
                       "classifier_nodes": None}
            path = backend.details()["path"]
            if backend.details()["backend"] == "onnxruntime" and path is not None:
                try:
                    profile["classifier_nodes"] = onnx_node_profile(path, card, config.threads)
                except Exception as exc:  # profiling is a diagnostic; never fail the report for it
                    notes.append(f"ONNX Runtime node profile failed: {exc}")

        video = (measure_video(recognizer, frames["one"], config.video_frames) if config.video
                 else _video_unavailable("not requested (run with --video)"))
        trt = tensorrt_fields(backend, gpu_memory or (lambda: device_info.gpu_process_memory_mb()))
        peak_rss = _peak_rss_mb()
    finally:
        if own:
            recognizer.close()

    cold = (measure_cold_start(config, frames["one"]) if config.cold_start else None)
    if cold is not None and cold.get("error"):
        notes.append(f"cold start failed: {cold['error']}")

    cls_b1 = next((c for c in classifier if c["batch"] == 1), classifier[0])
    label = backend_label(backend)
    details = backend.details()
    precision = str(details["precision"] or card.precision)
    on_gpu = runs_on_gpu(backend)
    threads_effective = config.threads if config.threads is not None else (fp.get("cpu") or {}).get("usable_cores")
    bars = {
        "applies": config.threads == 1 and not on_gpu,
        "note": "bars are defined for 1 CPU thread" if not (config.threads == 1 and not on_gpu) else None,
        "classification_per_face_ms": _bar(cls_b1["per_face_ms"], BARS_MS["classification_per_face"],
                                           cls_b1["latency_ms"]["min"] / cls_b1["batch"]),
        "frame_1face_total_ms": _bar(scenarios["frame_1face"]["stages"]["total"]["p50"],
                                     BARS_MS["frame_1face_total"], scenarios["frame_1face"]["stages"]["total"]["min"]),
    }
    if config.runs < MIN_RUNS:
        notes.append(f"only {config.runs} timed runs (< {MIN_RUNS}): percentiles are rough")
    model_path = details["path"]
    report = {
        "schema_version": SCHEMA_VERSION,
        "kind": REPORT_KIND,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command or "",
        "device": {"slug": device_info.device_slug(fp, on_gpu), "on_gpu": on_gpu, "fingerprint": fp},
        "model": {
            "file": None if model_path is None else Path(str(model_path)).name,
            "name": card.name, "arch": card.arch, "version": card.version, "precision": precision,
            "card_sha256": card.sha256(), "input_shape": list(card.input_shape), "num_classes": card.num_classes,
        },
        "config": {
            "backend": label, "providers": list(details["providers"] or []),
            "threads": config.threads, "threads_effective": threads_effective, "detector": config.detector,
            "runs": int(config.runs), "warmup": int(config.warmup), "batches": [int(b) for b in config.batches],
            "frame_size": [int(v) for v in config.frame_size], "frame_source": frames["source"],
        },
        "scenarios": scenarios,
        "classifier": classifier,
        "cold_start": cold,
        "memory": {"peak_rss_mb": peak_rss, "cold_start_peak_rss_mb": None if cold is None else cold["peak_rss_mb"]},
        "tensorrt": trt,
        "video": video,
        "bars": bars,
        "profile": profile,
        "notes": notes,
        "duration_s": round(time.perf_counter() - started, 2),
        "samples": samples if keep_samples else None,
    }
    validate_report(report)
    return report


def _bar(measured: float, bar: float, best: float) -> Dict[str, Any]:
    """A bar verdict on the median; ``best`` (the fastest run) shows what a quiet machine would approach."""
    return {"measured": round(float(measured), 4), "best": round(float(best), 4), "bar": bar,
            "pass": bool(measured <= bar)}


# ------------------------------------------------------------------------------------------------ schema
_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
_OPT_STR = (str, type(None))
STATS_SCHEMA = {k: _NUM for k in ("n", "p50", "p90", "p99", "mean", "std", "min", "max")}
BAR_SCHEMA = {"measured": _NUM, "best": _NUM, "bar": _NUM, "pass": bool}

#: Required keys and their types. A dict is a nested object with these keys; a list holds one element schema;
#: ``{"*": spec}`` is an object whose every value matches ``spec``; a type tuple allows any of them
#: (``type(None)`` = nullable); ``(dict, type(None))`` = an object or null whose content is free;
#: ``({...}, type(None))`` = null or an object matching the nested schema.
REPORT_SCHEMA: Dict[str, Any] = {
    "schema_version": int,
    "kind": str,
    "created_utc": str,
    "command": str,
    "device": {
        "slug": str,
        "on_gpu": bool,
        "fingerprint": {
            "cpu": {"model": _OPT_STR, "logical_cores": (int, type(None)), "usable_cores": (int, type(None)),
                    "arch": _OPT_STR},
            "memory_total_mb": _OPT_NUM,
            "os": {"system": _OPT_STR, "release": _OPT_STR, "distribution": _OPT_STR},
            "python": str,
            "packages": {"*": _OPT_STR},
            "fer_edge": str,
            "gpu": (dict, type(None)),
            "gpus": list,
            "cuda_driver": _OPT_STR,
            "cuda_toolkit": _OPT_STR,
            "tensorrt": _OPT_STR,
            "jetson": (dict, type(None)),
        },
    },
    "model": {"file": _OPT_STR, "name": str, "arch": str, "version": str, "precision": str, "card_sha256": str,
              "input_shape": [int], "num_classes": int},
    "config": {"backend": str, "providers": [str], "threads": (int, type(None)),
               "threads_effective": (int, type(None)), "detector": str, "runs": int, "warmup": int,
               "batches": [int], "frame_size": [int], "frame_source": str},
    "scenarios": {"*": {"description": str, "faces": int, "stages": {s: STATS_SCHEMA for s in STAGES}}},
    "classifier": [{"batch": int, "latency_ms": STATS_SCHEMA, "per_face_ms": _NUM, "throughput_fps": _OPT_NUM}],
    "cold_start": (dict, type(None)),
    "memory": {"peak_rss_mb": _OPT_NUM, "cold_start_peak_rss_mb": _OPT_NUM},
    "tensorrt": {"engine_build_s": _OPT_NUM, "gpu_memory_mb": _OPT_NUM, "note": _OPT_STR},
    "video": {"fps_detect_every_frame": _OPT_NUM, "fps_detect_every_5th": _OPT_NUM, "frames": (int, type(None)),
              "reason": _OPT_STR},
    "bars": {"applies": bool, "note": _OPT_STR, "classification_per_face_ms": BAR_SCHEMA,
             "frame_1face_total_ms": BAR_SCHEMA},
    "profile": ({"predict_functions": list, "classifier_nodes": (dict, type(None))}, type(None)),
    "notes": [str],
    "duration_s": _NUM,
    "samples": (dict, type(None)),
}
COLD_START_SCHEMA = {"import_s": _OPT_NUM, "load_s": _OPT_NUM, "first_predict_ms": _OPT_NUM, "total_s": _OPT_NUM,
                     "process_wall_s": _OPT_NUM, "peak_rss_mb": _OPT_NUM, "faces": (int, type(None)),
                     "error": _OPT_STR}


def schema_errors(value: Any, schema: Any, where: str = "report") -> List[str]:
    """Every place where ``value`` does not match ``schema`` (empty list = valid)."""
    if isinstance(schema, tuple) and any(isinstance(t, (dict, list)) for t in schema):  # nullable nested object
        if value is None and type(None) in schema:
            return []
        return schema_errors(value, next(t for t in schema if isinstance(t, (dict, list))), where)
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        if set(schema) == {"*"}:
            return [e for k, v in value.items() for e in schema_errors(v, schema["*"], f"{where}.{k}")]
        errors = [f"{where}.{k}: missing" for k in schema if k not in value]
        for k, sub in schema.items():
            if k in value:
                errors += schema_errors(value[k], sub, f"{where}.{k}")
        return errors
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        return [e for i, v in enumerate(value) for e in schema_errors(v, schema[0], f"{where}[{i}]")]
    types = schema if isinstance(schema, tuple) else (schema,)
    if isinstance(value, bool) and bool not in types:
        return [f"{where}: expected {'/'.join(t.__name__ for t in types)}, got bool"]
    if not isinstance(value, types):
        return [f"{where}: expected {'/'.join(t.__name__ for t in types)}, got {type(value).__name__}"]
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{where}: not a finite number ({value})"]
    return []


def validate_report(report: Any) -> None:
    """Raise InvalidInputError listing every way ``report`` departs from ``REPORT_SCHEMA``."""
    errors = schema_errors(report, REPORT_SCHEMA)
    if not errors and report.get("cold_start") is not None:
        errors = schema_errors(report["cold_start"], COLD_START_SCHEMA, "report.cold_start")
    if not errors and report.get("kind") != REPORT_KIND:
        errors = [f"report.kind is {report.get('kind')!r}, expected {REPORT_KIND!r}"]
    if not errors and int(report.get("schema_version", 0)) > SCHEMA_VERSION:
        errors = [f"report schema_version {report['schema_version']} is newer than this fer_edge reads"]
    if errors:
        shown = "; ".join(errors[:8]) + (f"; ... ({len(errors) - 8} more)" if len(errors) > 8 else "")
        raise InvalidInputError(f"not a valid fer-edge bench report: {shown}")


def load_report(path) -> Dict[str, Any]:
    """Read and validate a JSON report written by ``write_report``."""
    try:
        report = json.loads(Path(path).read_text())
    except OSError as exc:
        raise InvalidInputError(f"cannot read benchmark report {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise InvalidInputError(f"{path} is not JSON ({exc}); pass a .json written by `fer-edge bench`") from exc
    validate_report(report)
    return report


# ------------------------------------------------------------------------------------------------ output
def report_stem(report: Dict[str, Any]) -> str:
    """``<device-slug>-<backend>-<precision>``, e.g. ``amd-epyc-onnxruntime-cpu-fp32``."""
    return f"{report['device']['slug']}-{report['config']['backend']}-{report['model']['precision']}"


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def render_markdown(report: Dict[str, Any], plots: Sequence[str] = ()) -> str:
    """The report as Markdown: summary, per-stage table, batch sweep, cold start, bars, fingerprint."""
    fp = report["device"]["fingerprint"]
    cfg, model = report["config"], report["model"]
    cpu = fp["cpu"]
    lines = [
        f"# fer-edge bench: {report['device']['slug']} / {cfg['backend']} / {model['precision']}",
        "",
        f"Created {report['created_utc']} with `{report['command'] or 'fer_edge.bench.run_benchmark'}` "
        f"(fer_edge {fp['fer_edge']}, report schema {report['schema_version']}).",
        "",
        f"- **Model**: `{model['file']}` — {model['name']} ({model['arch'] or 'arch ?'}, v{model['version']}), input "
        f"{'x'.join(map(str, model['input_shape']))}, {model['num_classes']} classes, card sha256 "
        f"`{model['card_sha256'][:16]}`",
        f"- **Backend**: {cfg['backend']} (providers: {', '.join(cfg['providers']) or '—'}), threads "
        f"{cfg['threads'] if cfg['threads'] is not None else 'default'} (effective {cfg['threads_effective']}), "
        f"detector {cfg['detector']}",
        f"- **Method**: {cfg['warmup']} warm-up runs, then **{cfg['runs']} timed runs** per row; times in ms; "
        "p50 = median, std = spread, min = best case on a busy machine; frame "
        f"{cfg['frame_size'][0]}x{cfg['frame_size'][1]} ({cfg['frame_source']})",
        f"- **Device**: {cpu['model']} ({cpu['usable_cores']}/{cpu['logical_cores']} cores usable), "
        f"{(fp.get('gpu') or {}).get('name') or 'no NVIDIA GPU'}",
        "",
        "## Latency per stage (ms)",
        "",
        "| scenario | stage | p50 | p90 | p99 | mean | std | min | n |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, sc in report["scenarios"].items():
        for stage in STAGES:
            s = sc["stages"][stage]
            name = f"**{key}**" if stage == "detect" else ""
            lines.append(f"| {name} | {stage} | {_fmt(s['p50'])} | {_fmt(s['p90'])} | {_fmt(s['p99'])} | "
                         f"{_fmt(s['mean'])} | {_fmt(s['std'])} | {_fmt(s['min'])} | {s['n']} |")
    lines += ["", "Scenarios: " + "; ".join(f"`{k}` = {v['description']}" for k, v in report["scenarios"].items()),
              "", "## Classifier only (`backend.infer`), by batch", "",
              "| batch | p50 ms | p90 | p99 | std | per face ms | faces/s |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for c in report["classifier"]:
        s = c["latency_ms"]
        lines.append(f"| {c['batch']} | {_fmt(s['p50'])} | {_fmt(s['p90'])} | {_fmt(s['p99'])} | {_fmt(s['std'])} | "
                     f"{_fmt(c['per_face_ms'], 4)} | {_fmt(c['throughput_fps'], 1)} |")
    cold = report["cold_start"]
    lines += ["", "## Cold start and memory", ""]
    if cold is None:
        lines.append("Cold start not measured.")
    else:
        lines.append(f"Fresh interpreter: import {_fmt(cold['import_s'])} s + load {_fmt(cold['load_s'])} s + first "
                     f"predict {_fmt(cold['first_predict_ms'], 1)} ms = **{_fmt(cold['total_s'])} s** (process wall "
                     f"{_fmt(cold['process_wall_s'])} s, peak RSS {_fmt(cold['peak_rss_mb'], 1)} MiB)."
                     + (f" Error: {cold['error']}" if cold.get("error") else ""))
    lines.append(f"Peak RSS of the benchmark process: {_fmt(report['memory']['peak_rss_mb'], 1)} MiB.")
    trt = report["tensorrt"]
    lines.append(f"TensorRT: engine build {_fmt(trt['engine_build_s'])} s, GPU memory {_fmt(trt['gpu_memory_mb'], 1)} "
                 f"MiB{' (' + trt['note'] + ')' if trt['note'] else ''}.")
    vid = report["video"]
    lines += ["", "## Video pipeline", ""]
    if vid["reason"]:
        lines.append(f"Not measured: {vid['reason']}.")
    else:
        lines.append(f"{vid['frames']} frames, 1 face: **{_fmt(vid['fps_detect_every_frame'], 1)} FPS** with detection "
                     f"every frame, **{_fmt(vid['fps_detect_every_5th'], 1)} FPS** with detection every 5th frame.")
    bars = report["bars"]
    lines += ["", "## Performance bars (1 CPU thread)", "",
              "| bar | measured p50 ms | fastest run ms | limit ms | result (on p50) |", "|---|---:|---:|---:|---|"]
    for key, text in (("classification_per_face_ms", "classification per face (batch 1)"),
                      ("frame_1face_total_ms", "one-face frame, detection + classification")):
        b = bars[key]
        verdict = ("pass" if b["pass"] else "**miss**") if bars["applies"] else "n/a (not 1 thread)"
        lines.append(f"| {text} | {_fmt(b['measured'])} | {_fmt(b['best'])} | {b['bar']} | {verdict} |")
    prof = report.get("profile")
    if prof:
        lines += ["", "## Profile of the one-face frame (cProfile, top functions by own time per predict)", "",
                  "| function | calls/run | own ms/run | cumulative ms/run |", "|---|---:|---:|---:|"]
        for row in prof["predict_functions"]:
            lines.append(f"| `{row['function']}` | {row['calls_per_run']} | {row['own_ms_per_run']} | "
                         f"{row['cum_ms_per_run']} |")
        nodes = prof.get("classifier_nodes")
        if nodes:
            lines += ["", f"## Classifier node profile (ONNX Runtime, batch {nodes['batch']}, median of "
                      f"{nodes['runs']} runs; nodes sum to {nodes['sum_ms']} ms)", "",
                      "By operator type: " + ", ".join(f"{k} {v} ms" for k, v in nodes["op_types"].items()), "",
                      "| node | op | output | median ms |", "|---|---|---|---:|"]
            for row in nodes["nodes"]:
                lines.append(f"| `{row['node']}` | {row['op']} | {row['output_shape']} | {row['median_ms']} |")
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    lines += ["", "## Device fingerprint", "", "| field | value |", "|---|---|"]
    for key, value in _flatten(fp):
        lines.append(f"| {key} | {_fmt(value)} |")
    lines += ["", f"Benchmark wall time {report['duration_s']} s.", ""]
    return "\n".join(lines)


def _flatten(d: Any, prefix: str = "") -> List[Tuple[str, Any]]:
    if isinstance(d, dict):
        out: List[Tuple[str, Any]] = []
        for k, v in d.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(d, list):
        if not d:
            return [(prefix, "[]")]
        out = []
        for i, v in enumerate(d):
            out += _flatten(v, f"{prefix}[{i}]")
        return out
    return [(prefix, d)]


def write_plots(report: Dict[str, Any], out_dir, stem: str) -> List[Path]:
    """Latency histograms per stage and throughput vs batch as PNGs; [] when matplotlib or samples are missing."""
    samples = report.get("samples")
    if not samples:
        return []
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib is not installed; writing the text report only (pip install 'fer-edge[plot]')")
        return []
    out_dir = Path(out_dir)
    paths = []
    scen = [k for k in report["scenarios"] if k in samples]
    colors = ("#4878a8", "#c07030", "#50a050", "#a04890")
    fig, axes = plt.subplots(1, len(STAGES), figsize=(3.0 * len(STAGES), 2.9))
    for c, stage in enumerate(STAGES):
        ax = axes[c]
        for r, key in enumerate(scen):
            data = np.asarray(samples[key][stage], dtype=float)
            hi = np.percentile(data, 99) if data.size else 1.0
            ax.hist(np.minimum(data, hi), bins=25, color=colors[r % len(colors)], alpha=0.6, label=key)
            ax.axvline(report["scenarios"][key]["stages"][stage]["p50"], color=colors[r % len(colors)], lw=1)
        ax.set_title(stage, fontsize=9)
        ax.set_xlabel("ms (clipped at p99)", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("runs", fontsize=8)
    axes[-1].legend(fontsize=6)
    fig.suptitle(f"{stem}: latency per stage, {report['config']['runs']} runs (lines = p50)", fontsize=9)
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.18, top=0.8, wspace=0.25)
    path = out_dir / f"{stem}-latency.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    paths.append(path)

    rows = report["classifier"]
    fig, ax1 = plt.subplots(figsize=(5.5, 3.6))
    batches = [c["batch"] for c in rows]
    ax1.plot(batches, [c["throughput_fps"] or 0 for c in rows], "o-", color="#4878a8", label="faces/s")
    ax1.set_xscale("log", base=2)
    ax1.set_xlabel("batch")
    ax1.set_ylabel("faces/s (p50)")
    ax2 = ax1.twinx()
    ax2.plot(batches, [c["per_face_ms"] for c in rows], "s--", color="#c07030", label="ms per face")
    ax2.set_ylabel("ms per face (p50)")
    ax1.set_title(f"{stem}: classifier throughput vs batch", fontsize=9)
    fig.subplots_adjust(left=0.15, right=0.85, bottom=0.14, top=0.9)
    path = out_dir / f"{stem}-throughput.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    paths.append(path)
    return paths


def write_report(report: Dict[str, Any], out, plots: bool = True) -> Dict[str, Any]:
    """Write ``<stem>.json``, ``<stem>.md`` and the PNGs into folder ``out`` (or beside ``out`` if it is a .json).

    Returns:
        {"json": Path, "markdown": Path, "plots": [Path, ...]}
    """
    validate_report(report)
    out = Path(out)
    if out.suffix.lower() == ".json":
        out_dir, stem = out.parent, out.stem
    else:
        out_dir, stem = out, report_stem(report)
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = write_plots(report, out_dir, stem) if plots else []
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(report, indent=1, sort_keys=False) + "\n")
    md_path = out_dir / f"{stem}.md"
    md_path.write_text(render_markdown(report, [str(p) for p in pngs]))
    return {"json": json_path, "markdown": md_path, "plots": pngs}


# ------------------------------------------------------------------------------------------------ compare
def _comparable_rows(report: Dict[str, Any]) -> Dict[str, Optional[float]]:
    rows: Dict[str, Optional[float]] = {}
    for key, sc in report["scenarios"].items():
        for stage in STAGES:
            rows[f"{key} {stage} p50 ms"] = sc["stages"][stage]["p50"]
        rows[f"{key} total p99 ms"] = sc["stages"]["total"]["p99"]
    for c in report["classifier"]:
        rows[f"classifier b{c['batch']} p50 ms"] = c["latency_ms"]["p50"]
        rows[f"classifier b{c['batch']} faces/s"] = c["throughput_fps"]
    cold = report.get("cold_start") or {}
    rows["cold start total s"] = cold.get("total_s")
    rows["cold start peak RSS MiB"] = cold.get("peak_rss_mb")
    rows["video FPS (detect every frame)"] = report["video"]["fps_detect_every_frame"]
    rows["video FPS (detect every 5th)"] = report["video"]["fps_detect_every_5th"]
    rows["TensorRT engine build s"] = report["tensorrt"]["engine_build_s"]
    rows["TensorRT GPU memory MiB"] = report["tensorrt"]["gpu_memory_mb"]
    return rows


def compare_reports(a: Dict[str, Any], b: Dict[str, Any]) -> str:
    """A side-by-side Markdown table of two reports with the ratio B/A for every shared metric.

    For times a ratio below 1 means B is faster; for faces/s and FPS above 1 means B is faster.
    """
    validate_report(a)
    validate_report(b)

    def label(r):
        return (f"{r['device']['slug']} / {r['config']['backend']} / {r['model']['precision']} / "
                f"threads {r['config']['threads'] if r['config']['threads'] is not None else 'default'}")

    ra, rb = _comparable_rows(a), _comparable_rows(b)
    lines = [f"A: {label(a)} ({a['created_utc']}, {a['config']['runs']} runs)",
             f"B: {label(b)} ({b['created_utc']}, {b['config']['runs']} runs)"]
    if a["model"]["card_sha256"] != b["model"]["card_sha256"]:
        lines.append(f"note: different models (A {a['model']['name']} {a['model']['card_sha256'][:12]}, "
                     f"B {b['model']['name']} {b['model']['card_sha256'][:12]})")
    lines += ["", "| metric | A | B | B/A |", "|---|---:|---:|---:|"]
    for key in list(ra) + [k for k in rb if k not in ra]:
        va, vb = ra.get(key), rb.get(key)
        if va is None and vb is None:
            continue
        ratio = f"{vb / va:.2f}x" if (va and vb is not None) else "—"
        lines.append(f"| {key} | {_fmt(va)} | {_fmt(vb)} | {ratio} |")
    return "\n".join(lines) + "\n"


def config_dict(config: BenchConfig) -> Dict[str, Any]:
    """The config as plain JSON types (for logs)."""
    return json.loads(json.dumps(asdict(config)))
