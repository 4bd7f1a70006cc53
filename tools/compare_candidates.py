"""Compare release candidates on FER+ val only: each model single-crop and flip-averaged, and every ensemble of them.

    python tools/compare_candidates.py --data data/ferplus.npz fer_edge/assets/ferplus_default_fp32.onnx \
        runs/a/best.ckpt runs/b/best.ckpt

Models are checkpoints (EMA weights, torch FP32) or exported files (runtime backend), each with its own card's
preprocessing. Ensembles average the flip-averaged softmax outputs — what `fer-edge teacher` stores. Test is never
read here: this is the selection step (docs/ablation.md, issue 16).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from pathlib import Path

import numpy as np

from fer_edge.card import FERPLUS_LABELS
from fer_edge.metrics import classification_metrics
from fer_edge.recognizer import softmax


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

    from fer_edge.trainers.evaluate import logits_runner

    from fer_edge.preprocess import preprocess

    data = np.load(args.data, allow_pickle=False)
    keep = np.where(data["y_val"] >= 0)[0]  # majority-labelled val images (3,199)
    images, labels = data["x_val"][keep], data["y_val"][keep].astype(np.int64)
    print("| model | val acc | val macro-F1 | anger | disgust | fear | sadness |\n|---|---|---|---|---|---|---|")
    flipped = {}
    for path in args.models:
        with logits_runner(Path(path), threads=args.threads) as (predict, card, _kind):
            x = np.concatenate([preprocess(img, None, card) for img in images])
            single = softmax(predict(x))
            both = (single + softmax(predict(np.ascontiguousarray(x[..., ::-1])))) / 2
        print(_row(f"{path} single", single, labels))
        print(_row(f"{path} flip", both, labels))
        flipped[path] = both
    for size in range(2, len(flipped) + 1):
        for combo in itertools.combinations(flipped, size):
            print(_row(" + ".join(combo) + " (flip)", sum(flipped[k] for k in combo) / size, labels))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
