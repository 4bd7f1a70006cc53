"""`fer-edge data ferplus --fer2013 fer2013.csv --labels fer2013new.csv --out ferplus.npz`: build datasets from
their public downloads (numpy only; no torch)."""

from __future__ import annotations

import argparse
import logging
import sys

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    ferplus = sub.add_parser("ferplus", help="ferplus.npz from fer2013.csv + Microsoft's fer2013new.csv",
                             description="Build ferplus.npz (the archive the configs and the model card use): "
                                         "FER2013 pixels, FER+ votes, majority labels, FER2013 labels, leak flags.")
    ferplus.add_argument("--fer2013", required=True, help="fer2013.csv (columns emotion, pixels, Usage)")
    ferplus.add_argument("--labels", required=True, help="fer2013new.csv from github.com/microsoft/FERPlus")
    ferplus.add_argument("--out", default="data/ferplus.npz", help="output .npz (default: data/ferplus.npz, "
                         "where configs/*.yaml look for it)")


def run(args: argparse.Namespace) -> int:
    from ..datasets.ferplus_archive import write_ferplus_npz

    summary = write_ferplus_npz(args.fer2013, args.labels, args.out)
    for split, counts in summary.items():
        sys.stdout.write(f"{split}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + "\n")
    sys.stdout.write(f"wrote {args.out}\n")
    return 0
