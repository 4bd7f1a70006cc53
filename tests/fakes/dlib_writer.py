"""Write a dlib_resnet backbone in dlib's own serialisation (what ``dlib::serialize(net, out)`` writes for the face
ResNet), so the reader and the module are tested without the 22 MB .dat — and, with dlib installed, dlib itself can
load the file. Independent of ``trainers/dlib_format.py``: encodings written from dlib's headers, never from the
reader."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def w_int(value: int, signed: bool = True) -> bytes:
    neg = value < 0
    mag = -value if neg else value
    body = mag.to_bytes(max(1, (mag.bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if neg and signed else 0)]) + body


def w_float(value: float) -> bytes:
    """dlib's float_details for a double: mantissa (53 bits, trailing zero bytes shifted off) and exponent."""
    if math.isinf(value):
        return w_int(0) + w_int(32000 if value > 0 else 32001)
    frac, exp = math.frexp(value)
    mantissa, exponent = int(frac * (1 << 53)), exp - 53
    for _ in range(8):
        if mantissa & 0xFF:
            break
        mantissa >>= 8
        exponent += 8
    return w_int(mantissa) + w_int(exponent)


def w_str(text: str) -> bytes:
    return w_int(len(text)) + text.encode("ascii")


def w_bool(value: bool) -> bytes:
    return b"1" if value else b"0"


def w_tensor(arr, shape=None) -> bytes:
    a = np.asarray(arr, dtype="<f4")
    shape = tuple(shape) if shape is not None else (a.size, 1, 1, 1)
    return w_int(2) + b"".join(w_int(s) for s in shape) + a.reshape(-1).tobytes()


def w_alias(shape) -> bytes:
    return w_int(1) + b"".join(w_int(s) for s in shape)


def _t(param) -> np.ndarray:
    return param.detach().cpu().numpy().astype(np.float32)


def _details(kind: str, module) -> bytes:
    if kind == "con_4":
        w, b = _t(module.weight), _t(module.bias)
        out, cin, nr, nc = w.shape
        stride, pad = module.stride[0], module.padding[0]
        return (w_str("con_4") + w_tensor(np.concatenate([w.reshape(-1), b])) + w_int(out) + w_int(nr)
                + w_int(nc) + w_int(stride) + w_int(stride) + w_int(pad) + w_int(pad)
                + w_alias((out, cin, nr, nc)) + w_alias((1, out, 1, 1))
                + w_float(1.0) + w_float(1.0) + w_float(1.0) + w_float(0.0))
    if kind == "affine_":
        g, b = _t(module.weight), _t(module.bias)
        k = g.size
        return (w_str("affine_") + w_tensor(np.concatenate([g, b]), (2 * k, 1, 1, 1)) + w_alias((1, k, 1, 1))
                + w_alias((1, k, 1, 1)) + w_int(0))
    if kind in ("max_pool_2", "avg_pool_2"):
        if module is None:  # avg_pool_everything
            return w_str(kind) + w_int(0) + w_int(0) + w_int(1) + w_int(1) + w_int(0) + w_int(0)
        k, s = module.kernel_size, module.stride
        k = k if isinstance(k, int) else k[0]
        s = s if isinstance(s, int) else s[0]
        return w_str(kind) + w_int(k) + w_int(k) + w_int(s) + w_int(s) + w_int(0) + w_int(0)
    if kind == "fc_2":
        w = _t(module.weight)  # (out, in); dlib stores (in, out)
        out, cin = w.shape
        return (w_str("fc_2") + w_int(out) + w_int(cin) + w_tensor(w.T.reshape(-1), (cin, out, 1, 1))
                + w_alias((cin, out, 1, 1)) + w_alias((0, 0, 0, 0)) + w_int(1)
                + w_float(1.0) + w_float(1.0) + w_float(1.0) + w_float(0.0))
    return w_str(kind)  # relu_, add_prev_


def _state(innermost: bool) -> bytes:
    empty = w_tensor([], (0, 0, 0, 0))
    return w_bool(True) + w_bool(True) + w_bool(False) + empty * 3 + (w_int(1) if innermost else b"")


def dlib_network_bytes(backbone, mean_rgb=(122.782, 117.001, 104.298), size: int = 150) -> bytes:
    """A ``loss_metric<fc_no_bias<avg_pool_everything<…>>>`` network file for a descriptor=True backbone."""
    plan = backbone.dlib_plan()
    versions = [3 if i == 0 else (1 if kind in ("tag", "skip") else 2) for i, (kind, _) in enumerate(plan)]
    out = [w_int(1), w_str("loss_metric_2"), w_float(0.04), w_float(0.6)]
    out += [w_int(v) for v in reversed(versions)]
    out += [w_str("input_rgb_image_sized")] + [w_float(m) for m in mean_rgb] + [w_int(size), w_int(size)]
    for i, (kind, module) in enumerate(plan):
        if kind in ("tag", "skip"):
            continue
        out.append(_details(kind, module) + _state(i == 0))
    return b"".join(out)


def write_dlib_network(backbone, path: Path, **kw) -> Path:
    Path(path).write_bytes(dlib_network_bytes(backbone, **kw))
    return Path(path)
