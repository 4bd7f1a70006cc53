"""Write ROS 2 bags as one ``.mcap`` file (CDR messages, ``ros2msg`` schemas: what rosbag2's MCAP storage writes).

:class:`McapBagWriter` writes any message the type store knows; :class:`ResultBagWriter` writes a run of
``fer-edge predict`` on a bag: the input image topic (ROS 1 input is re-encoded as ROS 2) plus, per processed
frame, a ``vision_msgs/Detection2DArray`` and a ``foxglove_msgs/ImageAnnotations`` stamped with the image's
header stamp and logged at its bag time.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Tuple

from .._optional import require
from ..errors import InvalidInputError
from ..face import Face
from .bag import BagImage
from .messages import annotations_msg, detections_msg, header_msg, ros2_typestore, rosbags_classes
from .topics import ANNOTATIONS_TOPIC, ANNOTATIONS_TYPE, COMPRESSED_TYPE, EXPRESSIONS_TOPIC, EXPRESSIONS_TYPE

log = logging.getLogger(__name__)

__all__ = ["McapBagWriter", "ResultBagWriter"]


class McapBagWriter:
    """A ROS 2 bag in a single MCAP file (zstd-compressed chunks, message index, summary).

    Args:
        path: the ``.mcap`` file to create (its folder is created).
        typestore: rosbags type store serialising the messages (default: ROS 2 Humble + vision/foxglove msgs).
    """

    def __init__(self, path: Any, typestore: Any = None):
        writer_mod = require("mcap.writer", "ros", "writing MCAP bags")
        self.path = Path(path)
        if self.path.suffix.lower() != ".mcap":
            raise InvalidInputError(f"the output bag must be a .mcap file, got {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.typestore = typestore or ros2_typestore()
        self._fh = open(self.path, "wb")
        self._writer = writer_mod.Writer(self._fh, compression=writer_mod.CompressionType.ZSTD)
        self._writer.start(profile="ros2", library="fer-edge")
        self._schemas: Dict[str, int] = {}
        self._channels: Dict[str, Tuple[int, str]] = {}
        self.messages = 0

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare a topic and its message type (idempotent for the same type)."""
        if topic in self._channels:
            if self._channels[topic][1] != msgtype:
                raise InvalidInputError(f"topic {topic} already carries {self._channels[topic][1]}, not {msgtype}")
            return
        if msgtype not in self._schemas:
            text, _ = self.typestore.generate_msgdef(msgtype, ros_version=2)
            self._schemas[msgtype] = self._writer.register_schema(msgtype, "ros2msg", text.encode())
        cid = self._writer.register_channel(topic, "cdr", self._schemas[msgtype], {"offered_qos_profiles": ""})
        self._channels[topic] = (cid, msgtype)

    def write(self, topic: str, msg: Any, log_time_ns: int, publish_time_ns: Optional[int] = None) -> None:
        """Serialise ``msg`` (a type-store dataclass) to CDR and append it to ``topic``."""
        if topic not in self._channels:
            self.add_topic(topic, msg.__msgtype__)
        cid, msgtype = self._channels[topic]
        data = bytes(self.typestore.serialize_cdr(msg, msgtype))
        self._writer.add_message(cid, log_time=int(log_time_ns), data=data,
                                 publish_time=int(log_time_ns if publish_time_ns is None else publish_time_ns))
        self.messages += 1

    def close(self) -> None:
        """Write the summary and close the file (idempotent)."""
        if self._fh is not None:
            try:
                self._writer.finish()
            finally:
                self._fh.close()
                self._fh = None
            log.info("wrote %d messages to %s", self.messages, self.path)

    def __enter__(self) -> McapBagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ResultBagWriter:
    """The output bag of ``fer-edge predict`` on a bag: input images plus expressions and annotations.

    Args:
        path: the ``.mcap`` file to write.
        image_topic: the input topic, copied under the same name; ``image_type`` its message type.
        expressions_topic, annotations_topic: where the results go.
    """

    def __init__(self, path: Any, image_topic: str, image_type: str,
                 expressions_topic: str = EXPRESSIONS_TOPIC, annotations_topic: str = ANNOTATIONS_TOPIC):
        self.bag = McapBagWriter(path)
        self.path = self.bag.path
        self.classes = rosbags_classes(self.bag.typestore)
        self.image_topic, self.image_type = image_topic, image_type
        self.expressions_topic, self.annotations_topic = expressions_topic, annotations_topic
        self.bag.add_topic(image_topic, image_type)
        self.bag.add_topic(expressions_topic, EXPRESSIONS_TYPE)
        self.bag.add_topic(annotations_topic, ANNOTATIONS_TYPE)
        self.results = 0

    def _ros2_image(self, item: BagImage) -> Any:
        """The input message as a ROS 2 message (same fields; a ROS 1 header loses its ``seq``)."""
        m, header = item.msg, header_msg(self.classes, item.stamp_ns, item.frame_id)
        if item.msgtype == COMPRESSED_TYPE:
            return self.classes(COMPRESSED_TYPE)(header=header, format=m.format, data=m.data)
        return self.classes(self.image_type)(header=header, height=m.height, width=m.width, encoding=m.encoding,
                                             is_bigendian=m.is_bigendian, step=m.step, data=m.data)

    def write_image(self, item: BagImage) -> None:
        """Copy one input message (processed or skipped)."""
        self.bag.write(self.image_topic, self._ros2_image(item), item.log_time_ns)

    def write_result(self, item: BagImage, faces: Iterable[Face]) -> None:
        """Write one processed frame's results, stamped like its image."""
        faces = list(faces)
        self.bag.write(self.expressions_topic, detections_msg(self.classes, faces, item.stamp_ns, item.frame_id),
                       item.log_time_ns)
        self.bag.write(self.annotations_topic, annotations_msg(self.classes, faces, item.stamp_ns), item.log_time_ns)
        self.results += 1

    def close(self) -> None:
        self.bag.close()

    def __enter__(self) -> ResultBagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
