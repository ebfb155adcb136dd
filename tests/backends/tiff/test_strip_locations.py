"""Strip locations of a TIFF file's pages, kept in arrays by IFD."""

from __future__ import annotations

import tracemalloc

from ome_writers.backends.tiff._strip_locations import StripLocations


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


def test_a_page_costs_bytes_not_objects() -> None:
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
