"""Stand-in engine files with real EngineCard sidecars, for exports that only copy an engine and read its sidecar."""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnxruntime as ort

from fer_edge.backends.engine_card import EngineCard
from fer_edge.backends.onnxruntime import card_from_session


def fake_engine(folder: Path, onnx: Path, *, onnx_path: bool = True, max_batch: int = 32,
                name: str = "model.engine") -> Path:
    """Write ``folder/name`` (placeholder bytes) and the sidecar `fer-edge build` would write for ``onnx``."""
    card = card_from_session(ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"]))
    engine = folder / name
    engine.write_bytes(b"not a real engine: the exports only copy it and check its sha256")
    EngineCard(
        card=card.to_dict(), tensorrt_version="10.3.0", gpu_name="Orin", compute_capability="8.7",
        precision="fp16", build_mode="strongly_typed",
        profile={"input": [[1, 1, 48, 48], [8, 1, 48, 48], [max_batch, 1, 48, 48]]},
        onnx_sha256=hashlib.sha256(onnx.read_bytes()).hexdigest(),
        engine_sha256=hashlib.sha256(engine.read_bytes()).hexdigest(), engine_bytes=engine.stat().st_size,
        built_utc="2026-11-30T00:00:00Z", build_seconds=1.0, onnx_path=str(onnx) if onnx_path else None,
    ).save(engine)
    return engine
