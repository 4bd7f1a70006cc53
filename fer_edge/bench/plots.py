"""PNG plots of a report (matplotlib, extra [plot]); skipped with a log line without it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from .config import STAGES

log = logging.getLogger(__name__)


def write_plots(report: Dict[str, Any], out_dir, stem: str) -> List[Path]:
    """Latency histograms per stage and throughput vs batch as PNGs; [] when matplotlib or samples are missing."""
    samples = report.get("samples")
    if not samples:
        return []
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib is not installed; writing the text report only (pip install 'fer-edge[plot]')")
        return []
    out_dir = Path(out_dir)
    paths = []
    scen = [k for k in report["scenarios"] if k in samples]
    colors = ("#4878a8", "#c07030", "#50a050", "#a04890")
    fig, axes = plt.subplots(1, len(STAGES), figsize=(3.0 * len(STAGES), 2.9))
    for c, stage in enumerate(STAGES):
        ax = axes[c]
        for r, key in enumerate(scen):
            data = np.asarray(samples[key][stage], dtype=float)
            hi = np.percentile(data, 99) if data.size else 1.0
            ax.hist(np.minimum(data, hi), bins=25, color=colors[r % len(colors)], alpha=0.6, label=key)
            ax.axvline(report["scenarios"][key]["stages"][stage]["p50"], color=colors[r % len(colors)], lw=1)
        ax.set_title(stage, fontsize=9)
        ax.set_xlabel("ms (clipped at p99)", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("runs", fontsize=8)
    axes[-1].legend(fontsize=6)
    fig.suptitle(f"{stem}: latency per stage, {report['config']['runs']} runs (lines = p50)", fontsize=9)
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.18, top=0.8, wspace=0.25)
    path = out_dir / f"{stem}-latency.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    paths.append(path)

    rows = report["classifier"]
    fig, ax1 = plt.subplots(figsize=(5.5, 3.6))
    batches = [c["batch"] for c in rows]
    ax1.plot(batches, [c["throughput_fps"] or 0 for c in rows], "o-", color="#4878a8", label="faces/s")
    ax1.set_xscale("log", base=2)
    ax1.set_xlabel("batch")
    ax1.set_ylabel("faces/s (p50)")
    ax2 = ax1.twinx()
    ax2.plot(batches, [c["per_face_ms"] for c in rows], "s--", color="#c07030", label="ms per face")
    ax2.set_ylabel("ms per face (p50)")
    ax1.set_title(f"{stem}: classifier throughput vs batch", fontsize=9)
    fig.subplots_adjust(left=0.15, right=0.85, bottom=0.14, top=0.9)
    path = out_dir / f"{stem}-throughput.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    paths.append(path)
    return paths
