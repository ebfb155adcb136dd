"""One measured run: timed appends, then close and ``os.sync()``."""

from __future__ import annotations

import os
import resource
import time
from typing import Any

import numpy as np

from ._scenarios import make_frames


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


LATENCY_SAMPLE = 2000  # at most this many append latencies kept per row


def latency_sample(latencies_ms: Any, limit: int = LATENCY_SAMPLE) -> list[float]:
    """Append latencies (ms) small enough for JSON, to 4 significant digits.

    Up to `limit` values are kept as they are, in append order; more become
    `limit` evenly spaced quantiles of them, from the minimum to the maximum,
    so that the distribution, its tail and its maximum survive.
    """
    values = np.asarray(latencies_ms, dtype=float)
    if values.size > limit:
        values = np.quantile(values, np.linspace(0, 1, limit))
    return [float(f"{x:.4g}") for x in values]


def timed_run(
    spec: dict[str, Any],
    append: Any,
    close: Any,
    create: Any = None,
) -> dict[str, Any]:
    """`create()` (timed), `append(i, frame)` for every frame, then `close()`.

    `create` returns the `(append, close)` pair when the two are only known
    after it (a stream); "+create" figures count from before it.
    """
    frames = make_frames(spec["frame_shape"])
    n = spec["frames"]
    period = 1 / spec["fps"] if spec.get("fps") else 0.0
    rss_setup = peak_rss_mb()
    latencies = np.empty(n)
    late = 0
    os.sync()  # start from a clean page cache state
    began = time.perf_counter()
    if create is not None:
        append, close = create()
    start = time.perf_counter()
    for i in range(n):
        if period:  # a camera delivers frame i at start + i * period
            wait = start + i * period - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        t0 = time.perf_counter()
        append(i, frames[i % len(frames)])
        latencies[i] = time.perf_counter() - t0
        if period and latencies[i] > period:
            late += 1  # the camera's next frame arrived during this append
    appended = time.perf_counter()
    close()
    closed = time.perf_counter()
    os.sync()
    synced = time.perf_counter()
    gb = n * frames[0].nbytes / 1e9
    return {
        "frames": n,
        "gb": gb,
        "fps": n / (closed - start),
        "gbps_append": gb / (appended - start),
        "gbps_close": gb / (closed - start),
        "gbps_sync": gb / (synced - start),
        "gbps_total": gb / (synced - began),
        "create_ms": (start - began) * 1e3,
        "p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "p99_ms": float(np.percentile(latencies, 99) * 1e3),
        "max_ms": float(latencies.max() * 1e3),
        "latencies_ms": latency_sample(latencies * 1e3),
        "close_s": closed - appended,
        "peak_rss_mb": peak_rss_mb(),
        "rss_growth_mb": peak_rss_mb() - rss_setup,
        **(
            {
                "offered_fps": 1 / period,
                "late_frames": late,
                "late_at": _late_at(latencies, period),
            }
            if period
            else {}
        ),
    }


#: late appends whose frame numbers a paced row keeps
LATE_AT = 10


def _late_at(latencies: np.ndarray, period: float) -> list[list[float]]:
    """[frame number, ms] of the first `LATE_AT` late appends and the slowest:
    where in a run they fall (the first frame, a checkpoint, the last)."""
    late = np.flatnonzero(latencies > period)
    if late.size == 0:
        return []
    keep = sorted({*late[:LATE_AT].tolist(), int(late[np.argmax(latencies[late])])})
    return [[i, round(float(latencies[i]) * 1e3, 2)] for i in keep]
