"""`fer-edge predict` for videos, cameras, URLs and GStreamer pipelines: the frame loop plus its outputs.

Called by ``fer_edge.commands.predict.run`` when the input is not an image; writes an annotated video,
CSV / JSON Lines rows and a per-track summary into ``--out``, and can show a live preview.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Iterator, List, Optional

from ..detect.registry import DEFAULT_DETECTOR
from ..errors import InvalidInputError

log = logging.getLogger(__name__)

_PREVIEW_WINDOW = "fer-edge"


def output_stem(source: str) -> str:
    """A file-name stem for a source: the video's stem, ``camera0``, ``stream`` or ``gstreamer``."""
    from ..video import source_kind

    kind = source_kind(source)
    if kind == "camera":
        return "camera" + re.sub(r"\D", "", source)
    if kind in ("url", "gstreamer"):
        return "stream" if kind == "url" else "gstreamer"
    stem = Path(source).stem or "video"
    return re.sub(r"[^\w.-]", "_", stem)


def display_available() -> bool:
    """True when a window can probably be opened (a desktop session, or a platform that always has one)."""
    if sys.platform.startswith(("win", "darwin")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class _Preview:
    """Live preview window with an FPS overlay; disables itself with a warning when no GUI is possible."""

    def __init__(self) -> None:
        import cv2

        self.cv2 = cv2
        self.enabled = display_available()
        self.fps: Optional[float] = None
        self._last = None
        if not self.enabled:
            log.warning("--show ignored: no display (DISPLAY/WAYLAND_DISPLAY unset)")

    def show(self, image: Any, faces: Any) -> bool:
        """Draw and show one frame; False when the user pressed q / Esc or closed the window."""
        if not self.enabled:
            return True
        from ..draw import draw

        now = time.perf_counter()
        if self._last is not None:
            inst = 1.0 / max(now - self._last, 1e-6)
            self.fps = inst if self.fps is None else 0.9 * self.fps + 0.1 * inst
        self._last = now
        try:
            self.cv2.imshow(_PREVIEW_WINDOW, draw(image, faces, fps=self.fps))
            key = self.cv2.waitKey(1) & 0xFF
        except self.cv2.error as exc:
            log.warning("--show disabled: this OpenCV has no GUI support (%s); install opencv-python instead of "
                        "opencv-python-headless for a preview window", str(exc).strip().splitlines()[-1])
            self.enabled = False
            return True
        return key not in (ord("q"), 27)

    def close(self) -> None:
        if self.enabled:
            try:
                self.cv2.destroyWindow(_PREVIEW_WINDOW)
            except self.cv2.error:
                pass


def _results(s: Any) -> Iterator[Any]:
    """The stream's results; a source error that arrives mid-run (a damaged bag) ends it as a yielded error."""
    while True:
        try:
            result = next(s, None)
        except InvalidInputError as exc:
            yield exc
            return
        if result is None:
            return
        yield result


def run_video(args: argparse.Namespace) -> int:
    """Run the video pipeline for ``fer-edge predict`` and write what ``args`` asks for.

    Uses ``args``: source, model, out, csv, jsonl, show, every (detect every N frames), skip (process every
    Nth frame), max_fps, no_track, threads, detector, and optionally json, score_threshold, min_face,
    smoothing, topic (ROS bags), foxglove/port/host (live view).

    A ROS bag source writes an output bag (``--out x.mcap``, or ``<stem>_fer.mcap`` in an ``--out`` folder)
    holding the input topic plus expressions and annotations, instead of an annotated video; CSV/JSONL rows
    then carry the messages' ROS time stamps (seconds).

    Returns:
        0 when the source was read to its end (or stopped by the user), 1 when it stalled.

    Raises:
        InvalidInputError: bad options or input; a bag damaged part-way raises after its outputs were closed
            (they keep the frames before the damage).
    """
    from ..pipeline import stream
    from ..writers import CsvWriter, JsonlWriter, TrackSummary, VideoWriter
    from .predict import detector_options

    source: str = str(args.source)
    out = Path(args.out) if getattr(args, "out", None) else None
    want_csv, want_jsonl = bool(getattr(args, "csv", False)), bool(getattr(args, "jsonl", False))
    if (want_csv or want_jsonl) and out is None:
        raise InvalidInputError("--csv and --jsonl write into a folder: add --out DIR")
    every = 1 if getattr(args, "every", None) is None else int(args.every)
    skip = 1 if getattr(args, "skip", None) is None else int(args.skip)
    if every < 1 or skip < 1:
        raise InvalidInputError(f"--every and --skip must be >= 1 (got --every {every}, --skip {skip})")
    detector = getattr(args, "detector", DEFAULT_DETECTOR)
    detector = None if detector in (None, "none") else detector
    options = detector_options(args) if detector else None
    from ..video import source_kind

    is_bag = source_kind(source) == "bag"
    stem = output_stem(source)
    out_dir, bag_out = out, None
    if is_bag and out is not None:
        if out.suffix.lower() == ".mcap":
            out_dir, bag_out, stem = out.parent, out, out.stem
        else:
            bag_out = out / f"{stem}_fer.mcap"
    target: Any = int(source) if source.strip().isascii() and source.strip().isdigit() else source
    if is_bag:
        from ..ros.bag import open_bag

        target = open_bag(source, getattr(args, "topic", None), every=skip, max_fps=getattr(args, "max_fps", None))
    live = None
    if getattr(args, "foxglove", False):
        from ..live_view import LiveView

        try:
            live = LiveView(port=int(getattr(args, "port", 8765)), host=str(getattr(args, "host", "127.0.0.1")))
        except BaseException:
            if is_bag:
                target.close()
            raise
        print(f"Foxglove live view: ws://{live.host}:{live.port} (Foxglove → Open connection)", file=sys.stderr)

    try:
        s = stream(
            target,
            getattr(args, "model", None),
            detect_every=every,
            tracking=not getattr(args, "no_track", False),
            every=skip,
            max_fps=getattr(args, "max_fps", None),
            detector=detector,
            threads=getattr(args, "threads", None),
            detector_options=options,
            smoothing=getattr(args, "smoothing", None) or "ema",
            preprocess=getattr(args, "preprocess", "auto"),
        )
    except BaseException:
        if live is not None:
            live.close()
        raise
    labels = tuple(getattr(getattr(s.recognizer, "card", None), "labels", ()) or ())
    writers: List[Any] = []
    video: Optional[VideoWriter] = None
    csv_w = jsonl_w = None
    summary = TrackSummary()
    preview = _Preview() if getattr(args, "show", False) else None
    as_json = bool(getattr(args, "json", False))
    user_stop = False
    bag_w = None
    damage: Optional[InvalidInputError] = None
    try:
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            if bag_out is not None:
                from ..ros.bag_writer import ResultBagWriter

                bag_w = ResultBagWriter(bag_out, s.source.topic, s.source.msgtype)  # type: ignore[attr-defined]
                writers.append(bag_w)
            else:
                fps = (s.source.fps or 30.0) / skip
                video = VideoWriter(out_dir / f"{stem}_annotated.mp4", fps=fps)
                writers.append(video)
            if want_csv:
                csv_w = CsvWriter(out_dir / f"{stem}.csv", labels=labels or None)
                writers.append(csv_w)
            if want_jsonl:
                jsonl_w = JsonlWriter(out_dir / f"{stem}.jsonl")
                writers.append(jsonl_w)
        from ..draw import draw

        for result in _results(s):
            if isinstance(result, InvalidInputError):
                damage = result
                break
            summary.update(result)
            if bag_w is not None:
                for item in s.source.take(result.index):  # type: ignore[attr-defined]
                    bag_w.write_image(item)
                    if item.index == result.index:
                        bag_w.write_result(item, result.faces)
            if live is not None:
                live.publish_result(result, int(round(result.timestamp * 1e9)) if is_bag else None)
            if video is not None:
                video.write(draw(result.image, result.faces))
            if csv_w is not None:
                csv_w.write_result(result)
            if jsonl_w is not None:
                jsonl_w.write_result(result)
            if as_json:
                print(json.dumps(result.as_dict()))
            elif out is None and preview is None:
                faces = "  ".join(str(f) for f in result.faces) or "no face"
                print(f"frame {result.index} ({result.timestamp:.2f} s): {faces}")
            if preview is not None and not preview.show(result.image, result.faces):
                user_stop = True
                break
    finally:
        s.close()
        if bag_w is not None and not user_stop:
            for item in s.source.remaining():  # type: ignore[attr-defined]  # skipped frames after the last result
                bag_w.write_image(item)
        for w in writers:
            w.close()
        if preview is not None:
            preview.close()
        if live is not None:
            live.close()

    stats = s.stats()
    from ..safe_text import redact_url, terminal_safe

    shown = terminal_safe(redact_url(source))
    print(f"{shown}: {stats['frames']} frames in {stats['elapsed_s']:.1f} s ({stats['fps']:.1f} FPS, "
          f"detector on {stats['detections']}, dropped {stats['dropped']}); {s.message}", file=sys.stderr)
    for line in summary.lines():
        print(line, file=sys.stderr if as_json else sys.stdout)
    if out_dir is not None:
        path = summary.write_json(out_dir / f"{stem}_summary.json")
        names = [str(w.path.name) for w in writers] + [path.name]
        print(f"wrote {', '.join(names)} to {out_dir}", file=sys.stderr)
    if damage is not None:
        raise damage
    if s.stop_reason == "stalled" and not user_stop:
        print(f"fer-edge predict: {s.message}", file=sys.stderr)
        return 1
    return 0
