"""pymmcore-plus's ``mda.run(seq, output="s3://…")`` with the demo camera."""

from __future__ import annotations

import json

import numpy as np
import pytest

useq = pytest.importorskip("useq")
pytest.importorskip("pymmcore_plus")

from ome_writers.adapters.demo_camera import (  # noqa: E402
    decode_frame_counter,
    demo_core,
)

from .readers import boto_client, split, zarr_from_s3  # noqa: E402

SEQ = useq.MDASequence(
    stage_positions=[(0, 0, 0), (10, 10, 0)],
    time_plan={"interval": 0, "loops": 2},
    channels=["DAPI", "FITC"],
    z_plan={"range": 2, "step": 1},
    axis_order="tpcz",
)


def read_json(url: str) -> dict:
    bucket, key = split(url)
    body = boto_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return dict(json.loads(body))


def test_mda_run_into_a_bucket(s3_prefix: str) -> None:
    url = f"{s3_prefix}/mda.ome.zarr"
    core = demo_core(width=32, height=24)
    core.mda.run(SEQ, output=url)
    series = read_json(f"{url}/OME/zarr.json")["attributes"]["ome"]["series"]
    assert len(series) == 2  # one image per stage position
    arrays = {p: zarr_from_s3(f"{url}/{name}/0") for p, name in enumerate(series)}
    names = read_json(f"{url}/{series[0]}/0/zarr.json")["dimension_names"]
    counters = []
    for event in SEQ:  # every frame, read straight from the bucket
        index = tuple(event.index.get(n, 0) for n in names[:-2])
        plane = np.asarray(arrays[event.index.get("p", 0)][index])
        assert plane.shape == (24, 32)
        counters.append(decode_frame_counter(plane))
    assert counters == list(range(counters[0], counters[0] + len(list(SEQ))))
