"""What quantization costs: FP32 vs FP16 vs INT8 on a labelled set (accuracy, macro-F1, agreement, |Δ logit|).

ONNX Runtime simulates Q/DQ arithmetic, so these CPU numbers predict TensorRT INT8 accuracy up to kernel
rounding (research/deploy.md §2.7). Written as JSON (machines) and Markdown (people).
"""

from __future__ import annotations

import json
import logging
import platform
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from fer_edge.errors import InvalidInputError
from fer_edge.metrics import classification_metrics

from .artifact import agreement

log = logging.getLogger(__name__)

ORDER = ("fp32", "fp16", "int8")


def _labelled_set(labelled, card, size: Optional[int], npz_key: Optional[str], faces: str):
    from fer_edge.calibration.dataset import CalibrationSet, calibration_set_from_npz, calibration_set_from_path

    if isinstance(labelled, CalibrationSet):
        data = labelled
    elif isinstance(labelled, (str, Path)) and Path(labelled).suffix.lower() == ".npz":
        data = calibration_set_from_npz(labelled, card, size=size or 10 ** 9, key=npz_key)
    elif isinstance(labelled, (str, Path)):
        data = calibration_set_from_path(labelled, card, size=size or 10 ** 9, faces=faces)
    else:
        raise InvalidInputError(f"labelled set must be a CalibrationSet or a path, got {type(labelled).__name__}")
    if data.labels is None:
        raise InvalidInputError(f"{data.source} has no labels; use a folder with one sub-folder per class label "
                                f"({', '.join(card.labels)}) or an .npz with y_* labels")
    keep = data.labels >= 0
    if not keep.any():
        raise InvalidInputError(f"{data.source} has no sample with a valid label")
    return data.inputs[keep], data.labels[keep], data.source


def quantization_report(
    models: Mapping[str, Any],
    labelled,
    *,
    size: Optional[int] = None,
    npz_key: Optional[str] = None,
    faces: str = "crops",
    threads: int = 1,
) -> Dict[str, Any]:
    """Evaluate the same model at several precisions on one labelled set.

    Args:
        models: precision name ("fp32", "fp16", "int8", ...) → ``.onnx`` path; "fp32" is the reference.
        labelled: a labelled ``CalibrationSet`` or a path (``<label>/`` image folder, or .npz with labels).
        size: cap on samples (class-balanced, deterministic); None = all.
        npz_key: image key in an .npz (e.g. "x_test" for FER+).
        faces: for image folders: "crops", "detect" or "auto".
        threads: ONNX Runtime CPU threads.

    Returns:
        JSON-able dict: ``rows`` (one per precision) and ``meta``.
    """
    from fer_edge.backends import backend_from_path

    if "fp32" not in models:
        raise InvalidInputError("the report needs the fp32 model as its reference (key 'fp32')")
    backends = {}
    try:
        for k, v in models.items():
            backends[k] = backend_from_path(v, threads=threads)
        card = backends["fp32"].card
        for name, b in backends.items():
            if (b.card.labels, b.card.input_size, b.card.output) != (card.labels, card.input_size, card.output):
                raise InvalidInputError(f"{name} model's card (labels/input size/output kind) differs from the fp32 "
                                        "model's; compare conversions of one export")
        x, y, source = _labelled_set(labelled, card, size, npz_key, faces)
        outputs = {k: b.infer(x) for k, b in backends.items()}
    finally:
        for b in backends.values():
            b.close()
    ref = outputs["fp32"]
    rows: List[Dict[str, Any]] = []
    names = sorted(outputs, key=lambda k: (ORDER.index(k) if k in ORDER else len(ORDER), k))
    for name in names:
        out = outputs[name]
        agree, max_diff, mean_diff = agreement(ref, out)
        row = {"precision": name, "path": str(models[name]), "card_precision": backends[name].card.precision}
        row.update(classification_metrics(y, out.argmax(1), card.labels))
        row.update({"top1_agreement": agree, "max_abs_diff": max_diff, "mean_abs_diff": mean_diff})
        rows.append(row)
    return {
        "meta": {"labels": list(card.labels), "samples": int(len(y)), "source": source, "output": card.output,
                 "model": card.name, "runtime": "onnxruntime CPU", "machine": platform.machine()},
        "rows": rows,
    }


def report_markdown(report: Mapping[str, Any]) -> str:
    """The report as a Markdown table (plus per-class recall)."""
    meta = report["meta"]
    what = "logit" if meta["output"] == "logits" else "probability"
    lines = [
        f"# Quantization report: {meta['model']}",
        "",
        f"{meta['samples']} labelled samples from `{meta['source']}`, {meta['runtime']} ({meta['machine']}).",
        f"Δ = |output − FP32 output| per {what}.",
        "",
        "| precision | accuracy | macro-F1 | top-1 agreement vs FP32 | max Δ | mean Δ |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(f"| {r['precision']} | {100 * r['accuracy']:.2f} % | {100 * r['macro_f1']:.2f} % | "
                     f"{100 * r['top1_agreement']:.2f} % | {r['max_abs_diff']:.4g} | {r['mean_abs_diff']:.4g} |")
    lines += ["", "Per-class recall (%):", "", "| precision | " + " | ".join(meta["labels"]) + " |",
              "|---|" + "---|" * len(meta["labels"])]
    for r in report["rows"]:
        recall = r["per_class_recall"].values()
        lines.append(f"| {r['precision']} | " + " | ".join(f"{100 * v:.1f}" for v in recall) + " |")
    return "\n".join(lines) + "\n"


def write_report(report: Mapping[str, Any], stem) -> Tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` atomically; returns both paths."""
    from fer_edge.atomic import atomic_write_bytes

    stem = Path(stem)
    js = atomic_write_bytes(stem.with_name(stem.name + ".json"), json.dumps(report, indent=1).encode())
    md = atomic_write_bytes(stem.with_name(stem.name + ".md"), report_markdown(report).encode())
    return js, md
