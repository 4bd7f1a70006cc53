"""Frame sources: files, cameras, URLs, GStreamer pipelines, image folders and arrays behind one iterator.

Live sources (cameras, URLs, pipelines) are read by a background grabber that keeps only the newest frame
(drop-to-latest), so processing never lags behind the camera; files, folders and arrays are read in order
without drops. Every source stops cleanly with a message when it ends or stalls.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .errors import InvalidInputError
from .preprocess import as_bgr_frame
from .safe_text import redact_url

log = logging.getLogger(__name__)

__all__ = [
    "Frame",
    "FrameSource",
    "open_source",
    "source_kind",
    "to_bgr",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "BAG_SUFFIXES",
    "is_bag_path",
    "image_files",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
BAG_SUFFIXES = (".mcap", ".bag", ".db3")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp")
_URL_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_GSTREAMER_LINK_RE = re.compile(r"\s!\s")
MAX_CAMERA_INDEX = 10_000  # OpenCV splits larger indices into backend id + index
_FIRST_FRAME_TIMEOUT_S = 10.0  # cameras and RTSP servers often need a few seconds for the first frame

SourceLike = Union[str, int, os.PathLike, np.ndarray, Iterable[np.ndarray], "cv2.VideoCapture"]


@dataclass(frozen=True)
class Frame:
    """One frame from a source.

    Attributes:
        index: position in the source (0-based; for live sources the count of frames grabbed before it,
            so gaps show dropped frames).
        timestamp: seconds since the start of the source (file position for files, capture time for live).
        image: HxWx3 BGR uint8 pixels.
    """

    index: int
    timestamp: float
    image: np.ndarray = field(repr=False)

    @property
    def size(self) -> Tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


def to_bgr(frame: object, name: str = "frame") -> np.ndarray:
    """Return ``frame`` as a contiguous HxWx3 BGR uint8 array.

    Gray (HxW, HxWx1) is expanded to three channels and BGRA loses its alpha; anything else raises
    InvalidInputError saying what shape and dtype are expected.
    """
    image = as_bgr_frame(frame, name)
    if image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(image)


def is_bag_path(path: Path) -> bool:
    """ROS bags: .mcap/.bag/.db3 files and rosbag2 folders (``metadata.yaml`` or a lone .mcap/.db3 inside)."""
    if path.is_dir():
        return (path / "metadata.yaml").is_file() or any(p.suffix in (".mcap", ".db3") for p in path.glob("*.*"))
    return path.suffix.lower() in BAG_SUFFIXES


def source_kind(source: object) -> str:
    """Classify a source: 'camera', 'url', 'gstreamer', 'bag', 'folder', 'image', 'file', 'capture', 'source'
    (an opened FrameSource) or 'iterable'."""
    if isinstance(source, FrameSource):
        return "source"
    if isinstance(source, bool):
        raise InvalidInputError(f"cannot read frames from {source!r}; pass a path, camera index, URL or frames")
    if isinstance(source, (int, np.integer)):
        return "camera"
    if isinstance(source, np.ndarray):
        return "iterable"
    if isinstance(source, cv2.VideoCapture):
        return "capture"
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if isinstance(text, bytes):
            text = text.decode()
        stripped = text.strip()
        if stripped.isascii() and stripped.isdigit():  # "²".isdigit() is True too
            return "camera"
        if re.fullmatch(r"/dev/video\d+", stripped):
            return "camera"
        if _GSTREAMER_LINK_RE.search(stripped) and not os.path.exists(stripped):
            return "gstreamer"  # elements linked by " ! "; a file name that merely contains "!" is a file
        if _URL_RE.match(stripped) and not stripped.lower().startswith("file://"):
            return "url"
        path = Path(stripped[7:] if stripped.lower().startswith("file://") else stripped)
        if is_bag_path(path):
            return "bag"
        if path.is_dir():
            return "folder"
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return "image"
        return "file"
    if isinstance(source, Iterable):
        return "iterable"
    raise InvalidInputError(
        f"cannot read frames from a {type(source).__name__}; pass a video path, camera index, URL, "
        "GStreamer pipeline, image folder, or an iterable of numpy frames"
    )


class FrameSource:
    """An iterator of :class:`Frame`, read by a background thread (in-memory frames: on the caller's thread).

    Live sources keep only the newest frame (older unread frames are dropped and counted in ``dropped``);
    ordered sources hand over every frame through a small bounded queue (read-ahead overlaps decoding with
    processing). Iteration stops when the source ends, when no new frame arrives within ``timeout`` seconds
    (a stall), or after :meth:`close`; ``stop_reason`` and ``message`` then say why.

    Attributes:
        kind: what :func:`source_kind` called the source.
        live: True for drop-to-latest reading.
        fps: the source's nominal frame rate, or None when unknown.
        frame_count: frames in a file when the container says so, else None.
        grabbed: frames read from the source so far (including skipped and dropped ones).
        dropped: frames a live source replaced before the consumer took them.
        stop_reason: None while running, then 'end', 'stalled', 'closed' or 'error'.
        message: a one-line explanation of the stop.
    """

    def __init__(
        self,
        read: Callable[[], Optional[np.ndarray]],
        *,
        kind: str,
        name: str,
        live: bool,
        every: int = 1,
        max_fps: Optional[float] = None,
        timeout: Optional[float] = 5.0,
        fps: Optional[float] = None,
        frame_count: Optional[int] = None,
        skip: Optional[Callable[[], bool]] = None,
        release: Optional[Callable[[], None]] = None,
        timestamp: Optional[Callable[[int], Optional[float]]] = None,
        queue_size: int = 4,
        threaded: bool = True,
    ):
        if int(every) < 1:
            raise InvalidInputError(f"every must be >= 1 (process every Nth frame), got {every}")
        if max_fps is not None and not max_fps > 0:
            raise InvalidInputError(f"max_fps must be > 0 or None, got {max_fps}")
        if timeout is not None and not timeout > 0:
            raise InvalidInputError(f"timeout must be > 0 seconds or None (wait forever), got {timeout}")
        self.kind = kind
        self.name = name
        self.live = bool(live)
        self.every = int(every)
        self.max_fps = max_fps
        self.timeout = timeout
        self.fps = fps if fps and fps > 0 else None
        self.frame_count = frame_count if frame_count and frame_count > 0 else None
        self.grabbed = 0
        self.dropped = 0
        self.delivered = 0
        self.stop_reason: Optional[str] = None
        self.message = ""
        self._read = read
        self._skip = skip
        self._release = release
        self._timestamp = timestamp
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._latest: Optional[Frame] = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, queue_size))
        self._ended = False
        self._error: Optional[BaseException] = None
        self._t0 = time.monotonic()
        self._released = False
        self._thread: Optional[threading.Thread] = None
        if threaded or self.live:
            self._thread = threading.Thread(target=self._run, name=f"fer_edge-grab-{kind}", daemon=True)
            self._thread.start()

    # ---------------------------------------------------------------- grabber thread
    def _grab(self) -> Optional[Frame]:
        """Read up to the next kept frame (skipping per ``every``); None at the end of the source."""
        while not self._stop.is_set():
            index = self.grabbed
            if index % self.every and self._skip is not None:
                if not self._skip():
                    return None
                self.grabbed = index + 1
                continue
            raw = self._read()
            if raw is None:
                return None
            self.grabbed = index + 1
            if index % self.every:
                continue
            image = to_bgr(raw, f"frame {index} of {self.name}")
            ts = self._timestamp(index) if self._timestamp is not None else None
            if ts is None:
                ts = time.monotonic() - self._t0
            return Frame(index, float(ts), image)
        return None

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self._grab()
                if frame is None:
                    break
                if self.live:
                    with self._cond:
                        if self._latest is not None:
                            self.dropped += 1
                        self._latest = frame
                        self._cond.notify_all()
                else:
                    while not self._stop.is_set():
                        try:
                            self._queue.put(frame, timeout=0.1)
                            break
                        except queue.Full:
                            continue
        except BaseException as exc:  # handed to the consumer, re-raised there
            self._error = exc
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()
            while not self.live and not self._stop.is_set():
                try:
                    self._queue.put(None, timeout=0.1)  # end marker after the last frame
                    break
                except queue.Full:
                    continue

    # ---------------------------------------------------------------- consumer side
    @property
    def newest_index(self) -> int:
        """Index of the newest frame read so far (-1 before the first)."""
        return self.grabbed - 1

    def _wait_timeout(self) -> Optional[float]:
        if self.timeout is None:
            return None
        if self.delivered == 0:
            return max(self.timeout, _FIRST_FRAME_TIMEOUT_S) if self.live else max(self.timeout, 2.0)
        return self.timeout

    def read(self) -> Optional[Frame]:
        """Return the next frame, or None when the source has stopped (see ``stop_reason``)."""
        if self.stop_reason is not None:
            return None
        wait = self._wait_timeout()
        deadline = None if wait is None else time.monotonic() + wait
        if self._thread is None:
            frame = self._next_inline()
        else:
            frame = self._next_live(deadline) if self.live else self._next_ordered(deadline)
        if frame is None:
            return None
        self.delivered += 1
        return frame

    def _next_inline(self) -> Optional[Frame]:
        try:
            frame = self._grab()
        except BaseException as exc:
            self._error = exc
            frame = None
        if frame is None:
            self._ended = True
            return self._finish_ended()
        return frame

    def _next_live(self, deadline: Optional[float]) -> Optional[Frame]:
        with self._cond:
            while True:
                if self._latest is not None:
                    frame, self._latest = self._latest, None
                    return frame
                if self._ended:
                    return self._finish_ended()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return self._finish_stalled()
                self._cond.wait(remaining if remaining is None else min(remaining, 0.5))

    def _next_ordered(self, deadline: Optional[float]) -> Optional[Frame]:
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return self._finish_stalled()
            try:
                item = self._queue.get(timeout=0.5 if remaining is None else min(remaining, 0.5))
            except queue.Empty:
                if self._ended and self._queue.empty():
                    return self._finish_ended()
                continue
            if item is None:
                return self._finish_ended()
            return item

    def _finish_ended(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self._set_stop("error", f"{self.name}: {error}")
            self.close()
            raise error
        expected = ""
        if self.frame_count and self.grabbed < self.frame_count - 1:
            expected = f" (the container announced {self.frame_count}; the file may be truncated)"
            log.warning("%s ended after %d frames%s", self.name, self.grabbed, expected)
        self._set_stop("end", f"{self.name} ended after {self.grabbed} frames{expected}")
        self.close()
        return None

    def _finish_stalled(self) -> None:
        wait = self._wait_timeout()
        self._set_stop(
            "stalled",
            f"{self.name} stalled: no new frame for {wait:.1f} s after {self.grabbed} frames; stopping. "
            "Check the camera/stream connection, or raise timeout=",
        )
        log.warning("%s", self.message)
        self.close()
        return None

    def _set_stop(self, reason: str, message: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
            self.message = message
            if reason != "stalled":
                log.info("%s", message)

    def __iter__(self) -> Iterator[Frame]:
        interval = 1.0 / self.max_fps if self.max_fps else 0.0
        next_due = 0.0
        try:
            while True:
                if interval:
                    now = time.monotonic()
                    if now < next_due:
                        # Live: frames arriving meanwhile replace each other (dropped); ordered: paced playback.
                        time.sleep(next_due - now)
                    next_due = max(next_due + interval, time.monotonic())
                frame = self.read()
                if frame is None:
                    return
                yield frame
        finally:
            if self.stop_reason is None:
                self.close()

    def close(self) -> None:
        """Stop the grabber and release the device or file (idempotent)."""
        self._set_stop("closed", f"{self.name} closed after {self.grabbed} frames")
        self._stop.set()
        if not self.live:
            # Unblock a reader waiting on a full queue.
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
        thread = self._thread
        if thread is not None and threading.current_thread() is not thread:
            thread.join(timeout=0.5)
        if not self._released and (thread is None or not thread.is_alive()):
            self._released = True
            if self._release is not None:
                self._release()
        elif not self._released:
            log.debug("%s: grabber still blocked in read(); the device is released when it returns", self.name)
            threading.Thread(target=self._late_release, daemon=True).start()

    def _late_release(self) -> None:
        if self._thread is not None:
            self._thread.join()
        if not self._released:
            self._released = True
            if self._release is not None:
                self._release()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "live" if self.live else "ordered"
        return f"FrameSource({self.kind}, {self.name!r}, {mode}, grabbed={self.grabbed}, dropped={self.dropped})"


# -------------------------------------------------------------------- opening
def _gstreamer_available() -> bool:
    info = cv2.getBuildInformation()
    match = re.search(r"GStreamer:\s*(\S+)", info)
    return bool(match and match.group(1).upper().startswith("YES"))


def _capture_source(
    cap: cv2.VideoCapture, *, kind: str, name: str, live: bool, own: bool, **kw: Any
) -> FrameSource:
    fps = cap.get(cv2.CAP_PROP_FPS) or None
    if fps is not None and (fps <= 0 or fps > 1000 or fps != fps):
        fps = None
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if not live else 0

    def read() -> Optional[np.ndarray]:
        ok, image = cap.read()
        return image if ok and image is not None else None

    def skip() -> bool:
        return bool(cap.grab())

    def release() -> None:
        if own:
            cap.release()

    stamp = None
    if not live:
        user_fps = kw.pop("fps", None)
        rate = user_fps or fps

        def stamp(index: int) -> Optional[float]:
            return index / rate if rate else None

        fps = rate
    else:
        fps = kw.pop("fps", None) or fps
    try:
        return FrameSource(
            read, kind=kind, name=name, live=live, fps=fps, frame_count=count, skip=skip, release=release,
            timestamp=stamp, **kw
        )
    except BaseException:
        release()  # bad options: do not keep the camera/file open until garbage collection
        raise


def _open_capture(target: Union[str, int], api: int, params: Sequence[int] = ()) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(target, api, list(params)) if params else cv2.VideoCapture(target, api)
    return cap


def _camera(index: int, **kw: Any) -> FrameSource:
    if index < 0 or index > MAX_CAMERA_INDEX:
        # OpenCV treats -1 as "any camera" and, with none attached, some backends crash the process (SIGSEGV).
        raise InvalidInputError(
            f"camera index {index} is out of range; pass 0..{MAX_CAMERA_INDEX} (0 = the first camera, "
            "/dev/video0 on Linux)"
        )
    name = f"camera {index}"
    api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
    cap = _open_capture(index, api)
    if not cap.isOpened() and api != cv2.CAP_ANY:
        cap = _open_capture(index, cv2.CAP_ANY)
    if not cap.isOpened():
        cap.release()
        hint = f" (/dev/video{index} does not exist)" if os.name == "posix" and not os.path.exists(
            f"/dev/video{index}"
        ) else ""
        raise InvalidInputError(
            f"could not open {name}{hint}; check that the camera is connected and not used by another program, "
            "that you may read it (Linux: the 'video' group), or pass another index / a video file"
        )
    return _capture_source(cap, kind="camera", name=name, live=True, own=True, **kw)


def _url(url: str, timeout: Optional[float], **kw: Any) -> FrameSource:
    ms = int((timeout or 30.0) * 1000)
    params: List[int] = []
    for prop in ("CAP_PROP_OPEN_TIMEOUT_MSEC", "CAP_PROP_READ_TIMEOUT_MSEC"):
        if hasattr(cv2, prop):
            params += [getattr(cv2, prop), max(ms, 1000)]
    cap = _open_capture(url, cv2.CAP_FFMPEG, params)
    if not cap.isOpened():
        cap.release()
        cap = _open_capture(url, cv2.CAP_ANY)
    if not cap.isOpened():
        cap.release()
        raise InvalidInputError(
            f"could not open stream {_redact(url)}; check the address, credentials and that the server is "
            "reachable (e.g. `ffprobe URL`)"
        )
    return _capture_source(cap, kind="url", name=f"stream {_redact(url)}", live=kw.pop("live", True), own=True,
                           timeout=timeout, **kw)


def _redact(url: str) -> str:
    """Hide the password and secret query values of a URL for messages and logs (``fer_edge.safe_text``)."""
    return redact_url(url)


def _gstreamer(pipeline: str, **kw: Any) -> FrameSource:
    if not _gstreamer_available():
        raise InvalidInputError(
            "this OpenCV build has no GStreamer support (the pip opencv wheels never do), so the pipeline "
            f"'{pipeline[:60]}...' cannot be opened; on Jetson use JetPack's system OpenCV (python3-opencv) "
            "or build OpenCV with -DWITH_GSTREAMER=ON, or pass a camera index / URL instead"
        )
    if "appsink" not in pipeline:
        pipeline = f"{pipeline} ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1"
        log.info("appended '! videoconvert ! video/x-raw,format=BGR ! appsink' to the GStreamer pipeline")
    cap = _open_capture(pipeline, cv2.CAP_GSTREAMER)
    if not cap.isOpened():
        cap.release()
        raise InvalidInputError(
            f"GStreamer could not start the pipeline '{pipeline}'; test it with "
            "`gst-launch-1.0 <pipeline with fakesink>` and make sure it ends in 'appsink' producing BGR"
        )
    return _capture_source(cap, kind="gstreamer", name="gstreamer pipeline", live=kw.pop("live", True), own=True,
                           **kw)


def _file(path: Path, **kw: Any) -> FrameSource:
    if not path.exists():
        raise InvalidInputError(f"video file {path} does not exist; check the path")
    if not path.is_file():
        raise InvalidInputError(f"{path} is not a file")
    cap = _open_capture(str(path), cv2.CAP_ANY)
    if not cap.isOpened():
        cap.release()
        raise InvalidInputError(
            f"could not open {path} as a video: the file is damaged or its codec is not supported by this "
            "OpenCV build; convert it, e.g. `ffmpeg -i in -c:v libx264 out.mp4`"
        )
    ok = cap.grab()
    if not ok:
        cap.release()
        raise InvalidInputError(f"{path} opened but holds no readable frame; the file is empty or damaged")
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    if cap.get(cv2.CAP_PROP_POS_FRAMES) != 0:  # some containers cannot seek: reopen
        cap.release()
        cap = _open_capture(str(path), cv2.CAP_ANY)
    return _capture_source(cap, kind="file", name=str(path), live=kw.pop("live", False), own=True, **kw)


def _natural_key(path: Path) -> Tuple[Any, ...]:
    return tuple(int(tok) if tok.isascii() and tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", path.name))


def _images(paths: List[Path], name: str, kind: str, fps: Optional[float], **kw: Any) -> FrameSource:
    it = iter(paths)

    def read() -> Optional[np.ndarray]:
        for path in it:
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is None:
                log.warning("skipping %s: not a readable image", path)
                continue
            if image.dtype == np.uint16:
                image = (image >> 8).astype(np.uint8)
            return image
        return None

    stamp = (lambda i: i / fps) if fps else None
    return FrameSource(read, kind=kind, name=name, live=kw.pop("live", False), fps=fps, frame_count=len(paths),
                       timestamp=stamp, **kw)


def image_files(folder: Path) -> List[Path]:
    """The image files (``IMAGE_SUFFIXES``) directly in ``folder``, in natural order (frame2 before frame10)."""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()), key=_natural_key)


def _folder(path: Path, fps: Optional[float], **kw: Any) -> FrameSource:
    paths = image_files(path)
    if not paths:
        raise InvalidInputError(
            f"folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)}); pass a folder of frames or a video"
        )
    return _images(paths, f"folder {path}", "folder", fps, **kw)


def _iterable(frames: Iterable[Any], fps: Optional[float], live: bool, **kw: Any) -> FrameSource:
    if isinstance(frames, np.ndarray):
        if frames.ndim in (2, 3) and (frames.ndim == 2 or frames.shape[-1] in (1, 3, 4)):
            frames = [frames]  # one image
        elif frames.ndim not in (3, 4):
            raise InvalidInputError(
                f"an array source must be one frame (HxW, HxWxC) or a stack (NxHxW, NxHxWxC), got {frames.shape}"
            )
    count = len(frames) if hasattr(frames, "__len__") else None  # type: ignore[arg-type]
    it = iter(frames)
    sentinel = object()

    def read() -> Optional[np.ndarray]:
        item = next(it, sentinel)
        if item is sentinel:
            return None
        if item is None:
            raise InvalidInputError("the frame iterable yielded None; yield uint8 numpy frames and stop at the end")
        return item  # type: ignore[return-value]

    stamp = (lambda i: i / fps) if fps else None
    # Frames already in memory cannot stall and need no read-ahead: read them on the caller's thread.
    in_memory = isinstance(frames, (list, tuple, np.ndarray))
    return FrameSource(read, kind="iterable", name="frames", live=live, fps=fps, frame_count=count,
                       timestamp=stamp, threaded=live or not in_memory, **kw)


def open_source(
    source: SourceLike,
    *,
    every: int = 1,
    max_fps: Optional[float] = None,
    timeout: Optional[float] = 5.0,
    live: Optional[bool] = None,
    fps: Optional[float] = None,
) -> FrameSource:
    """Open anything that yields frames and return a :class:`FrameSource` (an iterator of :class:`Frame`).

    Args:
        source: a video file path; a ROS bag (``.mcap``/``.bag``/``.db3`` or a rosbag2 folder: its only image
            topic; use :func:`fer_edge.ros.bag.open_bag` to pick one); an opened :class:`FrameSource` (returned
            as is); a camera index (``0``, ``"0"`` or ``"/dev/video0"``, read through V4L2 on
            Linux); an ``rtsp://``/``http(s)://`` URL; a GStreamer pipeline string (contains ``!``, needs an
            OpenCV built with GStreamer); an image file or a folder of images (natural sort order); a numpy
            frame or stack of frames; any iterable of numpy frames (gray, BGR or BGRA uint8); or an opened
            ``cv2.VideoCapture`` (not released on close).
        every: keep every Nth frame (1 = all); skipped file frames are not decoded.
        max_fps: cap the rate frames are handed out; live sources drop the frames in between, ordered
            sources are paced (played back at that rate).
        timeout: seconds without a new frame before the source counts as stalled and stops cleanly
            (``stop_reason == "stalled"``); the first frame of a live source gets at least 10 s. None waits
            forever.
        live: force drop-to-latest (True) or in-order reading (False). Default: live for cameras, URLs and
            pipelines, in order for everything else.
        fps: frame rate for timestamps when the source has none (image folders, iterables), or to override
            a file's.

    Raises:
        InvalidInputError: the source cannot be opened; the message says what to check.
    """
    kind = source_kind(source)
    if kind == "source":
        return source  # type: ignore[return-value]  # already opened (e.g. a bag topic), with its own options
    kw = dict(every=every, max_fps=max_fps, timeout=timeout)
    if live is not None:
        kw["live"] = live
    if kind == "camera":
        text = os.fspath(source) if isinstance(source, (str, os.PathLike)) else source
        index = int(re.sub(r"^/dev/video", "", str(text).strip()))
        kw.pop("live", None)
        return _camera(index, fps=fps, **kw)
    if kind == "url":
        timeout_ = kw.pop("timeout")
        return _url(str(os.fspath(source)).strip(), timeout_, fps=fps, **kw)  # type: ignore[arg-type]
    if kind == "gstreamer":
        return _gstreamer(str(os.fspath(source)).strip(), fps=fps, **kw)  # type: ignore[arg-type]
    if kind == "capture":
        cap = source
        if not cap.isOpened():  # type: ignore[union-attr]
            raise InvalidInputError("the cv2.VideoCapture passed as source is not opened")
        return _capture_source(cap, kind="capture", name="capture", live=kw.pop("live", False), own=False,  # type: ignore[arg-type]
                               fps=fps, **kw)
    if kind in ("folder", "image", "file", "bag"):
        text = str(os.fspath(source)).strip()  # type: ignore[arg-type]
        path = Path(text[7:] if text.lower().startswith("file://") else text)
        if kind == "bag":
            from .ros.bag import open_bag  # needs the [ros] extra

            return open_bag(path, None, every=every, max_fps=max_fps, timeout=timeout)
        if kind == "folder":
            return _folder(path, fps, **kw)
        if kind == "image":
            if not path.is_file():
                raise InvalidInputError(f"image {path} does not exist; check the path")
            return _images([path], str(path), "image", fps, **kw)
        return _file(path, fps=fps, **kw)
    return _iterable(source, fps, bool(kw.pop("live", False)), **kw)  # type: ignore[arg-type]


def __getattr__(name: str):
    """``moving_faces_frames`` moved to ``fer_edge.bench.frames`` (next to the benchmark that uses it)."""
    if name == "moving_faces_frames":
        from .bench.frames import moving_faces_frames

        return moving_faces_frames
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
