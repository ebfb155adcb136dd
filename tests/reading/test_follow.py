"""`open(..., live=True)` follows a dataset while this process writes it.

Every backend: the view's shape grows as the loss window's visits state
more frames, `coords_changed` fires (and once more at close), what it shows
is what was appended; ndv wraps the followed view as pymmcore-gui wraps
`stream.view()`.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest

import ome_writers as ow
from ome_writers import AcquisitionSettings, Dimension, create_stream
from tests.backends.params import backend_params, suffix
from tests.conftest import frame_for

if TYPE_CHECKING:
    from pathlib import Path

H, W = 8, 8
BACKENDS = backend_params(format="ome-zarr") + backend_params(format="ome-tiff")


def _settings(root: Path, backend: str, t: int | None = 4) -> AcquisitionSettings:
    fmt = "ome-tiff" if backend == "tifffile" else "ome-zarr"
    return AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=t, type="time", chunk_size=1),
            Dimension(name="p", type="position", coords=["A", "B"]),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="y", count=H, type="space"),
            Dimension(name="x", count=W, type="space"),
        ],
        dtype="uint16",
        format={"name": fmt, "backend": backend},
        loss_window=0.1,
    )


def _at(view: ow.DatasetView, **index: int) -> tuple[int, ...]:
    """The key of a cell named by dimension (others, of size 1, at 0)."""
    return tuple(index.get(name, 0) for name in view.dims[:-2])


def _dims(backend: str) -> tuple[str, ...]:
    """OME-TIFF: T, C, Z in DimensionOrder (XYCTZ for t, c)."""
    index = ("z", "t", "c") if backend == "tifffile" else ("t", "c")
    return ("p", *index, "y", "x")


def _wait(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("t", [4, None], ids=["bounded", "unbounded"])
def test_a_view_follows_the_frames_appended(
    tmp_path: Path, backend: str, t: int | None
) -> None:
    root = tmp_path / f"run{suffix(backend)}"
    settings = _settings(root, backend, t)
    shapes: list[tuple[int, ...]] = []
    with create_stream(settings) as stream:
        stream.append(frame_for(0, (H, W)))
        view = ow.open(root, live=True, poll_interval=0.02)
        assert view.status == "writing"
        assert view.dims == _dims(backend)
        assert view.coords["p"] == ["A"][: view.shape[0]]
        view.coords_changed.connect(lambda: shapes.append(view.shape))
        for n in range(1, 16):
            stream.append(frame_for(n, (H, W)))
            # acquire-zarr declares the shards its threads have written by
            # a visit: a pause in the frames leaves the last ones to close
            if n % 4 == 3 and backend != "acquire-zarr":
                _wait(lambda n=n: (view.frames or 0) >= n + 1)
            assert (view.frames or 0) <= n + 1
        if backend != "acquire-zarr":
            _wait(lambda: view.shape[view.dims.index("t")] >= 3)
            assert view.coords["c"] == ["DAPI", "FITC"]
            assert view.coords["p"] == ["A", "B"]
        for k in range(view.frames or 0):  # every frame counted, as appended
            t_, rest = divmod(k, 4)
            p, c = divmod(rest, 2)
            key = _at(view, p=p, t=t_, c=c)
            np.testing.assert_array_equal(view[key], frame_for(k, (H, W)))
    _wait(lambda: view.complete)
    assert view.status == "complete"
    # a complete OME-TIFF's OME-XML has no progress record: nothing to count
    assert view.frames == (None if backend == "tifffile" else 16)
    full = tuple({"p": 2, "t": 4, "c": 2, "z": 1, "y": H, "x": W}[n] for n in view.dims)
    assert view.shape == full
    _wait(lambda: shapes and shapes[-1] == full)
    assert shapes == sorted(shapes), "the extent never shrinks"
    assert len(shapes) >= (1 if backend == "acquire-zarr" else 2)
    data = np.asarray(view)
    for k in range(16):
        t_, rest = divmod(k, 4)
        p, c = divmod(rest, 2)
        key = _at(view, p=p, t=t_, c=c)
        np.testing.assert_array_equal(data[key], frame_for(k, (H, W)))
    view.close()
    assert not any(th.name == "ome-writers-follow" for th in threading.enumerate())


@pytest.mark.parametrize("backend", backend_params(names=["tensorstore", "tifffile"]))
def test_ndv_follows_the_view(tmp_path: Path, backend: str) -> None:
    """pymmcore-gui's calls: DataWrapper.create, dims, coords, coords_changed
    connected to dims_changed, isel from another thread while frames arrive."""
    ndv_models = pytest.importorskip("ndv.models")
    root = tmp_path / f"run{suffix(backend)}"
    with create_stream(_settings(root, backend)) as stream:
        stream.append(frame_for(0, (H, W)))
        view = ow.open(root, live=True, poll_interval=0.02)
        wrapper = ndv_models.DataWrapper.create(view)
        assert type(wrapper).__name__ == "ArrayLikeWrapper"
        changes: list[int] = []
        view.coords_changed.connect(lambda: changes.append(1))
        view.coords_changed.connect(wrapper.dims_changed)
        # what ndv's viewer listens to, to refresh its sliders
        refreshed: list[int] = []
        wrapper.dims_changed.connect(lambda: refreshed.append(1))
        assert wrapper.dims == _dims(backend)
        axis = {name: i for i, name in enumerate(wrapper.dims)}
        for n in range(1, 16):
            stream.append(frame_for(n, (H, W)))
            sizes = {k: len(v) for k, v in wrapper.coords.items()}
            if sizes["t"]:
                last = dict.fromkeys(range(len(axis) - 2), 0)
                last[axis["t"]] = sizes["t"] - 1
                assert np.asarray(wrapper.isel(last)).shape == (H, W)
            time.sleep(0.01)
    _wait(lambda: view.complete and changes and refreshed)
    sizes = {k: len(v) for k, v in wrapper.coords.items()}
    assert sizes == {
        "p": 2,
        "t": 4,
        "c": 2,
        "y": H,
        "x": W,
        **({"z": 1} if "z" in sizes else {}),
    }
    assert list(wrapper.coords["c"]) == ["DAPI", "FITC"]
    pick = {axis["p"]: 1, axis["t"]: 3, axis["c"]: 1}
    plane = np.asarray(wrapper.isel({i: pick.get(i, 0) for i in range(len(axis) - 2)}))
    np.testing.assert_array_equal(plane, frame_for(15, (H, W)))
    view.close()


def test_a_view_opened_before_the_first_frame(tmp_path: Path) -> None:
    root = tmp_path / "run.ome.zarr"
    with create_stream(_settings(root, "tensorstore")) as stream:
        view = ow.open(root, live=True, poll_interval=0.02)
        assert view.shape == (0, 0, 0, H, W)
        assert view.coords["t"] == range(0)
        assert view[0, 0, 0].shape == (H, W)  # zeros while written
        assert not view[0, 0, 0].any()
        stream.append(frame_for(0, (H, W)))
        _wait(lambda: view.shape == (1, 1, 1, H, W))
    _wait(lambda: view.complete)
    with pytest.raises(IndexError, match="out of bounds"):
        view[1, 0]  # final: nothing beyond the extent
    view.close()
