"""The engine sidecar ``model.engine.json``: the ModelCard plus where and how the engine was built.

An engine is only valid for the TensorRT version and GPU that built it (research/deploy.md §3.2), so the runtime
checks the sidecar before deserialising and names the rebuild command when they differ. The sidecar also carries
the engine's sha256, so a truncated, corrupt or swapped engine — or a hand-edited sidecar — is caught up front.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..atomic import atomic_write_bytes
from ..card import ModelCard
from ..errors import EngineMismatchError, ModelFormatError
from ..integrity import sha256_file  # noqa: F401  (re-exported: the backends import it from here)

ENGINE_CARD_SCHEMA = 1
KIND = "fer_edge.engine"


def sidecar_path(engine) -> Path:
    """``model.engine`` → ``model.engine.json``."""
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")



def _checksum(data: Dict[str, Any]) -> str:
    """sha256 of the sidecar's content without its own checksum field (catches hand edits)."""
    body = {k: v for k, v in data.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class EngineCard:
    """What the builder knew; what the runtime checks.

    Attributes:
        card: the model's ModelCard (labels, normalisation...) as carried by the ONNX.
        tensorrt_version: "10.13.0" (major.minor.patch of the builder).
        gpu_name: e.g. "Orin" or "NVIDIA GeForce RTX 4090".
        compute_capability: "8.7".
        precision: "fp32" / "fp16" / "int8".
        build_mode: "strongly_typed" or "flags" (legacy builder flags) — how the precision was obtained.
        profile: input name → [min, opt, max] shapes.
        onnx_sha256, onnx_path: the source model (the rebuild command names it).
        engine_sha256, engine_bytes: of the plan file (truncation/corruption/tamper check).
        built_utc, build_seconds, peak_memory_mb: when and at what cost (host peak RSS of the build).
        dla_core: DLA core the engine runs on, or None for the GPU.
        version_compatible: built with ``BuilderFlag.VERSION_COMPATIBLE``.
        workspace_mb: builder workspace limit.
    """

    card: Dict[str, Any]
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    build_mode: str
    profile: Dict[str, List[List[int]]]
    onnx_sha256: str
    engine_sha256: str
    engine_bytes: int
    built_utc: str
    build_seconds: float
    peak_memory_mb: Optional[float] = None
    onnx_path: Optional[str] = None
    dla_core: Optional[int] = None
    version_compatible: bool = False
    workspace_mb: Optional[int] = None
    build_command: Optional[str] = None
    schema_version: int = ENGINE_CARD_SCHEMA
    kind: str = KIND
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def model_card(self) -> ModelCard:
        return ModelCard.from_dict(self.card)

    @property
    def max_batch(self) -> int:
        return int(next(iter(self.profile.values()))[2][0])

    @property
    def trt_version_tuple(self) -> Tuple[int, int, int]:
        nums = [int(p) for p in self.tensorrt_version.split(".")[:3]]
        return tuple((nums + [0, 0, 0])[:3])

    def to_json(self) -> str:
        data = asdict(self)
        data["checksum"] = _checksum(data)
        return json.dumps(data, indent=1, sort_keys=True)

    def save(self, engine_path) -> Path:
        """Publish the sidecar beside ``engine_path`` atomically."""
        return atomic_write_bytes(sidecar_path(engine_path), self.to_json().encode())

    @classmethod
    def from_dict(cls, data: Dict[str, Any], where: str = "sidecar") -> EngineCard:
        if not isinstance(data, dict) or data.get("kind") != KIND:
            raise ModelFormatError(f"{where} is not a fer_edge engine sidecar (kind != {KIND!r}); rebuild the "
                                   "engine with `fer-edge build MODEL.onnx`")
        if int(data.get("schema_version", 0)) > ENGINE_CARD_SCHEMA:
            raise ModelFormatError(f"{where} has sidecar schema {data.get('schema_version')}, newer than this "
                                   "fer_edge understands; upgrade fer-edge or rebuild the engine")
        if data.get("checksum") != _checksum(data):
            raise ModelFormatError(f"{where} was edited after the build (its checksum does not match its content); "
                                   "rebuild the engine with `fer-edge build MODEL.onnx` instead of editing it")
        known = set(cls.__dataclass_fields__)
        try:
            card = cls(**{k: v for k, v in data.items() if k in known})
            card.model_card  # noqa: B018 - validates the embedded ModelCard
            if not card.profile or any(len(v) != 3 for v in card.profile.values()):
                raise ValueError("profile needs [min, opt, max] per input")
            card.trt_version_tuple  # noqa: B018
        except (TypeError, ValueError, KeyError) as exc:
            raise ModelFormatError(f"{where} is damaged or was edited ({exc}); rebuild the engine with "
                                   "`fer-edge build MODEL.onnx`") from exc
        return card

    @classmethod
    def load(cls, engine_path) -> EngineCard:
        """Read ``<engine>.json``; ModelFormatError when it is missing, unreadable or not ours."""
        side = sidecar_path(engine_path)
        if not side.is_file():
            raise ModelFormatError(
                f"{Path(engine_path).name} has no sidecar {side.name}: fer_edge needs it to know the labels, "
                "normalisation and the TensorRT version/GPU the engine was built for. Build engines with "
                "`fer-edge build MODEL.onnx` (it writes both files), and copy the .json with the .engine")
        try:
            data = json.loads(side.read_text())
        except (OSError, ValueError) as exc:
            raise ModelFormatError(f"{side} is not readable JSON ({exc}); rebuild the engine with "
                                   "`fer-edge build MODEL.onnx`") from exc
        return cls.from_dict(data, where=str(side))

    # ------------------------------------------------------------------------------------------------ checks
    def rebuild_command(self, engine_path) -> str:
        """The exact command that rebuilds this engine on the current machine."""
        onnx = self.onnx_path or "MODEL.onnx"
        prof = next(iter(self.profile.values()))
        batches = ",".join(str(int(s[0])) for s in prof)
        cmd = f"fer-edge build {onnx} --precision {self.precision} --batch {batches} -o {engine_path}"
        if self.dla_core is not None:
            cmd += f" --dla {self.dla_core}"
        return cmd

    def check_file(self, engine_path) -> None:
        """The engine file is the one the sidecar describes (size and sha256)."""
        size = Path(engine_path).stat().st_size
        if size == 0:
            raise ModelFormatError(f"{engine_path} is empty (0 bytes): the build or the copy did not finish; "
                                   f"rebuild it: {self.rebuild_command(engine_path)}")
        if size != self.engine_bytes:
            raise ModelFormatError(
                f"{engine_path} has {size} bytes but its sidecar records {self.engine_bytes}: the engine is "
                f"truncated or was replaced; rebuild it: {self.rebuild_command(engine_path)}")
        if sha256_file(engine_path) != self.engine_sha256:
            raise ModelFormatError(
                f"{engine_path} does not match the sha256 in its sidecar: the engine is corrupt or the sidecar "
                f"belongs to another engine; rebuild it: {self.rebuild_command(engine_path)}")

    def check_runtime(self, engine_path, runtime_version: Tuple[int, int, int], gpu_name: Optional[str],
                      compute_capability: Optional[str]) -> None:
        """EngineMismatchError (naming the rebuild command) for another TensorRT version or GPU."""
        from .trt_differences import engine_runs_on

        rebuild = self.rebuild_command(engine_path)
        if not engine_runs_on(self.trt_version_tuple, self.version_compatible, tuple(runtime_version)):
            raise EngineMismatchError(
                f"{Path(engine_path).name} was built with TensorRT {self.tensorrt_version} but this is TensorRT "
                f"{'.'.join(map(str, runtime_version))}; engines only load in the TensorRT that built them. "
                f"Rebuild it here: {rebuild}")
        if compute_capability is not None and compute_capability != self.compute_capability:
            raise EngineMismatchError(
                f"{Path(engine_path).name} was built for {self.gpu_name} (compute {self.compute_capability}) but "
                f"this GPU is {gpu_name} (compute {compute_capability}); engines are per GPU. Rebuild it here: "
                f"{rebuild}")
        if gpu_name is not None and gpu_name != self.gpu_name:
            raise EngineMismatchError(
                f"{Path(engine_path).name} was built on {self.gpu_name} but this GPU is {gpu_name}; engines are "
                f"tuned per GPU model. Rebuild it here: {rebuild}")
