"""Two reports side by side with ratios B/A (``fer-edge bench --compare``)."""

from __future__ import annotations

from typing import Any, Dict, Optional

from .config import STAGES
from .markdown import _fmt
from .schema import validate_report


def _comparable_rows(report: Dict[str, Any]) -> Dict[str, Optional[float]]:
    rows: Dict[str, Optional[float]] = {}
    for key, sc in report["scenarios"].items():
        for stage in STAGES:
            rows[f"{key} {stage} p50 ms"] = sc["stages"][stage]["p50"]
        rows[f"{key} total p99 ms"] = sc["stages"]["total"]["p99"]
    for c in report["classifier"]:
        rows[f"classifier b{c['batch']} p50 ms"] = c["latency_ms"]["p50"]
        rows[f"classifier b{c['batch']} faces/s"] = c["throughput_fps"]
    cold = report.get("cold_start") or {}
    rows["cold start total s"] = cold.get("total_s")
    rows["cold start peak RSS MiB"] = cold.get("peak_rss_mb")
    rows["video FPS (detect every frame)"] = report["video"]["fps_detect_every_frame"]
    rows["video FPS (detect every 5th)"] = report["video"]["fps_detect_every_5th"]
    rows["TensorRT engine build s"] = report["tensorrt"]["engine_build_s"]
    rows["TensorRT GPU memory MiB"] = report["tensorrt"]["gpu_memory_mb"]
    return rows


def compare_reports(a: Dict[str, Any], b: Dict[str, Any]) -> str:
    """A side-by-side Markdown table of two reports with the ratio B/A for every shared metric.

    For times a ratio below 1 means B is faster; for faces/s and FPS above 1 means B is faster.
    """
    validate_report(a)
    validate_report(b)

    def label(r):
        return (f"{r['device']['slug']} / {r['config']['backend']} / {r['model']['precision']} / "
                f"threads {r['config']['threads'] if r['config']['threads'] is not None else 'default'}")

    ra, rb = _comparable_rows(a), _comparable_rows(b)
    lines = [f"A: {label(a)} ({a['created_utc']}, {a['config']['runs']} runs)",
             f"B: {label(b)} ({b['created_utc']}, {b['config']['runs']} runs)"]
    if a["model"]["card_sha256"] != b["model"]["card_sha256"]:
        lines.append(f"note: different models (A {a['model']['name']} {a['model']['card_sha256'][:12]}, "
                     f"B {b['model']['name']} {b['model']['card_sha256'][:12]})")
    lines += ["", "| metric | A | B | B/A |", "|---|---:|---:|---:|"]
    for key in list(ra) + [k for k in rb if k not in ra]:
        va, vb = ra.get(key), rb.get(key)
        if va is None and vb is None:
            continue
        ratio = f"{vb / va:.2f}x" if (va and vb is not None) else "—"
        lines.append(f"| {key} | {_fmt(va)} | {_fmt(vb)} | {ratio} |")
    return "\n".join(lines) + "\n"
