"""Tiny synthetic FER task for deployment tests: stripe-orientation 'faces' a global-pool CNN learns in seconds."""

from __future__ import annotations

import numpy as np

LABELS = ("neutral", "happiness", "surprise", "sadness")
SIZE = 32
# Small, with a residual pair so a residual Add gets quantized too.
MODEL_KWARGS = {"stem": [8, 1], "stages": [[8, 0], [16, 3]], "residual": True}


def synthetic_crops(n: int, seed: int = 0):
    """(n, SIZE, SIZE) uint8 crops and labels: stripes whose orientation is the class (0 horizontal, 1 vertical,
    2 diagonal, 3 none), random phase, period, contrast and noise. Local patterns, so a global-pool CNN learns it."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(LABELS), size=n)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    imgs = np.empty((n, SIZE, SIZE))
    for i, k in enumerate(labels):
        period = rng.uniform(4.0, 7.0)
        phase = rng.uniform(0, 2 * np.pi)
        coord = (yy, xx, (xx + yy) / np.sqrt(2), None)[k]
        wave = np.zeros_like(yy) if coord is None else np.sin(2 * np.pi * coord / period + phase)
        imgs[i] = 120 + rng.uniform(40, 70) * wave + rng.normal(0, 12, size=yy.shape)
    return np.clip(imgs, 0, 255).astype(np.uint8), labels.astype(np.int64)


def make_card(**kw):
    from fer_edge.card import ModelCard

    base = dict(labels=LABELS, input_size=(SIZE, SIZE), color="gray", mean=(0.5,), std=(0.25,), name="tiny-synth",
                arch="edgenet_tiny", version="0.1", metrics={"synthetic_accuracy": 1.0},
                provenance={"data": "synthetic quadrants", "licence": "none"})
    base.update(kw)
    return ModelCard(**base)
