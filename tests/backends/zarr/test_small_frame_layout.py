"""Small frames written with the default layout: a few shard (Zarr v3) or
chunk (Zarr v2) files, read back pixel-exact by zarr-python and tensorstore."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, OmeZarrFormat, create_stream
from ome_writers._registry import BY_NAME
from tests.backends.params import backend_params
from tests.backends.readers import array_layout, read_zarr

if TYPE_CHECKING:
    from pathlib import Path

FRAMES = 20_000  # the default backend's run; others write three groups
OTHER_FRAMES = 2 * 2048 + 5
Y, X = 32, 32
#: files and directories a 20,000-frame run may leave (documents included)
MAX_ENTRIES = 60


def _frame(n: int) -> np.ndarray:
    rows = np.arange(Y, dtype=np.int64)[:, None] * 3
    cols = np.arange(X, dtype=np.int64)[None, :]
    return ((n * 7 + rows + cols + 1) % 65536).astype("uint16")


def _entries(root: Path) -> int:
    return sum(len(dirs) + len(files) for _, dirs, files in os.walk(root))


def _write(root: Path, backend: str, version: str, frames: int) -> AcquisitionSettings:
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=None, type="time"),
            Dimension(name="y", count=Y, type="space"),
            Dimension(name="x", count=X, type="space"),
        ],
        dtype="uint16",
        format=OmeZarrFormat(backend=backend, ngff_version=version),
    )
    with create_stream(settings) as stream:
        for n in range(frames):
            stream.append(_frame(n), frame_metadata={"n": n, "exposure_ms": 5.0})
    # every frame's metadata: the Planes of the OME-XML
    xml = (root / "OME" / "METADATA.ome.xml").read_text()
    assert xml.count("<Plane ") == frames
    return settings


GROUPING = [
    p.values[0] for p in backend_params(format="ome-zarr", groups_small_frames=True)
]
CASES = [
    *((name, "0.5") for name in GROUPING),
    *((name, "0.4") for name in GROUPING if BY_NAME[name].writes_zarr_format(2)),
]


@pytest.mark.parametrize(("backend", "version"), CASES)
def test_unbounded_small_frames_few_files(
    tmp_path: Path, backend: str, version: str
) -> None:
    root = tmp_path / "small.ome.zarr"
    frames = FRAMES if backend == "tensorstore" else OTHER_FRAMES
    _write(root, backend, version, frames)
    assert _entries(root) <= MAX_ENTRIES
    stored = read_zarr(root / "0")  # zarr-python, and tensorstore the same
    assert stored.data.shape == (frames, Y, X)
    expected = np.stack([_frame(n) for n in range(frames)])
    np.testing.assert_array_equal(stored.data, expected)
    layout = array_layout(root / "0")
    if version == "0.4":
        assert layout.shards is None
        assert layout.chunks == [2048, Y, X]
    else:
        assert layout.chunks == [1, Y, X]  # a chunk per frame
        assert layout.shards == [2048, Y, X]


def test_chunk_size_one_keeps_a_file_per_frame(tmp_path: Path) -> None:
    root = tmp_path / "per-frame.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=None, type="time", chunk_size=1),
            Dimension(name="y", count=Y, type="space"),
            Dimension(name="x", count=X, type="space"),
        ],
        dtype="uint16",
        format="tensorstore",
    )
    with create_stream(settings) as stream:
        for n in range(50):
            stream.append(_frame(n))
    chunk_files = [f for _, _, files in os.walk(root / "0" / "c") for f in files]
    assert len(chunk_files) == 50
    assert array_layout(root / "0").shards is None
