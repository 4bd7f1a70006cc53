"""`fer-edge train`: a thin argparse layer over ``fer_edge.trainers.train.train`` (config file + overrides)."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from typing import List, Optional

from fer_edge.datasets import dataset_names

logger = logging.getLogger(__name__)

# What this command needs beyond the runtime, checked by the CLI before it runs.
REQUIRES = (("torch", "train"), ("yaml", "train"), ("tqdm", "train"))

# Explicit flags for the settings changed most often; anything else via --set key=value.
_FLAGS = (
    ("--data", "data", str, "dataset file or folder"),
    ("--dataset", "dataset", str, "reader: auto (guessed from the path) or one of " + ", ".join(dataset_names())),
    ("--arch", "arch", str, "model name in the registry"),
    ("--epochs", "epochs", int, "number of epochs"),
    ("--batch-size", "batch_size", int, "global batch size"),
    ("--lr", "lr", float, "peak learning rate"),
    ("--optimizer", "optimizer", str, "sgd, adamw, adam or ranger (RAdam + Lookahead)"),
    ("--output", "output_dir", str, "run folder (best.ckpt, last.ckpt, history.jsonl)"),
    ("--threads", "threads", int, "torch CPU threads (0 = default)"),
    ("--seed", "seed", int, "random seed"),
    ("--device", "device", str, "auto, cpu, cuda, cuda:N"),
    ("--precision", "precision", str, "auto, fp32, bf16 (CPU/GPU autocast), fp16 (CUDA AMP)"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", help="YAML or JSON TrainConfig file (see configs/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any TrainConfig setting (value parsed as YAML), repeatable")
    for flag, _dest, typ, text in _FLAGS:
        parser.add_argument(flag, dest=f"opt_{_dest}", type=typ, default=None, help=text)
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CKPT",
                        help="continue a run from CKPT (default: OUTPUT/last.ckpt)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    grow = parser.add_argument_group("ESR branch-at-a-time growth (arch esr*; stage 1 = the configured run)")
    grow.add_argument("--grow-esr", type=int, default=0, metavar="N",
                      help="grow the ensemble to N branches, one stage per branch (OUTPUT/branches_K)")
    grow.add_argument("--branch-epochs", type=int, default=20, help="epochs of each stage after the first")
    grow.add_argument("--old-lr-mult", type=float, default=0.1,
                      help="LR multiplier of the base and trained branches while a new branch learns")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def config_from_args(args: argparse.Namespace):
    """The TrainConfig a command line describes: file, then --set overrides, then explicit flags."""
    from fer_edge.trainers.config import TrainConfig

    cfg = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    changes = {dest: getattr(args, f"opt_{dest}") for _f, dest, _t, _h in _FLAGS}
    if getattr(args, "no_progress", False):
        changes["progress"] = False
    return cfg.with_overrides(args.overrides, **changes)


def run(args: argparse.Namespace) -> int:
    from fer_edge.trainers.train import train

    cfg = config_from_args(args)
    if args.print_config:
        sys.stdout.write(cfg.to_yaml())
        return 0
    command = "fer-edge train " + " ".join(shlex.quote(a) for a in getattr(args, "argv", []) or sys.argv[2:])
    if getattr(args, "grow_esr", 0):
        from fer_edge.errors import InvalidInputError
        from fer_edge.trainers.esr_growth import GrowthConfig, grow_esr

        if args.resume:
            raise InvalidInputError("--grow-esr resumes by itself (finished stages are skipped); drop --resume")
        grow_esr(cfg, GrowthConfig(args.grow_esr, args.branch_epochs, args.old_lr_mult), command=command)
        return 0
    summary = train(cfg, resume=args.resume, command=command)
    if cfg.fit_val:  # nothing was held out: no score to report, the last epoch is the model
        logger.info("fitted on train + val: epoch %d → %s (train accuracy %.4f; %.1fs/epoch)", summary["best_epoch"],
                    summary["best_checkpoint"], summary["history"][-1]["train_accuracy"],
                    summary["seconds_per_epoch"] or 0.0)
        return 0
    logger.info("best %s %.4f at epoch %d → %s (%.1fs/epoch)", cfg.select_metric,
                summary["best_" + cfg.select_metric], summary["best_epoch"], summary["best_checkpoint"],
                summary["seconds_per_epoch"] or 0.0)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Standalone entry (``python -m fer_edge.trainers.train``, torchrun): same flags as ``fer-edge train``."""
    from fer_edge.errors import FerEdgeError

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="fer_edge.trainers.train", description="train a classifier")
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.argv = argv
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except FerEdgeError as exc:
        print(f"train: {exc}", file=sys.stderr)
        return 1
