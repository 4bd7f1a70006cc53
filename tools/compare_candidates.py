"""Compare release candidates on FER+ val only: each model single-crop and flip-averaged, and every ensemble of them
(of flip-averaged members, then of single-crop ones).

    python tools/compare_candidates.py --data data/ferplus.npz fer_edge/assets/ferplus_default_fp32.onnx \
        runs/a/best.ckpt runs/b/best.ckpt

Models are checkpoints (EMA weights, torch FP32) or exported files (runtime backend), each with its own card's
preprocessing. Each row's probabilities come from `fer-edge teacher`'s own code (``teacher_targets`` on the val
split: logits averaged with the mirror, softmax; ensembles average those), so an ensemble row is exactly the
teacher file it would make. Test is never read here: this is the selection step (docs/ablation.md, issue 16).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys

import numpy as np

from fer_edge.card import FERPLUS_LABELS
from fer_edge.metrics import classification_metrics


def _row(name: str, probs: np.ndarray, labels: np.ndarray) -> str:
    m = classification_metrics(labels, probs.argmax(1), FERPLUS_LABELS)
    r = m["per_class_recall"]
    return (f"| {name} | {100 * m['accuracy']:.2f} | {m['macro_f1']:.3f} | {r['anger']:.2f} | {r['disgust']:.2f} | "
            f"{r['fear']:.2f} | {r['sadness']:.2f} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help=".ckpt / .onnx candidates")
    ap.add_argument("--data", required=True, help="ferplus.npz")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    from fer_edge.trainers.teacher import teacher_targets

    prepared = {}  # val is preprocessed once per input geometry, not once per model and view

    def val_probs(path, flip):
        t = teacher_targets([path], args.data, splits=("val",), tta_flip=flip, threads=args.threads,
                            prepared=prepared)
        hard = t["hard"]["val"]
        keep = hard >= 0  # majority-labelled val images (3,199)
        return t["probs"]["val"][keep], hard[keep]

    print("| model | val acc | val macro-F1 | anger | disgust | fear | sadness |\n|---|---|---|---|---|---|---|")
    views = {"single": {}, "flip": {}}
    for path in args.models:
        for view, flip in (("single", False), ("flip", True)):
            views[view][path], labels = val_probs(path, flip=flip)
            print(_row(f"{path} {view}", views[view][path], labels))
    # Ensembles of flip-averaged members (what a teacher file holds), then of single-crop members (two models in
    # one file cost what one model with the mirror costs: docs/ablation.md, release 7 attempt).
    for view in ("flip", "single"):
        for size in range(2, len(args.models) + 1):
            for combo in itertools.combinations(args.models, size):
                print(_row(" + ".join(combo) + f" ({view})", sum(views[view][k] for k in combo) / size, labels))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
