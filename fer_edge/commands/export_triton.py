"""`fer-edge export-triton MODEL --repo DIR`: a Triton model repository (classifier + frames model) from a card."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)

REQUIRES = ()  # the runtime alone: onnxruntime reads the graph, the rest is text and file copies


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="classifier .onnx (with its card) or .engine/.plan (with its .json sidecar)")
    parser.add_argument("--repo", required=True, help="Triton model repository folder to write into")
    parser.add_argument("--max-batch", type=int, default=16, help="Triton max_batch_size of the classifier (16)")
    parser.add_argument("--instances", type=int, default=1, help="model instances per device (1)")
    # A free string (not argparse choices) so an unknown kind is a typed error with the valid ones, exit 1.
    parser.add_argument("--kind", default="cpu", help="instance kind: cpu or gpu (a TensorRT plan needs gpu)")
    parser.add_argument("--queue-delay-us", type=int, default=100,
                        help="dynamic batcher max_queue_delay_microseconds (100)")
    parser.add_argument("--name", help="model name in the repository (default: the card's name)")
    parser.add_argument("--detector", default=None,
                        help="face detector of the frames model (default: fer_edge's default detector)")
    parser.add_argument("--frames-threads", type=int, default=1, help="CPU threads per frames-model instance (1)")
    parser.add_argument("--no-frames", action="store_true", help="write only the classifier model")
    parser.add_argument("--onnx", help="for an engine whose sidecar lacks tensor names: the ONNX it was built from")
    parser.add_argument("--force", action="store_true", help="replace same-named models in a non-empty repository")


def run(args: argparse.Namespace) -> int:
    from fer_edge.engines.triton import TritonExportConfig, triton_repository

    detector = {"detector": args.detector} if args.detector else {}
    config = TritonExportConfig(
        max_batch=args.max_batch, instances=args.instances, kind=args.kind, queue_delay_us=args.queue_delay_us,
        frames=not args.no_frames, frames_threads=args.frames_threads, name=args.name,
        force=args.force, onnx=args.onnx, **detector,
    )
    result = triton_repository(args.model, args.repo, config)
    models = result.classifier + (f", {result.frames}" if result.frames else "")
    print(f"wrote {len(result.files)} files to {result.repo} (models: {models})")
    print(f"serve with: tritonserver --model-repository={result.repo.resolve()}")
    return 0
