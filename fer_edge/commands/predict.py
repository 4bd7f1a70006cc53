"""`fer-edge predict`: images, folders, videos, cameras or streams → expressions (text/JSON + annotated output)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from ..detect.registry import DEFAULT_DETECTOR, detector_names
from ..errors import InvalidInputError
from ..video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, image_files, source_kind

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="image, folder of images, video file, camera index (0), URL, GStreamer pipeline, "
                   "or ROS bag (.mcap, .bag, .db3, rosbag2 folder)")
    p.add_argument("--model", help="classifier .onnx/.engine (default: the bundled model)")
    p.add_argument("--out", help="folder for annotated images/video and result files; for a ROS bag also "
                   "OUT.mcap (the output bag; CSV/JSONL go beside it)")
    p.add_argument("--json", action="store_true", help="print one JSON line per image instead of text")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=detector_names(),
                   help=f"face detector (default {DEFAULT_DETECTOR}; docs/detector.md); 'none' = inputs are face crops")
    p.add_argument("--threads", type=int, help="CPU threads (default: ONNX Runtime's choice)")
    p.add_argument("--score-threshold", type=float,
                   help="detector score threshold in [0, 1] (default: the detector's, 0.8 for yunet)")
    p.add_argument("--min-face", type=int, help="ignore faces smaller than this many pixels")
    p.add_argument("--tta", choices=["none", "flip"], help="test-time augmentation (default: the model card's; "
                   "flip = also classify the mirrored face: more accurate, ~1.6x classifier time)")
    p.add_argument("--preprocess", default="auto", choices=["auto", "cpu", "cuda"],
                   help="face-crop preprocessing: cpu (OpenCV), cuda (the cpp_ext kernel; an error if it cannot run "
                   "here), auto (the kernel with a TensorRT engine when it can run, else cpu)")
    video = p.add_argument_group("video and camera sources")
    video.add_argument("--csv", action="store_true", help="write one CSV row per face per frame to --out")
    video.add_argument("--jsonl", action="store_true", help="write one JSON line per face per frame to --out")
    video.add_argument("--show", action="store_true", help="live preview window (needs a display)")
    video.add_argument("--every", type=int, default=1, help="run detection every N frames, track in between")
    video.add_argument("--skip", type=int, default=1, help="process every Nth frame only")
    video.add_argument("--max-fps", type=float, help="limit the processing rate")
    video.add_argument("--no-track", action="store_true", help="disable tracking and smoothing")
    video.add_argument("--smoothing", choices=["ema", "window", "none"], default="ema",
                       help="how tracked expressions are smoothed over time (default ema)")
    ros = p.add_argument_group("ROS bags and live view (extras [ros], [foxglove])")
    ros.add_argument("--topic", help="image topic of the bag (sensor_msgs/Image or CompressedImage; default: the "
                     "bag's only image topic)")
    ros.add_argument("--foxglove", action="store_true", help="serve frames, boxes and expressions over the Foxglove "
                     "WebSocket protocol while processing (any source)")
    ros.add_argument("--port", type=int, default=8765, help="Foxglove server port (default 8765)")
    ros.add_argument("--host", default="127.0.0.1", help="Foxglove server interface (0.0.0.0 = reachable from the "
                     "network; default 127.0.0.1)")


def is_video_source(source: str) -> bool:
    """True for camera indices (``0``, ``/dev/video0``), URLs, GStreamer pipelines, video files and ROS bags."""
    if source_kind(source) in ("camera", "url", "gstreamer", "bag"):
        return True
    return Path(source).suffix.lower() in VIDEO_SUFFIXES


ANNOTATED_SUFFIX = "_annotated"


def image_paths(source: str, out: Optional[Path] = None) -> List[Path]:
    """The images ``source`` names; in a folder that is also ``out``, the annotated images written there are left
    out (re-running must not annotate its own output)."""
    path = Path(source)
    if path.is_dir():
        files = image_files(path)
        if out is not None and out.exists() and out.resolve() == path.resolve():
            ours = [f for f in files if f.stem.endswith(ANNOTATED_SUFFIX)]
            if ours:
                log.info("skipping %d annotated image(s) written by an earlier run in %s", len(ours), out)
                files = [f for f in files if not f.stem.endswith(ANNOTATED_SUFFIX)]
        if not files:
            raise InvalidInputError(f"No images ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
        return files
    if path.is_file():
        return [path]
    raise InvalidInputError(f"{source} does not exist; pass an image, a folder of images or a video")


def _frames(paths: List[Path]) -> Iterator[Tuple[Path, object]]:
    import cv2

    for path in paths:
        frame = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if frame is None:
            log.warning("skipping %s: not a readable image", path)
            continue
        if frame.dtype != "uint8":
            frame = cv2.convertScaleAbs(frame, alpha=255.0 / max(1, int(frame.max())))
        yield path, frame


def detector_options(args: argparse.Namespace) -> dict:
    """The detector keyword arguments the user set (--score-threshold, --min-face); absent ones are left out."""
    opts = {}
    for name in ("score_threshold", "min_face"):
        value = getattr(args, name, None)
        if value is not None:
            opts[name] = value
    return opts


def no_face_hint(detector: str, args: argparse.Namespace) -> str:
    """What to try when ``detector`` found no face in an image: another detector, looser options."""
    others = {"yunet": "yunet_far (faces down to ~20 px, ~4x slower)",
              "yunet_far": "blazeface_full (another model)",
              "blazeface": "yunet (faces from ~1/10 of the frame)",
              "blazeface_full": "yunet_far (faces down to ~20 px)"}
    tips = [f"--detector {others.get(detector, DEFAULT_DETECTOR)}"]
    if getattr(args, "min_face", None):
        tips.append(f"a smaller --min-face (now {args.min_face})")
    if getattr(args, "score_threshold", None) is not None:
        tips.append(f"a lower --score-threshold (now {args.score_threshold})")
    else:
        tips.append("a lower --score-threshold")
    tips.append("--detector none if the images are face crops")
    return f"no face found by detector {detector}; try " + ", ".join(tips)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "topic", None) and source_kind(args.source) != "bag":
        raise InvalidInputError(f"--topic applies to ROS bags (.mcap, .bag, .db3, rosbag2 folders), not {args.source}")
    if is_video_source(args.source) or getattr(args, "foxglove", False):
        from .predict_video import run_video

        return run_video(args)

    import cv2

    from ..draw import draw
    from ..recognizer import Recognizer
    from ..safe_text import terminal_safe

    out = Path(args.out) if args.out else None
    paths = image_paths(args.source, out)
    if out:
        out.mkdir(parents=True, exist_ok=True)
    detector = None if args.detector == "none" else args.detector
    done = misses = 0
    with Recognizer(args.model, detector=detector, threads=args.threads, tta=args.tta,
                    preprocess=getattr(args, "preprocess", "auto"),
                    detector_options=detector_options(args) if detector else None) as rec:
        jsonl = open(out / "predictions.jsonl", "w") if out else None
        warm = False
        try:
            for path, frame in _frames(paths):
                if not warm:  # the printed time is the per-frame cost, not the one-time start-up
                    rec.warmup(frame.shape)
                    warm = True
                faces = rec.predict(frame)
                record = {"image": str(path), "faces": [f.as_dict() for f in faces],
                          "timings_ms": {k: round(v, 3) for k, v in rec.timings.items()}}
                if not faces and detector:
                    misses += 1
                    print(f"{path}: {no_face_hint(detector, args)}", file=sys.stderr)
                if args.json:
                    print(json.dumps(record))
                else:
                    ms = rec.timings["total"]
                    print(f"{terminal_safe(path)}: {len(faces)} face(s) in {ms:.1f} ms (after warm-up)")
                    for face in faces:
                        top = sorted(face.probs.items(), key=lambda kv: -kv[1])[:3]
                        print(f"  {face}  top-3: " + ", ".join(f"{k} {v:.2f}" for k, v in top))
                if out:
                    cv2.imwrite(str(out / f"{path.stem}{ANNOTATED_SUFFIX}.jpg"), draw(frame, faces))
                    jsonl.write(json.dumps(record) + "\n")
                    jsonl.flush()  # a killed run leaves every finished image's record on disk

                done += 1
        finally:
            if jsonl:
                jsonl.close()
    if done == 0:
        raise InvalidInputError(f"None of the {len(paths)} file(s) in {args.source} could be read as an image")
    if misses:
        log.info("%d of %d image(s) had no face for detector %s", misses, done, detector)
    if out:
        print(f"wrote {done} annotated image(s) and predictions.jsonl to {out}", file=sys.stderr)
    return 0
