"""Live view over the Foxglove WebSocket protocol: frames, face boxes and expressions, watched from a laptop.

``fer-edge predict SOURCE --foxglove`` publishes three channels with ``foxglove-sdk`` (extra ``[foxglove]``):
``/fer_edge/image`` (foxglove.CompressedImage, JPEG), ``/fer_edge/annotations`` (foxglove.ImageAnnotations: a box
and caption per face, stamped like the image so Foxglove's Image panel overlays them) and
``/fer_edge/expressions`` (JSON: per face track id, label, confidence, probabilities, box; plottable).
Open Foxglove → "Open connection" → ``ws://ROBOT:8765``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Iterable, Optional

import cv2
import numpy as np

from ._optional import require
from .draw import color_for
from .errors import InvalidInputError
from .face import Face
from .ros.messages import face_caption

log = logging.getLogger(__name__)

__all__ = ["LiveView", "IMAGE_TOPIC", "LIVE_ANNOTATIONS_TOPIC", "LIVE_EXPRESSIONS_TOPIC", "EXPRESSIONS_SCHEMA"]

IMAGE_TOPIC = "/fer_edge/image"
LIVE_ANNOTATIONS_TOPIC = "/fer_edge/annotations"
LIVE_EXPRESSIONS_TOPIC = "/fer_edge/expressions"

EXPRESSIONS_SCHEMA = {
    "type": "object",
    "properties": {
        "timestamp": {"type": "object", "properties": {"sec": {"type": "integer"}, "nsec": {"type": "integer"}}},
        "frame": {"type": "integer"},
        "faces": {"type": "array", "items": {"type": "object", "properties": {
            "track_id": {"type": ["integer", "null"]},
            "label": {"type": "string"},
            "confidence": {"type": "number"},
            "probs": {"type": "object", "additionalProperties": {"type": "number"}},
            "box": {"type": "array", "items": {"type": "number"}},
        }}},
    },
}


class LiveView:
    """A Foxglove WebSocket server publishing each frame's image, annotations and expressions.

    Args:
        port: TCP port (8765 is Foxglove's default; 0 picks a free one, see ``port`` after start).
        host: interface to listen on: ``127.0.0.1`` (this machine only) or ``0.0.0.0`` (the robot's network).
        jpeg_quality: quality of the published JPEG frames (1-100; smaller = less bandwidth).

    Raises:
        InvalidInputError: the port is in use or cannot be bound.
        MissingDependencyError: foxglove-sdk is not installed.
    """

    def __init__(self, port: int = 8765, host: str = "127.0.0.1", jpeg_quality: int = 80):
        foxglove = require("foxglove", "foxglove", "the Foxglove live view")
        self._fg = foxglove
        self._msgs = require("foxglove.messages", "foxglove", "the Foxglove live view")
        channels = require("foxglove.channels", "foxglove", "the Foxglove live view")
        if not 1 <= int(jpeg_quality) <= 100:
            raise InvalidInputError(f"jpeg_quality must be in 1..100, got {jpeg_quality}")
        self.jpeg_quality = int(jpeg_quality)
        self.context = foxglove.Context()
        try:
            self.server = foxglove.start_server(name="fer-edge", host=host, port=int(port), context=self.context)
        except Exception as exc:  # the SDK raises RuntimeError("FoxgloveError: Failed to bind port: ...")
            raise InvalidInputError(
                f"cannot start the Foxglove server on {host}:{port}: {exc}. Another program (or another fer-edge) "
                "uses the port: pick another with --port, or stop it"
            ) from exc
        self.port = int(self.server.port)
        self.host = host
        self._image = channels.CompressedImageChannel(IMAGE_TOPIC, context=self.context)
        self._annotations = channels.ImageAnnotationsChannel(LIVE_ANNOTATIONS_TOPIC, context=self.context)
        self._expressions = foxglove.Channel(LIVE_EXPRESSIONS_TOPIC, schema=EXPRESSIONS_SCHEMA,
                                             context=self.context)
        self.published = 0
        self._closed = False
        log.info("Foxglove live view on ws://%s:%d (Foxglove: Open connection → Foxglove WebSocket)",
                 host, self.port)

    def _timestamp(self, ns: int) -> Any:
        return self._msgs.Timestamp(sec=int(ns // 1_000_000_000), nsec=int(ns % 1_000_000_000))

    def _color(self, label: str, alpha: float = 1.0) -> Any:
        b, g, r = color_for(label)
        return self._msgs.Color(r=r / 255.0, g=g / 255.0, b=b / 255.0, a=alpha)

    def publish(self, image: np.ndarray, faces: Iterable[Face], stamp_ns: Optional[int] = None,
                frame: int = 0) -> None:
        """Publish one frame (BGR uint8) and its faces; ``stamp_ns`` defaults to the wall clock."""
        m = self._msgs
        ns = time.time_ns() if stamp_ns is None else int(stamp_ns)
        ts = self._timestamp(ns)
        faces = list(faces)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise InvalidInputError("could not JPEG-encode the frame for the live view")
        self._image.log(m.CompressedImage(timestamp=ts, frame_id="camera", data=jpeg.tobytes(), format="jpeg"),
                        log_time=ns)
        boxes, texts = [], []
        for face in faces:
            x1, y1, x2, y2 = (float(v) for v in face.box)
            corners = [m.Point2(x=x, y=y) for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))]
            boxes.append(m.PointsAnnotation(timestamp=ts, type=m.PointsAnnotationType.LineLoop, points=corners,
                                            outline_color=self._color(face.label), thickness=2.0))
            size = max(12.0, (y2 - y1) / 8)
            texts.append(m.TextAnnotation(timestamp=ts, position=m.Point2(x=x1, y=max(0.0, y1 - size - 2)),
                                          text=face_caption(face), font_size=size,
                                          text_color=m.Color(r=0.0, g=0.0, b=0.0, a=1.0),
                                          background_color=self._color(face.label, 0.8)))
        self._annotations.log(m.ImageAnnotations(points=boxes, texts=texts), log_time=ns)
        record = {
            "timestamp": {"sec": int(ns // 1_000_000_000), "nsec": int(ns % 1_000_000_000)},
            "frame": int(frame),
            "faces": [{"track_id": f.track_id, "label": f.label, "confidence": round(float(f.confidence), 4),
                       "probs": {k: round(float(v), 4) for k, v in f.probs.items()},
                       "box": [round(float(v), 2) for v in f.box]} for f in faces],
        }
        self._expressions.log(json.dumps(record), log_time=ns)
        self.published += 1

    def publish_result(self, result: Any, stamp_ns: Optional[int] = None) -> None:
        """Publish a :class:`fer_edge.pipeline.FrameResult`."""
        self.publish(result.image, result.faces, stamp_ns, result.index)

    def close(self) -> None:
        """Stop the server (idempotent)."""
        if not self._closed:
            self._closed = True
            self.server.stop()
            log.info("Foxglove live view stopped after %d frames", self.published)

    def __enter__(self) -> LiveView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
