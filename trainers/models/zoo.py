"""Registered names for each backbone with each head: ``<backbone>``, ``adcorre_<backbone>``, ``arm_<backbone>``.

The generic way to put a head on any backbone is the name prefix: ``adcorre_`` (Ad-Corre head), ``arm_`` (ARM
head), none (linear head), for backbones ``resnet18``, ``xception``, ``mobilenetv3_small``, ``mobilenetv3_large``
``resnet50``, ``dlib_resnet`` (dlib's face ResNet, ``dlib_resnet.py``), and ``edgenet`` (the edge CNN; ``variant=``
picks a registered EdgeNet preset, other kwargs go to
``EdgeNet``). ``resnet18_abp`` / ``resnet50_abp`` put an Accuracy Booster Plus block in every residual block and
default to Mish (Rahadika et al. 2021); ``edgenet`` takes ``abp=True`` and ``act="mish"`` as kwargs.
Head options are kwargs: ``k``, ``embed_dim``, ``dropout`` (Ad-Corre); ``grid``, ``dropout``, ``momentum`` (ARM);
``dropout`` (linear). Backbone option: ``act="mish"``. In code, ``heads.attach_head`` does the same for any module.
"""

from __future__ import annotations

from typing import Callable, Dict

from torch import nn

from .dlib_resnet import DlibResNetBackbone
from .heads import HEADS, attach_head
from .mobilenetv3 import LARGE, SMALL, MobileNetV3Backbone
from .registry import create_model, register_model
from .resnet import ResNet18Backbone
from .resnet50 import ResNet50Backbone
from .xception import XceptionBackbone

__all__ = ["BACKBONES"]

_HEAD_KEYS = {
    "linear": ("dropout", "hidden"),
    "adcorre": ("k", "embed_dim", "dropout"),
    "arm": ("grid", "dropout", "momentum"),
}


def _edgenet(in_chans: int, num_classes: int, variant=None, **kw) -> nn.Module:
    if variant:
        return create_model(variant, num_classes, in_chans, **kw)
    from .edgenet import EdgeNet

    return EdgeNet(num_classes, in_chans, **kw)


# name -> builder(in_chans, num_classes, **backbone_kw) -> backbone module
BACKBONES: Dict[str, Callable] = {
    "resnet18": lambda in_chans, num_classes, **kw: ResNet18Backbone(in_chans, **kw),
    "resnet18_abp": lambda in_chans, num_classes, act="mish", **kw: ResNet18Backbone(in_chans, act=act, abp=True,
                                                                                    **kw),
    "resnet50": lambda in_chans, num_classes, **kw: ResNet50Backbone(in_chans, **kw),
    "resnet50_abp": lambda in_chans, num_classes, act="mish", **kw: ResNet50Backbone(in_chans, act=act, abp=True,
                                                                                    **kw),
    "xception": lambda in_chans, num_classes, **kw: XceptionBackbone(in_chans, **kw),
    "mobilenetv3_small": lambda in_chans, num_classes, **kw: MobileNetV3Backbone(SMALL, in_chans, head_hidden=1024,
                                                                                 **kw),
    "mobilenetv3_large": lambda in_chans, num_classes, **kw: MobileNetV3Backbone(LARGE, in_chans, head_hidden=1280,
                                                                                 **kw),
    "edgenet": _edgenet,
    "dlib_resnet": lambda in_chans, num_classes, **kw: DlibResNetBackbone(in_chans, **kw),
}


def _make_factory(backbone: str, head: str) -> Callable:
    def factory(num_classes: int, in_chans: int = 3, **kw):
        head_kw = {k: kw.pop(k) for k in _HEAD_KEYS[head] if k in kw}
        if head == "adcorre" and backbone == "edgenet":
            head_kw.setdefault("embed_dim", 64)
        net = BACKBONES[backbone](in_chans, num_classes, **kw)
        if head == "linear" and getattr(net, "head_hidden", None):
            head_kw.setdefault("hidden", net.head_hidden)
            head_kw.setdefault("act", net.head_act)
        return attach_head(net, num_classes, head, **head_kw)

    factory.__name__ = f"{head}_{backbone}"
    factory.__doc__ = f"{backbone} backbone with the {head} head."
    return factory


for _bb in BACKBONES:
    for _head in HEADS:
        if _head == "linear" and _bb == "edgenet":
            continue  # EdgeNet registers its own plain classifiers
        register_model(_bb if _head == "linear" else f"{_head}_{_bb}")(_make_factory(_bb, _head))
