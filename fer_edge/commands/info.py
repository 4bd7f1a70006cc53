"""`fer-edge info MODEL`: the card, inputs/outputs and precision of a model file."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="model .onnx/.engine (default: the bundled model)")
    p.add_argument("--json", action="store_true", help="print the card as JSON only")
    p.add_argument("--no-integrity-check", action="store_true",
                   help="load a model whose graph or card was edited after export (skip the card's integrity record)")


def run(args: argparse.Namespace) -> int:
    from ..backends import backend_from_path
    from ..recognizer import default_model_path
    from ..safe_text import terminal_safe as safe

    path = args.model or default_model_path()
    from ..backends import BackendOptions

    options = BackendOptions(check_integrity=not getattr(args, "no_integrity_check", False))
    with backend_from_path(path, threads=1, options=options) as backend:
        card = backend.card
        if args.json:
            print(card.to_json(indent=2))
            return 0
        print(f"model:      {safe(path)}")
        print(f"name:       {safe(card.name)} (arch {safe(card.arch or '?')}, version {safe(card.version)})")
        details = backend.details()
        print(f"backend:    {details['label']}")
        print(f"precision:  {details['precision']}")
        record = card.integrity
        checked = "checked" if options.check_integrity else "NOT checked (--no-integrity-check)"
        print(f"integrity:  {'sha256 ' + str(record.get('digest', ''))[:16] + '..., ' + checked if record else 'none'}")
        for key in ("tensorrt_version", "gpu", "compute_capability", "profile", "built_utc", "engine_build_s"):
            if details.get(key) is not None:
                print(f"{key + ':':<11} {safe(details[key])}")
        print(f"labels:     {safe(', '.join(card.labels))}")
        h, w = card.input_size
        print(f"input:      {card.channels}x{h}x{w} {card.color}, mean {card.mean}, std {card.std}, "
              f"crop margin {card.crop_margin}, output {card.output}")
        for name, shape, dtype in backend.io_summary():
            print(safe(f"  tensor {name}: {list(shape)} {dtype}"))
        if card.metrics:
            print("metrics:    " + json.dumps(card.metrics, sort_keys=True))
        if card.provenance:
            print("provenance: " + json.dumps(card.provenance, sort_keys=True))
    return 0
