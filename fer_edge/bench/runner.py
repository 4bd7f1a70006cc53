"""Runs a benchmark: per-stage latency, classifier batch sweep, cold start, memory, TensorRT fields, profiles."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from .config import BARS_MS, MIN_RUNS, REPORT_KIND, SCHEMA_VERSION, BenchConfig
from .fps import measure_video
from .frames import benchmark_frames
from .schema import validate_report
from .timing import summarize, time_calls, time_stages

log = logging.getLogger(__name__)


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
    from .. import device_info
    from ..preprocess import preprocess

    started = time.perf_counter()
    if config.runs < MIN_RUNS:
        log.warning("only %d timed runs; use >= %d for a report whose percentiles mean something",
                    config.runs, MIN_RUNS)
    fp = fingerprint if fingerprint is not None else device_info.fingerprint()
    own = recognizer is None
    if own:
        from ..recognizer import Recognizer

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
            "tta": str(getattr(recognizer, "tta", "none")),  # the card's (flip doubles the classifier rows)
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
