"""The ROS 2 node against a fake rclpy (real API names) and real ROS 2 message classes from rosbags: QoS,
parameters, one result pair per image equal to the stream pipeline's, bad messages skipped, the launch file."""

import dataclasses
import runpy
import sys
import types

import cv2
import numpy as np
import pytest

pytest.importorskip("rosbags")

from fakes.fake_rclpy import HistoryPolicy, ReliabilityPolicy, install_fake_ros  # noqa: E402

from fer_edge.pipeline import stream  # noqa: E402
from fer_edge.recognizer import Recognizer  # noqa: E402
from fer_edge.ros import node as ros_node  # noqa: E402
from fer_edge.ros.images import image_msg  # noqa: E402
from fer_edge.ros.messages import faces_from_detections, header_msg, ros2_typestore, rosbags_classes  # noqa: E402
from fer_edge.video import moving_faces_frames  # noqa: E402

T0 = 1_700_000_000_000_000_000
N = 7


@pytest.fixture(scope="module")
def frames():
    data = pytest.importorskip("skimage.data")
    face = cv2.cvtColor(np.ascontiguousarray(data.astronaut()[10:230, 130:330]), cv2.COLOR_RGB2BGR)
    return moving_faces_frames(face, n=N, size=(320, 240), face_size=120, step=6)


def _messages(frames, encodings=("bgr8", "rgb8", "nv12", "yuv422")):
    c = rosbags_classes()
    return [image_msg(c("sensor_msgs/msg/Image"), header_msg(c, T0 + i * 10**8, "camera"), f,
                      encodings[i % len(encodings)]) for i, f in enumerate(frames)]


def _run_node(monkeypatch, overrides, feed):
    state = install_fake_ros(monkeypatch, overrides)
    seen = {}

    def spin(node):
        seen["node"] = node
        feed(node.subscriptions[0].callback)

    state.spin_hook = spin
    code = ros_node.main([])
    return code, state, seen.get("node")


def test_node_publishes_one_result_pair_per_image_like_the_pipeline(monkeypatch, frames):
    msgs = _messages(frames)
    code, state, node = _run_node(
        monkeypatch, {"image_topic": "/cam/image_raw", "detect_every": 2, "threads": 1},
        lambda callback: [callback(m) for m in msgs])
    assert code == 0 and node.destroyed and not state.initialized  # destroyed, then rclpy shut down
    sub = node.subscriptions[0]
    assert sub.topic == "/cam/image_raw" and sub.msg_type is ros2_typestore().types["sensor_msgs/msg/Image"]
    assert sub.qos.reliability == ReliabilityPolicy.BEST_EFFORT
    assert sub.qos.history == HistoryPolicy.KEEP_LAST and sub.qos.depth == 1
    pubs = {p.topic: p for p in node.publishers}
    dets, anns = pubs["/fer_edge/expressions"].published, pubs["/fer_edge/annotations"].published
    assert len(dets) == len(anns) == N
    # Expected: the same stream pipeline (detect every 2 frames, tracking, EMA) over the decoded frames.
    decoded = [ros_node.bgr_from_msg(m) for m in msgs]
    with Recognizer(threads=1) as rec, stream(decoded, recognizer=rec, detect_every=2) as s:
        expected = list(s)
    assert [r.detected for r in expected] == [True, False] * (N // 2) + [True]
    store = ros2_typestore()
    for i, (det, ann, want) in enumerate(zip(dets, anns, expected)):
        assert (det.header.stamp.sec, det.header.stamp.nanosec) == divmod(T0 + i * 10**8, 10**9)
        assert det.header.frame_id == "camera"
        got = faces_from_detections(det)
        assert [f.label for f in got] == [f.label for f in want.faces] and len(got) >= 1
        assert [f.track_id for f in got] == [f.track_id for f in want.faces] == [1]
        np.testing.assert_allclose([f.box for f in got], [f.box for f in want.faces], atol=1e-6)
        assert len(ann.points) == len(got) and ann.points[0].timestamp == det.header.stamp
        # What the node publishes is a valid ROS 2 message (CDR round trip).
        raw = store.serialize_cdr(det, "vision_msgs/msg/Detection2DArray")
        assert store.deserialize_cdr(raw, "vision_msgs/msg/Detection2DArray").detections[0].id == "1"


def test_compressed_topic_and_bad_messages_are_skipped(monkeypatch, frames):
    c = rosbags_classes()
    good = c("sensor_msgs/msg/CompressedImage")(header=header_msg(c, T0, "camera"), format="jpeg",
                                                data=cv2.imencode(".jpg", frames[0])[1].reshape(-1))
    broken = c("sensor_msgs/msg/CompressedImage")(header=header_msg(c, T0 + 1, "camera"), format="jpeg",
                                                  data=np.arange(100, dtype=np.uint8))
    code, state, node = _run_node(monkeypatch, {"image_topic": "/cam/image_raw/compressed", "threads": 1},
                                  lambda callback: [callback(m) for m in (broken, good, broken, good)])
    assert code == 0
    sub = node.subscriptions[0]
    assert sub.msg_type.__msgtype__ == "sensor_msgs/msg/CompressedImage"
    pubs = {p.topic: p for p in node.publishers}
    assert len(pubs["/fer_edge/expressions"].published) == 2  # the broken ones were skipped, the node went on
    assert node.core.skipped == 2


def test_bad_parameter_and_missing_rclpy_end_with_a_message(monkeypatch, caplog):
    state = install_fake_ros(monkeypatch, {"detect_every": 0})
    assert ros_node.main([]) == 1
    assert "detect_every must be >= 1" in caplog.text and not state.initialized
    monkeypatch.setitem(sys.modules, "rclpy", None)
    assert ros_node.main([]) == 1
    assert "rclpy" in caplog.text and "source /opt/ros" in caplog.text and "pip install" not in caplog.text


def test_params_cover_the_launch_file_and_defaults_agree(monkeypatch, capsys):
    recorded = {}

    def record(kind):
        def make(*args, **kwargs):
            recorded.setdefault(kind, []).append((args, kwargs))
            return (kind, args, kwargs)
        return make

    launch = types.ModuleType("launch")
    launch.LaunchDescription = record("LaunchDescription")
    actions = types.ModuleType("launch.actions")
    actions.DeclareLaunchArgument, actions.ExecuteProcess = record("Declare"), record("ExecuteProcess")
    subs = types.ModuleType("launch.substitutions")
    subs.LaunchConfiguration = lambda name: ("config", name)
    for name, mod in {"launch": launch, "launch.actions": actions, "launch.substitutions": subs}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    assert ros_node.main(["--launch-file"]) == 0
    path = capsys.readouterr().out.strip()
    assert path == ros_node.LAUNCH_FILE
    runpy.run_path(path)["generate_launch_description"]()
    declared = {args[0]: kwargs["default_value"] for args, kwargs in recorded["Declare"]}
    defaults = {f.name: f.default for f in dataclasses.fields(ros_node.NodeParams)}
    assert set(declared) == set(defaults)
    for name, value in defaults.items():
        assert declared[name] == (str(value).lower() if isinstance(value, bool) else str(value))
    (_, kwargs), = recorded["ExecuteProcess"]
    cmd = kwargs["cmd"]
    assert cmd[:2] == ["fer-edge-ros", "--ros-args"]
    assert [part[0] for part in cmd[3::2]] == [f"{n}:=" for n in defaults]
