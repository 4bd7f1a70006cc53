"""Soak test: many frames through Recognizer.predict and through stream + writers, sampling RSS, open file
descriptors and threads, to show that nothing grows (docs/reliability.md).

    python tools/soak.py --frames 100000               # `make soak`: both modes, the bundled model + detector
    python tools/soak.py --frames 2000 --json out.json # a short run

Frames are the synthetic moving-face video (scikit-image's astronaut pasted on a plain background, 320x240 by
default), generated once and cycled. The first ``--warmup`` frames are not counted: growth is measured from the
sample after warm-up to the last sample. Exit status 1 when RSS grows by more than ``--max-rss-mb`` or the
descriptor or thread counts end above where they started. Linux only (reads /proc/self).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def sample(frame: int) -> Dict[str, float]:
    return {"frame": frame, "rss_mb": round(rss_mb(), 2), "fds": open_fds(), "threads": os_threads(),
            "py_threads": threading.active_count()}


def _frames(size, n_distinct: int = 120):
    from fer_edge.bench import moving_faces_frames, synthetic_face

    face = synthetic_face()
    return moving_faces_frames(face, n=n_distinct, size=size, faces=1, face_size=min(size) // 2)


def soak_predict(rec, frames: List, total: int, warmup: int, every: int) -> Dict:
    samples, faces = [], 0
    source = itertools.cycle(frames)
    for i in range(total + warmup):
        faces += len(rec.predict(next(source)))
        if i + 1 == warmup or (i + 1 > warmup and (i + 1 - warmup) % every == 0):
            gc.collect()
            samples.append(sample(i + 1))
    return {"samples": samples, "faces": faces}


def soak_stream(rec, frames: List, total: int, warmup: int, every: int, out: Path, rotate: int) -> Dict:
    """stream() over a generator of frames, writing CSV, JSON Lines, an annotated video (a new file every
    ``rotate`` frames, so writers are opened and closed many times) and the track summary."""
    from fer_edge.draw import draw
    from fer_edge.pipeline import stream
    from fer_edge.writers import CsvWriter, JsonlWriter, TrackSummary, VideoWriter

    def source():
        for i, frame in enumerate(itertools.cycle(frames)):
            if i >= total + warmup:
                return
            yield frame

    samples, faces, part = [], 0, 0
    summary = TrackSummary()
    writers = None

    def open_writers(k: int):
        return (CsvWriter(out / f"rows_{k}.csv", labels=rec.card.labels), JsonlWriter(out / f"rows_{k}.jsonl"),
                VideoWriter(out / f"video_{k}.avi", fps=30))

    def close_writers(ws, k: int):
        for w in ws:
            w.close()
        for p in out.glob(f"*_{k}.*"):
            p.unlink()  # keep the disk use flat; the files were complete

    with stream(source(), recognizer=rec, detect_every=2, timeout=30) as s:
        for n, result in enumerate(s, start=1):
            if writers is None or n % rotate == 0:
                if writers is not None:
                    close_writers(writers, part)
                    part += 1
                writers = open_writers(part)
            writers[0].write_result(result)
            writers[1].write_result(result)
            writers[2].write(draw(result.image, result.faces))
            summary.update(result)
            faces += len(result.faces)
            if n == warmup or (n > warmup and (n - warmup) % every == 0):
                summary.write_json(out / "summary.json")
                gc.collect()
                samples.append(sample(n))
        stop = s.stop_reason
    if writers is not None:
        close_writers(writers, part)
    return {"samples": samples, "faces": faces, "stop_reason": stop}


def growth(samples: List[Dict]) -> Dict[str, float]:
    first, last = samples[0], samples[-1]
    return {
        "frames_measured": last["frame"] - first["frame"],
        "rss_start_mb": first["rss_mb"], "rss_end_mb": last["rss_mb"],
        "rss_growth_mb": round(last["rss_mb"] - first["rss_mb"], 2),
        "rss_max_mb": max(s["rss_mb"] for s in samples),
        "fds_start": first["fds"], "fds_end": last["fds"], "fds_max": max(s["fds"] for s in samples),
        "threads_start": first["threads"], "threads_end": last["threads"],
        "threads_max": max(s["threads"] for s in samples),
    }


def run(frames: int, modes=("predict", "stream"), warmup: int = 1000, every: int = 1000, size=(320, 240),
        threads: int = 1, rotate: int = 5000) -> Dict:
    """Run the soak and return the report (also what tests/reliability/test_soak_short.py calls)."""
    from fer_edge import Recognizer

    pictures = _frames(size)
    report = {"frames": frames, "warmup": warmup, "size": list(size), "threads": threads, "modes": {}}
    with Recognizer(threads=threads) as rec, tempfile.TemporaryDirectory(prefix="fer_edge_soak_") as tmp:
        report["model"] = rec.card.name
        report["detector"] = type(rec.detector).__name__
        for mode in modes:
            t0 = time.perf_counter()
            if mode == "predict":
                res = soak_predict(rec, pictures, frames, warmup, every)
            else:
                res = soak_stream(rec, pictures, frames, warmup, every, Path(tmp), rotate)
            res["seconds"] = round(time.perf_counter() - t0, 1)
            res["growth"] = growth(res["samples"])
            report["modes"][mode] = res
    return report


def verdict(report: Dict, max_rss_mb: float) -> List[str]:
    problems = []
    for mode, res in report["modes"].items():
        g = res["growth"]
        if g["rss_growth_mb"] > max_rss_mb:
            problems.append(f"{mode}: RSS grew {g['rss_growth_mb']} MB (> {max_rss_mb})")
        if g["fds_end"] > g["fds_start"]:
            problems.append(f"{mode}: open descriptors {g['fds_start']} -> {g['fds_end']}")
        if g["threads_end"] > g["threads_start"]:
            problems.append(f"{mode}: threads {g['threads_start']} -> {g['threads_end']}")
    return problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=100_000, help="frames per mode after warm-up")
    p.add_argument("--modes", default="predict,stream", help="comma list of: predict, stream")
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--every", type=int, default=1000, help="sample every N frames")
    p.add_argument("--size", default="320x240", help="frame WIDTHxHEIGHT")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-rss-mb", type=float, default=5.0)
    p.add_argument("--json", help="write the report here")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    report = run(args.frames, tuple(m for m in args.modes.split(",") if m), args.warmup, args.every, (w, h),
                 args.threads)
    problems = verdict(report, args.max_rss_mb)
    report["problems"] = problems
    for mode, res in report["modes"].items():
        print(f"{mode}: {json.dumps(res['growth'])} in {res['seconds']} s, {res['faces']} faces")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    for line in problems:
        print("PROBLEM:", line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
