"""Frame sources: every file frame in order, drop-to-latest for live sources, stalls, skipping, bad input."""

import threading
import time

import cv2
import numpy as np
import pytest

from fer_edge.bench import moving_faces_frames
from fer_edge.errors import InvalidInputError
from fer_edge.video import Frame, open_source, source_kind, to_bgr


def _numbered_frames(n, size=(64, 48)):
    """Frames whose pixel value encodes their index (survives MJPG compression: flat gray levels)."""
    w, h = size
    return [np.full((h, w, 3), 10 + 20 * (i % 12), np.uint8) for i in range(n)]


def _write_avi(path, frames, fps=25.0):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def test_file_source_reads_every_frame_in_order(tmp_path):
    frames = _numbered_frames(30)
    path = _write_avi(tmp_path / "clip.avi", frames, fps=25.0)
    with open_source(path) as src:
        got = list(src)
        assert src.stop_reason == "end" and "30 frames" in src.message
    assert [f.index for f in got] == list(range(30))
    assert all(isinstance(f, Frame) and f.image.shape == (48, 64, 3) for f in got)
    # Pixel levels come back in order (no drops, no reordering) and timestamps follow the file's rate.
    levels = [int(round(f.image.mean())) for f in got]
    assert all(abs(a - int(b.mean())) <= 3 for a, b in zip(levels, frames))
    assert got[25].timestamp == pytest.approx(1.0, abs=1e-6)
    assert src.fps == pytest.approx(25.0)


def test_file_source_every_n_skips_without_losing_order(tmp_path):
    path = _write_avi(tmp_path / "clip.avi", _numbered_frames(20))
    got = list(open_source(str(path), every=3))
    assert [f.index for f in got] == [0, 3, 6, 9, 12, 15, 18]


def test_iterable_converts_gray_and_bgra_and_keeps_changing_sizes():
    frames = [
        np.zeros((40, 50), np.uint8),  # gray
        np.zeros((40, 50, 1), np.uint8),  # gray, channel axis
        np.zeros((30, 20, 4), np.uint8),  # BGRA, another size
        np.zeros((60, 80, 3), np.uint8),  # BGR, another size
    ]
    got = list(open_source(frames, fps=10))
    assert [f.image.shape for f in got] == [(40, 50, 3), (40, 50, 3), (30, 20, 3), (60, 80, 3)]
    assert [f.timestamp for f in got] == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_iterable_with_bad_frame_raises_typed_error_naming_the_frame():
    frames = [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.float32)]
    src = open_source(frames)
    assert src.read().index == 0
    with pytest.raises(InvalidInputError, match="frame 1.*uint8"):
        src.read()
    assert src.stop_reason == "error"


def test_numpy_stack_and_single_image_sources():
    stack = np.zeros((5, 12, 16, 3), np.uint8)
    assert len(list(open_source(stack))) == 5
    assert len(list(open_source(np.zeros((12, 16), np.uint8)))) == 1


def test_image_folder_natural_order_and_unreadable_files_skipped(tmp_path):
    for i in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((8, 8, 3), i, np.uint8))
    (tmp_path / "f5.png").write_bytes(b"not a png")
    got = list(open_source(tmp_path))
    assert [int(f.image[0, 0, 0]) for f in got] == [1, 2, 10]


def test_moving_faces_frames_are_deterministic_and_sized():
    face = np.full((50, 40, 3), 200, np.uint8)
    a = moving_faces_frames(face, n=3, size=(160, 120), faces=2, face_size=40)
    b = moving_faces_frames(face, n=3, size=(160, 120), faces=2, face_size=40)
    assert all(x.shape == (120, 160, 3) and np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], a[1])  # it moves
    with pytest.raises(InvalidInputError, match="faces"):
        moving_faces_frames(face, n=3, size=(160, 120), faces=0)


@pytest.mark.parametrize(
    "source, kind",
    [(0, "camera"), ("1", "camera"), ("/dev/video2", "camera"), ("rtsp://user:pw@cam/stream", "url"),
     ("http://host/x.mjpg", "url"), ("v4l2src ! videoconvert ! appsink", "gstreamer"), ("clip.mp4", "file"),
     ("missing!.mp4", "file"),
     ("photo.jpg", "image"), ([np.zeros((2, 2))], "iterable")],
)
def test_source_kind(source, kind):
    assert source_kind(source) == kind


def test_missing_and_corrupt_files_raise_typed_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        open_source(tmp_path / "missing.mp4")
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(InvalidInputError, match="could not open|no readable frame"):
        open_source(bad)
    with pytest.raises(InvalidInputError, match="no images"):
        open_source(tmp_path)  # folder with no images
    with pytest.raises(InvalidInputError):
        open_source(3.5)


def test_unopenable_camera_raises_typed_error():
    with pytest.raises(InvalidInputError, match="camera 97"):
        open_source(97)


def test_gstreamer_pipeline_without_gstreamer_support_says_what_to_do():
    if "GStreamer:                   YES" in cv2.getBuildInformation():
        pytest.skip("this OpenCV has GStreamer")
    with pytest.raises(InvalidInputError, match="GStreamer"):
        open_source("videotestsrc ! videoconvert ! appsink")


def test_bad_options_raise():
    with pytest.raises(InvalidInputError, match="every"):
        open_source([np.zeros((4, 4, 3), np.uint8)], every=0)
    with pytest.raises(InvalidInputError, match="max_fps"):
        open_source([np.zeros((4, 4, 3), np.uint8)], max_fps=0)


def _camera_like(n, period_s):
    """Simulated live camera: produces frame i every ``period_s`` seconds; the frame encodes i."""
    for i in range(n):
        time.sleep(period_s)
        img = np.zeros((8, 8, 3), np.uint8)
        img[0, 0, 0], img[0, 0, 1] = i % 256, i // 256
        yield img


def test_live_drop_to_latest_never_returns_a_frame_older_than_the_newest_grabbed():
    src = open_source(_camera_like(150, 0.002), live=True, timeout=2.0)
    seen = []
    while True:
        newest_before = src.newest_index
        frame = src.read()
        if frame is None:
            break
        # The frame handed over is at least as new as anything grabbed before we asked.
        assert frame.index >= newest_before
        assert int(frame.image[0, 0, 0]) + 256 * int(frame.image[0, 0, 1]) == frame.index
        seen.append(frame.index)
        time.sleep(0.02)  # slow consumer: ~10 camera frames per processed frame
    assert src.stop_reason == "end"
    assert seen == sorted(set(seen))
    assert src.dropped > 0 and len(seen) < 150
    assert src.dropped + len(seen) == src.grabbed


def test_live_source_max_fps_drops_instead_of_lagging():
    src = open_source(_camera_like(100, 0.002), live=True, max_fps=20)
    t0 = time.perf_counter()
    got = list(src)
    elapsed = time.perf_counter() - t0
    assert len(got) <= elapsed * 20 + 2
    assert src.dropped > 0


def test_ordered_source_max_fps_paces_without_drops():
    t0 = time.perf_counter()
    got = list(open_source(_numbered_frames(6), max_fps=25))
    assert len(got) == 6
    assert time.perf_counter() - t0 >= 5 / 25 - 0.02


@pytest.mark.parametrize("live", [True, False])
def test_stalled_source_stops_cleanly_with_a_message(live):
    release = threading.Event()

    def stalls():
        for i in range(3):
            yield np.zeros((8, 8, 3), np.uint8)
        release.wait(10)  # the camera hangs

    src = open_source(stalls(), live=live, timeout=0.3)
    t0 = time.perf_counter()
    try:
        got = list(src)
    finally:
        release.set()
    assert 1 <= len(got) <= 3
    assert src.stop_reason == "stalled"
    assert "stalled" in src.message and "0.3 s" in src.message
    assert time.perf_counter() - t0 < 3.0


def test_close_stops_the_grabber_midway():
    src = open_source(_camera_like(10_000, 0.001), live=True)
    assert src.read() is not None
    src.close()
    assert src.stop_reason == "closed"
    assert src.read() is None
    grabbed = src.grabbed
    time.sleep(0.05)
    assert src.grabbed <= grabbed + 1


def test_to_bgr_rejects_what_it_cannot_convert():
    with pytest.raises(InvalidInputError):
        to_bgr(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InvalidInputError):
        to_bgr("not an image")


def test_truncated_file_ends_early_with_a_message(tmp_path):
    path = _write_avi(tmp_path / "full.avi", _numbered_frames(30, (160, 120)))
    cut = tmp_path / "cut.avi"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    src = open_source(cut)
    got = list(src)
    assert 0 < len(got) < 30
    assert src.stop_reason == "end" and "truncated" in src.message


def test_bad_options_release_the_capture_they_opened(tmp_path, monkeypatch):
    import fer_edge.video as video

    path = _write_avi(tmp_path / "clip.avi", _numbered_frames(3))
    opened = []
    real_open = video._open_capture

    def spy(*args, **kw):
        cap = real_open(*args, **kw)
        opened.append(cap)
        return cap

    monkeypatch.setattr(video, "_open_capture", spy)
    with pytest.raises(InvalidInputError, match="every"):
        open_source(path, every=0)
    assert opened and not any(cap.isOpened() for cap in opened)
