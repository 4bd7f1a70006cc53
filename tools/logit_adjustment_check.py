"""Does a per-class logit bias (a calibrated class prior) help on images it was not fitted on? FER+ val, 2-fold.

    python tools/logit_adjustment_check.py MODEL --data data/ferplus.npz [--flip]

The biases are fitted on one half of val (coordinate search for macro-F1, at most 0.2 pt accuracy lost on that
half) and scored on the other half, then the halves swap; the table gives each held-out half with and without the
biases. An earlier try fitted and scored on all of val, which is no evidence (docs/ablation.md, issue 16).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from fer_edge.card import FERPLUS_LABELS
from fer_edge.metrics import classification_metrics

GRID = np.round(np.arange(-1.5, 1.51, 0.1), 2)


def _scores(logp: np.ndarray, labels: np.ndarray, bias: np.ndarray):
    m = classification_metrics(labels, (logp + bias).argmax(1), FERPLUS_LABELS)
    return m["accuracy"], m["macro_f1"], m["per_class_recall"]


def fit_bias(logp: np.ndarray, labels: np.ndarray, max_loss: float = 0.002, passes: int = 3) -> np.ndarray:
    """Per-class additive biases on log-probabilities: best macro-F1 whose accuracy stays within ``max_loss``."""
    bias = np.zeros(logp.shape[1])
    base_acc = _scores(logp, labels, bias)[0]
    best_f1 = _scores(logp, labels, bias)[1]
    for _ in range(passes):
        for c in range(logp.shape[1]):
            for v in GRID:
                trial = bias.copy()
                trial[c] = v
                acc, f1, _ = _scores(logp, labels, trial)
                if acc >= base_acc - max_loss and f1 > best_f1 + 1e-9:
                    bias, best_f1 = trial, f1
    return bias


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help=".onnx or .ckpt")
    ap.add_argument("--data", required=True, help="ferplus.npz")
    ap.add_argument("--flip", action="store_true", help="flip-averaged outputs (as with tta: flip)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    from fer_edge.trainers.teacher import teacher_targets

    t = teacher_targets([args.model], args.data, splits=("val",), tta_flip=args.flip, threads=args.threads)
    hard = t["hard"]["val"]
    keep = hard >= 0  # majority-labelled val images (3,199)
    probs, labels = t["probs"]["val"][keep], hard[keep]
    logp = np.log(np.clip(probs, 1e-8, 1.0))
    halves = np.random.default_rng(0).permutation(len(labels)) % 2
    print("| held-out half | biases | accuracy | macro-F1 | anger | disgust | fear | neutral |")
    print("|---|---|---|---|---|---|---|---|")
    for k in (0, 1):
        fit, held = halves != k, halves == k
        bias = fit_bias(logp[fit], labels[fit])
        for name, b in (("none", np.zeros_like(bias)), ("fitted on the other half", bias)):
            acc, f1, r = _scores(logp[held], labels[held], b)
            print(f"| {k} (n = {int(held.sum())}) | {name} | {100 * acc:.2f} | {f1:.3f} | {r['anger']:.2f} | "
                  f"{r['disgust']:.2f} | {r['fear']:.2f} | {r['neutral']:.2f} |")
        print(f"| {k} | values | " + ", ".join(f"{FERPLUS_LABELS[c]} {v:+.1f}" for c, v in enumerate(bias) if v)
              + " | | | | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
