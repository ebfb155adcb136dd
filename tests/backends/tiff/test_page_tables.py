"""Where pages are: page numbers by cell, strip locations by IFD, in arrays."""

from __future__ import annotations

import tracemalloc

import pytest

from ome_writers.backends.tiff._page_tables import PageNumbers, StripLocations


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


def test_locations_in_any_order_past_the_first_room() -> None:
    strips = StripLocations()
    assert strips.get(0) is None and strips.get(10**6) is None and len(strips) == 0
    strips[5000] = (123, 456)  # past the first room, before the pages below it
    strips[0] = (8, 2048)
    strips[0] = (16, 2048)  # rewritten: counted once
    assert strips.get(0) == (16, 2048)
    assert strips.get(5000) == (123, 456)
    assert strips.get(1) is None and strips.get(4999) is None
    assert len(strips) == 2
    strips.clear()
    assert len(strips) == 0 and strips.get(0) is None and strips.get(5000) is None


def test_a_strip_location_costs_bytes_not_objects() -> None:
    strips = StripLocations()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for ifd in range(100_000):
            strips[ifd] = (ifd * 4096 + 2**40, 4096)  # offsets past 32 bits
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert strips.get(99_999) == (99_999 * 4096 + 2**40, 4096)
    assert grown <= 100_000 * 16 * 2.2  # two int64 arrays, grown by doubling
