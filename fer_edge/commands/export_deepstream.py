"""`fer-edge export-deepstream MODEL --out DIR`: an nvinfer secondary-classifier config, labels and sample app."""

from __future__ import annotations

import argparse

# The runtime alone for an engine or a probabilities ONNX; a logits ONNX gets a Softmax appended, which needs onnx
# (checked where it is needed, so the common cases work without the extra).
REQUIRES = ()


def _ints(text: str):
    try:
        return tuple(int(v) for v in text.replace(";", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 0 or 0,2, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="classifier .onnx (with its card) or .engine/.plan (with its .json sidecar)")
    parser.add_argument("--out", required=True, help="output folder for the config, labels, model and sample app")
    parser.add_argument("--gie-id", type=int, default=2, help="this classifier's gie-unique-id (2)")
    parser.add_argument("--detector-gie-id", type=int, default=1, help="the face detector's gie-unique-id (1)")
    parser.add_argument("--face-class-ids", type=_ints, default=(0,), help="detector class ids that are faces (0)")
    parser.add_argument("--threshold", type=float, default=0.3, help="classifier-threshold (0.3)")
    parser.add_argument("--batch-size", type=int, default=16, help="faces per nvinfer batch (16)")
    parser.add_argument("--min-face", type=int, default=24, help="input-object-min-width/height in pixels (24)")
    parser.add_argument("--sync", action="store_true", help="classifier-async-mode=0 (classify every frame in line)")
    parser.add_argument("--name", help="file-name stem (default: the card's name)")
    parser.add_argument("--onnx", help="for an engine: the ONNX it was built from (default: its sidecar's onnx_path)")
    parser.add_argument("--force", action="store_true", help="replace same-named files in a non-empty folder")


def run(args: argparse.Namespace) -> int:
    from fer_edge.engines.deepstream import DeepStreamExportConfig, deepstream_config

    config = DeepStreamExportConfig(
        gie_unique_id=args.gie_id, operate_on_gie_id=args.detector_gie_id, operate_on_class_ids=args.face_class_ids,
        classifier_threshold=args.threshold, async_mode=not args.sync, batch_size=args.batch_size,
        min_object=(args.min_face, args.min_face), name=args.name, force=args.force,
    )
    paths = deepstream_config(args.model, args.out, config, onnx=args.onnx)
    for key, path in paths.items():
        print(f"{key:<7} {path}")
    print(f"run with: deepstream-app -c {paths['app']}  (after adding your face detector's config)")
    return 0
