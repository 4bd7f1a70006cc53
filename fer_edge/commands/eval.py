"""`fer-edge eval CKPT_OR_ONNX --data ...`: accuracy, macro-F1, per-class recall, confusion matrix (JSON + PNG)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from fer_edge.datasets import dataset_names

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="checkpoint (.ckpt) or exported model (.onnx / .engine)")
    parser.add_argument("--data", required=True, help="dataset file or folder (same readers as training)")
    parser.add_argument("--dataset", default="auto", choices=("auto",) + dataset_names(),
                        help="reader name (default: auto, guessed from the path)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to evaluate")
    parser.add_argument("--ferplus-csv", default="", help="fer2013.csv matching a fer2013new.csv dataset")
    parser.add_argument("--labels", default="", help="alternative label set stored in the .npz (e.g. fer2013: "
                        "fer2013_y_* of ferplus.npz); default: y_* / class_names")
    parser.add_argument("--fitted-on", nargs="+", default=[], metavar="SPLIT",
                        help="splits the model trained on besides train (a fit_val model: val); also reports "
                             "accuracy without the images identical to one of theirs and to no train image")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch / ONNX Runtime")
    parser.add_argument("--tta", choices=("card", "none", "flip"), default="card",
                        help="test-time augmentation: what the model card says (default, as Recognizer runs it), "
                             "none, or flip (average with the horizontally flipped input)")
    parser.add_argument("--tta-flip", action="store_const", const="flip", dest="tta", help="same as --tta flip")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images of each split")
    parser.add_argument("--out", default=None, help="folder for metrics.json and confusion.png")
    parser.add_argument("--no-png", action="store_true", help="skip the confusion-matrix PNG")


def _summary(result: dict) -> str:
    lines = []
    for key in ("all", "without_leak", "unseen"):
        if key not in result:
            continue
        m = result[key]
        title = {"all": "all images",
                 "without_leak": f"without {m.get('removed_leak_images')} duplicate-leak images",
                 "unseen": f"without {m.get('removed_seen_images')} images seen only in {m.get('fitted_on')}"}[key]
        lines.append(f"{result['split']} ({title}, n={m['n']}): accuracy {m['accuracy']:.4f}  "
                     f"macro-F1 {m['macro_f1']:.4f}")
    recall = result["all"]["per_class_recall"]
    lines.append("recall: " + "  ".join(f"{k} {v:.2f}" for k, v in recall.items()))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from fer_edge.trainers.evaluate import evaluate_model_file, write_report

    result = evaluate_model_file(
        args.model, args.data, dataset=args.dataset, split=args.split, batch_size=args.batch_size,
        threads=args.threads, tta_flip={"card": None, "none": False, "flip": True}[args.tta],
        fer2013_csv=args.ferplus_csv, limit=args.limit, label_set=args.labels, fitted_on=args.fitted_on,
    )
    sys.stdout.write(_summary(result) + "\n")
    if args.out:
        files = write_report(result, args.out, png=not args.no_png)
        logger.info("wrote %s", ", ".join(files.values()))
    else:
        logger.debug(json.dumps(result))
    return 0
