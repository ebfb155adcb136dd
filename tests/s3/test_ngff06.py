"""NGFF 0.6rc0 into a bucket: the scene and the frames' times, in place."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import zarr

from ome_writers import AcquisitionSettings, Dimension, OmeZarrFormat, create_stream
from ome_writers._registry import url_writers
from tests.conftest import frame_for
from tests.metadata.ngff06_schemas import FIELD, validate_dataset

from .readers import mirror

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("backend", url_writers("s3"))
def test_scene_and_times_in_a_bucket(
    s3_prefix: str, tmp_path: Path, backend: str
) -> None:
    url = f"{s3_prefix}/run.ome.zarr"
    positions = [{"name": "a", "x_coord": 5.0, "y_coord": 6.0}, {"name": "b"}]
    settings = AcquisitionSettings(
        root_path=url,
        dimensions=[
            Dimension(name="t", count=None, chunk_size=1),
            Dimension(name="p", type="position", coords=positions),
            Dimension(name="y", count=8, unit="um", scale=0.5),
            Dimension(name="x", count=6, unit="um", scale=0.5),
        ],
        dtype="uint16",
        format=OmeZarrFormat(backend=backend, ngff_version="0.6rc0"),
    )
    with create_stream(settings) as stream:
        for n in range(6):
            stream.append(frame_for(n, (8, 6)), frame_metadata={"delta_t": 0.5 * n})
    local = mirror(url, tmp_path / "run.ome.zarr")
    checked = validate_dataset(local)
    assert checked["."] == ["bf2raw", "scene"]
    assert checked["b/coordinateTransformations/acquisition_time"] == [FIELD]
    times = zarr.open_array(
        str(local / "b/coordinateTransformations/acquisition_time/0"), mode="r"
    )
    assert times[:, 0].tolist() == [0.5, 1.5, 2.5]
    root = zarr.open_group(str(local), mode="r")
    (placed,) = root.attrs["ome"]["scene"]["coordinateTransformations"]
    assert placed["input"]["path"] == "a" and placed["translation"] == [0.0, 6.0, 5.0]
