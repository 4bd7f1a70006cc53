"""ONNX simplification with onnxsim, then ``onnx.checker`` and a parity check against the unsimplified graph."""

from __future__ import annotations

import logging

import numpy as np

from fer_edge._optional import require
from fer_edge.errors import ModelFormatError

from .artifact import (
    StepResult,
    atomic_path,
    attach_card,
    card_for_step,
    file_sha256,
    open_parent,
    ort_session,
    probe_batch,
    run_session,
    save_onnx,
)

log = logging.getLogger(__name__)


def simplified_onnx(path, out=None, *, atol: float = 1e-4, batch: int = 8) -> StepResult:
    """Simplify an ONNX model (constant folding, identity removal, BN fusion) keeping its card and batch axis.

    Args:
        path: the ``.onnx`` exported by ``onnx_from_checkpoint`` (must carry a card).
        out: output file; None writes ``<stem>.sim.onnx`` beside ``path``.
        atol: largest |Δ| accepted between the simplified and the original graph.
        batch: probe inputs in the parity check (batch 1 is checked too, for the dynamic axis).

    Returns:
        StepResult; ``details`` holds ``nodes_before`` and ``nodes_after``.
    """
    onnxsim = require("onnxsim", "export", "ONNX simplification")
    path, out, model, card = open_parent(path, out, "sim")
    before = len(model.graph.node)
    try:
        simple, ok = onnxsim.simplify(model)
    except Exception as exc:
        raise ModelFormatError(f"onnxsim could not simplify {path}: {exc}; use the unsimplified model") from exc
    if not ok:
        raise ModelFormatError(f"onnxsim's own check failed on {path}; use the unsimplified model")
    child = card_for_step(card, "simplify", file_sha256(path), f"onnxsim {getattr(onnxsim, '__version__', '?')}",
                          nodes_before=before, nodes_after=len(simple.graph.node))
    child = attach_card(simple, child)
    x = probe_batch(card, batch, seed=1)  # run_session feeds a static-batch model its own batch size
    with atomic_path(out) as tmp:
        save_onnx(simple, tmp)  # runs onnx.checker
        ref, new = ort_session(path), ort_session(tmp)
        diff = float(np.abs(run_session(new, x) - run_session(ref, x)).max())
        diff1 = float(np.abs(run_session(new, x[:1]) - run_session(ref, x[:1])).max())
        diff = max(diff, diff1)
        if not np.isfinite(diff) or diff > atol:
            raise ModelFormatError(f"simplified model differs from {path} by {diff:.3g} (> {atol}); use the original")
    log.info("simplified %s → %s: %d → %d nodes, max |Δ| %.2e", path, out, before, len(simple.graph.node), diff)
    return StepResult(out, child, diff, {"nodes_before": before, "nodes_after": len(simple.graph.node)})
