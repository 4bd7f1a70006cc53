"""Fixtures for the deployment tools: a tiny edgenet trained in-test on synthetic faces, and its checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes.tiny_fer import LABELS, MODEL_KWARGS, make_card, synthetic_crops  # noqa: E402


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint of edgenet_tiny trained for a few seconds on ``synthetic_crops``."""
    torch = pytest.importorskip("torch")
    from fer_edge.trainers.checkpoint import save_checkpoint
    from fer_edge.trainers.models import create_model

    from fer_edge.preprocess import preprocess

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
