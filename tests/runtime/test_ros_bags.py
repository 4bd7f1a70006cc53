"""ROS bags end to end: bags written with rosbags' own writers (ROS 2 MCAP, ROS 1), `fer-edge predict` on them,
the output bag read back (rosbags and the independent mcap-ros2 decoder) and checked against Recognizer.predict."""

import cv2
import numpy as np
import pytest

rosbags = pytest.importorskip("rosbags")
pytest.importorskip("mcap")

from rosbags.highlevel import AnyReader  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402

from fer_edge.cli import main  # noqa: E402
from fer_edge.errors import InvalidInputError  # noqa: E402
from fer_edge.pipeline import stream  # noqa: E402
from fer_edge.recognizer import Recognizer  # noqa: E402
from fer_edge.ros.bag import open_bag  # noqa: E402
from fer_edge.ros.bag_writer import McapBagWriter  # noqa: E402
from fer_edge.ros.images import image_msg  # noqa: E402
from fer_edge.ros.messages import faces_from_detections, header_msg, rosbags_classes  # noqa: E402
from fer_edge.tracking import Tracker, TrackerConfig  # noqa: E402
from fer_edge.video import moving_faces_frames, source_kind  # noqa: E402

T0 = 1_700_000_000_000_000_000  # ns
PERIOD = 33_333_333
N = 8


def _face():
    data = pytest.importorskip("skimage.data")
    return cv2.cvtColor(np.ascontiguousarray(data.astronaut()[10:230, 130:330]), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def frames():
    return moving_faces_frames(_face(), n=N, size=(320, 240), face_size=120, step=6)


@pytest.fixture(scope="module")
def recognizer():
    with Recognizer(threads=1) as rec:
        yield rec


def _raw_fields(bgr, encoding):
    """(data, step) of a raw image in ``encoding``, made here with OpenCV, independently of fer_edge."""
    if encoding == "rgb8":
        px = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    elif encoding == "mono8":
        px = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    else:
        px = bgr
    px = np.ascontiguousarray(px)
    return px.reshape(-1).copy(), px.reshape(px.shape[0], -1).shape[1]


def _decode_here(item_type, encoding_or_format, data, h, w):
    """The test's own decoder (what the frames look like to a user's code)."""
    buf = np.asarray(data, np.uint8)
    if item_type == "compressed":
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if encoding_or_format == "rgb8":
        return cv2.cvtColor(buf.reshape(h, w, 3), cv2.COLOR_RGB2BGR)
    if encoding_or_format == "mono8":
        return cv2.cvtColor(buf.reshape(h, w), cv2.COLOR_GRAY2BGR)
    return buf.reshape(h, w, 3)


def write_ros2_bag(path, frames, encoding="rgb8", compressed_ext=".jpg", storage="MCAP"):
    """A rosbag2 folder (MCAP or SQLite storage) written by rosbags' Writer: /cam/image_raw and /cam/compressed."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    ts = get_typestore(Stores.ROS2_HUMBLE)
    Image, Compressed = ts.types["sensor_msgs/msg/Image"], ts.types["sensor_msgs/msg/CompressedImage"]
    Header, Time = ts.types["std_msgs/msg/Header"], ts.types["builtin_interfaces/msg/Time"]
    with Writer(path, version=9, storage_plugin=getattr(StoragePlugin, storage)) as writer:
        raw = writer.add_connection("/cam/image_raw", Image.__msgtype__, typestore=ts)
        comp = writer.add_connection("/cam/compressed", Compressed.__msgtype__, typestore=ts)
        for i, f in enumerate(frames):
            ns = T0 + i * PERIOD
            header = Header(stamp=Time(sec=ns // 10**9, nanosec=ns % 10**9), frame_id="camera")
            data, step = _raw_fields(f, encoding)
            msg = Image(header=header, height=f.shape[0], width=f.shape[1], encoding=encoding, is_bigendian=0,
                        step=step, data=data)
            writer.write(raw, ns + 500_000, ts.serialize_cdr(msg, Image.__msgtype__))
            blob = cv2.imencode(compressed_ext, f)[1].reshape(-1)
            cmsg = Compressed(header=header, format=compressed_ext[1:].replace("jpg", "jpeg"), data=blob)
            writer.write(comp, ns + 700_000, ts.serialize_cdr(cmsg, Compressed.__msgtype__))
    return path


def write_ros1_bag(path, frames, encoding="mono8"):
    """A ROS 1 bag written by rosbags' rosbag1 Writer: /cam/image_raw (raw) and /cam/compressed (PNG)."""
    from rosbags.rosbag1 import Writer

    ts = get_typestore(Stores.ROS1_NOETIC)
    Image, Compressed = ts.types["sensor_msgs/msg/Image"], ts.types["sensor_msgs/msg/CompressedImage"]
    Header, Time = ts.types["std_msgs/msg/Header"], ts.types["builtin_interfaces/msg/Time"]
    with Writer(path) as writer:
        raw = writer.add_connection("/cam/image_raw", Image.__msgtype__, typestore=ts)
        comp = writer.add_connection("/cam/compressed", Compressed.__msgtype__, typestore=ts)
        for i, f in enumerate(frames):
            ns = T0 + i * PERIOD
            header = Header(seq=i, stamp=Time(sec=ns // 10**9, nanosec=ns % 10**9), frame_id="camera")
            data, step = _raw_fields(f, encoding)
            msg = Image(header=header, height=f.shape[0], width=f.shape[1], encoding=encoding, is_bigendian=0,
                        step=step, data=data)
            writer.write(raw, ns + 500_000, ts.serialize_ros1(msg, Image.__msgtype__))
            cmsg = Compressed(header=header, format="png", data=cv2.imencode(".png", f)[1].reshape(-1))
            writer.write(comp, ns + 700_000, ts.serialize_ros1(cmsg, Compressed.__msgtype__))
    return path


def read_bag(path):
    """{topic: [(log_time, msgtype, message)]} of a bag, read with rosbags (embedded definitions only)."""
    out = {}
    with AnyReader([path]) as reader:
        for conn, log_ns, raw in reader.messages():
            out.setdefault(conn.topic, []).append((log_ns, conn.msgtype, reader.deserialize(raw, conn.msgtype)))
    return out


def expected_faces(recognizer, bag_path, topic, tracking):
    """Decode the input topic here, run Recognizer.predict (and the same Tracker the pipeline uses)."""
    kind = "compressed" if "compressed" in topic else "raw"
    tracker = Tracker(TrackerConfig(smoothing="ema"), labels=recognizer.card.labels) if tracking else None
    results = []
    for i, (_, _, m) in enumerate(read_bag(bag_path)[topic]):
        key = m.format if kind == "compressed" else m.encoding
        image = _decode_here(kind, key, m.data, getattr(m, "height", 0), getattr(m, "width", 0))
        faces = list(recognizer.predict(image))
        if tracker is not None:
            faces = tracker.update(faces, i, measured=True)
            faces.sort(key=lambda f: (-f.area, f.track_id or 0))
        results.append((m.header.stamp, faces, image.shape))
    return results


def check_output(out_bag, in_bag, topic, expected, tracking):
    got = read_bag(out_bag)
    inputs = read_bag(in_bag)[topic]
    assert set(got) == {topic, "/fer_edge/expressions", "/fer_edge/annotations"}
    # The input topic is carried over, message for message, with its bag times and stamps.
    assert [t for t, _, _ in got[topic]] == [t for t, _, _ in inputs]
    assert [m.header.stamp for _, _, m in got[topic]] == [m.header.stamp for _, _, m in inputs]
    assert all(bytes(a.data) == bytes(b.data) for (_, _, a), (_, _, b) in zip(got[topic], inputs))
    dets, anns = got["/fer_edge/expressions"], got["/fer_edge/annotations"]
    assert len(dets) == len(anns) == len(inputs) == N  # one result per input frame
    track_ids = set()
    for (log_ns, msgtype, det), (a_ns, _, ann), (in_ns, _, inp), (stamp, want, shape) in zip(
            dets, anns, inputs, expected):
        assert msgtype == "vision_msgs/msg/Detection2DArray"
        assert log_ns == a_ns == in_ns  # logged at the input message's bag time
        assert (det.header.stamp.sec, det.header.stamp.nanosec) == (stamp.sec, stamp.nanosec)
        assert det.header.frame_id == "camera"
        faces = faces_from_detections(det)
        assert len(faces) == len(want) >= 1
        for f, w in zip(faces, want):
            assert f.label == w.label
            np.testing.assert_allclose(f.box, w.box, atol=1e-6)
            for k, v in w.probs.items():
                assert f.probs[k] == pytest.approx(v, abs=1e-9)
            assert f.track_id == w.track_id
            if tracking:
                track_ids.add(f.track_id)
        # Annotations: a closed 4-corner outline per face inside the image, a caption, the image's stamp.
        assert len(ann.points) == len(ann.texts) == len(want)
        h, w_px = shape[:2]
        for p, t, face in zip(ann.points, ann.texts, want):
            assert p.type == 2 and len(p.points) == 4 and p.thickness > 0 and p.outline_color.a == 1.0
            xs, ys = [q.x for q in p.points], [q.y for q in p.points]
            assert min(xs) == pytest.approx(face.box[0]) and max(ys) == pytest.approx(face.box[3])
            assert 0 <= min(xs) < max(xs) <= w_px and 0 <= min(ys) < max(ys) <= h
            assert (p.timestamp.sec, p.timestamp.nanosec) == (stamp.sec, stamp.nanosec)
            assert face.label in t.text
            # Drawable: the outline rendered with OpenCV covers the box's edges.
            canvas = np.zeros((h, w_px), np.uint8)
            corners = np.round([[q.x, q.y] for q in p.points]).astype(np.int32)
            cv2.polylines(canvas, [corners], True, 255, max(1, int(p.thickness)))
            x1, y1, x2, y2 = corners[0][0], corners[0][1], corners[2][0], corners[2][1]
            assert canvas[y1, x1:x2].mean() > 250 and canvas[y1:y2, x2 - 1: x2 + 1].max(axis=1).mean() > 250
    if tracking:
        assert track_ids == {1}  # one face, one stable id over the whole clip


@pytest.mark.parametrize("topic, storage", [("/cam/image_raw", "MCAP"), ("/cam/compressed", "MCAP"),
                                            ("/cam/image_raw", "SQLITE3")])
def test_predict_on_a_ros2_bag(tmp_path, frames, recognizer, topic, storage, capsys):
    bag = write_ros2_bag(tmp_path / "rec", frames, encoding="rgb8", storage=storage)
    assert source_kind(str(bag)) == "bag"
    out = tmp_path / "res" / "out.mcap"
    code = main(["predict", str(bag), "--topic", topic, "--out", str(out), "--threads", "1", "--csv", "--jsonl"])
    assert code == 0
    check_output(out, bag, topic, expected_faces(recognizer, bag, topic, tracking=True), tracking=True)
    # CSV/JSON Lines keep the ROS time stamps (seconds).
    rows = (out.parent / "out.csv").read_text().splitlines()
    assert len(rows) == N + 1
    assert float(rows[2].split(",")[1]) == pytest.approx((T0 + PERIOD) / 1e9, abs=1e-4)
    assert '"timestamp": 1700000000.0' in (out.parent / "out.jsonl").read_text()


@pytest.mark.parametrize("topic", ["/cam/image_raw", "/cam/compressed"])
def test_predict_on_a_ros1_bag_without_tracking_equals_predict(tmp_path, frames, recognizer, topic):
    bag = write_ros1_bag(tmp_path / "rec.bag", frames, encoding="mono8")
    out_dir = tmp_path / "res"
    assert main(["predict", str(bag), "--topic", topic, "--out", str(out_dir), "--no-track", "--threads", "1"]) == 0
    out = out_dir / "rec_fer.mcap"
    check_output(out, bag, topic, expected_faces(recognizer, bag, topic, tracking=False), tracking=False)
    # ROS 1 input comes out as ROS 2 messages an independent decoder (mcap-ros2-support) reads.
    mcap_ros2 = pytest.importorskip("mcap_ros2.reader")
    decoded = list(mcap_ros2.read_ros2_messages(str(out)))
    assert len(decoded) == 3 * N
    dets = [m.ros_msg for m in decoded if m.channel.topic == "/fer_edge/expressions"]
    assert all(d.detections[0].results[0].hypothesis.class_id in recognizer.card.labels for d in dets)


def test_skipped_frames_stay_in_the_output_bag_without_results(tmp_path, frames):
    bag = McapBagWriter(tmp_path / "in.mcap")
    c = rosbags_classes()
    for i, f in enumerate(frames):
        bag.write("/cam", image_msg(c("sensor_msgs/msg/Image"), header_msg(c, T0 + i * PERIOD, "cam"), f, "nv12"),
                  T0 + i * PERIOD)
    bag.close()
    out = tmp_path / "out.mcap"
    assert main(["predict", str(tmp_path / "in.mcap"), "--skip", "3", "--out", str(out), "--threads", "1"]) == 0
    got = read_bag(out)
    assert len(got["/cam"]) == N
    stamps = [m.header.stamp.nanosec for _, _, m in got["/fer_edge/expressions"]]
    assert stamps == [(T0 + i * PERIOD) % 10**9 for i in range(0, N, 3)]


def test_stream_opens_a_bag_path_directly(tmp_path, frames, recognizer):
    bag = write_ros2_bag(tmp_path / "rec", frames[:3])
    with pytest.raises(InvalidInputError, match="several image topics"):
        stream(str(bag), recognizer=recognizer)
    src = open_bag(bag, "/cam/image_raw")
    with stream(src, recognizer=recognizer) as s:
        results = list(s)
    assert [r.timestamp for r in results] == pytest.approx([(T0 + i * PERIOD) / 1e9 for i in range(3)])


def test_bad_topics_and_encodings_are_typed_errors(tmp_path, frames, capsys):
    bag = write_ros2_bag(tmp_path / "rec", frames[:2])
    assert main(["predict", str(bag), "--topic", "/nope"]) == 1
    err = capsys.readouterr().err
    assert "topic /nope is not in bag" in err and "/cam/image_raw" in err and "Traceback" not in err
    with pytest.raises(InvalidInputError, match="several image topics"):
        open_bag(bag)
    # A topic that is not an image, and an encoding fer_edge does not decode.
    c = rosbags_classes()
    path = tmp_path / "odd.mcap"
    with McapBagWriter(path) as w:
        w.write("/status", c("std_msgs/msg/String")(data="ok"), T0)
        msg = c("sensor_msgs/msg/Image")(header=header_msg(c, T0, "cam"), height=2, width=2, encoding="32FC1",
                                         is_bigendian=0, step=8, data=np.zeros(16, np.uint8))
        w.write("/depth", msg, T0)
    with pytest.raises(InvalidInputError, match="carries std_msgs/msg/String, not an image"):
        open_bag(path, "/status")
    assert main(["predict", str(path), "--topic", "/depth"]) == 1
    assert "unsupported image encoding '32FC1'" in capsys.readouterr().err
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), frames[0])
    assert main(["predict", str(images), "--topic", "/cam"]) == 1  # a folder of images is not a bag
    assert "--topic applies to ROS bags" in capsys.readouterr().err
    garbage = tmp_path / "junk.mcap"
    garbage.write_bytes(b"\x89MCAP0\r\n" + bytes(range(256)) * 4)
    with pytest.raises(InvalidInputError, match="cannot open bag"):
        open_bag(garbage)


def test_truncated_bag_keeps_the_results_before_the_damage(tmp_path, capsys):
    c = rosbags_classes()
    rng = np.random.default_rng(0)
    full = tmp_path / "full.mcap"
    with McapBagWriter(full) as w:  # noise frames do not compress: several 1 MB chunks
        for i in range(30):
            img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
            w.write("/cam", image_msg(c("sensor_msgs/msg/Image"), header_msg(c, T0 + i * PERIOD, "cam"), img,
                                      "bgr8"), T0 + i * PERIOD)
    data = full.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out.mcap"
    assert main(["predict", str(cut), "--out", str(out), "--threads", "1"]) == 1
    err = capsys.readouterr().err
    assert "is damaged after" in err and "Traceback" not in err
    got = read_bag(out)  # the output bag is complete and readable
    kept = len(got["/fer_edge/expressions"])
    assert 5 <= kept < 30 and len(got["/cam"]) == kept
