"""Positions of different shapes: routing and views against a naive oracle."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ome_writers import AcquisitionSettings, Dimension, Position, create_stream
from ome_writers._router import FrameRouter

NAMES = ("t", "c", "z")


@st.composite
def ragged(draw: st.DrawFn) -> tuple[AcquisitionSettings, list[list[str]]]:
    """Acquisition dims over t/c/z with p anywhere; each position its own subset."""
    names = list(draw(st.permutations(NAMES))[: draw(st.integers(1, 3))])
    counts = {n: draw(st.integers(1, 3)) for n in names}
    n_pos = draw(st.integers(1, 3))
    positions, own_names = [], []
    for k in range(n_pos):
        keep = [n for n in names if draw(st.booleans())]
        own = [Dimension(name=n, count=draw(st.integers(1, counts[n]))) for n in keep]
        own_names.append(keep)
        positions.append(Position(name=f"p{k}", dimensions=own))
    dims = [Dimension(name=n, count=counts[n]) for n in names]
    dims.insert(
        draw(st.integers(0, len(dims))),
        Dimension(name="p", type="position", coords=positions),
    )
    dims += [Dimension(name="y", count=2), Dimension(name="x", count=3)]
    s = AcquisitionSettings(dimensions=dims, dtype="uint16", format="scratch")
    return s, own_names


def _naive_cells(s: AcquisitionSettings) -> list[tuple[int, ...]]:
    """C order over the declared dims, keeping the cells each position has."""
    dims = s.dimensions[:-2]
    cells = []
    for cell in itertools.product(*(range(d.count or 1) for d in dims)):
        by = dict(zip((d.name for d in dims), cell, strict=True))
        own = {d.name: d.count for d in s.positions[by["p"]].dimensions or ()}
        if all(n == "p" or v < own.get(n, 1) for n, v in by.items()):
            cells.append(cell)
    return cells


@given(ragged())
@settings(max_examples=150, deadline=None)
def test_each_frame_at_its_positions_cell(
    case: tuple[AcquisitionSettings, list[list[str]]],
) -> None:
    s, own_names = case
    cells = _naive_cells(s)
    assert s.num_frames == len(cells)
    names = [d.name for d in s.dimensions[:-2]]
    router = FrameRouter(s)
    expected: list[np.ndarray] = []
    for p in range(len(own_names)):
        counts = [d.count for d in s.positions[p].dimensions or ()]
        expected.append(np.zeros((*counts, 2, 3), "uint16"))
    with create_stream(s) as stream:
        for n, cell in enumerate(cells):
            by = dict(zip(names, cell, strict=True))
            p = by["p"]
            index = tuple(by[k] for k in own_names[p])
            assert router.route(n) == (p, index)
            frame = np.full((2, 3), n + 1, "uint16")
            expected[p][index] = frame
            stream.append(frame)
        flat = np.asarray(stream.view())
    assert flat.shape == (len(cells), 2, 3)
    assert [int(f[0, 0]) for f in flat] == list(range(1, len(cells) + 1))
    for p in range(len(own_names)):
        view = stream.view(position=p)
        assert view.dims == (*own_names[p], "y", "x")
        np.testing.assert_array_equal(np.asarray(view), expected[p])


def test_unbounded_with_own_dimensions_is_refused() -> None:
    with pytest.raises(ValueError, match="need bounded dimensions"):
        AcquisitionSettings(
            dimensions=[
                Dimension(name="t", count=None),
                Dimension(
                    name="p",
                    type="position",
                    coords=[
                        Position(name="a", dimensions=[Dimension(name="t", count=2)])
                    ],
                ),
                Dimension(name="y", count=2),
                Dimension(name="x", count=2),
            ],
            dtype="uint8",
        )
