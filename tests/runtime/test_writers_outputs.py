"""Writers: CSV / JSON Lines schema, annotated video frame count and size, per-track summary, and the
`fer-edge predict VIDEO --out --csv --jsonl` command end to end."""

import argparse
import csv
import json

import cv2
import numpy as np
import pytest

from fer_edge.errors import FerEdgeError, InvalidInputError
from fer_edge.face import Face
from fer_edge.writers import CSV_BASE_COLUMNS, CsvWriter, JsonlWriter, TrackSummary, VideoWriter, face_row

LABELS = ("neutral", "happiness", "surprise")


def _face(track_id, label="happiness", box=(10.0, 20.0, 60.0, 80.0)):
    probs = {k: (0.8 if k == label else 0.1) for k in LABELS}
    return Face(box=box, score=0.95, label=label, confidence=0.8, probs=probs, track_id=track_id,
                landmarks=((1.0, 2.0),))


def _count_frames(path):
    cap = cv2.VideoCapture(str(path))
    n, size = 0, None
    while True:
        ok, img = cap.read()
        if not ok:
            break
        n += 1
        size = (img.shape[1], img.shape[0])
    cap.release()
    return n, size


def test_csv_schema_one_row_per_face_per_frame(tmp_path):
    path = tmp_path / "out.csv"
    with CsvWriter(path, labels=LABELS) as w:
        w.write_faces(0, 0.0, [_face(1), _face(2, "surprise")])
        w.write_faces(1, 0.04, [])
        w.write_faces(2, 0.08, [_face(1)], detected=False)
    rows = list(csv.DictReader(path.open()))
    header = next(csv.reader(path.open()))
    assert header == list(CSV_BASE_COLUMNS) + ["p_neutral", "p_happiness", "p_surprise", "detected"]
    assert len(rows) == 3
    assert [int(r["frame"]) for r in rows] == [0, 0, 2]
    assert [r["track_id"] for r in rows] == ["1", "2", "1"]
    assert rows[1]["label"] == "surprise" and float(rows[1]["p_surprise"]) == pytest.approx(0.8)
    assert [float(rows[0][k]) for k in ("x1", "y1", "x2", "y2")] == [10.0, 20.0, 60.0, 80.0]
    assert float(rows[2]["timestamp"]) == pytest.approx(0.08) and rows[2]["detected"] == "0"


def test_csv_labels_default_to_first_face_and_empty_run_has_header(tmp_path):
    with CsvWriter(tmp_path / "a.csv") as w:
        w.write_faces(0, 0.0, [_face(None)])
    row = next(csv.DictReader((tmp_path / "a.csv").open()))
    assert row["track_id"] == "" and "p_surprise" in row
    CsvWriter(tmp_path / "empty.csv").close()
    assert (tmp_path / "empty.csv").read_text().startswith("frame,timestamp,track_id")


def test_jsonl_schema(tmp_path):
    path = tmp_path / "out.jsonl"
    with JsonlWriter(path) as w:
        w.write_faces(3, 0.12, [_face(7), _face(8)])
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 2
    assert set(lines[0]) == {"frame", "timestamp", "track_id", "box", "score", "label", "confidence", "probs",
                             "landmarks", "detected"}
    assert lines[0]["frame"] == 3 and lines[1]["track_id"] == 8 and lines[0]["box"] == [10.0, 20.0, 60.0, 80.0]
    assert lines[0]["probs"] == {"neutral": 0.1, "happiness": 0.8, "surprise": 0.1}
    assert face_row(3, 0.12, _face(7)) == lines[0]


@pytest.mark.parametrize("writer", [CsvWriter, JsonlWriter])
def test_writing_to_a_closed_text_writer_raises_a_typed_error(tmp_path, writer):
    w = writer(tmp_path / "out.txt")
    w.write_faces(0, 0.0, [_face(1)])
    w.close()
    with pytest.raises(FerEdgeError, match="closed"):
        w.write_faces(1, 0.04, [_face(1)])


def test_video_writer_keeps_first_size_and_converts_formats(tmp_path):
    path = tmp_path / "v.avi"
    with VideoWriter(path, fps=10) as w:
        w.write(np.zeros((48, 64, 3), np.uint8))
        w.write(np.zeros((48, 64), np.uint8))  # gray
        w.write(np.zeros((48, 64, 4), np.uint8))  # BGRA
        w.write(np.zeros((30, 30, 3), np.uint8))  # other size → resized
    assert w.frames == 4
    assert _count_frames(path) == (4, (64, 48))
    with pytest.raises(InvalidInputError, match="suffix"):
        VideoWriter(tmp_path / "v.gif")


def test_track_summary_dominant_and_shares(tmp_path):
    s = TrackSummary()
    for i in range(10):
        faces = [_face(1, "happiness" if i < 7 else "surprise")]
        if i >= 5:
            faces.append(_face(2, "neutral"))
        s.add(i, i * 0.1, faces)
    tracks = {t["track_id"]: t for t in s.tracks()}
    assert tracks[1]["dominant"] == "happiness" and tracks[1]["shares"] == {"happiness": 0.7, "surprise": 0.3}
    assert tracks[1]["frames"] == 10 and tracks[1]["duration_s"] == pytest.approx(0.9)
    assert tracks[2]["first_frame"] == 5 and tracks[2]["shares"] == {"neutral": 1.0}
    assert tracks[1]["mean_probs"]["happiness"] == pytest.approx(0.59)
    path = s.write_json(tmp_path / "summary.json")
    data = json.loads(path.read_text())
    assert data["frames"] == 10 and len(data["tracks"]) == 2
    assert any("track #1" in line and "happiness" in line for line in s.lines())


# ------------------------------------------------------------------ the predict command on a synthetic video
@pytest.fixture(scope="module")
def astronaut_clip(tmp_path_factory):
    data = pytest.importorskip("skimage.data")
    from fer_edge.video import moving_faces_frames

    face = cv2.cvtColor(np.ascontiguousarray(data.astronaut()[10:230, 130:330]), cv2.COLOR_RGB2BGR)
    frames = moving_faces_frames(face, n=12, size=(640, 480), faces=2, face_size=200, step=6)
    path = tmp_path_factory.mktemp("clip") / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (640, 480))
    for f in frames:
        w.write(f)
    w.release()
    return path


def _args(source, **kw):
    base = dict(source=str(source), model=None, out=None, csv=False, jsonl=False, show=False, every=1, skip=1,
                max_fps=None, no_track=False, threads=1, detector="blazeface", json=False)
    base.update(kw)
    return argparse.Namespace(**base)


def test_run_video_writes_annotated_video_csv_jsonl_and_summary(astronaut_clip, tiny_onnx_model, tmp_path, capsys):
    from fer_edge.commands.predict_video import run_video

    out = tmp_path / "out"
    rc = run_video(_args(astronaut_clip, model=str(tiny_onnx_model), out=str(out), csv=True, jsonl=True, every=3))
    assert rc == 0
    assert _count_frames(out / "clip_annotated.mp4") == _count_frames(astronaut_clip) == (12, (640, 480))
    rows = list(csv.DictReader((out / "clip.csv").open()))
    lines = [json.loads(x) for x in (out / "clip.jsonl").read_text().splitlines()]
    assert len(rows) == len(lines) >= 22  # two faces in (nearly) every one of 12 frames
    assert {int(r["frame"]) for r in rows} == set(range(12))
    assert len({r["track_id"] for r in rows}) == 2
    summary = json.loads((out / "clip_summary.json").read_text())
    assert summary["frames"] == 12 and len(summary["tracks"]) == 2
    assert "track #" in capsys.readouterr().out


def test_cli_predict_routes_videos_here(astronaut_clip, tiny_onnx_model, tmp_path):
    from fer_edge.cli import main

    out = tmp_path / "cli"
    assert main(["predict", str(astronaut_clip), "--model", str(tiny_onnx_model), "--out", str(out), "--csv",
                 "--skip", "4", "--threads", "1"]) == 0
    rows = list(csv.DictReader((out / "clip.csv").open()))
    assert {int(r["frame"]) for r in rows} == {0, 4, 8}
    assert _count_frames(out / "clip_annotated.mp4")[0] == 3


def test_run_video_bad_input(tmp_path, tiny_onnx_model):
    from fer_edge.commands.predict_video import run_video

    with pytest.raises(InvalidInputError, match="--out"):
        run_video(_args(tmp_path / "x.mp4", csv=True))
    with pytest.raises(InvalidInputError, match="does not exist"):
        run_video(_args(tmp_path / "missing.mp4", model=str(tiny_onnx_model)))
    with pytest.raises(InvalidInputError, match="--every"):
        run_video(_args(tmp_path / "x.mp4", every=0))


def test_show_without_display_is_ignored_with_a_warning(astronaut_clip, tiny_onnx_model, monkeypatch, caplog):
    from fer_edge.commands.predict_video import run_video

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    rc = run_video(_args(astronaut_clip, model=str(tiny_onnx_model), show=True, skip=6))
    assert rc == 0
    assert any("--show ignored" in r.message for r in caplog.records)


@pytest.mark.parametrize(
    "source, video",
    [("0", True), ("/dev/video0", True), ("rtsp://cam/1", True), ("v4l2src ! appsink", True), ("clip.mp4", True),
     ("clip.ts", True), ("clip.flv", True), ("clip.3gp", True), ("photo.jpg", False), ("photo.png", False)],
)
def test_cli_predict_sends_every_video_source_kind_to_the_video_loop(source, video):
    # /dev/videoN and .ts/.flv/.3gp files used to be taken for images ("could not be read as an image").
    from fer_edge.commands.predict import is_video_source

    assert is_video_source(source) is video


def test_cli_predict_lists_a_folder_in_natural_order_like_the_folder_source(tmp_path):
    from fer_edge.commands.predict import image_paths

    for name in ("frame10.png", "frame2.png", "frame1.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "not_an_image.jpg").mkdir()  # a folder with an image suffix is not an image
    assert [p.name for p in image_paths(str(tmp_path))] == ["frame1.png", "frame2.png", "frame10.png"]
