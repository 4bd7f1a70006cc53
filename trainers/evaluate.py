"""Evaluation: accuracy, macro-F1, per-class recall and the confusion matrix of a checkpoint or an ONNX model.

ONNX models run through the runtime backend (``fer_edge.backends.backend_from_path``) so the numbers measure
what ships; FER2013-derived test sets are reported with and without the duplicate-leak images.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np

from fer_edge.errors import InvalidInputError
from fer_edge.metrics import classification_metrics, confusion_matrix  # noqa: F401  (re-exported: this module's API)

logger = logging.getLogger(__name__)


def metrics_with_leak(y_true, y_pred, labels: Sequence[str], leak: Optional[np.ndarray]) -> Dict[str, Any]:
    """``classification_metrics`` on all images and, when leak flags exist, on the images that are not leaks."""
    out = {"all": classification_metrics(y_true, y_pred, labels)}
    if leak is not None:
        keep = ~np.asarray(leak, bool)
        out["without_leak"] = classification_metrics(np.asarray(y_true)[keep], np.asarray(y_pred)[keep], labels)
        out["without_leak"]["removed_leak_images"] = int((~keep).sum())
    return out


# ------------------------------------------------------------------------------------------------- predictors
def torch_logits(model, x, batch_size: int = 512, device: str = "cpu"):
    """Logits (N, K) float32 numpy of a torch model on an (N, C, H, W) float tensor, in eval mode."""
    import torch

    model.eval()
    outs = []
    with torch.inference_mode():
        for i in range(0, int(x.shape[0]), batch_size):
            xb = x[i:i + batch_size].to(device, non_blocking=True)
            outs.append(model(xb).float().cpu())
    return torch.cat(outs).numpy() if outs else np.zeros((0, 0), np.float32)


def backend_logits(backend, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Outputs (N, K) of a runtime backend (``Backend.infer`` splits batches above the graph's limit)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    outs = [backend.infer(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.concatenate(outs, 0).astype(np.float32) if outs else np.zeros((0, backend.card.num_classes), np.float32)


# ------------------------------------------------------------------------------------------------- top level
@contextlib.contextmanager
def logits_runner(model_path: Path, *, threads: Optional[int] = None, batch_size: int = 256):
    """``with logits_runner(path) as (predict, card, runner_name):`` for a checkpoint or an exported model file;
    a runtime backend opened for it is closed on exit."""
    if model_path.suffix.lower() in (".onnx", ".engine", ".plan"):
        from fer_edge.backends import backend_from_path

        with backend_from_path(str(model_path), threads=threads) as backend:
            yield (lambda x: backend_logits(backend, x, batch_size)), backend.card, "runtime:" + type(backend).__name__
        return
    import torch

    from .checkpoint import model_from_checkpoint

    if threads:
        torch.set_num_threads(int(threads))
    model, card = model_from_checkpoint(model_path)
    yield (lambda x: torch_logits(model, torch.from_numpy(x), batch_size)), card, "torch"


def evaluate_model_file(
    model_path,
    data_path,
    *,
    dataset: str = "auto",
    split: str = "test",
    batch_size: int = 256,
    threads: Optional[int] = None,
    tta_flip: Optional[bool] = None,
    fer2013_csv: str = "",
    limit: int = 0,
    label_set: str = "",
    fitted_on: Sequence[str] = (),
) -> Dict[str, Any]:
    """Evaluate a checkpoint (``.ckpt``/``.pt``) or an exported model (``.onnx``/``.engine``) on a dataset split.

    The images are preprocessed with ``fer_edge.preprocess`` and the model's card; the dataset's labels are
    mapped onto the card's label order by name (an unknown name is an error). ``tta_flip`` None follows the
    card's ``tta`` (what ``Recognizer`` runs); True / False force the mirrored average on or off.
    ``fitted_on`` names splits besides train that the model trained on (``TrainConfig.fit_val``: val); the
    images of ``split`` identical to one of theirs but to no train image are then also left out in an "unseen"
    entry — the images such a model has seen and a train-only model has not.

    Returns:
        dict with "model", "data", "split", "all" metrics and, when the dataset flags duplicate-leak images,
        "without_leak"; with ``fitted_on``, "unseen".
    """
    from fer_edge.datasets import duplicates_in, limit_splits, load_dataset

    from .arrays import arrays_from_split

    model_path = Path(model_path)
    if not model_path.exists():
        raise InvalidInputError(f"model not found: {model_path}")
    suffix = model_path.suffix.lower()
    if suffix not in (".onnx", ".engine", ".plan"):  # say what is missing before minutes of data loading
        from fer_edge._optional import require

        require("torch", "train", "evaluating a checkpoint; an exported .onnx model needs no torch")
    data = load_dataset(data_path, dataset, fer2013_csv=fer2013_csv, label_set=label_set)
    if limit:
        data = limit_splits(data, limit)
    for name in (split, *fitted_on):
        if name not in data.splits:
            raise InvalidInputError(f"{data_path}: has no {name!r} split (available: {sorted(data.splits)})")
    if split in fitted_on:
        raise InvalidInputError(f"the model was fitted on {split!r}: its accuracy there measures nothing")

    with logits_runner(model_path, threads=threads, batch_size=batch_size) as (predict, card, kind):
        mapping = _label_mapping(data.labels, card.labels, str(data_path), str(model_path))
        sp = arrays_from_split(data.splits[split], card, where=f"{data_path}:{split}", progress=True)
        x = sp.x
        if tta_flip is None:
            tta_flip = card.tta == "flip"
        logits = predict_logits(predict, x, tta_flip)
    y_pred = logits.argmax(1)
    y_true = np.where(sp.labels >= 0, mapping[sp.labels], -1)
    leak = sp.leak
    result: Dict[str, Any] = {"model": str(model_path), "runner": kind, "data": str(data_path), "split": split,
                              "tta_flip": bool(tta_flip), "skipped_images": sp.skipped}
    result.update(metrics_with_leak(y_true, y_pred, card.labels, leak))
    if fitted_on:  # what those splits showed the model beyond the train leaks every model has seen
        seen = duplicates_in(data.splits[split], [data.splits[name] for name in fitted_on],
                             excluding=[data.splits["train"]] if "train" in data.splits else [])
        result["unseen"] = classification_metrics(y_true[~seen], y_pred[~seen], card.labels)
        result["unseen"].update(removed_seen_images=int((y_true[seen] >= 0).sum()), fitted_on=list(fitted_on))
    return result


def predict_logits(predict, x: np.ndarray, tta_flip: bool) -> np.ndarray:
    """``predict(x)``, or with ``tta_flip`` the mean of it and of the mirrored images (the runtime's flip rule)."""
    logits = predict(x)
    if tta_flip:
        logits = (logits + predict(np.ascontiguousarray(x[..., ::-1]))) / 2
    return logits


def _label_mapping(data_labels: Sequence[str], model_labels: Sequence[str], data_where: str, model_where: str):
    low = [x.lower() for x in model_labels]
    out = []
    for lab in data_labels:
        if lab.lower() not in low:
            raise InvalidInputError(
                f"{data_where}: label {lab!r} is not among the model's labels {list(model_labels)} ({model_where}); "
                f"evaluate on a dataset with the same label set"
            )
        out.append(low.index(lab.lower()))
    # index -1 maps to -1 via the sentinel appended last
    return np.asarray(out + [-1], dtype=np.int64)


def write_report(result: Dict[str, Any], out_dir, *, png: bool = True) -> Dict[str, str]:
    """Write ``metrics.json`` and (if matplotlib is installed) ``confusion.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"json": str(out_dir / "metrics.json")}
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2))
    if png:
        path = plot_confusion(result["all"]["confusion"], result["all"]["labels"], out_dir / "confusion.png",
                              title=f"{Path(result['model']).name} on {result['split']}")
        if path:
            files["png"] = str(path)
    return files


def plot_confusion(cm, labels: Sequence[str], path, title: str = "") -> Optional[Path]:
    """Row-normalised confusion matrix as a PNG; returns None (with a log line) when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.info("matplotlib not installed: skipping the confusion-matrix PNG (pip install 'fer-edge[plot]')")
        return None
    cm = np.asarray(cm, dtype=np.float64)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    k = len(labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * k, 0.8 + 0.8 * k))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), labels, rotation=45, ha="right")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{norm[i, j]:.2f}\n{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
