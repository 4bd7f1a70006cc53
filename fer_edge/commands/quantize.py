"""`fer-edge quantize ONNX --calib DIR|NPZ|VIDEO --precision int8|fp16 [--report LABELLED]`: thin CLI layer."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from fer_edge.errors import InvalidInputError

log = logging.getLogger(__name__)

# What this command needs beyond the runtime, checked by the CLI before it runs.
REQUIRES = (("onnx", "export"),)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("onnx", help="FP32 .onnx with a fer_edge card (from `fer-edge export`)")
    parser.add_argument("--calib", help="calibration data: image folder, video, .npz or a dataset layout (FER+ csv, "
                        "RAF-DB, AffectNet; see docs/training.md) (needed for int8)")
    parser.add_argument("--precision", choices=("int8", "fp16"), default="int8")
    parser.add_argument("-o", "--output", help="output .onnx (default: <stem>.int8.onnx / <stem>.fp16.onnx)")
    parser.add_argument("--method", choices=("minmax", "entropy", "percentile"), default="minmax",
                        help="activation range calibration (default minmax)")
    parser.add_argument("--tool", choices=("onnxruntime", "modelopt"), default="onnxruntime",
                        help="quantizer (ModelOpt only if installed)")
    parser.add_argument("--min-agreement", type=float, default=0.9,
                        help="fail if INT8 top-1 agreement with FP32 on the calibration set is below this")
    parser.add_argument("--size", type=int, default=512, help="calibration samples (class-balanced; default 512)")
    parser.add_argument("--faces", choices=("auto", "detect", "crops"), default="auto",
                        help="find faces with the detector, treat images as crops, or decide by image size")
    from fer_edge.detect.registry import DEFAULT_DETECTOR, detector_names

    parser.add_argument("--detector", default=DEFAULT_DETECTOR, choices=[n for n in detector_names() if n != "none"],
                        help=f"face detector for --faces detect/auto (default {DEFAULT_DETECTOR})")
    from fer_edge.engines.targets import TARGETS

    parser.add_argument("--target", choices=sorted(TARGETS),
                        default=None, help="deployment target; refuses precisions it cannot run. onnxruntime: "
                        "INT8 in the ONNX Runtime CPU recipe (uint8 activations, int8 per-channel 7-bit weights, "
                        "int32 biases; no TensorRT rule check); others/default: TensorRT-style Q/DQ")
    parser.add_argument("--trt-cache", help="also write a TensorRT (≤ 10) calibration cache here (int8 only)")
    parser.add_argument("--report", metavar="LABELLED",
                        help="labelled set (folder of <label>/ images or .npz) for an FP32/FP16/INT8 report")
    parser.add_argument("--report-out", help="report path stem (default: <output stem>.report → .json and .md)")
    parser.add_argument("--report-key", help="image key of a labelled .npz (e.g. x_test for FER+)")
    parser.add_argument("--report-size", type=int, default=None, help="cap on report samples (default: all)")
    parser.add_argument("--trt-version", default="8.5.2", help="TensorRT version named in --trt-cache (default 8.5.2)")
    parser.add_argument("--cache-method", choices=("entropy", "minmax", "percentile"), default="entropy",
                        help="range method for --trt-cache (default entropy, like EntropyCalibration2)")


def _quant_config(args: argparse.Namespace):
    from fer_edge.engines.quantize import QuantConfig
    from fer_edge.engines.targets import TARGETS

    target = TARGETS[args.target].quant_target if args.target else "tensorrt"
    return QuantConfig(method=args.method, tool=args.tool, target=target, min_agreement=args.min_agreement)


def _trt_cache_version(args: argparse.Namespace):
    """The TensorRT version for ``--trt-cache`` as (major, minor, patch), checked before any work is done."""
    if args.precision != "int8":
        raise InvalidInputError("--trt-cache is an INT8 calibration cache; use it with --precision int8")
    if args.target:
        from fer_edge.engines.targets import check_precision_for_target

        check_precision_for_target("int8", args.target, "cache")
    try:
        version = tuple(int(v) for v in args.trt_version.split(".")[:3])
    except ValueError:
        raise InvalidInputError(f"--trt-version must look like 8.5.2, got {args.trt_version!r}") from None
    if not version or version[0] >= 11:
        raise InvalidInputError(f"TensorRT {args.trt_version} has no calibration caches (removed in 11); drop "
                                "--trt-cache: the Q/DQ ONNX is what TensorRT 11 builds")
    return (version + (0, 0, 0))[:3]


def run(args: argparse.Namespace) -> int:
    from fer_edge.calibration.dataset import calibration_set_from_path
    from fer_edge.engines.artifact import card_from_model, default_output, load_onnx
    from fer_edge.engines.targets import check_precision_for_target

    src = Path(args.onnx)
    card = card_from_model(load_onnx(src), str(src))
    if args.target:
        check_precision_for_target(args.precision, args.target)
    if args.precision == "int8":
        _quant_config(args)  # bad combinations (--target onnxruntime --tool modelopt) fail before calibration
    cache_version = _trt_cache_version(args) if args.trt_cache else None
    out = Path(args.output) if args.output else default_output(src, args.precision)
    results = {"fp32": src}
    if args.precision == "int8":
        if not args.calib:
            raise InvalidInputError("int8 needs calibration data: pass --calib FOLDER|VIDEO|NPZ of faces")
        from fer_edge.engines.quantize import qdq_from_onnx

        config = _quant_config(args)
        calib = calibration_set_from_path(args.calib, card, size=args.size, faces=args.faces,
                                          detector=args.detector, progress=True)
        result = qdq_from_onnx(src, calib, out, config)
        log.info("wrote %s (top-1 agreement with FP32 on calibration set %.2f%%)", result.path,
                 100 * result.details["agreement"])
        results["int8"] = result.path
        if args.trt_cache:
            from fer_edge.calibration.ranges import calibration_cache_from_onnx

            calibration_cache_from_onnx(src, calib.inputs, args.trt_cache, method=args.cache_method,
                                        version=cache_version)
            log.info("wrote TensorRT %s calibration cache %s (for %s)", args.trt_version, args.trt_cache, src)
    else:
        from fer_edge.engines.fp16 import fp16_from_onnx

        result = fp16_from_onnx(src, out)
        log.info("wrote %s (max |Δ| vs FP32 %.3g)", result.path, result.max_abs_diff)
        results["fp16"] = result.path
    if args.report:
        import tempfile

        from fer_edge.engines.report import quantization_report, write_report

        stem = Path(args.report_out) if args.report_out else out.with_name(out.stem + ".report")
        with tempfile.TemporaryDirectory(prefix="fer_edge_report_") as work:
            if "fp16" not in results:
                from fer_edge.engines.fp16 import fp16_from_onnx

                results["fp16"] = fp16_from_onnx(src, Path(work) / "fp16.onnx").path
            if "int8" not in results and args.calib:
                from fer_edge.engines.quantize import qdq_from_onnx

                calib = calibration_set_from_path(args.calib, card, size=args.size, faces=args.faces,
                                                  detector=args.detector, progress=True)
                results["int8"] = qdq_from_onnx(src, calib, Path(work) / "int8.onnx", _quant_config(args)).path
            report = quantization_report(results, args.report, size=args.report_size, npz_key=args.report_key,
                                         faces=args.faces)
        paths = write_report(report, stem)
        for row in report["rows"]:
            log.info("%s: accuracy %.2f%%, macro-F1 %.2f%%, agreement %.2f%%, max |Δ| %.3g", row["precision"],
                     100 * row["accuracy"], 100 * row["macro_f1"], 100 * row["top1_agreement"], row["max_abs_diff"])
        log.info("report: %s", ", ".join(str(p) for p in paths))
    return 0
