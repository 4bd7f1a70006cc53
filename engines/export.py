"""Checkpoint → ONNX with the model card in ``metadata_props`` and an ONNX Runtime vs torch parity check.

Legacy TorchScript export (``dynamo=False``, opset 17): one self-contained file, dynamic batch axis; the dynamo
exporter writes an external-data side file by default (research/deploy.md §1), which deployment forbids.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from fer_edge.errors import InvalidInputError, ModelFormatError

from .artifact import (
    StepResult,
    atomic_path,
    attach_card,
    card_for_step,
    file_sha256,
    load_onnx,
    ort_session,
    probe_batch,
    run_session,
    save_onnx,
)

log = logging.getLogger(__name__)

INPUT_NAME = "input"


@dataclass(frozen=True)
class ExportConfig:
    """How to export a checkpoint.

    Attributes:
        opset: ONNX opset (17 is the TensorRT 8.5+ and ONNX Runtime 1.14+ common ground).
        output: "logits" or "probs" (softmax in the graph); None keeps what the card says.
        dynamic_batch: symbolic batch axis; False fixes the batch to 1 (one face per inference).
        use_ema: export the averaged weights (SWA, else EMA) when the checkpoint has them.
        parity_batch: inputs in the ORT-vs-torch check.
        atol: the largest |Δ| accepted in the check; above it the export fails and nothing is written.
        input_name: graph input name.
    """

    opset: int = 17
    output: Optional[str] = None
    dynamic_batch: bool = True
    use_ema: bool = True
    parity_batch: int = 8
    atol: float = 1e-3
    input_name: str = INPUT_NAME


def _with_softmax(model):
    import torch

    class _Probs(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return torch.softmax(self.inner(x), dim=1)

    return _Probs(model).eval()


def onnx_from_checkpoint(ckpt, out, config: ExportConfig = ExportConfig()) -> StepResult:
    """Export a fer_edge checkpoint to a self-contained ONNX file carrying its card.

    Args:
        ckpt: checkpoint written by ``fer_edge.trainers.checkpoint.save_checkpoint``.
        out: the ``.onnx`` file to publish (written atomically).
        config: export options.

    Returns:
        StepResult with ``max_abs_diff`` = largest |ORT − torch| on ``config.parity_batch`` probe inputs.

    Raises:
        ModelFormatError: unreadable checkpoint, unknown architecture, or parity above ``config.atol``.
    """
    import torch
    from fer_edge.trainers.checkpoint import model_from_checkpoint

    if config.output not in (None, "logits", "probs"):
        raise InvalidInputError(f"ExportConfig.output must be 'logits', 'probs' or None, got {config.output!r}")
    model, card = model_from_checkpoint(ckpt, use_ema=config.use_ema)
    output = config.output or card.output
    net = _with_softmax(model) if output == "probs" else model.eval()
    out_name = output
    x = torch.from_numpy(probe_batch(card, config.parity_batch))
    dynamic = {config.input_name: {0: "batch"}, out_name: {0: "batch"}} if config.dynamic_batch else None
    child = card_for_step(
        card, "export", file_sha256(ckpt), f"torch {torch.__version__} onnx.export (opset {config.opset})",
        precision="fp32", output=output,
    )
    with atomic_path(out) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # legacy exporter DeprecationWarning / TracerWarnings
            try:
                torch.onnx.export(
                    net, (x if config.dynamic_batch else x[:1],), str(tmp), input_names=[config.input_name],
                    output_names=[out_name],
                    dynamic_axes=dynamic, opset_version=int(config.opset), do_constant_folding=True,
                    dynamo=False,
                )
            except Exception as exc:
                raise ModelFormatError(f"torch.onnx.export failed for {ckpt} ({card.arch}): {exc}") from exc
        model_proto = load_onnx(tmp)
        model_proto.producer_name = "fer_edge"
        child = attach_card(model_proto, child)
        save_onnx(model_proto, tmp)
        with torch.no_grad():
            expected = net(x).numpy()
        got = run_session(ort_session(tmp), x.numpy())
        diff = float(np.abs(got - expected).max())
        if not np.isfinite(diff) or diff > config.atol:
            raise ModelFormatError(
                f"ONNX Runtime disagrees with torch on the exported {card.arch} (max |Δ| {diff:.3g} > {config.atol}); "
                "the model may use an op the exporter mistranslates. Try another opset (--opset) or report it"
            )
    log.info("exported %s → %s (opset %d, %s, max |ORT − torch| %.2e)", ckpt, out, config.opset, output, diff)
    return StepResult(Path(out), child, diff, {"opset": int(config.opset), "nodes": len(model_proto.graph.node)})
