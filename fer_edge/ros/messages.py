"""Result messages: faces → ``vision_msgs/Detection2DArray`` (expressions) and ``foxglove_msgs/ImageAnnotations``.

Why a standard message and not our own: a custom ``fer_edge_msgs/FaceExpression`` would have to be built by
colcon into an interface package on every robot before ``rclpy`` could publish it, while ``vision_msgs`` is a
released ROS 2 package (``ros-<distro>-vision-msgs``) that RViz and Foxglove already know. One Detection2D per face:
``id`` = track id, ``bbox`` = face box (pixels), ``results`` = every label of the model card with its
probability, most probable first (``results[0]`` is the smoothed, hysteresis-stable label).

The builders take a ``classes(typename)`` lookup so the same code fills ``rosbags`` dataclasses (bags, tests)
and ``rclpy`` message classes (the node): both accept every field as a keyword argument.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Dict, Iterable, Optional, Sequence, Tuple

import numpy as np

from .._optional import require
from ..draw import color_for
from ..face import Face
from .topics import ANNOTATIONS_TYPE, EXPRESSIONS_TYPE

ClassLookup = Callable[[str], Any]

# vision_msgs 4.x (ROS 2 Humble and later) and foxglove_msgs (ROS 2), as .msg text for rosbags' type system.
MSG_DEFINITIONS: Dict[str, str] = {
    "vision_msgs/msg/Point2D": "float64 x\nfloat64 y\n",
    "vision_msgs/msg/Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
    "vision_msgs/msg/BoundingBox2D": "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/ObjectHypothesisWithPose": (
        "vision_msgs/ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n"
    ),
    "vision_msgs/msg/Detection2D": (
        "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\nvision_msgs/BoundingBox2D bbox\n"
        "string id\n"
    ),
    "vision_msgs/msg/Detection2DArray": "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n",
    "foxglove_msgs/msg/Point2": "float64 x\nfloat64 y\n",
    "foxglove_msgs/msg/Color": "float64 r\nfloat64 g\nfloat64 b\nfloat64 a\n",
    "foxglove_msgs/msg/CircleAnnotation": (
        "builtin_interfaces/Time timestamp\nfoxglove_msgs/Point2 position\nfloat64 diameter\nfloat64 thickness\n"
        "foxglove_msgs/Color fill_color\nfoxglove_msgs/Color outline_color\n"
    ),
    "foxglove_msgs/msg/PointsAnnotation": (
        "uint8 UNKNOWN=0\nuint8 POINTS=1\nuint8 LINE_LOOP=2\nuint8 LINE_STRIP=3\nuint8 LINE_LIST=4\n"
        "builtin_interfaces/Time timestamp\nuint8 type\nfoxglove_msgs/Point2[] points\n"
        "foxglove_msgs/Color outline_color\nfoxglove_msgs/Color[] outline_colors\nfoxglove_msgs/Color fill_color\n"
        "float64 thickness\n"
    ),
    "foxglove_msgs/msg/TextAnnotation": (
        "builtin_interfaces/Time timestamp\nfoxglove_msgs/Point2 position\nstring text\nfloat64 font_size\n"
        "foxglove_msgs/Color text_color\nfoxglove_msgs/Color background_color\n"
    ),
    "foxglove_msgs/msg/ImageAnnotations": (
        "foxglove_msgs/CircleAnnotation[] circles\nfoxglove_msgs/PointsAnnotation[] points\n"
        "foxglove_msgs/TextAnnotation[] texts\n"
    ),
}
LINE_LOOP = 2


@lru_cache(maxsize=None)
def ros2_typestore() -> Any:
    """rosbags' ROS 2 Humble type store plus the vision_msgs and foxglove_msgs types above (cached)."""
    typesys = require("rosbags.typesys", "ros", "reading and writing ROS bags")
    store = typesys.get_typestore(typesys.Stores.ROS2_HUMBLE)
    types: Dict[str, Any] = {}
    for name, text in MSG_DEFINITIONS.items():
        types.update(typesys.get_types_from_msg(text, name))
    store.register(types)
    return store


def rosbags_classes(store: Any = None) -> ClassLookup:
    """A class lookup over a rosbags type store (default: :func:`ros2_typestore`)."""
    store = store or ros2_typestore()
    return lambda name: store.types[name]


def stamp_ns(stamp: Any) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time`` (``sec``/``nanosec``)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def time_msg(classes: ClassLookup, ns: int) -> Any:
    return classes("builtin_interfaces/msg/Time")(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def header_msg(classes: ClassLookup, ns: int, frame_id: str) -> Any:
    return classes("std_msgs/msg/Header")(stamp=time_msg(classes, ns), frame_id=str(frame_id))


def _hypothesis(classes: ClassLookup, label: str, score: float) -> Any:
    c = classes
    pose = c("geometry_msgs/msg/Pose")(
        position=c("geometry_msgs/msg/Point")(x=0.0, y=0.0, z=0.0),
        orientation=c("geometry_msgs/msg/Quaternion")(x=0.0, y=0.0, z=0.0, w=1.0),
    )
    return c("vision_msgs/msg/ObjectHypothesisWithPose")(
        hypothesis=c("vision_msgs/msg/ObjectHypothesis")(class_id=str(label), score=float(score)),
        pose=c("geometry_msgs/msg/PoseWithCovariance")(pose=pose, covariance=np.zeros(36, np.float64)),
    )


def ranked_probs(face: Face) -> Sequence[Tuple[str, float]]:
    """The face's (label, probability) pairs, its stable label first, then by falling probability."""
    rest = sorted(((k, float(v)) for k, v in face.probs.items() if k != face.label), key=lambda kv: -kv[1])
    return [(face.label, float(face.probs.get(face.label, face.confidence)))] + rest


def detections_msg(classes: ClassLookup, faces: Iterable[Face], ns: int, frame_id: str = "") -> Any:
    """A ``vision_msgs/Detection2DArray`` for one frame's faces (see the module doc for the field mapping)."""
    c = classes
    detections = []
    for face in faces:
        x1, y1, x2, y2 = (float(v) for v in face.box)
        bbox = c("vision_msgs/msg/BoundingBox2D")(
            center=c("vision_msgs/msg/Pose2D")(
                position=c("vision_msgs/msg/Point2D")(x=(x1 + x2) / 2, y=(y1 + y2) / 2), theta=0.0
            ),
            size_x=x2 - x1,
            size_y=y2 - y1,
        )
        detections.append(c("vision_msgs/msg/Detection2D")(
            header=header_msg(c, ns, frame_id),
            results=[_hypothesis(c, k, v) for k, v in ranked_probs(face)],
            bbox=bbox,
            id="" if face.track_id is None else str(face.track_id),
        ))
    return c(EXPRESSIONS_TYPE)(header=header_msg(c, ns, frame_id), detections=detections)


def faces_from_detections(msg: Any) -> Sequence[Face]:
    """Read faces back from a Detection2DArray (box, stable label, probabilities, track id; no landmarks)."""
    faces = []
    for det in msg.detections:
        cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
        w, h = det.bbox.size_x, det.bbox.size_y
        probs = {r.hypothesis.class_id: float(r.hypothesis.score) for r in det.results}
        label = det.results[0].hypothesis.class_id if det.results else ""
        faces.append(Face(box=(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), score=1.0, label=label,
                          confidence=probs.get(label, 0.0), probs=probs,
                          track_id=int(det.id) if str(det.id).isascii() and str(det.id).isdigit() else None))
    return faces


def _color(classes: ClassLookup, label: str, alpha: float = 1.0) -> Any:
    b, g, r = color_for(label)
    return classes("foxglove_msgs/msg/Color")(r=r / 255.0, g=g / 255.0, b=b / 255.0, a=float(alpha))


def face_caption(face: Face) -> str:
    """The text drawn beside a face: ``#track label 87%``."""
    tag = f"{face.label} {face.confidence:.0%}"
    return tag if face.track_id is None else f"#{face.track_id} {tag}"


def annotations_msg(classes: ClassLookup, faces: Iterable[Face], ns: int, font_size: Optional[float] = None) -> Any:
    """A ``foxglove_msgs/ImageAnnotations``: a coloured box (LINE_LOOP) and a caption per face.

    ``ns`` must be the image's header stamp: Foxglove's Image panel pairs annotations with images by it.
    """
    c = classes
    boxes, texts = [], []
    for face in faces:
        x1, y1, x2, y2 = (float(v) for v in face.box)
        corners = [c("foxglove_msgs/msg/Point2")(x=x, y=y) for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))]
        boxes.append(c("foxglove_msgs/msg/PointsAnnotation")(
            timestamp=time_msg(c, ns), type=LINE_LOOP, points=corners, outline_color=_color(c, face.label),
            outline_colors=[], fill_color=_color(c, face.label, 0.0), thickness=2.0,
        ))
        size = float(font_size) if font_size else max(12.0, (y2 - y1) / 8)
        texts.append(c("foxglove_msgs/msg/TextAnnotation")(
            timestamp=time_msg(c, ns), position=c("foxglove_msgs/msg/Point2")(x=x1, y=max(0.0, y1 - size - 2)),
            text=face_caption(face), font_size=size,
            text_color=c("foxglove_msgs/msg/Color")(r=0.0, g=0.0, b=0.0, a=1.0),
            background_color=_color(c, face.label, 0.8),
        ))
    return c(ANNOTATIONS_TYPE)(circles=[], points=boxes, texts=texts)
