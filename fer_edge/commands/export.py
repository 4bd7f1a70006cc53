"""`fer-edge export CKPT`: checkpoint → ONNX (+card) → simplified ONNX, the thin CLI over ``engines.export``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)

# What this command needs beyond the runtime, checked by the CLI before it runs.
REQUIRES = (("torch", "train"), ("onnx", "export"), ("onnxsim", "export"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint (.ckpt, e.g. runs/NAME/best.ckpt) written by `fer-edge train`")
    parser.add_argument("-o", "--output", help="output .onnx (default: the checkpoint's name with .onnx)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--output-kind", choices=("logits", "probs"), default=None,
                        help="graph output: logits or softmax probabilities (default: what the card says)")
    parser.add_argument("--static-batch", action="store_true", help="fix the batch axis instead of a dynamic one")
    parser.add_argument("--no-ema", action="store_true", help="export the raw weights even if EMA weights exist")
    parser.add_argument("--no-simplify", action="store_true", help="skip onnxsim")
    parser.add_argument("--atol", type=float, default=1e-3, help="largest accepted |ONNX Runtime - torch|")


def run(args: argparse.Namespace) -> int:
    from fer_edge.engines.export import ExportConfig, onnx_from_checkpoint

    out = Path(args.output) if args.output else Path(args.checkpoint).with_suffix(".onnx")
    config = ExportConfig(opset=args.opset, output=args.output_kind, dynamic_batch=not args.static_batch,
                          use_ema=not args.no_ema, atol=args.atol)
    if args.no_simplify:
        result = onnx_from_checkpoint(args.checkpoint, out, config)
        log.info("wrote %s (max |ORT - torch| %.2e)", result.path, result.max_abs_diff)
        return 0
    # Export to a side file, simplify onto the requested output, remove the side file.
    raw = out.with_name(f".{out.stem}.raw.onnx")
    try:
        exported = onnx_from_checkpoint(args.checkpoint, raw, config)
        from fer_edge.engines.simplify import simplified_onnx

        result = simplified_onnx(raw, out)
    finally:
        if raw.exists():
            raw.unlink()
    log.info("wrote %s: %d → %d nodes, max |ORT - torch| %.2e", result.path, result.details["nodes_before"],
             result.details["nodes_after"], exported.max_abs_diff)
    return 0
