"""`fer-edge eval-detector IMAGES --truth FILE`: recall by face size, precision, false boxes, IoU and latency."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path
from typing import List, Tuple

from ..detect.registry import detector_names
from ..errors import InvalidInputError

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    names = [n for n in detector_names() if n != "none"]
    p.add_argument("images", help="folder of images (or one image) named as in the truth file")
    p.add_argument("--truth", required=True,
                   help="labelled faces: dlib imglab .xml, VOC .xml (or a folder of them), or .csv "
                        "with header image,x1,y1,x2,y2 (empty box = image without faces)")
    p.add_argument("--detector", nargs="+", choices=names, default=names, metavar="NAME",
                   help=f"detectors to evaluate (default: all of {', '.join(names)})")
    p.add_argument("--iou", type=float, default=0.4, help="IoU a detection needs to find a labelled face (0.4)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per detector (default 1)")
    p.add_argument("--repeat", type=int, default=3, help="timed detect() calls per image; median kept (default 3)")
    p.add_argument("--score-threshold", type=float, help="override every detector's score threshold")
    p.add_argument("--min-face", type=float, help="drop detections smaller than this many pixels")
    p.add_argument("--unlisted-empty", action="store_true",
                   help="images in the folder but not in the truth file have no faces (count their false boxes)")
    p.add_argument("--out", help="folder for detector_eval.json and detector_eval.md")


def _load_images(source: Path, truth, unlisted_empty: bool) -> List[Tuple[str, object]]:
    import cv2
    import numpy as np

    from ..detect.evaluate import ImageTruth
    from ..video import image_files

    if source.is_file():
        folder, files = source.parent, [source]
    elif source.is_dir():
        folder, files = source, image_files(source)
    else:
        raise InvalidInputError(f"{source} does not exist; pass the folder holding the labelled images")
    names = {f.name for f in files}
    missing = sorted(n for n in truth if n not in names and not (folder / n).is_file())
    if source.is_dir() and missing:
        raise InvalidInputError(f"{len(missing)} labelled image(s) are not in {folder}: {missing[:5]}")
    wanted = [n for n in sorted(truth) if source.is_dir() or n == source.name]
    if unlisted_empty:
        for n in sorted(names - set(truth)):
            truth[n] = ImageTruth(np.zeros((0, 4)))
            wanted.append(n)
    elif names - set(truth):
        log.info("%d image(s) in %s are not in the truth file and are skipped (--unlisted-empty counts them)",
                 len(names - set(truth)), folder)
    if not wanted:
        raise InvalidInputError(f"none of the images in {source} is in the truth file")
    images = []
    for n in wanted:
        frame = cv2.imread(str(folder / n), cv2.IMREAD_COLOR)
        if frame is None:
            raise InvalidInputError(f"{folder / n} is not a readable image")
        images.append((n, frame))
    return images


def run(args: argparse.Namespace) -> int:
    from ..atomic import atomic_write_bytes
    from ..detect import create_detector
    from ..detect.evaluate import evaluate_detector, markdown_table, read_truth

    if args.threads is not None and args.threads < 1:
        raise InvalidInputError(f"--threads must be >= 1, got {args.threads}")
    if args.repeat < 1:
        raise InvalidInputError(f"--repeat must be >= 1, got {args.repeat}")
    truth = read_truth(args.truth)
    images = _load_images(Path(args.images), truth, args.unlisted_empty)
    options = {"threads": args.threads}
    if args.score_threshold is not None:
        options["score_threshold"] = args.score_threshold
    if args.min_face is not None:
        options["min_face"] = args.min_face
    results = []
    for name in args.detector:
        detector = create_detector(name, **options)
        try:
            results.append(evaluate_detector(detector, images, truth, iou=args.iou, repeat=args.repeat, name=name))
        finally:
            detector.close()
    command = "fer-edge eval-detector " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    table = markdown_table(results, args.iou)
    sys.stdout.write(table)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        report = {"command": command.strip(), "truth": str(args.truth), "images": str(args.images),
                  "iou": args.iou, "threads": args.threads, "repeat": args.repeat, "results": results}
        atomic_write_bytes(out / "detector_eval.json", (json.dumps(report, indent=2) + "\n").encode())
        md = f"# Detector evaluation\n\n```\n{command.strip()}\n```\n\n{table}"
        atomic_write_bytes(out / "detector_eval.md", md.encode())
        print(f"wrote {out / 'detector_eval.json'} and {out / 'detector_eval.md'}")
    return 0
