"""Frame router: a bijection from frame numbers onto storage indices."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ome_writers import AcquisitionSettings, Dimension
from ome_writers._router import FrameRouter

from .strategies import acquisitions


def _naive_routes(s: AcquisitionSettings, n_frames: int) -> list[tuple[int, tuple]]:
    """Routes computed the slow way: numpy unravel + explicit name lookup."""
    dims = s.dimensions[:-2]
    counts = [d.count for d in dims]
    if counts and counts[0] is None:
        inner = math.prod(c for c in counts[1:] if c)
        counts[0] = max(1, -(-n_frames // inner))
    storage = [d.name for d in s.storage_index_dimensions]
    routes = []
    for n in range(n_frames):
        idx = np.unravel_index(n, counts) if counts else ()
        by_name = {d.name: int(i) for d, i in zip(dims, idx, strict=True)}
        pidx = s.position_dimension_index
        pos = by_name[dims[pidx].name] if pidx is not None else 0
        routes.append((pos, tuple(by_name[name] for name in storage)))
    return routes


@given(acquisitions())
@settings(max_examples=200, deadline=None)
def test_router_matches_naive(case: tuple[AcquisitionSettings, int]) -> None:
    s, n_frames = case
    router = FrameRouter(s)
    assert [router.route(n) for n in range(n_frames)] == _naive_routes(s, n_frames)


@given(acquisitions())
@settings(max_examples=200, deadline=None)
def test_router_is_bijection(case: tuple[AcquisitionSettings, int]) -> None:
    s, _ = case
    router = FrameRouter(s)
    if router.total is None:
        return
    routes = list(router)
    assert len(routes) == len(set(routes)) == router.total
    storage_counts = [d.count for d in s.storage_index_dimensions]
    expected = {
        (p, idx)
        for p in range(len(s.positions))
        for idx in itertools.product(*(range(c or 0) for c in storage_counts))
    }
    assert set(routes) == expected


@given(acquisitions(), st.integers(0, 500))
@settings(max_examples=100, deadline=None)
def test_table_equals_arithmetic(case: tuple[AcquisitionSettings, int], n: int) -> None:
    s, _ = case
    router = FrameRouter(s)
    arithmetic = FrameRouter(s)
    arithmetic._table = None  # force the per-dimension divmod path
    arithmetic._inner = None
    if router.total is not None:
        n = n % router.total
    assert router.route(n) == arithmetic.route(n)


def test_two_d_has_one_frame() -> None:
    s = AcquisitionSettings(
        dimensions=[Dimension(name="y", count=2), Dimension(name="x", count=2)],
        dtype="u1",
    )
    assert list(FrameRouter(s)) == [(0, ())]


def test_spec_example() -> None:
    s = AcquisitionSettings(
        dimensions=[
            Dimension(name="t", count=2),
            Dimension(name="p", type="position", coords=["A", "B"]),
            Dimension(name="c", count=2),
            Dimension(name="y", count=2),
            Dimension(name="x", count=2),
        ],
        dtype="u1",
    )
    assert list(FrameRouter(s))[:5] == [
        (0, (0, 0)),
        (0, (0, 1)),
        (1, (0, 0)),
        (1, (0, 1)),
        (0, (1, 0)),
    ]
