"""Fixtures for the deployment tools: a tiny edgenet trained in-test on synthetic faces, and its checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint of edgenet_tiny trained for a few seconds on ``synthetic_crops``."""
    torch = pytest.importorskip("torch")
    from fer_edge.preprocess import preprocess
    from fer_edge.trainers.checkpoint import save_checkpoint
    from fer_edge.trainers.models import create_model

    torch.manual_seed(0)
    torch.set_num_threads(1)  # the CI box has 2 shared cores
    card = make_card()
    imgs, labels = synthetic_crops(256, seed=1)
    x = torch.from_numpy(np.concatenate([preprocess(im, None, card) for im in imgs]))
    y = torch.from_numpy(labels)
    model = create_model("edgenet_tiny", num_classes=len(LABELS), in_chans=1, **MODEL_KWARGS)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _epoch in range(6):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 32):
            idx = perm[i : i + 32]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    model.eval()
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, dict(arch="edgenet_tiny", num_classes=len(LABELS), in_chans=1,
                               model_kwargs=MODEL_KWARGS, state_dict=model.state_dict(),
                               card=card.to_dict(), metrics={}, epoch=6))
    return path


@pytest.fixture(scope="session")
def pipeline(trained_checkpoint, tmp_path_factory):
    """checkpoint → ONNX → simplified → INT8 QDQ, once per session: dict of StepResults + calibration set."""
    from fer_edge.calibration.dataset import calibration_set_from_reader
    from fer_edge.engines.export import onnx_from_checkpoint
    from fer_edge.engines.quantize import QuantConfig, qdq_from_onnx
    from fer_edge.engines.simplify import simplified_onnx

    out = tmp_path_factory.mktemp("pipeline")
    card = make_card()
    exported = onnx_from_checkpoint(trained_checkpoint, out / "tiny.onnx")
    simple = simplified_onnx(exported.path)
    imgs, labels = synthetic_crops(600, seed=2)
    calib = calibration_set_from_reader(list(zip(imgs, labels.tolist())), card, size=128, name="synthetic")
    int8 = qdq_from_onnx(simple.path, calib, out / "tiny.int8.onnx", QuantConfig(method="minmax"))
    return {"export": exported, "simplify": simple, "int8": int8, "calib": calib, "dir": out}
