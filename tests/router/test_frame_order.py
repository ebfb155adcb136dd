"""Explicit frame orders: settings validation, routing, extents and views."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._router import FrameRouter, c_order_per_position
from ome_writers._stream._coords import ExtentTracker

from .strategies import acquisitions

Case = tuple[AcquisitionSettings, list[tuple[int, ...]], int]


@st.composite
def ordered_acquisitions(draw: st.DrawFn) -> Case:
    """Random settings with a random frame order (full cells, in acquisition order).

    Some orders are jagged (cells left out); an unbounded order may span more
    than one index of the first dimension. Returns the settings, the full order
    (one cycle when unbounded) and a number of frames to append.
    """
    base, _ = draw(acquisitions())
    dims = base.dimensions[:-2]
    if not dims:
        return base, [()], 1
    counts = [d.count or draw(st.integers(1, 2)) for d in dims]
    cells = list(itertools.product(*(range(c) for c in counts)))
    # leave out trailing dims sometimes: they then vary fastest within an entry
    keep = draw(st.integers(1, len(dims)))
    lead = sorted({c[:keep] for c in cells})
    lead = draw(st.permutations(lead))
    if draw(st.booleans()):  # jagged: some cells are never acquired
        lead = lead[: draw(st.integers(1, len(lead)))]
    rest = list(itertools.product(*(range(c) for c in counts[keep:])))
    full = [(*e, *r) for e in lead for r in rest]
    s = base.model_copy(update={"frame_order": None})
    s = AcquisitionSettings.model_validate(
        {**s.model_dump(), "frame_order": [tuple(e) for e in lead]}
    )
    cycles = 1 if base.num_frames is not None else draw(st.integers(1, 3))
    n_frames = draw(st.integers(0, len(full) * cycles))
    return s, full, n_frames


def _cell(full: list[tuple[int, ...]], n: int, unbounded: bool) -> tuple[int, ...]:
    cycle, rem = divmod(n, len(full))
    entry = full[rem]
    if unbounded:
        span = 1 + max(e[0] for e in full)
        return (entry[0] + cycle * span, *entry[1:])
    assert cycle == 0
    return entry


@given(ordered_acquisitions())
@settings(max_examples=200, deadline=None)
def test_routes_follow_the_listed_cells(case: Case) -> None:
    s, full, n_frames = case
    router = FrameRouter(s)
    names = [d.name for d in s.dimensions[:-2]]
    storage = [d.name for d in s.storage_index_dimensions]
    pidx = s.position_dimension_index
    for n in range(n_frames):
        cell = _cell(full, n, s.is_unbounded)
        by_name = dict(zip(names, cell, strict=True))
        pos = cell[pidx] if pidx is not None else 0
        assert router.route(n) == (pos, tuple(by_name[k] for k in storage))
        assert router.acquisition_index(n) == cell
    if s.is_unbounded or not names:
        return
    listed = {router.route(n) for n in range(len(full))}
    counts = [d.count for d in s.dimensions[:-2]]
    every = {
        router._split(cell)
        for cell in itertools.product(*(range(c or 1) for c in counts))
    }
    assert router.jagged == (listed != every)
    for pos, index in every:
        assert router.is_planned(pos, index) == ((pos, index) in listed)


@given(ordered_acquisitions())
@settings(max_examples=200, deadline=None)
def test_extents_are_max_index_plus_one(case: Case) -> None:
    s, full, n_frames = case
    tracker = ExtentTracker(s)
    n_dims = len(s.dimensions) - 2
    if not n_dims:  # a single 2-D frame: no order to list
        return
    reached = [0] * n_dims
    for n in range(n_frames):
        cell = _cell(full, n, s.is_unbounded)
        grew = any(v >= r for v, r in zip(cell, reached, strict=True))
        reached = [max(r, v + 1) for v, r in zip(cell, reached, strict=True)]
        assert tracker.is_high_water_mark(n) == grew
        assert tracker.extents(n + 1)[:n_dims] == tuple(reached)


@given(ordered_acquisitions())
@settings(max_examples=100, deadline=None)
def test_view_puts_each_frame_at_its_cell(case: Case) -> None:
    s, full, n_frames = case
    counts = [d.count for d in s.dimensions[:-2]]
    frames = [np.full((2, 3), n + 1, "uint16") for n in range(n_frames)]
    cells = [_cell(full, n, s.is_unbounded) for n in range(n_frames)]
    shape = [
        c if c is not None else max((cell[0] + 1 for cell in cells), default=0)
        for c in counts
    ]
    expected = np.zeros((*shape, 2, 3), "uint16")
    for cell, frame in zip(cells, frames, strict=True):
        expected[cell] = frame
    with create_stream(s) as stream:
        view = stream.view()
        for frame in frames:
            stream.append(frame)
        live = np.asarray(view)
        assert live.shape == view.shape
        assert np.array_equal(live, expected[tuple(slice(0, k) for k in view.shape)])
    full_view = stream.view(dynamic_shape=False)
    if s.num_frames is not None:
        assert np.array_equal(np.asarray(full_view), expected)


def _settings(**kwargs: Any) -> AcquisitionSettings:
    return AcquisitionSettings(
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="p", type="position", coords=["A", "B"]),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="y", count=2),
            Dimension(name="x", count=3),
        ],
        dtype="uint16",
        **kwargs,
    )


CELLS = list(itertools.product(range(2), range(2), range(2)))


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ([], "one index per non-frame dimension"),
        ([(0, 0, 0, 0)] * 8, "one index per non-frame dimension"),
        ([(0, 0, 0), (0, 1)], "every entry must have 3"),
        ([(0, 2, 0), *CELLS[1:]], "index 2 of dimension 'p' must be in \\[0, 2\\)"),
        ([(0, 0, -1), *CELLS[1:]], "index -1 of dimension 'c'"),
        ([CELLS[1], *CELLS[1:]], "lists the cell \\(0, 0, 1\\) more than once"),
    ],
)
def test_bad_orders_are_named(order: list[tuple[int, ...]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _settings(frame_order=order)


def test_unbounded_cycle_repeats_shifted_by_its_span() -> None:
    dims = [
        Dimension(name="t", count=None),
        Dimension(name="c", count=2),
        Dimension(name="y", count=2),
        Dimension(name="x", count=2),
    ]
    with pytest.raises(ValueError, match="index -1 of dimension 't' must be >= 0"):
        AcquisitionSettings(dimensions=dims, dtype="u1", frame_order=[(-1, 0)])
    s = AcquisitionSettings(dimensions=dims, dtype="u1", frame_order=[(0, 1), (0, 0)])
    router = FrameRouter(s)
    assert [router.route(n) for n in range(5)] == [
        (0, (0, 1)),
        (0, (0, 0)),
        (0, (1, 1)),
        (0, (1, 0)),
        (0, (2, 1)),
    ]
    # a channel every second time point: a cycle of two time points, jagged
    every_other = [(0, 0), (0, 1), (1, 0)]
    s = AcquisitionSettings(dimensions=dims, dtype="u1", frame_order=every_other)
    router = FrameRouter(s)
    assert [router.acquisition_index(n) for n in range(7)] == [
        (0, 0),
        (0, 1),
        (1, 0),
        (2, 0),
        (2, 1),
        (3, 0),
        (4, 0),
    ]
    assert router.jagged
    assert not router.is_planned(0, (5, 1)) and router.is_planned(0, (6, 1))
    tracker = ExtentTracker(s)
    assert [tracker.extents(n)[:2] for n in (1, 2, 3, 4, 6)] == [
        (1, 1),
        (1, 2),
        (2, 2),
        (3, 2),
        (4, 2),
    ]
    assert [tracker.is_high_water_mark(n) for n in range(7)] == [
        True,
        True,
        True,
        True,
        False,
        True,
        True,
    ]


def test_trailing_dimension_left_out_varies_fastest() -> None:
    """An axis inserted before Y, X (a camera) keeps a frame order working."""
    s = AcquisitionSettings(
        dimensions=[
            Dimension(name="p", type="position", count=2),
            Dimension(name="t", count=2),
            Dimension(name="cam", count=2, type="other"),
            Dimension(name="y", count=2),
            Dimension(name="x", count=2),
        ],
        dtype="u1",
        frame_order=[(0, 0), (1, 0), (0, 1), (1, 1)],
    )
    router = FrameRouter(s)
    assert [router.acquisition_index(n) for n in range(8)] == [
        (0, 0, 0),
        (0, 0, 1),
        (1, 0, 0),
        (1, 0, 1),
        (0, 1, 0),
        (0, 1, 1),
        (1, 1, 0),
        (1, 1, 1),
    ]
    assert c_order_per_position(s)


def test_c_order_per_position() -> None:
    # positions interleaved inside the t/c loops: each one still in C order
    interleaved = [(t, p, c) for t in range(2) for c in range(2) for p in range(2)]
    assert c_order_per_position(_settings(frame_order=interleaved))
    assert c_order_per_position(_settings())
    reversed_c = [(t, p, 1 - c) for t in range(2) for p in range(2) for c in range(2)]
    assert not c_order_per_position(_settings(frame_order=reversed_c))


def test_table_size_is_one_entry_per_frame() -> None:
    s = _settings(frame_order=list(reversed(CELLS)))
    router = FrameRouter(s)
    assert router.total == math.prod((2, 2, 2))
    assert [router.route(n) for n in range(8)] == [
        (p, (t, c)) for t, p, c in reversed(CELLS)
    ]
