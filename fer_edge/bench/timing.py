"""Timing primitives: repeated calls, per-stage Recognizer timings, and their percentile summary."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Sequence

import numpy as np

from ..errors import InvalidInputError
from .config import STAGES


def summarize(samples_ms: Sequence[float]) -> Dict[str, float]:
    """Percentiles and moments of latency samples in ms: n, p50, p90, p99, mean, std, min, max."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        raise InvalidInputError("cannot summarise zero samples")
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {
        "n": int(a.size),
        "p50": round(float(p50), 4),
        "p90": round(float(p90), 4),
        "p99": round(float(p99), 4),
        "mean": round(float(a.mean()), 4),
        "std": round(float(a.std(ddof=1)) if a.size > 1 else 0.0, 4),
        "min": round(float(a.min()), 4),
        "max": round(float(a.max()), 4),
    }


def time_calls(fn: Callable[[], Any], runs: int, warmup: int) -> List[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times; the wall time of each timed call in ms."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def time_stages(recognizer, call: Callable[[], Any], runs: int, warmup: int) -> Dict[str, List[float]]:
    """Run ``call`` (a ``recognizer.predict``) and collect ``recognizer.timings`` per stage after each timed run."""
    for _ in range(warmup):
        call()
    samples: Dict[str, List[float]] = {s: [] for s in STAGES}
    for _ in range(runs):
        call()
        for s in STAGES:
            samples[s].append(float(recognizer.timings.get(s, float("nan"))))
    return samples
