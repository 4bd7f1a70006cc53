"""Warm-start weights from an exported ONNX classifier, for when only the released .onnx survives.

Export folds each BatchNorm into the convolution before it, so a Conv's (weight, bias) maps back onto a torch
Conv2d + a BatchNorm2d that computes ``x + bias`` in eval mode. Given sample images, that BatchNorm's statistics
are set to the conv output's real mean/variance (and its affine to undo them), so train mode — which normalises
by batch statistics — starts from the same function too. Only plain chains map one-to-one (EdgeNet without
residual pairs: Conv… then one Gemm); anything else is refused rather than loaded half-right.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
from torch import nn

from fer_edge.errors import InvalidInputError


def _onnx_layers(path: Path):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    convs, linear = [], None
    for node in model.graph.node:
        if node.op_type == "Conv":
            if len(node.input) < 2 or node.input[1] not in init:
                raise InvalidInputError(f"{path}: Conv {node.name!r} has no constant weight (a quantized graph?); "
                                        "warm-start from the FP32 ONNX model")
            w = init[node.input[1]]
            b = init[node.input[2]] if len(node.input) > 2 else np.zeros(w.shape[0], np.float32)
            convs.append((w, b))
        elif node.op_type == "Gemm":
            attrs = {a.name: a.i for a in node.attribute}
            w = init[node.input[1]]
            linear = (w if attrs.get("transB", 0) else w.T, init[node.input[2]])
    if linear is None:
        raise InvalidInputError(f"{path}: no Gemm classifier found; cannot map it onto a torch model")
    return convs, linear


def state_dict_from_onnx(model: nn.Module, path, sample: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
    """A state dict for ``model`` holding the weights of the BN-folded ONNX export at ``path``.

    Args:
        sample: a batch of preprocessed training images; when given, BatchNorm statistics are measured on it.
    """
    path = Path(path)
    convs, (lin_w, lin_b) = _onnx_layers(path)
    modules = list(model.modules())
    pairs: List[tuple] = []
    for i, m in enumerate(modules):
        if isinstance(m, nn.Conv2d):
            bn = modules[i + 1] if i + 1 < len(modules) and isinstance(modules[i + 1], nn.BatchNorm2d) else None
            pairs.append((m, bn))
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    if len(pairs) != len(convs) or len(linears) != 1:
        raise InvalidInputError(f"{path} has {len(convs)} convolutions and one classifier; the model has "
                                f"{len(pairs)} and {len(linears)}: not the same plain architecture")
    names = {id(m): n for n, m in model.named_modules()}
    state = {k: v.clone() for k, v in model.state_dict().items()}

    def put(key: str, value) -> None:
        value = torch.tensor(np.array(value, dtype=np.float32), dtype=state[key].dtype)
        if value.shape != state[key].shape:
            raise InvalidInputError(f"{path}: {key} is {tuple(value.shape)} in the ONNX model but "
                                    f"{tuple(state[key].shape)} in torch: not the same architecture")
        state[key] = value

    for (conv, bn), (w, b) in zip(pairs, convs):
        name = names[id(conv)]
        put(f"{name}.weight", w)
        if bn is None:
            put(f"{name}.bias", b)
            continue
        bname = names[id(bn)]
        put(f"{bname}.weight", np.ones_like(b))
        put(f"{bname}.bias", b)
        put(f"{bname}.running_mean", np.zeros_like(b))
        put(f"{bname}.running_var", np.full_like(b, 1.0 - bn.eps))  # sqrt(var + eps) == 1: the identity
    lname = names[id(linears[0])]
    put(f"{lname}.weight", lin_w)
    put(f"{lname}.bias", lin_b)
    if sample is not None:
        state = _measured_bn(model, state, pairs, names, sample)
    return state


@torch.no_grad()
def _measured_bn(model: nn.Module, state, pairs, names, sample: torch.Tensor):
    """Replace each identity BatchNorm by one with the conv output's statistics and the inverse affine."""
    was_training = model.training
    model.load_state_dict(state)
    model.eval()
    stats, hooks = {}, []

    def recorder(key: str):
        def grab(_module, _inputs, out):
            stats[key] = (out.mean(dim=(0, 2, 3)), out.var(dim=(0, 2, 3), unbiased=False))
        return grab

    for conv, bn in pairs:
        if bn is not None:
            hooks.append(conv.register_forward_hook(recorder(names[id(bn)])))
    try:
        device = next(model.parameters()).device
        model(sample.to(device=device, dtype=torch.float32))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    for key, (mean, var) in stats.items():
        bias = state[f"{key}.bias"].to(mean.device)
        eps = dict(model.named_modules())[key].eps
        # eval: (x - mean) / sqrt(var + eps) * sqrt(var + eps) + mean + bias == x + bias, as before.
        state[f"{key}.running_mean"] = mean.cpu()
        state[f"{key}.running_var"] = var.cpu()
        state[f"{key}.weight"] = torch.sqrt(var + eps).cpu()
        state[f"{key}.bias"] = (mean + bias).cpu()
    return state
