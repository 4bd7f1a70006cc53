"""`fer-edge build MODEL.onnx [--precision] [--batch 1,8,32] [--workspace MB] [--dla N] [--version-compatible]
[--timing-cache FILE|auto|off]`: build a TensorRT engine and its sidecar on this device."""

from __future__ import annotations

import argparse
import logging
import shlex

from fer_edge.errors import InvalidInputError

log = logging.getLogger(__name__)


def _batches(text: str):
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--batch takes 1-3 comma-separated sizes (min,opt,max), got {text!r}") \
            from None
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("onnx", help=".onnx with a fer_edge card (FP32, FP16 or Q/DQ INT8)")
    parser.add_argument("-o", "--output", help="engine file (default: <stem>.engine beside the ONNX)")
    parser.add_argument("--precision", choices=("auto", "fp32", "fp16", "int8"), default="auto",
                        help="auto = the ONNX's own precision (TensorRT 11 accepts only that)")
    parser.add_argument("--batch", type=_batches, default=(1, 8, 32),
                        help="dynamic batch profile min,opt,max (default 1,8,32; one value N = 1,N,N)")
    parser.add_argument("--workspace", type=int, default=256, metavar="MB",
                        help="builder workspace limit in MB (default 256: 8 GB Jetsons share CPU/GPU memory)")
    parser.add_argument("--dla", type=int, default=None, metavar="N", help="build for DLA core N (GPU fallback on)")
    parser.add_argument("--version-compatible", action="store_true",
                        help="engine also loads in newer TensorRT runtimes of the next major line (TensorRT >= 8.6)")
    parser.add_argument("--timing-cache", default="auto",
                        help="timing cache file, 'auto' (one per TensorRT version and GPU in the cache folder) or "
                             "'off'")
    parser.add_argument("--int8-recipe", choices=("auto", "qdq", "calibrator"), default="auto",
                        help="INT8 from a Q/DQ ONNX, or implicit INT8 with a calibrator (TensorRT <= 10)")
    parser.add_argument("--calib", help="calibration data (image folder, video or .npz) for --int8-recipe "
                                        "calibrator")
    parser.add_argument("--calib-cache", help="TensorRT calibration cache (read if present, else written)")


def run(args: argparse.Namespace) -> int:
    from fer_edge.backends.engine_build import BuildConfig, onnx_facts
    from fer_edge.engines.build import engine_from_onnx

    timing = None if args.timing_cache == "off" else args.timing_cache
    config = BuildConfig(precision=args.precision, batches=args.batch, workspace_mb=args.workspace,
                         dla_core=args.dla, version_compatible=args.version_compatible, timing_cache=timing,
                         int8_recipe=args.int8_recipe)
    calib = None
    if args.calib:
        from fer_edge.calibration.dataset import calibration_set_from_path

        calib = calibration_set_from_path(args.calib, onnx_facts(args.onnx)[0], progress=True)
    elif args.int8_recipe == "calibrator" and not args.calib_cache:
        raise InvalidInputError("--int8-recipe calibrator needs --calib DATA or --calib-cache FILE")
    parts = ["fer-edge", "build", args.onnx, "--precision", args.precision, "--batch",
             ",".join(map(str, args.batch)), "--workspace", str(args.workspace)]
    parts += ["-o", args.output] if args.output else []
    parts += ["--dla", str(args.dla)] if args.dla is not None else []
    parts += ["--version-compatible"] if args.version_compatible else []
    command = " ".join(shlex.quote(p) for p in parts)
    result = engine_from_onnx(args.onnx, config, args.output, calib=calib, calib_cache=args.calib_cache,
                              command=command)
    s = result.sidecar
    print(f"wrote {result.path} (+ {result.path.name}.json): TensorRT {s.tensorrt_version} {s.precision} "
          f"{s.build_mode}, {s.gpu_name} compute {s.compute_capability}, profile {s.profile}, "
          f"built in {s.build_seconds:.1f} s")
    return 0
