"""The report schema (``fer_edge.bench`` kind, versioned), its validation and loading a report from disk."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List

from ..errors import InvalidInputError
from .config import REPORT_KIND, SCHEMA_VERSION, STAGES

_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
_OPT_STR = (str, type(None))
STATS_SCHEMA = {k: _NUM for k in ("n", "p50", "p90", "p99", "mean", "std", "min", "max")}
BAR_SCHEMA = {"measured": _NUM, "best": _NUM, "bar": _NUM, "pass": bool}

#: Required keys and their types. A dict is a nested object with these keys; a list holds one element schema;
#: ``{"*": spec}`` is an object whose every value matches ``spec``; a type tuple allows any of them
#: (``type(None)`` = nullable); ``(dict, type(None))`` = an object or null whose content is free;
#: ``({...}, type(None))`` = null or an object matching the nested schema.
REPORT_SCHEMA: Dict[str, Any] = {
    "schema_version": int,
    "kind": str,
    "created_utc": str,
    "command": str,
    "device": {
        "slug": str,
        "on_gpu": bool,
        "fingerprint": {
            "cpu": {"model": _OPT_STR, "logical_cores": (int, type(None)), "usable_cores": (int, type(None)),
                    "arch": _OPT_STR},
            "memory_total_mb": _OPT_NUM,
            "os": {"system": _OPT_STR, "release": _OPT_STR, "distribution": _OPT_STR},
            "python": str,
            "packages": {"*": _OPT_STR},
            "fer_edge": str,
            "gpu": (dict, type(None)),
            "gpus": list,
            "cuda_driver": _OPT_STR,
            "cuda_toolkit": _OPT_STR,
            "tensorrt": _OPT_STR,
            "jetson": (dict, type(None)),
        },
    },
    "model": {"file": _OPT_STR, "name": str, "arch": str, "version": str, "precision": str, "card_sha256": str,
              "input_shape": [int], "num_classes": int},
    "config": {"backend": str, "providers": [str], "threads": (int, type(None)),
               "threads_effective": (int, type(None)), "detector": str, "runs": int, "warmup": int,
               "batches": [int], "frame_size": [int], "frame_source": str},
    "scenarios": {"*": {"description": str, "faces": int, "stages": {s: STATS_SCHEMA for s in STAGES}}},
    "classifier": [{"batch": int, "latency_ms": STATS_SCHEMA, "per_face_ms": _NUM, "throughput_fps": _OPT_NUM}],
    "cold_start": (dict, type(None)),
    "memory": {"peak_rss_mb": _OPT_NUM, "cold_start_peak_rss_mb": _OPT_NUM},
    "tensorrt": {"engine_build_s": _OPT_NUM, "gpu_memory_mb": _OPT_NUM, "note": _OPT_STR},
    "video": {"fps_detect_every_frame": _OPT_NUM, "fps_detect_every_5th": _OPT_NUM, "frames": (int, type(None)),
              "reason": _OPT_STR},
    "bars": {"applies": bool, "note": _OPT_STR, "classification_per_face_ms": BAR_SCHEMA,
             "frame_1face_total_ms": BAR_SCHEMA},
    "profile": ({"predict_functions": list, "classifier_nodes": (dict, type(None))}, type(None)),
    "notes": [str],
    "duration_s": _NUM,
    "samples": (dict, type(None)),
}
COLD_START_SCHEMA = {"import_s": _OPT_NUM, "load_s": _OPT_NUM, "first_predict_ms": _OPT_NUM, "total_s": _OPT_NUM,
                     "process_wall_s": _OPT_NUM, "peak_rss_mb": _OPT_NUM, "faces": (int, type(None)),
                     "error": _OPT_STR}


def schema_errors(value: Any, schema: Any, where: str = "report") -> List[str]:
    """Every place where ``value`` does not match ``schema`` (empty list = valid)."""
    if isinstance(schema, tuple) and any(isinstance(t, (dict, list)) for t in schema):  # nullable nested object
        if value is None and type(None) in schema:
            return []
        return schema_errors(value, next(t for t in schema if isinstance(t, (dict, list))), where)
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        if set(schema) == {"*"}:
            return [e for k, v in value.items() for e in schema_errors(v, schema["*"], f"{where}.{k}")]
        errors = [f"{where}.{k}: missing" for k in schema if k not in value]
        for k, sub in schema.items():
            if k in value:
                errors += schema_errors(value[k], sub, f"{where}.{k}")
        return errors
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        return [e for i, v in enumerate(value) for e in schema_errors(v, schema[0], f"{where}[{i}]")]
    types = schema if isinstance(schema, tuple) else (schema,)
    if isinstance(value, bool) and bool not in types:
        return [f"{where}: expected {'/'.join(t.__name__ for t in types)}, got bool"]
    if not isinstance(value, types):
        return [f"{where}: expected {'/'.join(t.__name__ for t in types)}, got {type(value).__name__}"]
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{where}: not a finite number ({value})"]
    return []


def validate_report(report: Any) -> None:
    """Raise InvalidInputError listing every way ``report`` departs from ``REPORT_SCHEMA``."""
    errors = schema_errors(report, REPORT_SCHEMA)
    if not errors and report.get("cold_start") is not None:
        errors = schema_errors(report["cold_start"], COLD_START_SCHEMA, "report.cold_start")
    if not errors and report.get("kind") != REPORT_KIND:
        errors = [f"report.kind is {report.get('kind')!r}, expected {REPORT_KIND!r}"]
    if not errors and int(report.get("schema_version", 0)) > SCHEMA_VERSION:
        errors = [f"report schema_version {report['schema_version']} is newer than this fer_edge reads"]
    if errors:
        shown = "; ".join(errors[:8]) + (f"; ... ({len(errors) - 8} more)" if len(errors) > 8 else "")
        raise InvalidInputError(f"not a valid fer-edge bench report: {shown}")


def load_report(path) -> Dict[str, Any]:
    """Read and validate a JSON report written by ``write_report``."""
    try:
        report = json.loads(Path(path).read_text())
    except OSError as exc:
        raise InvalidInputError(f"cannot read benchmark report {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise InvalidInputError(f"{path} is not JSON ({exc}); pass a .json written by `fer-edge bench`") from exc
    validate_report(report)
    return report
