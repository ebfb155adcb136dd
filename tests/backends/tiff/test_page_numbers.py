"""Page numbers of an image's cells, kept in an array over the index grid."""

from __future__ import annotations

import tracemalloc

import pytest

from ome_writers.backends.tiff._page_numbers import PageNumbers


def test_unbounded_outer_dimension_grows_as_frames_reach_it() -> None:
    pages = PageNumbers([None, 2, 3])
    assert len(pages) == 0 and pages.outer_extent() == 1
    assert pages.get((0, 0, 0)) is None and (0, 0, 0) not in pages
    pages[(0, 1, 2)] = 5
    pages[(1000, 0, 1)] = 6  # far past the first rows
    pages[(0, 1, 2)] = 7  # rewritten: counted once
    assert pages.get((0, 1, 2)) == 7 and (0, 1, 2) in pages
    assert pages.get((1000, 0, 1)) == 6
    assert pages.get((999, 0, 1)) is None and pages.get((5000, 0, 0)) is None
    assert len(pages) == 2 and pages.outer_extent() == 1001


def test_bounded_grid_and_what_lies_outside_it() -> None:
    pages = PageNumbers([100, 4])
    for t in range(100):
        pages[(t, t % 4)] = t
    assert len(pages) == 100 and pages.outer_extent() == 100
    assert [pages.get((t, t % 4)) for t in range(100)] == list(range(100))
    assert pages.get((t, (t + 1) % 4)) is None
    for outside in [(100, 0), (0, 4), (-1, 0), (0,), (0, 0, 0)]:
        assert pages.get(outside) is None and outside not in pages
    assert "not an index" not in pages
    with pytest.raises(IndexError):
        pages[(0, 4)] = 1  # not a cell of the image


def test_an_image_of_one_plane() -> None:
    pages = PageNumbers([])
    assert pages.get(()) is None and pages.outer_extent() == 1
    pages[()] = 0
    assert pages.get(()) == 0 and () in pages and len(pages) == 1


def test_a_page_costs_bytes_not_objects() -> None:
    pages = PageNumbers([None, 2])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for t in range(50_000):
            for c in range(2):
                pages[(t, c)] = 2 * t + c
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert pages.get((49_999, 1)) == 99_999
    assert grown <= 100_000 * 4 * 2.2  # one int32 per cell, grown by doubling
