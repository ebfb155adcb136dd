"""Tables of a dataset in a bucket: each part one object, read back by
pyarrow from the objects, by `open(url).tables` and by ``info``."""

from __future__ import annotations

import io

import numpy as np
import pytest

pq = pytest.importorskip("pyarrow.parquet")

import ome_writers as ow  # noqa: E402
from ome_writers import AcquisitionSettings, Dimension, create_stream  # noqa: E402
from ome_writers.tools.info import inspect_dataset  # noqa: E402

from .readers import boto_client, split  # noqa: E402


def test_table_parts_are_objects(s3_prefix: str) -> None:
    url = f"{s3_prefix}/tables.ome.zarr"
    settings = AcquisitionSettings(
        root_path=url,
        dimensions=[
            Dimension(name="t", count=3, type="time"),
            Dimension(name="y", count=8, type="space"),
            Dimension(name="x", count=8, type="space"),
        ],
        dtype="uint16",
        format={"name": "ome-zarr", "backend": "tensorstore"},
    )
    with create_stream(settings, checkpoint_seconds=None) as stream:
        for n in range(3):
            stream.append(np.zeros((8, 8), "uint16"))
            stream.write_row("cells", {"count": n})
            if n == 0:
                stream.checkpoint()
    bucket, prefix = split(f"{url}/tables/cells/")
    listed = boto_client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    keys = sorted(o["Key"] for o in listed["Contents"])
    assert [k.rsplit("/", 1)[1] for k in keys] == [
        "part-000000.parquet",
        "part-000001.parquet",
    ]
    counts = []
    for key in keys:
        body = boto_client().get_object(Bucket=bucket, Key=key)["Body"].read()
        counts += pq.read_table(io.BytesIO(body)).column("count").to_pylist()
    assert counts == [0, 1, 2]
    with ow.open(url) as view:
        assert view.tables.names == ["cells"]
        assert view.tables["cells"].column("frame").to_pylist() == [0, 1, 2]
    report = inspect_dataset(url)
    assert [(t.name, t.rows) for t in report.tables] == [("cells", 3)]
