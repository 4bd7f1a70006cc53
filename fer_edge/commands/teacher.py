"""`fer-edge teacher MODEL [MODEL ...] --data D --out teacher.npz`: soft targets for distillation."""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)
REQUIRES = ()  # exported teachers (.onnx) need only the runtime; a .ckpt teacher asks for [train] when loaded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="+", help="teacher models (.onnx / .engine / .ckpt); several = an ensemble")
    parser.add_argument("--data", required=True, help="the dataset the student trains on (same reader as training)")
    parser.add_argument("--dataset", default="auto", help="reader name (default: guessed from the path)")
    parser.add_argument("--out", required=True, help="output .npz (pass it as TrainConfig.teacher)")
    parser.add_argument("--splits", nargs="+", default=["train"], metavar="SPLIT",
                        help="splits to score (default: train; add val to fit a final model on train + val, "
                             "TrainConfig.fit_val)")
    parser.add_argument("--temperature", type=float, default=1.0, help="softmax temperature of the teachers")
    parser.add_argument("--no-tta-flip", action="store_true", help="do not average with the mirrored image")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch / ONNX Runtime")
    parser.add_argument("--batch-size", type=int, default=256)


def run(args: argparse.Namespace) -> int:
    from fer_edge.trainers.teacher import save_teacher, teacher_targets

    targets = teacher_targets(args.models, args.data, dataset=args.dataset, splits=args.splits,
                              temperature=args.temperature, tta_flip=not args.no_tta_flip, threads=args.threads,
                              batch_size=args.batch_size)
    path = save_teacher(targets, args.out)
    logger.info("wrote %s: %s", path, ", ".join(f"{s} {p.shape[0]} rows x {p.shape[1]} classes"
                                               for s, p in targets["probs"].items()))
    return 0
