"""Time-point times from per-frame metadata, written as a small Zarr array."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import zarr

from ome_writers import AcquisitionSettings, Dimension, OmeZarrFormat
from ome_writers.metadata import _time_coordinates
from ome_writers.metadata._ngff import build_layout
from ome_writers.metadata._time_coordinates import TimeCoordinates

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def _documents(count: int | None) -> dict[str, dict]:
    settings = AcquisitionSettings(
        root_path="unused.ome.zarr",
        dimensions=[
            Dimension(name="t", count=count, type="time"),
            Dimension(name="c", type="channel", coords=["a", "b"]),
            Dimension(name="y", count=4),
            Dimension(name="x", count=4),
        ],
        dtype="uint8",
        format=OmeZarrFormat(ngff_version="0.6rc0"),
    )
    return {".": build_layout(settings).groups["."]["ome"]}


def _read(root: Path) -> np.ndarray:
    path = root / "coordinateTransformations" / "acquisition_time" / "0"
    return np.asarray(zarr.open_array(str(path), mode="r")[:, 0])


def test_earliest_frame_of_a_time_point(tmp_path: Path) -> None:
    times = TimeCoordinates(tmp_path, ["."], time_axis=0, count=3)
    times.add(0, (0, 1), {"delta_t": 0.5})
    times.add(0, (0, 0), {"delta_t": 0.25})  # frames may arrive out of order
    times.add(0, (2, 0), {"delta_t": 7})
    times.add(0, (1, 0), {"exposure_time": 1.0})  # no time
    times.add(0, (1, 1), {"delta_t": "nan"})  # a non-finite time, as JSON keeps it
    times.add(0, (1, 1), {"delta_t": True})
    assert times.write(_documents(3), None) == [0]
    got = _read(tmp_path)
    assert got[0] == 0.25 and math.isnan(got[1]) and got[2] == 7.0
    assert times.write(_documents(3), None) == []  # not the first times again


def test_only_changed_chunks_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A visit's cost does not grow with the run: new times, new chunks."""
    chunk = _time_coordinates.CHUNK
    written: list[str] = []
    real = _time_coordinates._write_document

    def spy(path: Path, data: str | bytes) -> None:
        written.append(str(path.relative_to(tmp_path)))
        real(path, data)

    monkeypatch.setattr(_time_coordinates, "_write_document", spy)
    documents = _documents(None)
    times = TimeCoordinates(tmp_path, ["."], time_axis=0, count=None)
    for t in range(chunk + 2):
        times.add(0, (t, 0), {"delta_t": t * 0.1})
    times.write(documents, None)
    field = "coordinateTransformations/acquisition_time/0"
    assert sorted(written) == [f"{field}/c/0/0", f"{field}/c/1/0", f"{field}/zarr.json"]
    written.clear()
    times.add(0, (chunk + 2, 0), {"delta_t": 99.0})
    times.write(documents, None)
    assert written == [f"{field}/c/1/0", f"{field}/zarr.json"]  # grew by one
    written.clear()
    times.write(documents, [chunk + 10])  # close: the image's final extent
    assert written == [f"{field}/zarr.json"]
    got = _read(tmp_path)
    assert got.shape == (chunk + 10,)
    assert got[chunk + 2] == 99.0 and got[5] == 0.5
    assert np.isnan(got[chunk + 3 :]).all()
