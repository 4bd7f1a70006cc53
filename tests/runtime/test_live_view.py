"""Foxglove live view: a WebSocket client on a loopback port subscribes and receives image, annotation and
expression channels for a short video; the server stops cleanly; a port in use is a typed error."""

import asyncio
import json
import socket
import struct
import threading
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("foxglove")
websockets = pytest.importorskip("websockets")

from fer_edge.cli import main  # noqa: E402
from fer_edge.errors import InvalidInputError  # noqa: E402
from fer_edge.live_view import IMAGE_TOPIC, LIVE_ANNOTATIONS_TOPIC, LIVE_EXPRESSIONS_TOPIC, LiveView  # noqa: E402
from fer_edge.pipeline import stream  # noqa: E402
from fer_edge.recognizer import Recognizer  # noqa: E402
from fer_edge.video import moving_faces_frames  # noqa: E402

SUBPROTOCOL = "foxglove.sdk.v1"  # what foxglove-sdk's server speaks (the Foxglove app supports it)
N = 6


def _video(path):
    data = pytest.importorskip("skimage.data")
    face = cv2.cvtColor(np.ascontiguousarray(data.astronaut()[10:230, 130:330]), cv2.COLOR_RGB2BGR)
    frames = moving_faces_frames(face, n=N, size=(320, 240), face_size=120, step=6)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for f in frames:
        writer.write(f)
    writer.release()
    return path


class Client(threading.Thread):
    """Connects, subscribes to every advertised channel, then collects binary messages per topic."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.subscribed = threading.Event()
        self.done = threading.Event()
        self.topics = {}
        self.received = {}
        self.error = None

    def run(self):
        try:
            asyncio.run(self._run())
        except Exception as exc:  # surfaced by the test
            self.error = exc
            self.subscribed.set()

    async def _run(self):
        async with websockets.connect(f"ws://127.0.0.1:{self.port}", subprotocols=[SUBPROTOCOL]) as ws:
            while len(self.topics) < 3:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if msg["op"] == "advertise":
                    self.topics.update({c["id"]: c for c in msg["channels"]})
            subs = [{"id": cid, "channelId": cid} for cid in self.topics]
            await ws.send(json.dumps({"op": "subscribe", "subscriptions": subs}))
            await asyncio.sleep(0.3)
            self.subscribed.set()
            while not self.done.is_set() or not self._complete():
                try:
                    data = await asyncio.wait_for(ws.recv(), 10 if not self.done.is_set() else 2)
                except asyncio.TimeoutError:
                    return
                if isinstance(data, bytes) and data[0] == 1:  # opcode 1: message data
                    _, sub, ts = struct.unpack_from("<BIQ", data)
                    self.received.setdefault(self.topics[sub]["topic"], []).append((ts, data[13:]))

    def _complete(self):
        return all(len(self.received.get(t, [])) >= N for t in (IMAGE_TOPIC, LIVE_ANNOTATIONS_TOPIC,
                                                                  LIVE_EXPRESSIONS_TOPIC))


def _port_closes(port: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            return True
        time.sleep(0.2)
    return False


def test_client_receives_annotations_and_expressions_for_a_video(tmp_path):
    video = _video(tmp_path / "clip.avi")
    view = LiveView(port=0)
    client = Client(view.port)
    client.start()
    assert client.subscribed.wait(20) and client.error is None
    topics = {c["topic"]: c for c in client.topics.values()}
    assert topics[LIVE_ANNOTATIONS_TOPIC]["schemaName"] == "foxglove.ImageAnnotations"
    assert topics[IMAGE_TOPIC]["schemaName"] == "foxglove.CompressedImage"
    assert topics[LIVE_EXPRESSIONS_TOPIC]["encoding"] == "json"
    with Recognizer(threads=1) as rec, stream(str(video), recognizer=rec) as s:
        results = []
        for r in s:
            view.publish_result(r)
            results.append(r)
    client.done.set()
    client.join(30)
    assert client.error is None
    port = view.port
    view.close()
    view.close()  # idempotent
    got = client.received
    assert len(got[IMAGE_TOPIC]) == len(got[LIVE_ANNOTATIONS_TOPIC]) == len(got[LIVE_EXPRESSIONS_TOPIC]) == N
    expressions = [json.loads(payload) for _, payload in got[LIVE_EXPRESSIONS_TOPIC]]
    for r, e, (ts_img, _), (ts_ann, ann) in zip(results, expressions, got[IMAGE_TOPIC],
                                                 got[LIVE_ANNOTATIONS_TOPIC]):
        assert e["frame"] == r.index and [f["label"] for f in e["faces"]] == [f.label for f in r.faces]
        assert [f["track_id"] for f in e["faces"]] == [1] * len(r.faces)
        assert ts_img == ts_ann  # the Image panel pairs annotations with frames by time
        for f in r.faces:  # protobuf strings are stored as plain UTF-8: the caption is in the payload
            assert f"#1 {f.label}".encode() in ann
    assert sum(len(e["faces"]) for e in expressions) >= N - 1
    # Stopped cleanly: the port no longer accepts connections (the server's listener closes asynchronously).
    assert _port_closes(port, within_s=15), f"port {port} still accepts connections after close()"


def test_port_in_use_is_a_typed_error(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(InvalidInputError, match="cannot start the Foxglove server.*--port"):
            LiveView(port=port)
        video = _video(tmp_path / "clip.avi")
        assert main(["predict", str(video), "--foxglove", "--port", str(port), "--threads", "1"]) == 1
        err = capsys.readouterr().err
        assert "cannot start the Foxglove server" in err and "Traceback" not in err
