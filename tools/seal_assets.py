"""Re-seal the bundled classifiers: write the card's integrity record into fer_edge/assets/*.onnx (issue 18).

    python tools/seal_assets.py [--check]

Only the card in ``metadata_props`` changes (and its JSON copy beside the model): the script asserts that every
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
    if json.loads(sealed.to_json()) != d:
        raise SystemExit(f"{sidecar.name} differs from the card inside {path.name}; fix it first")
    atomic_write_bytes(sidecar, (json.dumps(d, indent=2) + "\n").encode())


def check(path: Path) -> str:
    from fer_edge.errors import ModelFormatError
    from fer_edge.integrity import ModelBytes, read_model_bytes, verify_integrity

    parsed = ModelBytes(read_model_bytes(path), path.name)
    try:
        return "sealed" if verify_integrity(parsed, parsed.card()) else "NOT SEALED"
    except ModelFormatError as exc:
        return f"MISMATCH ({exc})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify only; exit 1 if an asset is not sealed")
    args = parser.parse_args(argv)
    bad = 0
    for name in CLASSIFIERS:
        path = ASSETS / name
        if args.check:
            state = check(path)
            bad += state != "sealed"
            print(f"{name}: {state}")
        else:
            print(f"{name}: {'sealed now' if seal(path) else 'already sealed'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
