"""Seal the bundled models: write integrity records into fer_edge/assets/*.onnx (issue 18).

    python tools/seal_assets.py [--check]

Classifiers get the record in their card (and its JSON copy beside the model); the face detectors, which have no
card, get a ``fer_edge.integrity`` metadata entry. Only ``metadata_props`` changes: the script asserts that every
other byte of the model (graph, weights, opsets) is identical before and after, and that ONNX Runtime gives
bit-identical outputs on a probe batch, so the weights and the accuracy in the card stay what they were.
``--check`` writes nothing and exits 1 when an asset is not sealed or its record does not match.
Needs the [export] extra (onnx).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parents[1] / "fer_edge" / "assets"
CLASSIFIERS = ("ferplus_default.onnx", "ferplus_default_fp32.onnx")
DETECTORS = ("blazeface_short.onnx", "blazeface_full.onnx", "yunet.onnx")  # no card: a metadata record


def _outputs(path: Path, card) -> np.ndarray:
    from fer_edge.engines.artifact import ort_session, probe_batch, run_session

    return run_session(ort_session(path), probe_batch(card, n=16))


def seal(path: Path) -> bool:
    """Seal one asset in place; True when it changed."""
    from fer_edge.engines.artifact import attach_card, card_from_model, load_onnx

    from fer_edge.atomic import atomic_write_bytes
    from fer_edge.integrity import ModelBytes, read_model_bytes, verify_integrity

    before = read_model_bytes(path)
    parsed = ModelBytes(before, path.name)
    card = parsed.card()
    if card.integrity and verify_integrity(parsed, card):
        write_sidecar(path, card)
        return False
    model = load_onnx(path)
    sealed = attach_card(model, card_from_model(model, path.name))
    after = model.SerializeToString()
    if ModelBytes(after).covered != parsed.covered:
        raise SystemExit(f"{path.name}: re-serialising changed bytes outside the metadata; refusing to write")
    reference = _outputs(path, card)
    atomic_write_bytes(path, after)
    if not np.array_equal(_outputs(path, card), reference):
        atomic_write_bytes(path, before)
        raise SystemExit(f"{path.name}: outputs changed after sealing; restored the original")
    write_sidecar(path, sealed)
    return True


def write_sidecar(path: Path, sealed) -> None:
    """The JSON copy of the card beside the model: same key order as before, plus the integrity record."""
    sidecar = path.with_suffix(".json")
    if not sidecar.exists():
        return
    from fer_edge.atomic import atomic_write_bytes

    d = json.loads(sidecar.read_text())
    d["integrity"] = sealed.integrity
    from fer_edge.card import ModelCard

    if ModelCard.from_dict(d) != sealed:
        raise SystemExit(f"{sidecar.name} differs from the card inside {path.name}; fix it first")
    atomic_write_bytes(sidecar, (json.dumps(d, indent=2) + "\n").encode())


def _raw_outputs(path: Path):
    from fer_edge.engines.artifact import ort_session

    session = ort_session(path)
    feeds = {}
    for i in session.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 64 for d in i.shape]
        feeds[i.name] = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    return session.run(None, feeds)


def seal_detector(path: Path) -> bool:
    """Add (or refresh) the ``fer_edge.integrity`` metadata entry of a card-less asset; True when it changed."""
    from fer_edge.engines.artifact import load_onnx

    from fer_edge.atomic import atomic_write_bytes
    from fer_edge.integrity import (
        FILE_RECORD_KEY,
        ModelBytes,
        file_integrity_record,
        read_model_bytes,
        verify_file_integrity,
    )

    before = read_model_bytes(path)
    parsed = ModelBytes(before, path.name)
    try:
        if verify_file_integrity(parsed):
            return False
    except Exception:  # a stale record: write a fresh one
        pass
    model = load_onnx(path)
    keep = [(p.key, p.value) for p in model.metadata_props if p.key != FILE_RECORD_KEY]
    record = file_integrity_record(model.SerializeToString())
    del model.metadata_props[:]
    for key, value in keep + [(FILE_RECORD_KEY, record)]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    after = model.SerializeToString()
    if ModelBytes(after).covered != parsed.covered:
        raise SystemExit(f"{path.name}: re-serialising changed bytes outside the metadata; refusing to write")
    reference = _raw_outputs(path)
    atomic_write_bytes(path, after)
    if not all(np.array_equal(a, b) for a, b in zip(_raw_outputs(path), reference)):
        atomic_write_bytes(path, before)
        raise SystemExit(f"{path.name}: outputs changed after sealing; restored the original")
    assert verify_file_integrity(ModelBytes(after, path.name))
    return True


def check(path: Path) -> str:
    from fer_edge.errors import ModelFormatError
    from fer_edge.integrity import ModelBytes, read_model_bytes, verify_file_integrity, verify_integrity

    parsed = ModelBytes(read_model_bytes(path), path.name)
    try:
        if path.name in DETECTORS:
            return "sealed" if verify_file_integrity(parsed) else "NOT SEALED"
        return "sealed" if verify_integrity(parsed, parsed.card()) else "NOT SEALED"
    except ModelFormatError as exc:
        return f"MISMATCH ({exc})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify only; exit 1 if an asset is not sealed")
    args = parser.parse_args(argv)
    bad = 0
    for name in CLASSIFIERS + DETECTORS:
        path = ASSETS / name
        if args.check:
            state = check(path)
            bad += state != "sealed"
            print(f"{name}: {state}")
        else:
            changed = seal_detector(path) if name in DETECTORS else seal(path)
            print(f"{name}: {'sealed now' if changed else 'already sealed'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
