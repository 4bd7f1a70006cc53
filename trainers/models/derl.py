"""De-expression residue learning (Yang, Ciftci & Yin, CVPR 2018): a generator that turns a face into the same
person's neutral face, and a classifier that reads the expressive "residue" left in the generator's decoder.

The generator is a small conditional encoder–decoder (pix2pix-style U-Net: three stride-2 encoder stages, three
upsampling decoder stages with skip connections, tanh output in the normalised image range). The residue
classifier takes the outputs of the decoder stages (12², 24², 48² at 48 px input), reduces each with two stride-2
conv-BN-ReLU layers and global pooling, concatenates them, and classifies through one hidden layer (the
``"features"`` the locality-preserving loss reads; DLP-DeRL, Ullah et al. 2019).

As in the paper's second stage, the classifier does not train the generator: the residue is detached, so only the
de-expression objective (adversarial + "neutral" + identity terms, ``trainers/losses/derl_gan.py``) moves the
generator. ``forward(x)`` (what ONNX export sees) runs the encoder, the decoder and the classifier; the generated
image is only made by ``forward_train``.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import torch
from torch import nn

from fer_edge.errors import InvalidInputError

from .common import ConvBNAct, init_weights
from .registry import register_model

__all__ = ["DeExpressionGenerator", "DeRLNet"]


class DeExpressionGenerator(nn.Module):
    """U-Net encoder–decoder: (n, c, H, W) → neutral face (n, c, H, W) in [−1, 1] and the decoder stage outputs.

    Args:
        in_chans: 1 or 3.
        width: channels of the first stage (doubled per encoder stage).
    """

    def __init__(self, in_chans: int = 1, width: int = 16):
        super().__init__()
        w = int(width)
        self.enc1 = ConvBNAct(in_chans, w, 3, 2)  # H/2
        self.enc2 = ConvBNAct(w, 2 * w, 3, 2)  # H/4
        self.enc3 = ConvBNAct(2 * w, 4 * w, 3, 2)  # H/8 (bottleneck)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec3 = ConvBNAct(4 * w + 2 * w, 2 * w, 3, 1)  # H/4, on [upsampled bottleneck, enc2]
        self.dec2 = ConvBNAct(2 * w + w, w, 3, 1)  # H/2, on [upsampled dec3, enc1]
        self.dec1 = ConvBNAct(w, w, 3, 1)  # H
        self.to_image = nn.Sequential(nn.Conv2d(w, in_chans, 3, padding=1), nn.Tanh())
        self.residue_channels: Tuple[int, ...] = (2 * w, w, w)

    def decode(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The decoder stage outputs [H/4, H/2, H] — the residue the classifier reads."""
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d3 = self.dec3(torch.cat([self.up(e3), e2], dim=1))
        d2 = self.dec2(torch.cat([self.up(d3), e1], dim=1))
        d1 = self.dec1(self.up(d2))
        return [d3, d2, d1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_image(self.decode(x)[-1])


class _ResidueBranch(nn.Sequential):
    """Two stride-2 conv-BN-ReLU layers and global average pooling: one decoder stage → a vector."""

    def __init__(self, cin: int, width: int):
        super().__init__(ConvBNAct(cin, width // 2, 3, 2), ConvBNAct(width // 2, width, 3, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())


class DeRLNet(nn.Module):
    """De-expression generator + residue classifier (see the module docstring).

    Args:
        num_classes: C.
        in_chans: 1 or 3.
        width: generator width (first-stage channels).
        branch_width: output size of each residue branch.
        hidden: size of the fused residue features (``feature_dim``).
        dropout: dropout before the last linear layer.
        detach_residue: keep the classifier's gradient out of the generator (the paper's second stage).
    """

    def __init__(self, num_classes: int, in_chans: int = 1, width: int = 16, branch_width: int = 64,
                 hidden: int = 128, dropout: float = 0.2, detach_residue: bool = True):
        super().__init__()
        if width < 2 or branch_width < 2 or hidden < 1:
            raise InvalidInputError(f"derl needs width >= 2, branch_width >= 2 and hidden >= 1, got {width}, "
                                    f"{branch_width}, {hidden}")
        self.generator = DeExpressionGenerator(in_chans, width)
        self.branches = nn.ModuleList(_ResidueBranch(c, branch_width) for c in self.generator.residue_channels)
        self.fuse = nn.Sequential(nn.Linear(branch_width * len(self.branches), hidden), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_classes)
        self.feature_dim = int(hidden)
        self.detach_residue = bool(detach_residue)
        init_weights(self)
        self.fuse[0].reset_parameters()  # a hidden layer before ReLU: PyTorch's fan-in init, not the small-normal one

    def _classify(self, residue: List[torch.Tensor]) -> Dict[str, torch.Tensor]:
        if self.detach_residue:
            residue = [r.detach() for r in residue]
        feats = self.fuse(torch.cat([b(r) for b, r in zip(self.branches, residue)], dim=1))
        return {"logits": self.classifier(self.dropout(feats)), "features": feats}

    def forward_train(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Logits and features of the residue classifier, the generated neutral face and the input it came from."""
        residue = self.generator.decode(x)
        out = self._classify(residue)
        out["generated"] = self.generator.to_image(residue[-1])
        out["derl_input"] = x
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._classify(self.generator.decode(x))["logits"]


@register_model("derl")
def derl(num_classes: int, in_chans: int = 1, **kw) -> DeRLNet:
    """DeRL: de-expression generator + residue classifier (train with ``loss: derl`` or ``loss: dlp_derl``)."""
    return DeRLNet(num_classes, in_chans, **kw)
