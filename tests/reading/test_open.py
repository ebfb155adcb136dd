"""`ome_writers.open` reads finished datasets of ours: every frame at its index.

Frames carry their frame number (`frame_for`); each is looked up in the view
by its acquisition index (dimensions the view has and the acquisition lacks,
such as OME-TIFF's size-1 axes, at 0; several images along ``p``).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

import ome_writers as ow
from ome_writers import (
    AcquisitionSettings,
    Channel,
    Dimension,
    OmeZarrFormat,
    Pyramid,
    create_stream,
)
from tests.conftest import frame_for

if TYPE_CHECKING:
    from pathlib import Path

H, W = 8, 6
FORMATS = {"zarr": ".ome.zarr", "tiff": ".ome.tiff"}


def _dims(*index: Dimension) -> list[Dimension]:
    return [*index, Dimension(name="y", count=H), Dimension(name="x", count=W)]


T2 = Dimension(name="t", count=2, type="time")
C2 = Dimension(
    name="c",
    type="channel",
    coords=[Channel(name="DAPI", color="#0000FF"), Channel(name="FITC")],
)
Z3 = Dimension(name="z", count=3, type="space")
P2 = Dimension(name="p", type="position", coords=["left", "right"])
LAYOUTS = {
    "tczyx": [T2, C2, Z3],
    "t-p-c-z": [T2, P2, C2, Z3],
    "p-t": [P2, T2],
    "unbounded-t-c": [Dimension(name="t", count=None, type="time", chunk_size=1), C2],
}


def write(
    root: Path, index_dims: list[Dimension], frames: int | None = None, **kw: Any
) -> AcquisitionSettings:
    settings = AcquisitionSettings(
        root_path=str(root), dimensions=_dims(*index_dims), dtype="uint16", **kw
    )
    total = settings.geometry.num_frames or frames or 0
    with create_stream(settings) as stream:
        for n in range(frames if frames is not None else total):
            stream.append(frame_for(n, (H, W)))
    return settings


def cells(settings: AcquisitionSettings, frames: int) -> list[dict[str, int]]:
    """Each frame's acquisition index, by dimension name (C order)."""
    dims = settings.dimensions[:-2]
    counts = [d.count or frames for d in dims]
    out = []
    for index in itertools.islice(
        itertools.product(*(range(c) for c in counts)), frames
    ):
        out.append(dict(zip([d.name for d in dims], index, strict=True)))
    return out


def check_frames(
    view: ow.DatasetView, settings: AcquisitionSettings, frames: int
) -> None:
    position = next((d.name for d in settings.dimensions if d.type == "position"), None)
    for n, cell in enumerate(cells(settings, frames)):
        if position is not None:
            cell["p"] = cell.pop(position)
        key = tuple(cell.get(name, 0) for name in view.dims[:-2])
        np.testing.assert_array_equal(
            view[key], frame_for(n, (H, W)), err_msg=f"frame {n} at {key}"
        )


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_frame_at_its_index(tmp_path: Path, fmt: str, layout: str) -> None:
    root = tmp_path / f"run{FORMATS[fmt]}"
    frames = 6 if layout.startswith("unbounded") else None
    settings = write(root, LAYOUTS[layout], frames)
    total = frames or settings.geometry.num_frames or 0
    with ow.open(root) as view:
        assert view.complete
        assert view.status == "complete"
        assert view.dims[-2:] == ("y", "x")
        assert view.shape[-2:] == (H, W)
        assert view.dtype == np.uint16
        check_frames(view, settings, total)
        if "p" in view.dims:
            assert view.dims[0] == "p"
            assert list(view.coords["p"]) == ["left", "right"]
        if "c" in [d.name for d in settings.dimensions]:
            assert list(view.coords["c"]) == ["DAPI", "FITC"]
            assert [c.name for c in view.channels] == ["DAPI", "FITC"]
            assert view.channels[0].color == "#0000FF"
            assert view.channels[1].color == "#00FF00"  # FITC's guessed colour
        whole = np.asarray(view)
        assert whole.shape == view.shape
        assert len(view) == view.shape[0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_levels_of_a_pyramid(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / f"pyr{FORMATS[fmt]}"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[T2, Dimension(name="y", count=32), Dimension(name="x", count=32)],
        dtype="uint16",
        pyramid=Pyramid(levels=3),
    )
    with create_stream(settings) as stream:
        for n in range(2):
            stream.append(np.full((32, 32), n + 1, "uint16"))
    with ow.open(root, level=1) as view:
        assert view.levels == 3
        assert view.level == 1
        assert [s[-2:] for s in view.level_shapes] == [(32, 32), (16, 16), (8, 8)]
        assert view.shape[-2:] == (16, 16)
        top = view.at_level(2)
        assert top.dims == view.dims
        assert top.shape[-2:] == (8, 8)
        t_axis = view.dims.index("t")
        for t in range(2):
            key = tuple(t if i == t_axis else 0 for i in range(view.ndim - 2))
            assert (top[key] == t + 1).all()
        with pytest.raises(IndexError, match="level 3 does not exist"):
            view.at_level(3)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_ngff_06(tmp_path: Path, layout: str) -> None:
    """NGFF 0.6rc0 names its axes in coordinate systems; open reads them
    (and the frames' times below each image are no image of their own)."""
    frames = 6 if layout.startswith("unbounded") else None
    dims = _dims(*LAYOUTS[layout])
    views = []
    for version in ("0.5", "0.6rc0"):
        root = tmp_path / f"run-{version}.ome.zarr"
        settings = AcquisitionSettings(
            root_path=str(root),
            dimensions=dims,
            dtype="uint16",
            format=OmeZarrFormat(ngff_version=version),  # type: ignore[arg-type]
        )
        total = frames or settings.geometry.num_frames or 0
        with create_stream(settings) as stream:
            for n in range(total):
                stream.append(frame_for(n, (H, W)), frame_metadata={"delta_t": n})
        view = ow.open(root)
        check_frames(view, settings, total)
        views.append(view)
    old, new = views
    assert new.dims == old.dims
    assert new.shape == old.shape
    assert new.coords == old.coords
    assert new.channels == old.channels
    for view in views:
        view.close()


def test_levels_of_an_ngff_06_pyramid(tmp_path: Path) -> None:
    root = tmp_path / "pyr.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            T2,
            Dimension(name="y", count=32, scale=0.5, unit="um"),
            Dimension(name="x", count=32, scale=0.5, unit="um"),
        ],
        dtype="uint16",
        pyramid=Pyramid(levels=3),
        format=OmeZarrFormat(ngff_version="0.6rc0"),
    )
    with create_stream(settings) as stream:
        for n in range(2):
            stream.append(np.full((32, 32), n + 1, "uint16"))
    with ow.open(root, level=2) as view:
        assert view.dims == ("t", "y", "x")
        assert [s[-2:] for s in view.level_shapes] == [(32, 32), (16, 16), (8, 8)]
        assert (view[1] == 2).all()


def test_one_image_of_a_collection(tmp_path: Path) -> None:
    root = tmp_path / "run.ome.zarr"
    settings = write(root, [P2, T2])
    with ow.open(root, image="right") as view:
        assert view.dims == ("t", "y", "x")
        np.testing.assert_array_equal(view[1], frame_for(3, (H, W)))
    with ow.open(root, image=0) as view:
        np.testing.assert_array_equal(view[1], frame_for(1, (H, W)))
    with pytest.raises(KeyError, match="no image 'middle'"):
        ow.open(root, image="middle")
    del settings


def test_the_path_a_multi_position_tiff_was_written_to(tmp_path: Path) -> None:
    root = tmp_path / "run.ome.tiff"
    write(root, [P2, T2])
    assert not root.exists()  # the files are run/run_p000.ome.tiff, ...
    for path in (root, tmp_path / "run", tmp_path / "run" / "run_p001.ome.tiff"):
        with ow.open(path) as view:
            assert view.dims[0] == "p"
            assert view.shape[0] == 2


def test_indexing(tmp_path: Path) -> None:
    root = tmp_path / "run.ome.zarr"
    write(root, [T2, Z3])
    view = ow.open(root)
    assert view[1, 2].shape == (H, W)
    assert view[-1, -1].shape == (H, W)
    np.testing.assert_array_equal(view[-1, -1], frame_for(5, (H, W)))
    assert view[::-1, 0, 0, 0].tolist() == [
        frame_for(3, (H, W))[0, 0],
        frame_for(0, (H, W))[0, 0],
    ]
    assert view[..., 0].shape == (2, 3, H)
    assert view[np.int64(1), 0].shape == (H, W)
    np.testing.assert_array_equal(
        np.asarray(view, dtype="float32"), np.asarray(view).astype("float32")
    )
    with pytest.raises(IndexError, match="out of bounds"):
        view[2]  # the dataset is complete: nothing beyond it
    with pytest.raises(IndexError, match="too many indices"):
        view[0, 0, 0, 0, 0]
    with pytest.raises(TypeError, match="Invalid index type"):
        view[None]
    with pytest.raises(TypeError, match="Invalid index type"):
        view[[0, 1]]
    with pytest.raises(ValueError, match="Zero-copy"):
        view.__array__(copy=False)
    with pytest.raises(TypeError, match=r"ome_writers\.open"):
        ow.DatasetView()
    assert "DatasetView(dims=('t', 'z', 'y', 'x')" in repr(view)
    view.close()


def test_what_is_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ow.open(tmp_path / "missing.ome.zarr")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither an OME-Zarr dataset nor TIFF"):
        ow.open(tmp_path / "empty")
    with pytest.raises(ValueError, match="only local paths and s3:// URLs"):
        ow.open("http://example.org/x.ome.zarr")
    with pytest.raises(ValueError, match="poll_interval must be positive"):
        ow.open(tmp_path, poll_interval=0)
