"""Acceptance: checkpoint → ONNX → simplified → INT8 QDQ runs in the runtime backend, matches torch, keeps the card."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from fakes.tiny_fer import make_card, synthetic_crops
from fakes.tiny_models import card_of, infer_once  # noqa: E402

pytestmark = pytest.mark.torch

STEPS = ("export", "simplify", "int8")


def _torch_logits(ckpt, x):
    import torch
    from fer_edge.trainers.checkpoint import model_from_checkpoint

    model, _ = model_from_checkpoint(ckpt)
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def test_int8_agrees_with_torch_in_runtime_backend(pipeline, trained_checkpoint):
    from fer_edge.preprocess import preprocess

    card = make_card()
    imgs, labels = synthetic_crops(400, seed=7)  # held out: not the calibration seed
    x = np.concatenate([preprocess(im, None, card) for im in imgs])
    ref = _torch_logits(trained_checkpoint, x)
    assert (ref.argmax(1) == labels).mean() > 0.9, "the in-test training did not learn the synthetic task"
    for step in STEPS:
        got = infer_once(pipeline[step].path, x)
        agree = float((got.argmax(1) == ref.argmax(1)).mean())
        assert agree >= 0.98, (step, agree)
        if step != "int8":
            assert np.abs(got - ref).max() < 1e-3, step
    assert card_of(pipeline["int8"].path).precision == "int8"


def test_card_survives_every_step_field_by_field(pipeline):

    original = make_card()
    for step in STEPS:
        card = card_of(pipeline[step].path)
        assert card == pipeline[step].card
        assert card.integrity["digest"] and card.integrity != original.integrity  # every step seals its output
        for f in dataclasses.fields(original):
            if f.name in ("precision", "provenance", "integrity"):
                continue
            assert getattr(card, f.name) == getattr(original, f.name), (step, f.name)
        for key, value in original.provenance.items():
            assert card.provenance[key] == value, (step, key)
        assert card.provenance["history"][-1]["step"] == ("quantize" if step == "int8" else step)
    cards = {s: card_of(pipeline[s].path) for s in STEPS}
    assert cards["export"].precision == cards["simplify"].precision == "fp32"
    assert cards["int8"].precision == "int8"
    assert [h["step"] for h in cards["int8"].provenance["history"]] == ["export", "simplify", "quantize"]
    # each step names its parent by hash
    from fer_edge.engines.artifact import file_sha256

    assert cards["simplify"].provenance["parent_sha256"] == file_sha256(pipeline["export"].path)
    assert cards["int8"].provenance["parent_sha256"] == file_sha256(pipeline["simplify"].path)
    calib = cards["int8"].provenance["calibration"]
    assert calib["samples"] == len(pipeline["calib"]) and calib["method"] == "minmax"
    assert calib["sha256"] == pipeline["calib"].sha256()


def test_export_is_self_contained_with_dynamic_batch(pipeline):
    import onnx

    model = onnx.load(str(pipeline["export"].path))
    assert not list(pipeline["dir"].glob("*.data")), "external-data side file written"
    dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param and not dim0.dim_value
    assert [o.name for o in model.graph.output] == ["logits"]
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert pipeline["export"].max_abs_diff < 1e-4
    assert pipeline["simplify"].details["nodes_after"] <= pipeline["simplify"].details["nodes_before"]


def test_probs_output(trained_checkpoint, tmp_path):
    from fer_edge.engines.export import ExportConfig, onnx_from_checkpoint

    from fer_edge.backends import backend_from_path

    res = onnx_from_checkpoint(trained_checkpoint, tmp_path / "p.onnx", ExportConfig(output="probs"))
    with backend_from_path(res.path, threads=1) as backend:
        assert backend.card.output == "probs"
        out = backend.infer(np.zeros((3,) + backend.card.input_shape, np.float32))
    np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-5)


def test_static_batch_export_is_batch_one_and_every_step_runs(trained_checkpoint, tmp_path):
    # `fer-edge export --static-batch`: a batch-1 graph that simplify, fp16 and int8 can still check.
    import onnx
    from fer_edge.engines.export import ExportConfig, onnx_from_checkpoint
    from fer_edge.engines.fp16 import fp16_from_onnx
    from fer_edge.engines.quantize import QuantConfig, qdq_from_onnx
    from fer_edge.engines.simplify import simplified_onnx

    raw = onnx_from_checkpoint(trained_checkpoint, tmp_path / "s.onnx", ExportConfig(dynamic_batch=False))
    assert onnx.load(str(raw.path)).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    sim = simplified_onnx(raw.path)
    assert fp16_from_onnx(sim.path).details["agreement"] >= 0.98
    from fer_edge.engines.artifact import probe_batch

    calib = probe_batch(sim.card, 10)
    assert qdq_from_onnx(sim.path, calib, config=QuantConfig(min_agreement=0.0)).details["samples"] == 10
