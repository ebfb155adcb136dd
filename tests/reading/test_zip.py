"""`ome_writers.open` on a single-file OME-Zarr (``.ozx``): read in place.

Archives are packed here with `zipfile` from datasets of ours, so these
tests do not depend on `convert`.
"""

from __future__ import annotations

import zipfile
from typing import TYPE_CHECKING

import numpy as np
import pytest

import ome_writers as ow
from ome_writers import AcquisitionSettings, Dimension, Pyramid, create_stream
from tests.conftest import frame_for

if TYPE_CHECKING:
    from pathlib import Path

H, W = 16, 12


def write(root: Path, first: int = 0) -> np.ndarray:
    """Two positions of 3 time points with a pyramid, frames numbered from
    `first`; the frames (p, t, y, x)."""
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="p", type="position", coords=["left", "right"]),
            Dimension(name="t", count=3, type="time"),
            Dimension(name="y", count=H),
            Dimension(name="x", count=W),
        ],
        dtype="uint16",
        pyramid=Pyramid(levels=2),
    )
    numbers = range(first, first + 6)
    frames = np.stack([frame_for(n, (H, W)) for n in numbers]).reshape(2, 3, H, W)
    with create_stream(settings) as stream:
        for frame in frames.reshape(6, H, W):
            stream.append(frame)
    return frames


def pack(root: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as z:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(root).as_posix())
    return target


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, np.ndarray]:
    frames = write(tmp_path / "run.ome.zarr")
    return pack(tmp_path / "run.ome.zarr", tmp_path / "run.ozx"), frames


def test_open_reads_every_image_and_level(archive: tuple[Path, np.ndarray]) -> None:
    path, frames = archive
    with ow.open(path) as view:
        assert view.dims == ("p", "t", "y", "x")
        assert view.shape == (2, 3, H, W)
        assert view.complete
        np.testing.assert_array_equal(np.asarray(view[...]), frames)
        np.testing.assert_array_equal(np.asarray(view[1, 2]), frames[1, 2])
    with ow.open(path, level=1) as low:
        assert low.shape == (2, 3, H // 2, W // 2)
    with ow.open(str(path), image="right") as right:
        np.testing.assert_array_equal(np.asarray(right[...]), frames[1])


def test_a_file_that_is_no_archive(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ozx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable ZIP archive"):
        ow.open(bad)


def test_an_archive_without_a_root_group(
    archive: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, _ = archive
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp_path / "x.ozx", "w") as z:
        for info in src.infolist():
            if info.filename != "zarr.json":
                z.writestr(info, src.read(info))
    with pytest.raises(ValueError, match="no Zarr group or array"):
        ow.open(tmp_path / "x.ozx")


def test_a_replaced_archive_is_read_anew(
    archive: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """The view reads the archive in place; once it is replaced, a refresh
    reopens it."""
    path, frames = archive
    view = ow.open(path)
    try:
        np.testing.assert_array_equal(np.asarray(view[0, 0]), frames[0, 0])
        again = write(tmp_path / "again.ome.zarr", first=10)
        pack(tmp_path / "again.ome.zarr", tmp_path / "again.ozx").replace(path)
        view.refresh()
        np.testing.assert_array_equal(np.asarray(view[...]), again)
    finally:
        view.close()
