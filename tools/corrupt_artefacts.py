"""Generate damaged and hostile model artefacts for the corrupt-artefact suite (docs/reliability.md).

    python tools/corrupt_artefacts.py OUT_DIR        # writes the variants and prints one line per variant

Each variant is a file (or a directory, FIFO, symlink loop...) that ``Recognizer`` and ``fer-edge info`` must
either refuse with a typed ``FerEdgeError`` ("refuse") or load and run with outputs identical to the intact model
("same"). Nothing here is random at run time: bit-flip positions come from a fixed seed. Needs the [export] extra
(onnx) to build the graphs.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List

import numpy as np

REFUSE = "refuse"
SAME = "same"  # loads, and its outputs equal the intact model's
SEED = 18


@dataclass(frozen=True)
class Variant:
    name: str
    path: Path
    expect: str  # REFUSE or SAME
    why: str


def _card(**changes):
    from fer_edge.card import FERPLUS_LABELS, ModelCard

    base = dict(labels=FERPLUS_LABELS, input_size=(48, 48), color="gray", mean=(0.5,), std=(0.5,), name="tiny-corrupt",
                arch="tiny", version="1", metrics={"acc": 0.5}, provenance={"tool": "corrupt_artefacts"})
    base.update(changes)
    return ModelCard(**base)


def _graph(*, weights=None, classes: int = 8, input_type=None, batch_reshape: bool = False, duplicate_rows=False,
           external: str = ""):
    """A tiny classifier graph: logits = mean(x) * w + b (bright crops → class 1, dark → class 2)."""
    from onnx import TensorProto, helper, numpy_helper

    w = np.zeros((1, classes), np.float32) if weights is None else np.asarray(weights, np.float32)
    if weights is None:
        w[0, 1], w[0, 2] = 4.0, -4.0
    b = np.zeros((classes,), np.float32)
    nodes = []
    src = "input"
    if input_type is not None:
        nodes.append(helper.make_node("Cast", ["input"], ["input_f"], to=TensorProto.FLOAT))
        src = "input_f"
    nodes += [helper.make_node("GlobalAveragePool", [src], ["pooled"]),
              helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
              helper.make_node("Gemm", ["flat", "w", "b"], ["logits0"])]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    out = "logits0"
    if batch_reshape:  # hard-wired to one image per call
        inits.append(numpy_helper.from_array(np.array([1, classes], np.int64), "shape1"))
        nodes.append(helper.make_node("Reshape", ["logits0", "shape1"], ["logits"]))
        out = "logits"
    elif duplicate_rows:  # two output rows per input
        nodes.append(helper.make_node("Concat", ["logits0", "logits0"], ["logits"], axis=0))
        out = "logits"
    else:
        nodes.append(helper.make_node("Identity", ["logits0"], ["logits"]))
        out = "logits"
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input", input_type or TensorProto.FLOAT, ["batch", 1, 48, 48])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["rows", classes])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if external:
        tensor = model.graph.initializer[0]
        tensor.ClearField("raw_data")
        tensor.ClearField("float_data")
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", external), ("offset", "0"), ("length", str(4 * classes))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    return model


def _sealed(model, card, path: Path) -> Path:
    from fer_edge.engines.artifact import attach_card

    attach_card(model, card)
    path.write_bytes(model.SerializeToString())
    return path


def _raw_card(model, text: str, path: Path, copies: int = 1) -> Path:
    """Write ``text`` as the card entry (``copies`` times) without sealing: a card edited by hand."""
    from fer_edge.card import CARD_METADATA_KEY

    del model.metadata_props[:]
    for _ in range(copies):
        entry = model.metadata_props.add()
        entry.key, entry.value = CARD_METADATA_KEY, text
    path.write_bytes(model.SerializeToString())
    return path


def intact_model(path: Path) -> Path:
    """The reference: a sealed tiny classifier."""
    return _sealed(_graph(), _card(), path)


def generate(out: Path) -> List[Variant]:
    """Write every variant into ``out`` (created) and return them."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    good = intact_model(out / "intact.onnx")
    data = good.read_bytes()
    variants: List[Variant] = [Variant("intact", good, SAME, "the reference model")]

    def add(name: str, expect: str, why: str, make: Callable[[Path], Path], suffix: str = ".onnx") -> None:
        path = out / f"{name}{suffix}"
        variants.append(Variant(name, make(path), expect, why))

    def bytes_variant(blob: bytes) -> Callable[[Path], Path]:
        def make(path: Path) -> Path:
            path.write_bytes(blob)
            return path
        return make

    # --- truncations
    for frac in (0.0, 0.01, 0.1, 0.5, 0.9, 0.999):
        n = int(len(data) * frac)
        add(f"truncated_{n}B", REFUSE, f"first {n} of {len(data)} bytes", bytes_variant(data[:n]))
    add("appended_garbage", REFUSE, "junk bytes after the model", bytes_variant(data + b"\xff\x00junk"))
    # --- bit flips at seeded positions (any flip must be refused or change nothing)
    rng = np.random.default_rng(SEED)
    for i, pos in enumerate(sorted(rng.choice(len(data), size=12, replace=False))):
        blob = bytearray(data)
        blob[int(pos)] ^= 1 << int(rng.integers(0, 8))
        add(f"bitflip_{i:02d}_at_{int(pos)}", REFUSE + "|" + SAME, "one flipped bit", bytes_variant(bytes(blob)))
    # --- card tampering, field by field (card edited after export: the integrity record no longer matches)
    from onnx import TensorProto

    sealed = json.loads(_card().replace(integrity={}).to_json())
    from fer_edge.engines.artifact import attach_card

    sealed_card = attach_card(_graph(), _card())
    base_card = json.loads(sealed_card.to_json())
    tampers = {
        "labels": list(reversed(base_card["labels"])),
        "input_size": [64, 64],
        "color": "rgb",
        "mean": [0.4],
        "std": [0.25],
        "interpolation": "nearest",
        "crop_margin": 1.5,
        "output": "probs",
        "precision": "int8",
        "name": "renamed",
        "arch": "other",
        "version": "2",
        "metrics": {"acc": 0.99},
        "provenance": {"tool": "someone else"},
        "schema_version": 2,
        "integrity": dict(base_card["integrity"], digest="0" * 64),
    }
    for field_name, value in tampers.items():
        d = dict(base_card)
        d[field_name] = value
        add(f"card_{field_name}", REFUSE, f"card field {field_name} edited after sealing",
            lambda p, d=d: _raw_card(_graph(), json.dumps(d), p))
    add("card_integrity_unknown_scheme", REFUSE, "integrity record of an unknown kind",
        lambda p: _raw_card(_graph(), json.dumps(dict(base_card, integrity={"algorithm": "md5", "digest": "x"})), p))
    add("card_unknown_field", REFUSE, "an unknown card field",
        lambda p: _raw_card(_graph(), json.dumps(dict(base_card, colour="gray")), p))
    add("card_labels_string", REFUSE, "labels given as one string",
        lambda p: _raw_card(_graph(), json.dumps(dict(sealed, labels="neutral,happy")), p))
    add("card_std_tiny", REFUSE, "std 1e-300", lambda p: _raw_card(_graph(), json.dumps(dict(sealed, std=[1e-300])), p))
    add("card_mean_nan", REFUSE, "NaN mean",
        lambda p: _raw_card(_graph(), json.dumps(dict(sealed, mean=[float("nan")])), p))
    add("card_not_json", REFUSE, "card is not JSON", lambda p: _raw_card(_graph(), "{labels: nope", p))
    add("card_escape_sequences", REFUSE, "terminal escape sequences in a label",
        lambda p: _raw_card(_graph(), json.dumps(dict(sealed, labels=["\x1b[2J\x1b[31mpwned"] + sealed["labels"][1:])),
                            p))
    add("card_duplicated", REFUSE, "two card entries",
        lambda p: _raw_card(_graph(), sealed_card.to_json(), p, copies=2))
    add("card_missing", REFUSE, "no card at all", lambda p: _raw_card(_graph(), "", p, copies=0))
    add("card_unsealed", SAME, "a card without integrity record (exported before records existed): loads unverified",
        lambda p: _raw_card(_graph(), json.dumps(sealed), p))
    # --- other graphs (sealed, so only the graph itself is wrong)
    add("graph_inf_weight", REFUSE, "an inf weight (would give NaN confidences)",
        lambda p: _sealed(_graph(weights=np.full((1, 8), np.inf, np.float32)), _card(), p))
    add("graph_nan_weight", REFUSE, "a NaN weight",
        lambda p: _sealed(_graph(weights=np.full((1, 8), np.nan, np.float32)), _card(), p))
    add("graph_logits_under_probs_card", REFUSE, "card says probs, graph gives logits",
        lambda p: _sealed(_graph(), _card(output="probs"), p))
    add("graph_more_rows_than_inputs", REFUSE, "two output rows per input",
        lambda p: _sealed(_graph(duplicate_rows=True), _card(), p))
    add("graph_batch_hardwired_1", REFUSE, "reshape to batch 1 inside the graph",
        lambda p: _sealed(_graph(batch_reshape=True), _card(), p))
    add("graph_uint8_input", REFUSE, "uint8 input graph",
        lambda p: _sealed(_graph(input_type=TensorProto.UINT8), _card(), p))
    add("graph_7_classes_8_labels", REFUSE, "7 outputs, 8 labels",
        lambda p: _sealed(_graph(classes=7), _card(), p))
    add("graph_detector_as_classifier", REFUSE, "the bundled face detector passed as a classifier",
        lambda p: bytes_variant((Path(__file__).resolve().parents[1] / "fer_edge/assets/blazeface_short.onnx")
                                .read_bytes())(p))
    add("not_onnx_png", REFUSE, "a PNG renamed .onnx", bytes_variant(b"\x89PNG\r\n\x1a\n" + bytes(200)))
    add("not_onnx_text", REFUSE, "a text file renamed .onnx", bytes_variant(b"this is not a model\n" * 10))
    # --- external data paths (the graph points its weights at files)
    (out / "weights.bin").write_bytes(np.zeros(64, np.float32).tobytes())
    for name, location in (("external_parent_dir", "../../../../etc/passwd"), ("external_absolute", "/etc/passwd"),
                           ("external_missing", "missing_weights.bin"), ("external_beside", "weights.bin")):
        add(name, REFUSE, f"initializer stored as external data at {location!r}",
            lambda p, loc=location: _sealed(_graph(external=loc), _card(), p))
    # --- things that are not regular files
    add("directory", REFUSE, "a directory named .onnx", lambda p: (p.mkdir(exist_ok=True), p)[1])
    if hasattr(os, "mkfifo"):
        add("fifo", REFUSE, "a FIFO (a reader would block forever)",
            lambda p: (p.exists() or os.mkfifo(p), p)[1])
    add("symlink_loop", REFUSE, "a symlink pointing at itself",
        lambda p: (p.is_symlink() or os.symlink(p.name, p), p)[1])
    add("dangling_symlink", REFUSE, "a symlink to nothing",
        lambda p: (p.is_symlink() or os.symlink("nowhere.onnx", p), p)[1])
    add("missing_file", REFUSE, "no such file", lambda p: p)

    def unreadable(p: Path) -> Path:
        if p.exists():
            p.unlink()  # a rerun: the old copy cannot be overwritten by a non-root user
        p.write_bytes(data)
        p.chmod(0)
        return p

    # root reads anything: there the file loads like the intact one
    add("unreadable", REFUSE + "|" + SAME, "permissions 000", unreadable)
    add("wrong_suffix", REFUSE, "a model named .pt", bytes_variant(data), suffix=".pt")
    return variants


def main(argv: List[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    for v in generate(Path(argv[0])):
        print(f"{v.expect:12s} {v.name:36s} {v.why}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
