"""`ome_writers.open` reads datasets other software wrote.

ome-zarr-py (OME-Zarr 0.4 on Zarr v2, and 0.5 on Zarr v3), an OME-Zarr 0.5
image made by hand with zarr-python, and TIFF files written by tifffile
(OME-TIFF, ImageJ, plain). Such datasets state no progress: they are complete.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pytest
import tifffile
import zarr

import ome_writers as ow

if TYPE_CHECKING:
    from pathlib import Path

WINDOW = {"start": 5.0, "end": 900.0, "min": 0.0, "max": 65535.0}
COLORS = [("a", "FF0000"), ("b", "00FF00"), ("c", "0000FF")]
DATA = np.arange(2 * 3 * 4 * 16 * 16, dtype="uint16").reshape(2, 3, 4, 16, 16)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_py(tmp_path: Path, version: str) -> None:
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.io import parse_url

    with warnings.catch_warnings():  # its module builds a deprecated default
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr.writer import write_image

    fmt = FormatV04() if version == "0.4" else FormatV05()
    path = tmp_path / "image.zarr"
    store = parse_url(str(path), mode="w", fmt=fmt).store
    group = zarr.group(store=store, zarr_format=2 if version == "0.4" else 3)
    write_image(
        image=DATA,
        group=group,
        axes="tczyx",
        fmt=fmt,
        scale_factors=[2],
        omero={
            "channels": [{"label": n, "color": c, "window": WINDOW} for n, c in COLORS]
        },
    )
    assert (path / (".zattrs" if version == "0.4" else "zarr.json")).is_file()
    with ow.open(path) as view:
        assert view.dims == ("t", "c", "z", "y", "x")
        assert view.shape == DATA.shape
        assert view.complete and view.updated is None and view.frames is None
        np.testing.assert_array_equal(np.asarray(view), DATA)
        np.testing.assert_array_equal(view[1, 2, 3], DATA[1, 2, 3])
        assert view.levels == 2
        assert view.level_shapes[1] == (2, 3, 4, 8, 8)
        assert view.at_level(1)[1, 2, 3].shape == (8, 8)
        assert [c.name for c in view.channels] == ["a", "b", "c"]
        assert [c.color for c in view.channels] == ["#FF0000", "#00FF00", "#0000FF"]
        assert {c.window for c in view.channels} == {(5.0, 900.0)}


def test_zarr_python_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "hand.zarr"
    axes = [
        {"name": "c", "type": "channel"},
        {"name": "y", "type": "space", "unit": "micrometer"},
        {"name": "x", "type": "space", "unit": "micrometer"},
    ]
    group = zarr.open_group(path, mode="w", zarr_format=3)
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": axes,
                "datasets": [
                    {
                        "path": "s0",
                        "coordinateTransformations": [
                            {"type": "scale", "scale": [1, 0.5, 0.5]}
                        ],
                    }
                ],
            }
        ],
        "omero": {
            "channels": [
                {
                    "label": "GFP",
                    "color": "00FF00",
                    "window": {"start": 10, "end": 500, "min": 0, "max": 65535},
                    "active": False,
                }
            ]
        },
    }
    array = group.create_array(
        "s0", shape=(1, 16, 16), dtype="uint16", chunks=(1, 8, 8)
    )
    array[:] = DATA[0, 0, :1]
    with ow.open(path) as view:
        assert view.dims == ("c", "y", "x")
        assert view.coords["c"] == ["GFP"]
        (channel,) = view.channels
        assert channel == ow.ChannelDisplay("GFP", "#00FF00", (10.0, 500.0), False)
        np.testing.assert_array_equal(np.asarray(view), DATA[0, 0, :1])


def test_tifffile_ome_tiff(tmp_path: Path) -> None:
    path = tmp_path / "others.ome.tif"
    tifffile.imwrite(
        path,
        DATA,
        ome=True,
        metadata={"axes": "TCZYX", "Channel": {"Name": ["a", "b", "c"]}},
    )
    with ow.open(path) as view:
        assert view.dims == ("t", "c", "z", "y", "x")
        assert view.coords["c"] == ["a", "b", "c"]
        assert view.complete
        np.testing.assert_array_equal(np.asarray(view), DATA)
        np.testing.assert_array_equal(view[1, :, 2], DATA[1, :, 2])


def test_tifffile_imagej_and_plain(tmp_path: Path) -> None:
    tzcyx = DATA.transpose(0, 2, 1, 3, 4)  # ImageJ's own order
    tifffile.imwrite(
        tmp_path / "ij.tif", tzcyx, imagej=True, metadata={"axes": "TZCYX"}
    )
    with ow.open(tmp_path / "ij.tif") as view:
        assert view.dims == ("t", "z", "c", "y", "x")
        np.testing.assert_array_equal(np.asarray(view), tzcyx)
    tifffile.imwrite(tmp_path / "plain.tif", DATA[0, 0], photometric="minisblack")
    with ow.open(tmp_path / "plain.tif") as view:
        assert view.shape == (4, 16, 16)
        np.testing.assert_array_equal(np.asarray(view), DATA[0, 0])


def test_ngff_04_refresh_reads_the_root_only_when_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A view of an OME-Zarr 0.4 dataset being written rereads the root's
    ``.zattrs`` (its progress) when the writer replaced it, not at every
    refresh, as it does a 0.5 root's ``zarr.json``."""
    from ome_writers.reading._location import Location

    path = tmp_path / "run.ome.zarr"
    settings = ow.AcquisitionSettings(
        root_path=str(path),
        format={"ngff_version": "0.4"},
        dimensions=[
            ow.Dimension(name="t", count=None, type="time"),
            ow.Dimension(name="y", count=4),
            ow.Dimension(name="x", count=4),
        ],
        dtype="uint16",
        loss_window=None,
    )
    reads: list[str] = []
    read_bytes = Location.read_bytes

    def counted(self: Location, relative: str) -> bytes | None:
        reads.append(relative)
        return read_bytes(self, relative)

    monkeypatch.setattr(Location, "read_bytes", counted)
    with ow.create_stream(settings) as stream:
        stream.append(np.ones((4, 4), "uint16"))
        stream.checkpoint()
        with ow.open(path) as view:
            assert view.shape == (1, 4, 4)
            reads.clear()
            for _ in range(3):
                assert not view.refresh()
            assert ".zattrs" not in reads
            stream.append(np.ones((4, 4), "uint16"))
            stream.checkpoint()
            assert view.refresh()
            assert view.shape == (2, 4, 4)
            assert ".zattrs" in reads
