"""StreamView indexing, shape, coords and signals, in declared order."""

from __future__ import annotations

import time

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from tests.conftest import frame_for


def _settings(**kwargs: object) -> AcquisitionSettings:
    return AcquisitionSettings(
        dimensions=[
            Dimension(name="t", count=3, type="time"),
            Dimension(name="p", type="position", coords=["A", "B"]),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="y", count=4),
            Dimension(name="x", count=5),
        ],
        dtype="uint16",
        format="scratch",
        **kwargs,
    )


def _wait_for(predicate: object, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.002)


def test_dims_shape_coords_grow() -> None:
    stream = create_stream(_settings())
    view = stream.view()
    assert view.dims == ("t", "p", "c", "y", "x")
    assert view.shape == (0, 0, 0, 4, 5)
    assert len(view) == 0
    assert view.ndim == 5
    assert view.dtype == np.dtype("uint16")
    assert view.coords["p"] == []
    assert list(view.coords["y"]) == [0, 1, 2, 3]
    calls: list[tuple[int, ...]] = []
    assert view.coords_changed.connect(lambda: calls.append(view.shape))
    stream.append(frame_for(0, (4, 5)))  # t0 A DAPI
    stream.append(frame_for(1, (4, 5)))  # t0 A FITC
    stream.append(frame_for(2, (4, 5)))  # t0 B DAPI
    _wait_for(lambda: calls and calls[-1] == (1, 2, 2, 4, 5))
    assert view.coords == {
        "t": range(1),
        "p": ["A", "B"],
        "c": ["DAPI", "FITC"],
        "y": range(4),
        "x": range(5),
    }
    full = stream.view(dynamic_shape=False)
    assert full.shape == (3, 2, 2, 4, 5)
    assert list(full.coords["t"]) == [0, 1, 2]
    stream.close()
    assert "StreamView(dims=('t', 'p', 'c', 'y', 'x')" in repr(view)


def test_indexing() -> None:
    with create_stream(_settings()) as stream:
        for i in range(12):
            stream.append(frame_for(i, (4, 5)))
        view = stream.view()
        # frame n -> (t, p, c) in C order; the view indexes the same way
        np.testing.assert_array_equal(view[0, 1, 1], frame_for(3, (4, 5)))
        np.testing.assert_array_equal(view[-1, -1, -1], frame_for(11, (4, 5)))
        np.testing.assert_array_equal(view[np.int64(0), 1, 1], frame_for(3, (4, 5)))
        assert view[...].shape == (3, 2, 2, 4, 5)
        assert view[0, ...].shape == (2, 2, 4, 5)
        assert view[..., 0].shape == (3, 2, 2, 4)
        assert view[:, 1].shape == (3, 2, 4, 5)
        np.testing.assert_array_equal(
            view[:, 1, 0], np.stack([frame_for(n, (4, 5)) for n in (2, 6, 10)])
        )
        assert view[1:, ::2, 0, 1:3].shape == (2, 1, 2, 5)
        np.testing.assert_array_equal(view[::-1][0], view[2])
        assert view[5:].shape == (0, 2, 2, 4, 5)
        assert np.asarray(view, dtype="float32").dtype == np.float32
        with pytest.raises(ValueError, match="Zero-copy array conversion"):
            view.__array__(copy=False)
        with pytest.raises(IndexError, match="too many indices"):
            view[0, 0, 0, 0, 0, 0]
        with pytest.raises(IndexError, match="single ellipsis"):
            view[..., 0, ...]
        with pytest.raises(IndexError, match="out of bounds for dimension 'p'"):
            view[0, 2]
        with pytest.raises(IndexError, match="out of bounds"):
            view[-4]
        for bad in (None, [0, 1], np.array([0]), 1.5, True):
            with pytest.raises(TypeError, match="Invalid index type"):
                view[bad]


def test_dynamic_live_extent_and_strict() -> None:
    stream = create_stream(_settings())
    view = stream.view()
    strict = stream.view(strict=True)
    for i in range(2):
        stream.append(frame_for(i, (4, 5)))
    # live: t=1, p=1, c=2; slices and negative indices resolve against it
    assert view.shape == (1, 1, 2, 4, 5)
    assert np.asarray(view).shape == view.shape
    np.testing.assert_array_equal(view[-1, -1, -1], frame_for(1, (4, 5)))
    # non-strict: beyond the live extent but inside the full extent reads zeros
    assert not view[2, 1, 0].any()
    with pytest.raises(
        IndexError, match="out of bounds for live dimension 't' with size 1"
    ):
        strict[1, 0]
    stream.close()


def test_view_before_first_frame_and_after_close() -> None:
    stream = create_stream(_settings())
    view = stream.view()
    assert view[:].shape == (0, 0, 0, 4, 5)
    stream.close()
    late = stream.view()
    assert late.shape == (0, 0, 0, 4, 5)


def test_signal_disconnect() -> None:
    stream = create_stream(_settings())
    view = stream.view()
    calls: list[int] = []

    def cb() -> None:
        calls.append(1)

    view.coords_changed.connect(cb)
    view.coords_changed.disconnect(cb)
    stream.append(frame_for(0, (4, 5)))
    stream.close()
    assert calls == []


def test_unbounded_positions_read_after_close() -> None:
    """Unbounded + several positions: views keep working (defect §10.13c)."""
    s = AcquisitionSettings(
        dimensions=[
            Dimension(name="t", count=None),
            Dimension(name="p", type="position", count=2),
            Dimension(name="y", count=2),
            Dimension(name="x", count=3),
        ],
        dtype="uint8",
    )
    with create_stream(s) as stream:
        for i in range(5):
            stream.append(np.full((2, 3), i + 1, "uint8"))
        view = stream.view()
        assert view.shape == (3, 2, 2, 3)
        assert view[2, 1].max() == 0  # p1 at t2 not written yet
    assert stream.view().shape == (3, 2, 2, 3)
    assert stream.view()[2, 0].max() == 5
    assert stream.view(dynamic_shape=False).shape == (3, 2, 2, 3)


def test_reordered_storage_reads_return_a_transposed_view() -> None:
    """Storage order != declared order: the read is transposed, not copied."""
    dims = [
        Dimension(name="t", count=2),
        Dimension(name="c", count=3),
        Dimension(name="y", count=4),
        Dimension(name="x", count=5),
    ]
    stored_ct = AcquisitionSettings(
        dimensions=dims,
        dtype="uint16",
        format="scratch",
        storage_order=["c", "t", "y", "x"],
    )
    same = AcquisitionSettings(dimensions=dims, dtype="uint16", format="scratch")
    for settings, reordered in ((stored_ct, True), (same, False)):
        with create_stream(settings) as stream:
            for i in range(6):
                stream.append(frame_for(i, (4, 5)))
            data = stream.view()[:, :]
        assert data.shape == (2, 3, 4, 5)
        np.testing.assert_array_equal(data[1, 0], frame_for(3, (4, 5)))
        # a transposed view of the (c, t) block read in storage order
        assert data.flags.c_contiguous is not reordered
        if reordered:
            assert data.base is not None and data.base.shape == (3, 2, 4, 5)
