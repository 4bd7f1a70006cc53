"""Would more test-time views than the mirror help? Scores view sets on FER+ val only (the selection split).

    python tools/tta_views_check.py --data data/ferplus.npz fer_edge/assets/ferplus_default.onnx [more.onnx ...]

Each model runs through the runtime backend on the arrays `fer-edge eval` uses, so the "id" and "id+flip" rows
equal `fer-edge eval --split val --tta none|flip`. Extra views are the crop zoomed in or out about its centre
(z1.08 = 8 % larger face) or shifted by one pixel (s+1), each optionally mirrored (…f); a set's outputs are
averaged like FlipTTABackend averages its two. Every view costs one more classifier pass per face.
"""

from __future__ import annotations

import argparse
import logging
import sys

import numpy as np

VIEW_SETS = (("id",), ("id", "flip"), ("id", "flip", "z1.08"), ("id", "flip", "s+1"),
             ("id", "flip", "z1.08", "z1.08f"), ("id", "flip", "z0.92", "z0.92f"),
             ("id", "flip", "z1.08", "z1.08f", "z0.92", "z0.92f"))


def _view(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` (N, C, H, W) normalised crops seen another way: zoom/shift about the centre, edges replicated."""
    import cv2

    mirror = name.endswith("f") and name != "id"
    base = name[:-1] if mirror else name
    if base == "flip":
        return np.ascontiguousarray(x[..., ::-1])
    scale, dx = (float(base[1:]), 0.0) if base.startswith("z") else (1.0, float(base[1:]) if base != "id" else 0.0)
    h, w = x.shape[-2:]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    m = np.array([[scale, 0, cx - scale * cx + dx], [0, scale, cy - scale * cy]], np.float32)
    out = np.stack([np.stack([cv2.warpAffine(ch, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                              for ch in img]) for img in x])
    return np.ascontiguousarray(out[..., ::-1] if mirror else out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="exported .onnx models (runtime backend)")
    ap.add_argument("--data", required=True, help="ferplus.npz")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    from fer_edge.trainers.arrays import arrays_from_split
    from fer_edge.trainers.evaluate import backend_logits

    from fer_edge.backends import backend_from_path
    from fer_edge.datasets import load_dataset
    from fer_edge.metrics import classification_metrics

    val = load_dataset(args.data).splits["val"]
    print("| model | views | passes | val acc | val macro-F1 |\n|---|---|---|---|---|")
    for path in args.models:
        with backend_from_path(path, threads=args.threads) as backend:
            arrays = arrays_from_split(val, backend.card, where=f"{args.data}:val")
            keep = arrays.labels >= 0  # majority-labelled val images (3,199)
            x, y = arrays.x[keep], arrays.labels[keep]
            outs = {name: backend_logits(backend, _view(x, name), 512) for name in {v for s in VIEW_SETS for v in s}}
            for views in VIEW_SETS:
                m = classification_metrics(y, np.mean([outs[v] for v in views], 0).argmax(1), backend.card.labels)
                print(f"| {path} | {'+'.join(views)} | {len(views)} | {100 * m['accuracy']:.2f} | "
                      f"{m['macro_f1']:.3f} |")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
