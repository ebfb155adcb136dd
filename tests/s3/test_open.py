"""``ome_writers.open`` of an ``s3://`` dataset, followed while it is written.

Every backend that writes to a bucket: the root ``zarr.json`` (one PUT per
visit) states the frames written, and a view following the URL shows them
as appended, then complete; explicit `S3Options` reach the bucket too.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import ome_writers as ow
from ome_writers import AcquisitionSettings, Dimension, S3Options, create_stream

from .conftest import ACCESS_KEY, SECRET_KEY
from .readers import boto_client, split
from .test_object_storage import ZARR_BACKENDS


def _record(url: str) -> dict[str, object]:
    bucket, key = split(f"{url}/zarr.json")
    body = boto_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return dict(json.loads(body)["attributes"]["ome_writers"]["progress"])


@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_a_view_follows_a_dataset_in_a_bucket(backend: str, s3_prefix: str) -> None:
    url = f"{s3_prefix}/live.ome.zarr"
    settings = AcquisitionSettings(
        root_path=url,
        dimensions=[
            Dimension(name="t", count=None, type="time", chunk_size=1),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="y", count=16, type="space"),
            Dimension(name="x", count=8, type="space"),
        ],
        dtype="uint16",
        format={"name": "ome-zarr", "backend": backend},
        loss_window=0.2,
    )
    frame = [np.full((16, 8), n + 1, "uint16") for n in range(8)]
    with create_stream(settings) as stream:
        assert _record(url)["frames"] == 0
        for n in range(6):
            stream.append(frame[n])
        stream.checkpoint()  # acquire-zarr makes an array at its first shard
        view = ow.open(url, live=True, poll_interval=0.05)
        assert view.dims == ("t", "c", "y", "x")
        deadline = time.monotonic() + 20
        while backend != "acquire-zarr" and (view.frames or 0) < 6:
            assert time.monotonic() < deadline, view
            time.sleep(0.02)
        for n in range(view.frames or 0):
            np.testing.assert_array_equal(view[divmod(n, 2)], frame[n])
        stream.append(frame[6])
        stream.append(frame[7])
    deadline = time.monotonic() + 20
    while not view.complete:
        assert time.monotonic() < deadline, view
        time.sleep(0.02)
    assert _record(url)["status"] == "complete"
    assert view.shape == (4, 2, 16, 8)
    assert view.coords["c"] == ["DAPI", "FITC"]
    data = np.asarray(view)
    for n in range(8):
        np.testing.assert_array_equal(data[divmod(n, 2)], frame[n])
    view.close()
    options = S3Options(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    with ow.open(url, s3=options) as again:
        assert again.complete and again.frames == 8
