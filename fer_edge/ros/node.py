"""The ROS 2 node ``fer_edge`` (``fer-edge-ros``, ``python -m fer_edge.ros``): camera topic in, expressions out.

Subscribes to a ``sensor_msgs/Image`` or ``CompressedImage`` topic with best-effort, keep-last depth 1 QoS (a slow
model always gets the newest frame, like the video sources' drop-to-latest) and publishes, per processed frame,
a ``vision_msgs/Detection2DArray`` and a ``foxglove_msgs/ImageAnnotations`` stamped with the image's header stamp.

The work is done by :class:`ExpressionNodeCore`, which needs no ROS install: it decodes with the same code as the
bag reader, runs the same :func:`fer_edge.pipeline.stream` (detect every N frames, tracking, smoothing) and builds
the same messages as the bag writer. :func:`make_node` is the thin ``rclpy`` shell around it. The shell is tested
against a fake ``rclpy`` only; it has not yet run under a real ROS 2 install (docs/VERIFICATION.md).
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidInputError, MissingDependencyError
from ..tracking import SMOOTHING_MODES
from ..video import FrameSource
from .images import bgr_from_msg
from .messages import ClassLookup, annotations_msg, detections_msg, stamp_ns
from .topics import (
    ANNOTATIONS_TOPIC,
    ANNOTATIONS_TYPE,
    COMPRESSED_TYPE,
    EXPRESSIONS_TOPIC,
    EXPRESSIONS_TYPE,
    IMAGE_TYPE,
)

log = logging.getLogger(__name__)

__all__ = ["NodeParams", "ExpressionNodeCore", "rclpy_classes", "make_node", "main"]

NODE_NAME = "fer_edge"
LAUNCH_FILE = str(Path(__file__).resolve().parent / "launch" / "fer_edge.launch.py")


@dataclass(frozen=True)
class NodeParams:
    """The node's ROS parameters (``ros2 run fer_edge fer-edge-ros --ros-args -p detect_every:=3``).

    Attributes:
        model: classifier .onnx/.engine ("default" = the bundled model; a non-empty default because an empty
            string given as ``-p model:=`` is not a string parameter for ROS).
        detector: face detector name ("default" = fer-edge's default detector, or a name from
            ``fer-edge predict --help``; "none" when the topic carries face crops).
        threads: CPU threads for inference (0 = ONNX Runtime's choice).
        detect_every: run the detector every N frames and follow the tracked boxes in between.
        smoothing: "ema", "window" or "none" (temporal smoothing of each track's probabilities).
        tracking: False = raw per-frame faces (no track ids, no smoothing).
        image_topic: the camera topic.
        image_transport: "raw" (sensor_msgs/Image), "compressed" (CompressedImage) or "auto" (compressed when the
            topic name ends in /compressed).
        expressions_topic, annotations_topic: output topics.
    """

    model: str = "default"
    detector: str = "default"
    threads: int = 0
    detect_every: int = 1
    smoothing: str = "ema"
    tracking: bool = True
    image_topic: str = "/camera/image_raw"
    image_transport: str = "auto"
    expressions_topic: str = EXPRESSIONS_TOPIC
    annotations_topic: str = ANNOTATIONS_TOPIC

    def __post_init__(self) -> None:
        if int(self.detect_every) < 1:
            raise InvalidInputError(f"parameter detect_every must be >= 1, got {self.detect_every}")
        if int(self.threads) < 0:
            raise InvalidInputError(f"parameter threads must be >= 0 (0 = automatic), got {self.threads}")
        if self.smoothing not in SMOOTHING_MODES:
            raise InvalidInputError(f"parameter smoothing must be one of {SMOOTHING_MODES}, got {self.smoothing!r}")
        if self.image_transport not in ("auto", "raw", "compressed"):
            raise InvalidInputError(
                f"parameter image_transport must be auto, raw or compressed, got {self.image_transport!r}"
            )

    @property
    def image_type(self) -> str:
        """The subscribed message type."""
        if self.image_transport == "compressed" or (
            self.image_transport == "auto" and self.image_topic.rstrip("/").endswith("/compressed")
        ):
            return COMPRESSED_TYPE
        return IMAGE_TYPE


class ExpressionNodeCore:
    """What the node does with each image message, without ROS: decode → stream pipeline → result messages.

    One :class:`fer_edge.pipeline.Stream` runs over a frame source fed one message per :meth:`on_image` call, so
    detection every N frames, tracking and smoothing behave exactly as in ``fer-edge predict``.

    Args:
        params: the node parameters.
        classes: message class lookup (``rclpy_classes`` in the node, rosbags classes in tests).
        recognizer: an existing Recognizer (default: one built from ``params``).
    """

    def __init__(self, params: NodeParams, classes: ClassLookup, recognizer: Any = None):
        from ..pipeline import stream

        self.params = params
        self.classes = classes
        self.frames = 0
        self.skipped = 0
        self.last_ms = 0.0
        self._pending: Optional[Tuple[np.ndarray, int]] = None
        source = FrameSource(self._read, kind="ros", name=f"topic {params.image_topic}", live=False, threaded=False,
                             timeout=None, timestamp=self._timestamp)
        from ..detect.registry import DEFAULT_DETECTOR

        detector = {"": None, "none": None, "default": DEFAULT_DETECTOR}.get(params.detector, params.detector)
        model = None if params.model in ("", "default") else params.model
        self.stream = stream(source, model, recognizer=recognizer, detect_every=params.detect_every,
                             tracking=params.tracking, smoothing=params.smoothing, detector=detector,
                             threads=params.threads or None)
        self._stamp = 0

    def _read(self) -> Optional[np.ndarray]:
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        self._stamp = pending[1]
        return pending[0]

    def _timestamp(self, index: int) -> float:
        return self._stamp / 1e9

    def on_image(self, msg: Any) -> Optional[Tuple[Any, Any]]:
        """Process one image message; return (Detection2DArray, ImageAnnotations), or None for a bad message.

        A message that cannot be decoded is logged and skipped (the node keeps running).
        """
        t0 = time.perf_counter()
        try:
            image = bgr_from_msg(msg)
        except InvalidInputError as exc:
            self.skipped += 1
            if self.skipped == 1 or self.skipped % 100 == 0:
                log.warning("skipping image message (%d so far): %s", self.skipped, exc)
            return None
        header = msg.header
        ns = stamp_ns(header.stamp)
        self._pending = (image, ns)
        result = next(self.stream)
        self.frames += 1
        faces = list(result.faces)
        out = (detections_msg(self.classes, faces, ns, str(header.frame_id)),
               annotations_msg(self.classes, faces, ns))
        self.last_ms = (time.perf_counter() - t0) * 1e3
        return out

    def close(self) -> None:
        """Release the Recognizer (when created here)."""
        self.stream.close()


def rclpy_classes(name: str) -> Any:
    """Message class for ``pkg/msg/Type`` from the ROS 2 Python packages (``vision_msgs.msg.Detection2D``)."""
    package, _, type_name = name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), type_name)


def _ros_import(module: str) -> Any:
    """Import a ROS 2 Python module; these come from a ROS install (apt), never from pip."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        if package == "rclpy":
            hint = "rclpy comes with ROS 2, not pip: run `source /opt/ros/$ROS_DISTRO/setup.bash` first"
        else:
            hint = f"install the message package: sudo apt install ros-$ROS_DISTRO-{package.replace('_', '-')}"
        error = MissingDependencyError(module, "ros", "the ROS 2 node")
        error.msg = f"'{module}' is not importable (needed for the ROS 2 node); {hint}"  # not a pip extra
        error.args = (error.msg,)
        raise error from exc


def _declare(node: Any) -> NodeParams:
    values: Dict[str, Any] = {}
    for f in fields(NodeParams):
        node.declare_parameter(f.name, f.default)
        values[f.name] = node.get_parameter(f.name).value
    return NodeParams(**values)


def make_node(recognizer: Any = None, node_name: str = NODE_NAME) -> Any:
    """Create the rclpy node (``rclpy.init()`` must have run): parameters, QoS, subscription, publishers."""
    rclpy_node = _ros_import("rclpy.node")
    qos = _ros_import("rclpy.qos")
    for package in ("sensor_msgs.msg", "vision_msgs.msg", "foxglove_msgs.msg"):
        _ros_import(package)

    class FerEdgeNode(rclpy_node.Node):  # type: ignore[misc,name-defined]
        """fer_edge: image topic → vision_msgs/Detection2DArray + foxglove_msgs/ImageAnnotations."""

        def __init__(self) -> None:
            super().__init__(node_name)
            self.params = _declare(self)
            self.core = ExpressionNodeCore(self.params, rclpy_classes, recognizer=recognizer)
            sensor = qos.QoSProfile(history=qos.HistoryPolicy.KEEP_LAST, depth=1,
                                    reliability=qos.ReliabilityPolicy.BEST_EFFORT)
            self.expressions_pub = self.create_publisher(rclpy_classes(EXPRESSIONS_TYPE),
                                                         self.params.expressions_topic, 10)
            self.annotations_pub = self.create_publisher(rclpy_classes(ANNOTATIONS_TYPE),
                                                         self.params.annotations_topic, 10)
            self.subscription = self.create_subscription(rclpy_classes(self.params.image_type),
                                                         self.params.image_topic, self.on_image, sensor)
            self.get_logger().info(
                f"fer_edge: {self.params.image_topic} ({self.params.image_type}) → {self.params.expressions_topic}, "
                f"{self.params.annotations_topic}; detect_every={self.params.detect_every}, "
                f"smoothing={self.params.smoothing}"
            )

        def on_image(self, msg: Any) -> None:
            out = self.core.on_image(msg)
            if out is not None:
                self.expressions_pub.publish(out[0])
                self.annotations_pub.publish(out[1])

        def destroy_node(self) -> None:
            self.core.close()
            super().destroy_node()

    return FerEdgeNode()


def main(args: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``fer-edge-ros``: init rclpy, spin the node until Ctrl-C, shut down.

    ``fer-edge-ros --launch-file`` prints the path of the bundled launch file (for ``ros2 launch PATH``).
    """
    import sys

    argv = list(sys.argv[1:] if args is None else args)
    if argv[:1] == ["--launch-file"]:
        print(LAUNCH_FILE)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        rclpy = _ros_import("rclpy")
    except MissingDependencyError as exc:
        log.error("%s", exc)
        return 1
    rclpy.init(args=None if args is None else ["fer-edge-ros"] + argv)
    node = None
    try:
        node = make_node()
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    except (InvalidInputError, MissingDependencyError) as exc:
        log.error("fer_edge node: %s", exc)
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


# For type checkers and readers: what the glue touches in rclpy (the fake in tests/fakes follows these names).
RCLPY_API: List[str] = [
    "rclpy.init(args=)", "rclpy.spin(node)", "rclpy.ok()", "rclpy.shutdown()",
    "rclpy.node.Node(name)", "Node.declare_parameter(name, value)", "Node.get_parameter(name).value",
    "Node.create_subscription(msg_type, topic, callback, qos_profile)",
    "Node.create_publisher(msg_type, topic, qos_profile)", "Node.get_logger().info()", "Node.destroy_node()",
    "rclpy.qos.QoSProfile(history=, depth=, reliability=)", "rclpy.qos.HistoryPolicy.KEEP_LAST",
    "rclpy.qos.ReliabilityPolicy.BEST_EFFORT", "Publisher.publish(msg)",
]
