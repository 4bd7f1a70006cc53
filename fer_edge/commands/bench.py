"""`fer-edge bench`: measure this device and write a comparable report.

`--compare a.json b.json` puts two reports side by side with ratios.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path
from typing import List, Tuple

from ..detect.registry import DEFAULT_DETECTOR, detector_names
from ..errors import InvalidInputError

log = logging.getLogger(__name__)


def _batches(text: str) -> Tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--batch takes comma-separated integers like 1,4,16, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--batch sizes must be >= 1, got {text!r}")
    return values


def _frame_size(text: str) -> Tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--frames takes WIDTHxHEIGHT like 640x480, got {text!r}") from None
    return w, h


# Scratch output, ignored by git: run from the repository root, a default of reports/ overwrote the examples.
DEFAULT_OUT = "out/bench"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="classifier .onnx/.engine (default: the bundled model)")
    p.add_argument("--backend", default="auto", choices=["auto", "onnxruntime", "tensorrt"],
                   help="inference backend (default: by file suffix)")
    p.add_argument("--providers", help="comma-separated ONNX Runtime providers, e.g. CPUExecutionProvider")
    p.add_argument("--threads", type=int, help="CPU threads for detector and classifier (default: all cores)")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=[n for n in detector_names() if n != "none"],
                   help=f"face detector (default {DEFAULT_DETECTOR})")
    p.add_argument("--batch", type=_batches, default=(1, 4, 16), help="classifier batch sizes (default 1,4,16)")
    p.add_argument("--runs", type=int, default=100, help="timed runs per measurement (default 100, at least 50)")
    p.add_argument("--warmup", type=int, default=10, help="untimed warm-up runs before each measurement")
    p.add_argument("--frames", type=_frame_size, default=(640, 480), metavar="WxH",
                   help="benchmark frame size (default 640x480)")
    p.add_argument("--image", help="use this photo (one face) instead of the built-in test face")
    p.add_argument("--video", action="store_true", help="also measure video pipeline FPS (detect every 1 and 5 frames)")
    p.add_argument("--profile", action="store_true", help="add a cProfile table of the one-face frame")
    p.add_argument("--no-cold-start", action="store_true", help="skip the fresh-process cold-start measurement")
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    p.add_argument("--out", default=DEFAULT_OUT,
                   help=f"output folder, or a .json path (default: {DEFAULT_OUT}/; never the committed reports/)")
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"),
                   help="print two reports side by side with ratios B/A, and measure nothing")
    p.add_argument("--triton", metavar="URL",
                   help="measure a Triton server serving an exported repository (e.g. localhost:8000) instead of "
                        "this device: requests/s and p50/p99 per client count (extra [serve])")
    p.add_argument("--triton-model", default="ferplus_default",
                   help="classifier model name in the repository; its <name>_frames model is measured")
    p.add_argument("--triton-protocol", default="http", choices=["http", "grpc"], help="Triton protocol (http)")
    p.add_argument("--clients", type=_batches, default=(1, 4, 16),
                   help="concurrent Triton clients to measure (default 1,4,16)")


def run(args: argparse.Namespace) -> int:
    from .. import bench

    if args.compare:
        a, b = (bench.load_report(p) for p in args.compare)
        sys.stdout.write(bench.compare_reports(a, b))
        return 0
    if args.triton:
        return _run_triton(args)
    if args.runs < bench.MIN_RUNS:
        log.warning("--runs %d is below %d; the report will say its percentiles are rough", args.runs, bench.MIN_RUNS)
    providers = tuple(p.strip() for p in args.providers.split(",") if p.strip()) if args.providers else None
    if args.threads is not None and args.threads < 1:
        raise InvalidInputError(f"--threads must be >= 1, got {args.threads}")
    config = bench.BenchConfig(
        model=args.model, backend=args.backend, threads=args.threads, providers=providers, detector=args.detector,
        batches=tuple(args.batch), runs=args.runs, warmup=args.warmup, frame_size=tuple(args.frames),
        image=args.image, cold_start=not args.no_cold_start, video=args.video, profile=args.profile,
    )
    command = "fer-edge bench " + " ".join(shlex.quote(a) for a in _argv_tail())
    report = bench.run_benchmark(config, command=command.strip())
    paths = bench.write_report(report, args.out, plots=not args.no_plots)
    sys.stdout.write(_summary(report, [str(paths["json"]), str(paths["markdown"])] + [str(p) for p in paths["plots"]]))
    return 0


def _run_triton(args: argparse.Namespace) -> int:
    """The Triton path: frames sent by 1, 4, 16... client threads to <model>_frames; server and backend reported."""
    from .. import bench
    from ..serving import bench_triton, render_triton_markdown, write_triton_report

    frames = bench.benchmark_frames(tuple(args.frames), args.image)
    report = bench_triton(args.triton, args.triton_model, [frames["one"], frames["four"]], clients=args.clients,
                          requests_per_client=args.runs, warmup=args.warmup, protocol=args.triton_protocol)
    report["frame_source"] = frames["source"]
    report["command"] = "fer-edge bench " + " ".join(shlex.quote(a) for a in _argv_tail())
    out = args.out if not str(args.out).lower().endswith(".json") else str(Path(args.out).parent)
    paths = write_triton_report(report, out)
    sys.stdout.write(render_triton_markdown(report) + "wrote " + ", ".join(paths) + "\n")
    return 0


def _argv_tail() -> List[str]:
    argv = sys.argv[1:]
    return argv[argv.index("bench") + 1 :] if "bench" in argv else argv


def _summary(report, written: List[str]) -> str:
    cfg, sc = report["config"], report["scenarios"]
    lines = [f"{report['device']['slug']} / {cfg['backend']} / {report['model']['precision']} / threads "
             f"{cfg['threads'] if cfg['threads'] is not None else 'default'}: {cfg['runs']} runs after "
             f"{cfg['warmup']} warm-up, p50 (p99) ms"]
    for key, s in sc.items():
        st = s["stages"]
        lines.append(f"  {key:<13} total {st['total']['p50']:.3f} ({st['total']['p99']:.3f})  detect "
                     f"{st['detect']['p50']:.3f}  preprocess {st['preprocess']['p50']:.3f}  infer "
                     f"{st['infer']['p50']:.3f}  postprocess {st['postprocess']['p50']:.3f}")
    for c in report["classifier"]:
        lines.append(f"  classifier b{c['batch']:<3} {c['latency_ms']['p50']:.3f} ({c['latency_ms']['p99']:.3f}) = "
                     f"{c['per_face_ms']:.4f} ms/face, {c['throughput_fps']} faces/s")
    cold = report["cold_start"]
    if cold and cold.get("total_s") is not None:
        lines.append(f"  cold start {cold['total_s']:.2f} s (import {cold['import_s']:.2f}, load {cold['load_s']:.2f}, "
                     f"first predict {cold['first_predict_ms']:.1f} ms), peak RSS {cold['peak_rss_mb']} MiB")
    vid = report["video"]
    if vid["reason"] is None:
        lines.append(f"  video FPS {vid['fps_detect_every_frame']} (detect every frame), "
                     f"{vid['fps_detect_every_5th']} (every 5th)")
    for n in report["notes"]:
        lines.append(f"  note: {n}")
    lines.append("wrote " + ", ".join(written))
    return "\n".join(lines) + "\n"
