"""Read camera frames from ROS bags: ROS 2 (MCAP or SQLite, a bag folder or a bare ``.mcap``/``.db3``) and ROS 1.

:func:`open_bag` returns a :class:`BagFrameSource`, the same ordered :class:`~fer_edge.video.FrameSource` the
video pipeline reads, whose frame timestamps are the messages' header stamps (seconds, ROS time) and which keeps
each message's metadata until the consumer takes it (so results can be written next to their input message).
A bag damaged part-way (truncated copy, bad chunk) yields every frame before the damage, then raises
InvalidInputError saying where it stopped.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from .._optional import require
from ..errors import InvalidInputError
from ..video import BAG_SUFFIXES, FrameSource, is_bag_path
from .images import bgr_from_msg
from .messages import stamp_ns
from .topics import IMAGE_TYPES

log = logging.getLogger(__name__)

__all__ = ["BagImage", "BagReader", "BagFrameSource", "open_bag", "is_bag_path", "BAG_SUFFIXES"]

@dataclass(frozen=True)
class BagImage:
    """One image message of a bag.

    Attributes:
        index: position among the topic's messages (0-based).
        log_time_ns: when the recorder received it (bag time, ns).
        stamp_ns: the header stamp (ns); the log time when the header stamp is zero.
        frame_id: the header's frame id.
        msgtype: ``sensor_msgs/msg/Image`` or ``sensor_msgs/msg/CompressedImage``.
        msg: the deserialized message (rosbags dataclass).
    """

    index: int
    log_time_ns: int
    stamp_ns: int
    frame_id: str
    msgtype: str
    msg: Any = field(repr=False)


class _McapStream:
    """Sequential reading of an MCAP file whose index/summary is unreadable (truncated, damaged at the end).

    Reads records from the start with the ``mcap`` package until the damage; complete chunks before it are kept.
    """

    def __init__(self, path: Path):
        self.path = path
        self._stream_reader = require("mcap.stream_reader", "ros", "reading damaged MCAP bags").StreamReader
        typesys = require("rosbags.typesys", "ros", "reading ROS bags")
        self.channels: Dict[int, Tuple[str, str]] = {}  # channel id -> (topic, msgtype)
        self.counts: Dict[int, int] = {}
        self.damage: Optional[BaseException] = None
        schemas: Dict[int, str] = {}
        types: Dict[str, Any] = {}
        for rec in self._records():
            kind = type(rec).__name__
            if kind == "Schema" and rec.encoding == "ros2msg":
                types.update(typesys.get_types_from_msg(rec.data.decode(), rec.name))
                schemas[rec.id] = rec.name
            elif kind == "Channel" and rec.message_encoding == "cdr":
                name = schemas.get(rec.schema_id)
                if name is not None:
                    self.channels[rec.id] = (rec.topic, name)
            elif kind == "Message":
                self.counts[rec.channel_id] = self.counts.get(rec.channel_id, 0) + 1
        self.typestore = typesys.get_typestore(typesys.Stores.EMPTY)
        self.typestore.register(types)

    def _records(self) -> Iterator[Any]:
        with open(self.path, "rb") as fh:
            records = self._stream_reader(fh).records
            while True:
                try:
                    rec = next(records, None)
                except Exception as exc:  # EndOfFile, bad chunk, decompression error
                    self.damage = exc
                    return
                if rec is None or type(rec).__name__ == "Footer":
                    return
                yield rec

    def messages(self, topic: str) -> Iterator[Tuple[str, int, bytes]]:
        ids = {cid: t for cid, t in self.channels.items() if t[0] == topic}
        for rec in self._records():
            if type(rec).__name__ == "Message" and rec.channel_id in ids:
                yield ids[rec.channel_id][1], rec.log_time, rec.data
        if self.damage is not None:
            raise InvalidInputError(f"{type(self.damage).__name__} {self.damage}".strip())


class BagReader:
    """A bag opened with ``rosbags``' AnyReader: its image topics and their messages in log-time order.

    An MCAP file whose index cannot be read (a truncated copy) is read sequentially instead, up to the damage.
    """

    def __init__(self, path: Any):
        highlevel = require("rosbags.highlevel", "ros", "reading ROS bags")
        self.path = Path(path)
        if not self.path.exists():
            raise InvalidInputError(f"bag {self.path} does not exist; check the path")
        if self.path.is_file() and self.path.suffix.lower() not in BAG_SUFFIXES:
            raise InvalidInputError(f"{self.path} is not a bag: expected {', '.join(BAG_SUFFIXES)} or a rosbag2 folder")
        self._reader: Any = None
        self._stream: Optional[_McapStream] = None
        reader = highlevel.AnyReader([self.path])
        try:
            reader.open()
            self._reader = reader
        except Exception as exc:  # rosbags raises its own error types, KeyError, struct errors on damage
            mcap_file = self._mcap_file()
            stream = _McapStream(mcap_file) if mcap_file is not None else None
            if stream is None or not stream.counts:
                raise InvalidInputError(
                    f"cannot open bag {self.path}: {exc}. The file is damaged, truncated or not a ROS bag"
                    + ("; a ROS 1 bag without its index can be repaired with `rosbag reindex`"
                       if self.path.suffix == ".bag" else "")
                ) from exc
            log.warning("bag %s: %s; reading it sequentially up to the damage", self.path, exc)
            self._stream = stream
        self.ros1 = self._reader is not None and not self._reader.is2

    def _mcap_file(self) -> Optional[Path]:
        if self.path.is_file():
            return self.path if self.path.suffix.lower() == ".mcap" else None
        files = sorted(self.path.glob("*.mcap"))
        return files[0] if len(files) == 1 else None

    def topics(self) -> Dict[str, Tuple[str, int]]:
        """Every topic: name → (message type, message count)."""
        out: Dict[str, Tuple[str, int]] = {}
        if self._stream is not None:
            for cid, (topic, msgtype) in self._stream.channels.items():
                out[topic] = (msgtype, out.get(topic, (msgtype, 0))[1] + self._stream.counts.get(cid, 0))
            return out
        for c in self._reader.connections:
            msgtype, count = out.get(c.topic, (c.msgtype, 0))
            out[c.topic] = (msgtype, count + int(c.msgcount or 0))
        return out

    def image_topics(self) -> Dict[str, Tuple[str, int]]:
        """Topics holding sensor_msgs/Image or CompressedImage."""
        return {t: v for t, v in self.topics().items() if v[0] in IMAGE_TYPES}

    def resolve_topic(self, topic: Optional[str]) -> str:
        """The image topic to read: ``topic`` when given and present, else the bag's only image topic."""
        images = self.image_topics()
        listing = ", ".join(f"{t} ({v[0].split('/')[-1]}, {v[1]} msgs)" for t, v in sorted(images.items())) or "none"
        if topic is None:
            if len(images) == 1:
                return next(iter(images))
            if not images:
                raise InvalidInputError(f"bag {self.path} holds no sensor_msgs/Image or CompressedImage topic")
            raise InvalidInputError(f"bag {self.path} holds several image topics; pick one with --topic: {listing}")
        all_topics = self.topics()
        if topic not in all_topics:
            raise InvalidInputError(f"topic {topic} is not in bag {self.path}; its image topics: {listing}")
        if topic not in images:
            raise InvalidInputError(
                f"topic {topic} carries {all_topics[topic][0]}, not an image; its image topics: {listing}"
            )
        return topic

    def _raw(self, topic: str) -> Iterator[Tuple[str, int, Any]]:
        """(msgtype, log time ns, deserialized message) in bag order."""
        if self._stream is not None:
            store = self._stream.typestore
            for msgtype, log_ns, raw in self._stream.messages(topic):
                yield msgtype, log_ns, store.deserialize_cdr(raw, msgtype)
            return
        conns = [c for c in self._reader.connections if c.topic == topic]
        for conn, log_ns, raw in self._reader.messages(connections=conns):
            yield conn.msgtype, log_ns, self._reader.deserialize(raw, conn.msgtype)

    def messages(self, topic: str) -> Iterator[BagImage]:
        """The topic's messages, deserialized; InvalidInputError after the last good one if the bag is damaged."""
        index = 0
        it = self._raw(topic)
        while True:
            try:
                item = next(it, None)
            except Exception as exc:
                raise InvalidInputError(
                    f"bag {self.path} is damaged after {index} message(s) of {topic} ({exc}); the frames before "
                    "the damage were processed"
                ) from exc
            if item is None:
                if self._stream is not None and self._stream.damage is not None:
                    raise InvalidInputError(f"bag {self.path} is damaged after {index} message(s) of {topic}")
                return
            msgtype, log_ns, msg = item
            header = getattr(msg, "header", None)
            stamp = stamp_ns(header.stamp) if header is not None else 0
            yield BagImage(index, int(log_ns), stamp or int(log_ns), str(getattr(header, "frame_id", "")),
                           msgtype, msg)
            index += 1

    def close(self) -> None:
        if self._reader is not None and self._reader.stack is not None:
            self._reader.close()

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BagFrameSource(FrameSource):
    """An ordered FrameSource over one image topic of a bag (made by :func:`open_bag`).

    Attributes:
        bag: the open :class:`BagReader`.
        topic: the topic read; ``msgtype`` its message type.
    """

    def __init__(self, bag: BagReader, topic: str, **kw: Any):
        self.bag = bag
        self.topic = topic
        self.msgtype, count = bag.image_topics()[topic]
        self._messages = bag.messages(topic)
        self._pending: Dict[int, BagImage] = {}
        self._lock = threading.Lock()
        self._next = 0
        super().__init__(self._read_frame, kind="bag", name=f"bag {bag.path.name} {topic}", live=False,
                         frame_count=count, skip=self._skip_frame, release=bag.close, timestamp=self._stamp,
                         **kw)

    def _pull(self) -> Optional[BagImage]:
        item = next(self._messages, None)
        if item is not None:
            with self._lock:
                self._pending[item.index] = item
        return item

    def _skip_frame(self) -> bool:
        return self._pull() is not None

    def _read_frame(self) -> Optional[np.ndarray]:
        item = self._pull()
        if item is None:
            return None
        try:
            return bgr_from_msg(item.msg)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{self.topic} message {item.index}: {exc}") from exc

    def _stamp(self, index: int) -> Optional[float]:
        with self._lock:
            item = self._pending.get(index)
        return None if item is None else item.stamp_ns / 1e9

    def take(self, index: int) -> List[BagImage]:
        """Hand over the messages up to and including frame ``index`` (skipped ones first), oldest first."""
        with self._lock:
            keys = sorted(k for k in self._pending if k <= index)
            return [self._pending.pop(k) for k in keys]

    def remaining(self) -> List[BagImage]:
        """Messages read but not taken (skipped frames after the last processed one)."""
        with self._lock:
            items = [self._pending.pop(k) for k in sorted(self._pending)]
        return items


def open_bag(path: Any, topic: Optional[str] = None, **kw: Any) -> BagFrameSource:
    """Open one image topic of a ROS bag as a frame source.

    Args:
        path: a ROS 2 bag folder, a bare ``.mcap``/``.db3`` file, or a ROS 1 ``.bag``.
        topic: the image topic (default: the bag's only image topic).
        kw: FrameSource options (``every``, ``max_fps``, ``timeout``).

    Raises:
        InvalidInputError: the bag cannot be opened, or the topic is missing or not an image topic.
        MissingDependencyError: ``rosbags`` is not installed (``pip install 'fer-edge[ros]'``).
    """
    kw.pop("live", None)
    kw.pop("fps", None)
    kw.setdefault("timeout", None)  # a file cannot stall; a slow model must not end the run
    bag = BagReader(path)
    try:
        name = bag.resolve_topic(topic)
        return BagFrameSource(bag, name, **kw)
    except BaseException:
        bag.close()
        raise
