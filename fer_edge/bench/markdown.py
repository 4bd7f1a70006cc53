"""A report as Markdown: per-stage tables, classifier sweep, cold start, bars and the device fingerprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from .config import STAGES


def report_stem(report: Dict[str, Any]) -> str:
    """``<device-slug>-<backend>-<precision>``, e.g. ``amd-epyc-onnxruntime-cpu-fp32``."""
    return f"{report['device']['slug']}-{report['config']['backend']}-{report['model']['precision']}"


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def render_markdown(report: Dict[str, Any], plots: Sequence[str] = ()) -> str:
    """The report as Markdown: summary, per-stage table, batch sweep, cold start, bars, fingerprint."""
    fp = report["device"]["fingerprint"]
    cfg, model = report["config"], report["model"]
    cpu = fp["cpu"]
    lines = [
        f"# fer-edge bench: {report['device']['slug']} / {cfg['backend']} / {model['precision']}",
        "",
        f"Created {report['created_utc']} with `{report['command'] or 'fer_edge.bench.run_benchmark'}` "
        f"(fer_edge {fp['fer_edge']}, report schema {report['schema_version']}).",
        "",
        f"- **Model**: `{model['file']}` — {model['name']} ({model['arch'] or 'arch ?'}, v{model['version']}), input "
        f"{'x'.join(map(str, model['input_shape']))}, {model['num_classes']} classes, card sha256 "
        f"`{model['card_sha256'][:16]}`",
        f"- **Backend**: {cfg['backend']} (providers: {', '.join(cfg['providers']) or '—'}), threads "
        f"{cfg['threads'] if cfg['threads'] is not None else 'default'} (effective {cfg['threads_effective']}), "
        f"detector {cfg['detector']}, test-time augmentation {cfg.get('tta', 'none')}",
        f"- **Method**: {cfg['warmup']} warm-up runs, then **{cfg['runs']} timed runs** per row; times in ms; "
        "p50 = median, std = spread, min = best case on a busy machine; frame "
        f"{cfg['frame_size'][0]}x{cfg['frame_size'][1]} ({cfg['frame_source']})",
        f"- **Device**: {cpu['model']} ({cpu['usable_cores']}/{cpu['logical_cores']} cores usable"
        f"{'; ' + ', '.join(cpu['simd']) if cpu.get('simd') else ''}), "
        f"{(fp.get('gpu') or {}).get('name') or 'no NVIDIA GPU'}",
        "",
        "## Latency per stage (ms)",
        "",
        "| scenario | stage | p50 | p90 | p99 | mean | std | min | n |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, sc in report["scenarios"].items():
        for stage in STAGES:
            s = sc["stages"][stage]
            name = f"**{key}**" if stage == "detect" else ""
            lines.append(f"| {name} | {stage} | {_fmt(s['p50'])} | {_fmt(s['p90'])} | {_fmt(s['p99'])} | "
                         f"{_fmt(s['mean'])} | {_fmt(s['std'])} | {_fmt(s['min'])} | {s['n']} |")
    lines += ["", "Scenarios: " + "; ".join(f"`{k}` = {v['description']}" for k, v in report["scenarios"].items()),
              "", "## Classifier only (`backend.infer`), by batch", "",
              "| batch | p50 ms | p90 | p99 | std | per face ms | faces/s |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for c in report["classifier"]:
        s = c["latency_ms"]
        lines.append(f"| {c['batch']} | {_fmt(s['p50'])} | {_fmt(s['p90'])} | {_fmt(s['p99'])} | {_fmt(s['std'])} | "
                     f"{_fmt(c['per_face_ms'], 4)} | {_fmt(c['throughput_fps'], 1)} |")
    cold = report["cold_start"]
    lines += ["", "## Cold start and memory", ""]
    if cold is None:
        lines.append("Cold start not measured.")
    else:
        lines.append(f"Fresh interpreter: import {_fmt(cold['import_s'])} s + load {_fmt(cold['load_s'])} s + first "
                     f"predict {_fmt(cold['first_predict_ms'], 1)} ms = **{_fmt(cold['total_s'])} s** (process wall "
                     f"{_fmt(cold['process_wall_s'])} s, peak RSS {_fmt(cold['peak_rss_mb'], 1)} MiB)."
                     + (f" Error: {cold['error']}" if cold.get("error") else ""))
    lines.append(f"Peak RSS of the benchmark process: {_fmt(report['memory']['peak_rss_mb'], 1)} MiB.")
    trt = report["tensorrt"]
    lines.append(f"TensorRT: engine build {_fmt(trt['engine_build_s'])} s, GPU memory {_fmt(trt['gpu_memory_mb'], 1)} "
                 f"MiB{' (' + trt['note'] + ')' if trt['note'] else ''}.")
    vid = report["video"]
    lines += ["", "## Video pipeline", ""]
    if vid["reason"]:
        lines.append(f"Not measured: {vid['reason']}.")
    else:
        lines.append(f"{vid['frames']} frames, 1 face: **{_fmt(vid['fps_detect_every_frame'], 1)} FPS** with detection "
                     f"every frame, **{_fmt(vid['fps_detect_every_5th'], 1)} FPS** with detection every 5th frame.")
    bars = report["bars"]
    lines += ["", "## Performance bars (1 CPU thread)", "",
              "| bar | measured p50 ms | fastest run ms | limit ms | result (on p50) |", "|---|---:|---:|---:|---|"]
    for key, text in (("classification_per_face_ms", "classification per face (batch 1)"),
                      ("frame_1face_total_ms", "one-face frame, detection + classification")):
        b = bars[key]
        verdict = ("pass" if b["pass"] else "**miss**") if bars["applies"] else "n/a (not 1 thread)"
        lines.append(f"| {text} | {_fmt(b['measured'])} | {_fmt(b['best'])} | {b['bar']} | {verdict} |")
    prof = report.get("profile")
    if prof:
        lines += ["", "## Profile of the one-face frame (cProfile, top functions by own time per predict)", "",
                  "| function | calls/run | own ms/run | cumulative ms/run |", "|---|---:|---:|---:|"]
        for row in prof["predict_functions"]:
            lines.append(f"| `{row['function']}` | {row['calls_per_run']} | {row['own_ms_per_run']} | "
                         f"{row['cum_ms_per_run']} |")
        nodes = prof.get("classifier_nodes")
        if nodes:
            lines += ["", f"## Classifier node profile (ONNX Runtime, batch {nodes['batch']}, median of "
                      f"{nodes['runs']} runs; nodes sum to {nodes['sum_ms']} ms)", "",
                      "By operator type: " + ", ".join(f"{k} {v} ms" for k, v in nodes["op_types"].items()), "",
                      "| node | op | output | median ms |", "|---|---|---|---:|"]
            for row in nodes["nodes"]:
                lines.append(f"| `{row['node']}` | {row['op']} | {row['output_shape']} | {row['median_ms']} |")
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    lines += ["", "## Device fingerprint", "", "| field | value |", "|---|---|"]
    for key, value in _flatten(fp):
        lines.append(f"| {key} | {_fmt(value)} |")
    lines += ["", f"Benchmark wall time {report['duration_s']} s.", ""]
    return "\n".join(lines)


def _flatten(d: Any, prefix: str = "") -> List[Tuple[str, Any]]:
    if isinstance(d, dict):
        out: List[Tuple[str, Any]] = []
        for k, v in d.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(d, list):
        if not d:
            return [(prefix, "[]")]
        out = []
        for i, v in enumerate(d):
            out += _flatten(v, f"{prefix}[{i}]")
        return out
    return [(prefix, d)]
