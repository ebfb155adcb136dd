"""One job of the plan, measured in this (worker) process."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from ._run_baselines import (
    run_disk,
    run_raw_acquire_zarr,
    run_raw_tensorstore,
    run_raw_tifffile,
)
from ._run_ceiling import run_ceiling
from ._run_ours import run_camera, run_public_api
from ._scenarios import TIME_SERIES_SCENARIOS, scenario, with_frames

RAW_RUNNERS = {
    "tensorstore": run_raw_tensorstore,
    "acquire-zarr": run_raw_acquire_zarr,
    "tifffile": run_raw_tifffile,
}


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Run the row `job` describes (see `_plan._run_row`) in a fresh folder."""
    spec = scenario(job["scenario"], job["quick"])
    if job.get("metadata_frames") and spec.get("frame_metadata"):
        spec["frames"] = job["metadata_frames"]
    if job.get("frames") and job["scenario"] in TIME_SERIES_SCENARIOS:
        spec = with_frames(spec, job["frames"])
    spec["fps"] = job.get("fps")
    spec["preload"] = job.get("preload", [])
    # our backend's requirements, which the compared version may not have
    spec["preload_optional"] = job["target"].startswith("other:")
    out = Path(tempfile.mkdtemp(prefix="ome-writers-bench-", dir=job["dir"]))
    try:
        kind, _, backend = job["target"].partition(":")
        if kind == "ceiling":
            return run_ceiling(spec, out)
        if kind == "disk":
            return run_disk(spec, out)
        if kind == "camera":
            return run_camera(spec, out)
        if kind == "raw":
            return RAW_RUNNERS[backend](spec, out)
        if kind == "s3":
            return run_public_api(spec, backend, out, s3_endpoint=job["s3"])
        if kind == "served":
            return run_public_api(
                spec,
                backend,
                out,
                readers=job["readers"],
                reader_interval=job["reader_interval"],
                reader_nice=job.get("reader_nice", 0),
            )
        return run_public_api(spec, backend, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
