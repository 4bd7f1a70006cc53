"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``) in PyTorch: a face-pretrained
distillation teacher (issue 16) whose weights load exactly from dlib's own file (``trainers/dlib_format.py``).

The topology is dlib's: a 7×7/2 conv stem and a 3×3/2 max pool, then residual blocks of two 3×3 convs at widths
32 (×3), 64 (×4), 128 (×3), 256 (×3) and one more 256 block; the first block of each wider stage (and the last)
downsamples with a stride-2 conv while its shortcut is a 2×2/2 average pool. Stride-2 convs and pools have no
padding; where the two branches differ in size the sum zero-pads the smaller one (extra channels, bottom rows,
right columns), as dlib's ``add_prev`` does. Batch norm is already folded into per-channel scale/shift
(``affine_``), kept here as learnable ``Affine`` layers (frozen-BN style fine-tuning). A bias-free 256→128 layer
on the average-pooled map gives dlib's 128-D face descriptor.

dlib feeds RGB ``(pixel - mean_c) / 256``, i.e. a card with ``mean = mean_c / 255`` and ``std = 256 / 255``
(``DLIB_RGB_MEAN``, ``DLIB_STD``). With ``in_chans=1`` the stem takes gray: loading sums the colour filters and
moves the per-channel mean offsets into the stem bias, exact for a gray card with ``mean = DLIB_GRAY_MEAN``
(the stem has no padding, so the offset is the same at every output pixel). Inputs need ≥ 103 px a side.

As a backbone (``dlib_resnet``, ``adcorre_dlib_resnet``, ``arm_dlib_resnet``) the classifier reads the 256-D
pooled features by default (``descriptor=False``: the 128-D layer is dropped — frozen probes on FER+ scored
75–77 % from 256-D features vs 51 % from the descriptor); ``descriptor=True`` keeps it and the classifier reads
the 128-D descriptor. Start from dlib's weights with ``init_from: out/dlib/...v1.dat`` (``load_dlib_weights``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fer_edge.errors import InvalidInputError, ModelFormatError

__all__ = ["Affine", "DlibResidual", "DlibResNetBackbone", "DLIB_RGB_MEAN", "DLIB_GRAY_MEAN", "DLIB_STD",
           "dlib_state_dict", "load_dlib_weights", "find_dlib_backbone"]

_DLIB_MEANS_0_255 = (122.782, 117.001, 104.298)
DLIB_RGB_MEAN = tuple(m / 255.0 for m in _DLIB_MEANS_0_255)  # card mean (0..1 scale) for dlib's RGB input
DLIB_GRAY_MEAN = sum(DLIB_RGB_MEAN) / 3.0  # card mean for gray input (in_chans=1)
DLIB_STD = 256.0 / 255.0  # dlib divides by 256 on the 0..255 scale

# (width, blocks, first block downsamples) per stage, input side first — dlib's alevel4 … alevel0.
_STAGES = ((0, 3, False), (1, 4, True), (2, 3, True), (3, 3, True), (3, 1, True))


class Affine(nn.Module):
    """Per-channel ``x * weight + bias`` (dlib's ``affine_``: a batch norm folded into its statistics)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def _padded_sum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a + b`` where a smaller tensor is zero-padded (channels, then bottom/right), as dlib's add_prev does."""
    if a.shape == b.shape:
        return a + b
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def pad(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return pad(a) + pad(b)


class DlibResidual(nn.Module):
    """Two 3×3 conv + affine (ReLU between) beside an identity or 2×2/2 average-pool shortcut; ReLU after the sum."""

    def __init__(self, cin: int, cout: int, down: bool):
        super().__init__()
        stride = 2 if down else 1
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, padding=0 if down else 1)
        self.affine1 = Affine(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, padding=1)
        self.affine2 = Affine(cout)
        self.shortcut = nn.AvgPool2d(2, 2) if down else nn.Identity()
        self.down = down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        return F.relu(_padded_sum(y, self.shortcut(x)))

    def dlib_plan(self) -> List[Tuple[str, Optional[nn.Module]]]:
        """This block's dlib layers from the input up, tags/skips included (see ``DlibResNetBackbone``)."""
        plan = [("tag", None), ("con_4", self.conv1), ("affine_", self.affine1), ("relu_", None),
                ("con_4", self.conv2), ("affine_", self.affine2)]
        if self.down:
            plan += [("tag", None), ("skip", None), ("avg_pool_2", self.shortcut)]
        return plan + [("add_prev_", None), ("relu_", None)]


def _out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


class DlibResNetBackbone(nn.Module):
    """dlib's face ResNet trunk: ``forward_map`` (n, in_chans, H, W) → (n, 256, h, w); ``descriptor`` → (n, 128).

    Args:
        in_chans: 3 (RGB, as dlib) or 1 (gray; see the module docstring for loading dlib's weights).
        widths: the four stage widths (dlib: 32, 64, 128, 256); smaller ones make tiny test networks.
        embed_dim: the descriptor size (dlib: 128).
        descriptor: keep the bias-free descriptor layer and make it the features a classifier head reads.
    """

    def __init__(self, in_chans: int = 3, widths: Sequence[int] = (32, 64, 128, 256), embed_dim: int = 128,
                 descriptor: bool = False):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) != 4 or min(widths) < 1 or int(embed_dim) < 1:
            raise InvalidInputError(f"dlib_resnet needs four positive widths and embed_dim >= 1, got {widths}, "
                                    f"{embed_dim}")
        self.in_chans = int(in_chans)
        self.widths = widths
        self.stem_conv = nn.Conv2d(in_chans, widths[0], 7, 2, padding=0)
        self.stem_affine = Affine(widths[0])
        self.stem_pool = nn.MaxPool2d(3, 2)
        blocks, cin = [], widths[0]
        for stage, count, down in _STAGES:
            cout = widths[stage]
            for i in range(count):
                blocks.append(DlibResidual(cin, cout, down and i == 0))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, int(embed_dim), bias=False) if descriptor else None
        self.feature_dim = int(embed_dim) if descriptor else cin
        self.min_input_size = self._min_size()

    def _sizes(self, size: int) -> List[int]:
        """Spatial size after the stem and after each block, for a square input of ``size``."""
        s = _out(_out(size, 7, 2, 0), 3, 2, 0)
        sizes = [s]
        for block in self.blocks:
            if block.down:  # conv 3×3/2 beside a pool 2×2/2; the sum takes the larger size
                s = max(_out(s, 3, 2, 0), _out(s, 2, 2, 0)) if s >= 3 else 0
            sizes.append(s)
        return sizes

    def _min_size(self) -> int:
        size = 8
        while min(self._sizes(size)) < 1:
            size += 1
        return size

    def _check(self, x: torch.Tensor) -> None:
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            return
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise InvalidInputError(f"dlib_resnet expects (n, {self.in_chans}, H, W), got {tuple(x.shape)}")
        if min(x.shape[2], x.shape[3]) < self.min_input_size:
            raise InvalidInputError(f"dlib_resnet needs inputs of at least {self.min_input_size} px a side (four "
                                    f"unpadded stride-2 stages), got {tuple(x.shape[2:])}; use input_size >= "
                                    f"{self.min_input_size} (dlib itself uses 150)")

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        x = self.stem_pool(F.relu(self.stem_affine(self.stem_conv(x))))
        return self.blocks(x)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 256) average of the last map (dlib's ``avg_pool_everything``)."""
        return self.forward_map(x).mean(dim=(2, 3))

    def descriptor(self, x: torch.Tensor) -> torch.Tensor:
        """(n, embed_dim) dlib's face descriptor (needs ``descriptor=True``)."""
        if self.fc is None:
            raise InvalidInputError("this dlib_resnet was built with descriptor=False; build it with "
                                    "descriptor=True for the 128-D face descriptor")
        return self.fc(self.pooled(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.descriptor(x) if self.fc is not None else self.pooled(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)

    def dlib_plan(self) -> List[Tuple[str, Optional[nn.Module]]]:
        """dlib's layers from the input up — (serialised kind, module holding its weights) — with ``tag``/``skip``
        wrappers in place; the fc layer is listed even when this backbone dropped it (module ``None``)."""
        plan = [("con_4", self.stem_conv), ("affine_", self.stem_affine), ("relu_", None),
                ("max_pool_2", self.stem_pool)]
        for block in self.blocks:
            plan += block.dlib_plan()
        return plan + [("avg_pool_2", None), ("fc_2", self.fc)]


def find_dlib_backbone(model: nn.Module) -> Tuple[str, DlibResNetBackbone]:
    """The (state-dict prefix, module) of the one ``DlibResNetBackbone`` inside ``model``."""
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, DlibResNetBackbone)]
    if len(found) != 1:
        raise InvalidInputError(f"dlib weights need a model with one dlib_resnet backbone; {type(model).__name__} "
                                f"has {len(found)} (use arch: dlib_resnet)")
    name, module = found[0]
    return (name + "." if name else ""), module


def dlib_state_dict(model: nn.Module, network) -> Dict[str, torch.Tensor]:
    """Map a parsed dlib network (``trainers.dlib_format.DlibNetwork``) onto ``model``'s dlib backbone: a state dict
    holding the backbone's tensors (a classifier head keeps its own initialisation).

    Raises:
        ModelFormatError: the file's layer sequence, shapes or input means do not fit this backbone.
    """
    prefix, bb = find_dlib_backbone(model)
    plan = [(kind, m) for kind, m in bb.dlib_plan() if kind not in ("tag", "skip")]
    kinds = [layer.kind for layer in network.layers]
    if kinds != [k for k, _ in plan]:
        raise ModelFormatError(f"the dlib file's {len(kinds)} layers do not follow dlib_resnet's "
                               f"{len(plan)}-layer plan; is it dlib_face_recognition_resnet_model_v1.dat?")
    names = {id(m): n for n, m in bb.named_modules()}
    out: Dict[str, torch.Tensor] = {}

    def put(module: nn.Module, attr: str, value: np.ndarray, layer) -> None:
        key = f"{prefix}{names[id(module)]}.{attr}"
        want = tuple(getattr(module, attr).shape)
        if tuple(value.shape) != want:
            raise ModelFormatError(f"dlib layer {layer.kind} at byte {layer.offset}: {attr} has shape "
                                   f"{tuple(value.shape)}, dlib_resnet expects {want} (check widths/in_chans)")
        out[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))

    mean = np.asarray(network.input_settings.get("mean_rgb", _DLIB_MEANS_0_255), np.float64) / 255.0
    for layer, (kind, module) in zip(network.layers, plan):
        if kind == "con_4":
            w, b = layer.weights["weight"], layer.weights["bias"]
            if module is bb.stem_conv and bb.in_chans == 1 and w.shape[1] == 3:
                # gray card (mean DLIB_GRAY_MEAN) → the RGB means dlib subtracts: shift the bias by the offset
                shift = (DLIB_GRAY_MEAN - mean) / DLIB_STD  # per input channel, normalised units
                b = b + (w.sum(axis=(2, 3)) * shift[None, :]).sum(axis=1).astype(np.float32)
                w = w.sum(axis=1, keepdims=True)
            put(module, "weight", w, layer)
            put(module, "bias", b, layer)
        elif kind == "affine_":
            put(module, "weight", layer.weights["gamma"], layer)
            put(module, "bias", layer.weights["beta"], layer)
        elif kind == "fc_2" and module is not None:
            put(module, "weight", layer.weights["weight"], layer)
    return out


def load_dlib_weights(model: nn.Module, path: Union[str, Path]) -> Tuple[List[str], List[str]]:
    """Load a dlib ``.dat`` into ``model``'s dlib backbone; returns (missing, unexpected) keys like
    ``load_state_dict`` (missing = the classifier head, which keeps its fresh initialisation)."""
    from ..dlib_format import read_dlib_network

    result = model.load_state_dict(dlib_state_dict(model, read_dlib_network(path)), strict=False)
    return list(result.missing_keys), list(result.unexpected_keys)
