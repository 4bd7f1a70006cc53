"""Client side of a Triton deployment made by `fer-edge export-triton`: frames in, ``Face`` objects out.

``TritonRecognizer`` speaks to the ``<name>_frames`` model (detector + preprocessing + classifier run in the
server) and to the ``<name>`` classifier model (preprocessed batches, Triton's classification extension).
``bench_triton`` measures requests/s and latency percentiles at several client counts. Needs the [serve] extra
(``tritonclient``); one client object per thread, as tritonclient's clients are not thread-safe.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ._optional import require
from .card import CARD_METADATA_KEY, ModelCard
from .errors import FerEdgeError, InvalidInputError, ModelFormatError
from .face import Face
from .preprocess import as_bgr_frame

log = logging.getLogger(__name__)

PROTOCOLS = ("http", "grpc")
FRAMES_SUFFIX = "_frames"


def _client_module(protocol: str):
    if protocol not in PROTOCOLS:
        raise InvalidInputError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    return require(f"tritonclient.{protocol}", "serve", "talking to a Triton Inference Server")


def _config_dict(raw: Any) -> Dict[str, Any]:
    """A model config as a dict from either protocol (gRPC wraps it in ``{"config": ...}``)."""
    if hasattr(raw, "config") and not isinstance(raw, Mapping):  # gRPC protobuf answer
        from google.protobuf import json_format

        raw = json_format.MessageToDict(raw, preserving_proto_field_name=True)
    if isinstance(raw, Mapping) and "config" in raw and isinstance(raw["config"], Mapping):
        raw = raw["config"]
    return dict(raw)


def card_from_config(config: Mapping[str, Any], model: str = "the model") -> ModelCard:
    """The card stored by `fer-edge export-triton` in a model config's ``parameters``."""
    text = config.get("parameters", {}).get(CARD_METADATA_KEY, {}).get("string_value")
    if not text:
        raise ModelFormatError(f"{model} has no {CARD_METADATA_KEY!r} parameter; was it exported by fer-edge?")
    return ModelCard.from_json(text)


class TritonRecognizer:
    """Recognise expressions through a Triton server running an exported repository.

    Args:
        url: server address, e.g. "localhost:8000" (HTTP) or "localhost:8001" (gRPC).
        model: the classifier's model name; the frames model is ``model + "_frames"``.
        protocol: "http" or "grpc".
        timeout_s: network timeout per request.
        client: an already-built tritonclient ``InferenceServerClient`` (tests, custom TLS/headers).

    Example:
        >>> with TritonRecognizer("localhost:8000", "ferplus_default") as rec:
        ...     faces = rec.predict(cv2.imread("photo.jpg"))
    """

    def __init__(self, url: str = "localhost:8000", model: str = "ferplus_default", *, protocol: str = "http",
                 timeout_s: float = 30.0, client: Any = None):
        self._tc = _client_module(protocol)
        self.protocol = protocol
        self.url = url
        self.model = model
        self.frames_model = model + FRAMES_SUFFIX
        if client is None:
            kw = {"connection_timeout": timeout_s, "network_timeout": timeout_s} if protocol == "http" else {}
            client = self._tc.InferenceServerClient(url, **kw)
        self._client = client
        self._card: Optional[ModelCard] = None
        self._configs: Dict[str, Dict[str, Any]] = {}

    # ------------------------------------------------------------------ metadata
    def model_config(self, model: Optional[str] = None) -> Dict[str, Any]:
        """The served model's configuration as a dict (asked once per model and kept)."""
        name = model or self.frames_model
        if name not in self._configs:
            raw = (self._client.get_model_config(name, as_json=True) if self.protocol == "grpc"
                   else self._client.get_model_config(name))
            self._configs[name] = _config_dict(raw)
        return self._configs[name]

    @property
    def card(self) -> ModelCard:
        """The model card the server was exported with (read once from the frames model's config)."""
        if self._card is None:
            self._card = card_from_config(self.model_config(), self.frames_model)
        return self._card

    def server_info(self, model: Optional[str] = None) -> Dict[str, Any]:
        """Server name/version and the model's backend/platform and instance groups, for reports."""
        meta = self._client.get_server_metadata()
        if not isinstance(meta, Mapping):  # gRPC protobuf
            meta = {"name": meta.name, "version": meta.version}
        cfg = self.model_config(model)
        params = {k: v.get("string_value", "") for k, v in cfg.get("parameters", {}).items()}
        return {
            "server": f"{meta.get('name', 'triton')} {meta.get('version', '?')}",
            "model": cfg.get("name", model or self.frames_model),
            "backend": cfg.get("backend") or cfg.get("platform") or "?",
            "instance_group": [{"count": int(g.get("count", 1)), "kind": g.get("kind", "?")}
                               for g in cfg.get("instance_group", [])],
            "protocol": self.protocol,
            "url": self.url,
            # what runs inside the frames model (its Recognizer): classifier file and detector
            "classifier": params.get("classifier", ""),
            "detector": params.get("detector", ""),
        }

    # ------------------------------------------------------------------- frames
    def _infer_frames(self, name: str, array: np.ndarray) -> List[Face]:
        tc = self._tc
        inp = tc.InferInput(name, list(array.shape), "UINT8")
        inp.set_data_from_numpy(array)
        outputs = [tc.InferRequestedOutput(n) for n in ("BOXES", "SCORES", "LABELS", "PROBABILITIES")]
        result = self._client.infer(self.frames_model, [inp], outputs=outputs)
        return self.faces_from_outputs(
            result.as_numpy("BOXES"), result.as_numpy("SCORES"), result.as_numpy("LABELS"),
            result.as_numpy("PROBABILITIES"),
        )

    def faces_from_outputs(self, boxes, scores, labels, probs) -> List[Face]:
        """Turn the frames model's four outputs into ``Face`` objects (the shape Recognizer.predict returns)."""
        names = self.card.labels
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        probs = np.asarray(probs, np.float32)
        probs = probs.reshape(boxes.shape[0], -1) if boxes.shape[0] else probs.reshape(0, len(names))
        if probs.shape[1] != len(names):
            raise ModelFormatError(f"the server answered {probs.shape[1]} probabilities per face but the card "
                                   f"lists {len(names)} labels; re-export the repository")
        faces = []
        for i in range(boxes.shape[0]):
            label = labels[i].decode("utf-8") if isinstance(labels[i], bytes) else str(labels[i])
            k = names.index(label) if label in names else int(np.argmax(probs[i]))
            faces.append(Face(box=tuple(float(v) for v in boxes[i]), score=float(scores[i]), label=names[k],
                              confidence=float(probs[i, k]),
                              probs={n: float(p) for n, p in zip(names, probs[i])}))
        return faces

    def predict(self, frame: np.ndarray) -> List[Face]:
        """Faces in a raw frame (HxW gray, HxWx3 BGR or HxWx4 BGRA uint8), largest first."""
        frame = as_bgr_frame(frame)
        return self._infer_frames("FRAME", np.ascontiguousarray(frame))

    def predict_image(self, data: bytes) -> List[Face]:
        """Faces in an encoded image (JPEG/PNG bytes): the smallest request for a camera far from the server."""
        if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
            raise InvalidInputError("predict_image() needs the non-empty bytes of an encoded image (JPEG, PNG, ...)")
        return self._infer_frames("IMAGE", np.frombuffer(bytes(data), dtype=np.uint8))

    # --------------------------------------------------------------- classifier
    def classify(self, batch: np.ndarray, top_k: int = 0):
        """Run the classifier model on a preprocessed (N, C, H, W) float32 batch.

        Returns the raw (N, classes) outputs, or with ``top_k > 0`` Triton's classification extension answer:
        per row, ``top_k`` tuples (value, index, label). This is the plain model: the card's test-time augmentation
        (``tta: flip``) is applied by ``predict()`` (the server's frames model runs a ``Recognizer``), not here.
        """
        cfg = self.model_config(self.model)
        inp_cfg, out_cfg = cfg["input"][0], cfg["output"][0]
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.ndim != 4:
            raise InvalidInputError(f"classify() needs an (N, C, H, W) batch, got shape {batch.shape}")
        tc = self._tc
        inp = tc.InferInput(inp_cfg["name"], list(batch.shape), "FP32")
        inp.set_data_from_numpy(batch)
        out = tc.InferRequestedOutput(out_cfg["name"], class_count=int(top_k)) if top_k else \
            tc.InferRequestedOutput(out_cfg["name"])
        result = self._client.infer(self.model, [inp], outputs=[out]).as_numpy(out_cfg["name"])
        if not top_k:
            return result
        rows = []
        for row in np.asarray(result).reshape(batch.shape[0], -1):
            entries = []
            for item in row:
                value, index, label = (item.decode() if isinstance(item, bytes) else str(item)).split(":", 2)
                entries.append((float(value), int(index), label))
            rows.append(entries)
        return rows

    def close(self) -> None:
        if self._client is not None and hasattr(self._client, "close"):
            self._client.close()
        self._client = None

    def __enter__(self) -> TritonRecognizer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ------------------------------------------------------------------------------------------------- benchmark
def _percentile(samples: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples, dtype=np.float64), q)) if samples else float("nan")


def _measure_clients(connect, frames: Sequence[np.ndarray], n: int, requests: int, warmup: int) -> Dict[str, Any]:
    """One row of the Triton benchmark: ``n`` client threads, each with its own connection, started together."""
    latencies: List[List[float]] = [[] for _ in range(n)]
    errors: List[BaseException] = []
    barrier = threading.Barrier(n + 1)

    def worker(k: int) -> None:
        try:
            with connect() as rec:
                for i in range(warmup):
                    rec.predict(frames[(k + i) % len(frames)])
                barrier.wait()
                for i in range(requests):
                    t0 = time.perf_counter()
                    rec.predict(frames[(k + i) % len(frames)])
                    latencies[k].append((time.perf_counter() - t0) * 1e3)
        except BaseException as exc:  # reported below; aborting the barrier keeps the others from hanging
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise FerEdgeError(f"a Triton client failed at {n} concurrent clients: {errors[0]}") from errors[0]
    flat = [x for lat in latencies for x in lat]
    row = {"clients": n, "requests": len(flat), "seconds": round(seconds, 4),
           "requests_per_s": round(len(flat) / seconds, 2), "p50_ms": round(_percentile(flat, 50), 3),
           "p99_ms": round(_percentile(flat, 99), 3)}
    log.info("triton %d clients: %.1f req/s, p50 %.2f ms, p99 %.2f ms", n, row["requests_per_s"], row["p50_ms"],
             row["p99_ms"])
    return row


def bench_triton(
    url: str,
    model: str,
    frames: Sequence[np.ndarray],
    *,
    clients: Sequence[int] = (1, 4, 16),
    requests_per_client: int = 50,
    warmup: int = 3,
    protocol: str = "http",
    connect=None,
) -> Dict[str, Any]:
    """Requests/s and p50/p99 latency of the frames model at each client count (one thread per client).

    Args:
        url, model, protocol: where the exported repository is served (see ``TritonRecognizer``).
        frames: camera frames sent round-robin.
        clients: concurrent client counts to measure.
        requests_per_client: timed requests each client sends.
        warmup: untimed requests per client first.
        connect: ``connect() -> TritonRecognizer`` override (tests); default opens a new client per thread.

    Returns:
        {"server": ..., "rows": [{"clients", "requests", "seconds", "requests_per_s", "p50_ms", "p99_ms"}]}
    """
    if not frames:
        raise InvalidInputError("bench_triton() needs at least one frame")
    if min(clients, default=0) < 1 or requests_per_client < 1:
        raise InvalidInputError("client counts and requests_per_client must be >= 1")
    frames = [np.ascontiguousarray(as_bgr_frame(f, name=f"frames[{i}]")) for i, f in enumerate(frames)]
    connect = connect or (lambda: TritonRecognizer(url, model, protocol=protocol))
    with connect() as probe:
        info = probe.server_info()
    rows = [_measure_clients(connect, frames, n, requests_per_client, warmup) for n in clients]
    return {"kind": "triton", "server": info, "requests_per_client": requests_per_client, "warmup": warmup,
            "frame_shapes": [list(f.shape) for f in frames], "rows": rows}


def render_triton_markdown(report: Mapping[str, Any]) -> str:
    """The Triton benchmark as a Markdown table that names the server and backend that ran."""
    s = report["server"]
    groups = ", ".join(f"{g['count']}x {g['kind']}" for g in s.get("instance_group", [])) or "?"
    lines = [
        f"# Triton benchmark: {s['model']}",
        "",
        f"Server {s['server']} at {s['url']} ({s['protocol']}), model backend `{s['backend']}`, instances {groups}"
        + (f", running fer_edge.Recognizer with classifier `{s['classifier']}` and detector `{s['detector']}`"
           if s.get("classifier") else "") + ". "
        f"{report['requests_per_client']} timed requests per client after {report['warmup']} warm-up; frames "
        f"{report['frame_shapes']}. Latency is per request, measured at the client.",
        "",
        "| clients | requests | requests/s | p50 ms | p99 ms |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        lines.append(f"| {r['clients']} | {r['requests']} | {r['requests_per_s']} | {r['p50_ms']} | {r['p99_ms']} |")
    return "\n".join(lines) + "\n"


def write_triton_report(report: Mapping[str, Any], out_dir) -> Tuple[str, str]:
    """Write ``triton_<model>.json`` and ``.md`` into ``out_dir``; return their paths."""
    from pathlib import Path

    from .atomic import atomic_write_bytes

    out = Path(out_dir)
    stem = f"triton_{report['server']['model']}"
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    atomic_write_bytes(json_path, (json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
    atomic_write_bytes(md_path, render_triton_markdown(report).encode())
    return str(json_path), str(md_path)
