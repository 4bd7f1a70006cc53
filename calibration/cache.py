"""TensorRT calibration cache files (``TRT-<ver>-<Algorithm>`` + ``name: <hex scale>`` lines), read and written.

Lets a machine with no GPU emit a cache from ranges measured in ONNX Runtime, for TensorRT ≤ 10's implicit INT8
(JetPack 5 / TensorRT 8.5). Format facts: research/deploy.md §2.5 — the value is the scale ``amax / 127`` as
the big-endian IEEE-754 float32 bit pattern in lowercase hex without leading zeros; names may contain ':' so a
line splits on its last colon; the version integer is ``M*1000+m*100+p`` before 10 and ``M*10000+m*100+p`` from 10.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple

from fer_edge.atomic import atomic_path, atomic_write_bytes  # noqa: F401  (re-exported: old import site)
from fer_edge.errors import InvalidInputError

ALGORITHMS = ("EntropyCalibration2", "EntropyCalibration", "MinMaxCalibration", "LegacyCalibration")
INT8_MAX = 127.0


def trt_version_tag(major: int, minor: int, patch: int = 0) -> int:
    """The integer in a cache header: 8.5.2 → 8502, 10.3.0 → 100300."""
    if major < 10:
        return int(major) * 1000 + int(minor) * 100 + int(patch)
    return int(major) * 10000 + int(minor) * 100 + int(patch)


def parse_version_tag(tag: int) -> Tuple[int, int, int]:
    """Inverse of ``trt_version_tag`` (tags ≥ 100000 use the 10.x layout)."""
    tag = int(tag)
    if tag >= 100000:
        return tag // 10000, (tag // 100) % 100, tag % 100
    return tag // 1000, (tag // 100) % 10, tag % 100


def scale_to_hex(scale: float) -> str:
    """float32 bit pattern of ``scale`` as lowercase hex, no ``0x``, no leading zeros (0.0 → ``0``)."""
    return format(struct.unpack(">I", struct.pack(">f", float(scale)))[0], "x")


def hex_to_scale(text: str) -> float:
    """Inverse of ``scale_to_hex``."""
    return struct.unpack(">f", struct.pack(">I", int(text.strip(), 16)))[0]


@dataclass(frozen=True)
class CalibrationCache:
    """A TensorRT calibration table.

    Attributes:
        scales: tensor name → scale (``amax / 127``) in file order.
        version: TensorRT version (major, minor, patch) in the header.
        algorithm: e.g. "EntropyCalibration2" or "MinMaxCalibration".
    """

    scales: Mapping[str, float] = field(default_factory=dict)
    version: Tuple[int, int, int] = (8, 5, 2)
    algorithm: str = "EntropyCalibration2"

    @classmethod
    def from_amax(cls, amax: Mapping[str, float], version=(8, 5, 2), algorithm: str = "EntropyCalibration2"):
        """Cache from per-tensor absolute maxima (the dynamic range ``[-amax, amax]``)."""
        bad = {k: v for k, v in amax.items() if not (0.0 <= float(v) < math.inf)}
        if bad:
            raise InvalidInputError(f"amax values must be >= 0 and finite, got {bad}")
        return cls({k: float(v) / INT8_MAX for k, v in amax.items()}, tuple(version), algorithm)

    @property
    def amax(self) -> Dict[str, float]:
        """Tensor name → dynamic range ``scale * 127`` (how TensorRT and ORT's TRT EP read it)."""
        return {k: v * INT8_MAX for k, v in self.scales.items()}

    @property
    def header(self) -> str:
        return f"TRT-{trt_version_tag(*self.version)}-{self.algorithm}"

    def to_text(self) -> str:
        """The file content: header line, then ``name: hex`` per tensor, trailing newline."""
        if self.algorithm not in ALGORITHMS:
            raise InvalidInputError(f"unknown calibration algorithm {self.algorithm!r}; use one of {ALGORITHMS}")
        for name in self.scales:
            if "\n" in name or not name:
                raise InvalidInputError(f"tensor name {name!r} cannot be written to a calibration cache")
        lines = [self.header] + [f"{name}: {scale_to_hex(s)}" for name, s in self.scales.items()]
        return "\n".join(lines) + "\n"

    def to_bytes(self) -> bytes:
        return self.to_text().encode("ascii")

    @classmethod
    def from_text(cls, text: str) -> CalibrationCache:
        """Parse a cache; raises InvalidInputError naming the bad line."""
        lines = [ln for ln in text.replace("\r\n", "\n").split("\n") if ln.strip()]
        if not lines or not lines[0].startswith("TRT-"):
            raise InvalidInputError("not a TensorRT calibration cache: the first line must look like "
                                    "'TRT-8502-EntropyCalibration2'")
        parts = lines[0].strip().split("-", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            raise InvalidInputError(f"bad calibration cache header {lines[0]!r}")
        scales: Dict[str, float] = {}
        for number, line in enumerate(lines[1:], start=2):
            name, sep, value = line.rpartition(":")
            try:
                if not sep or not name.strip():
                    raise ValueError("no 'name: hex'")
                if name.strip() in scales:
                    raise ValueError("tensor listed twice")
                scale = hex_to_scale(value)
                if not 0.0 <= scale < math.inf:
                    raise ValueError(f"scale {scale} is not finite and >= 0")
                scales[name.strip()] = scale
            except (ValueError, struct.error) as exc:
                raise InvalidInputError(f"calibration cache line {number} {line!r} is not 'name: hex' ({exc})") from exc
        return cls(scales, parse_version_tag(int(parts[1])), parts[2].strip())

    @classmethod
    def from_bytes(cls, data: bytes) -> CalibrationCache:
        try:
            return cls.from_text(data.decode("ascii"))
        except UnicodeDecodeError as exc:
            raise InvalidInputError("calibration cache is not ASCII text") from exc

    def save(self, path) -> Path:
        """Write atomically."""
        return atomic_write_bytes(path, self.to_bytes())

    @classmethod
    def load(cls, path) -> CalibrationCache:
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"calibration cache not found: {path}")
        return cls.from_bytes(path.read_bytes())


def write_calibration_cache(path, amax: Mapping[str, float], version=(8, 5, 2),
                            algorithm: str = "EntropyCalibration2") -> Path:
    """Write a TensorRT calibration cache for ``amax`` (tensor name → absolute max)."""
    return CalibrationCache.from_amax(amax, version, algorithm).save(path)


def read_calibration_cache(path) -> Dict[str, float]:
    """Tensor name → amax from a TensorRT calibration cache file."""
    return CalibrationCache.load(path).amax


def version_from_module(trt) -> Optional[Tuple[int, int, int]]:
    """(major, minor, patch) from a tensorrt module's ``__version__``, or None (``trt_differences.trt_version``)."""
    from fer_edge.backends.trt_differences import trt_version

    try:
        return trt_version(trt)
    except InvalidInputError:
        return None
