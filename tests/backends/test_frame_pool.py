"""The TIFF writer's frame pool: buffers made resident ahead of first use."""

from __future__ import annotations

import ctypes
import mmap
import sys

import numpy as np
import pytest

from ome_writers.backends._frame_pool import SPARE, FramePool

SHAPE = (256, 384)  # 192 KiB of uint16: 48 pages per buffer


def _resident_pages(pool: FramePool, buffer: int) -> int:
    """Pages of `buffer` in memory (Linux `mincore`)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    start = pool.buffers[buffer].ctypes.data
    pages = pool.slot_bytes // mmap.PAGESIZE
    vec = ctypes.create_string_buffer(pages)
    assert libc.mincore(start, pages * mmap.PAGESIZE, vec) == 0
    return sum(b & 1 for b in vec.raw)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mincore: Linux")
def test_buffers_become_resident_just_ahead_of_use() -> None:
    pool = FramePool(8, SHAPE, "uint16")
    if pool._populate is None:
        pytest.skip("no madvise in this libc")
    assert all(_resident_pages(pool, b) == 0 for b in range(8))  # nothing yet
    pool.keep_ahead(-1)  # the writer thread, before the first frame
    resident = [_resident_pages(pool, b) for b in range(8)]
    if resident[0] == 0:
        pytest.skip("MADV_POPULATE_WRITE not supported by this kernel")
    pages = pool.slot_bytes // mmap.PAGESIZE
    assert resident == [pages] * SPARE + [0] * (8 - SPARE)
    pool.keep_ahead(3)  # buffer 3 in use: 4 and 5 next
    assert [_resident_pages(pool, b) > 0 for b in range(8)] == [True] * 6 + [False] * 2


def test_making_buffers_resident_keeps_their_contents() -> None:
    """A buffer in use (being filled or written) is never disturbed."""
    pool = FramePool(6, SHAPE, "uint16")
    frames = [np.full(SHAPE, i + 1, "uint16") for i in range(6)]
    for i in range(6):
        slot = pool.free.get()
        pool.buffers[slot] = frames[i]
        pool.keep_ahead(slot)
    for slot in range(6):
        np.testing.assert_array_equal(pool.buffers[slot], frames[slot])


def test_without_the_advice_buffers_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = FramePool(3, SHAPE, "uint16")
    monkeypatch.setattr(pool, "_populate", lambda *a: -1)  # e.g. an older kernel
    pool.keep_ahead(-1)
    assert pool._populate is None  # no second attempt
    pool.buffers[2] = 7
    assert (pool.buffers[2] == 7).all() and (pool.buffers[0] == 0).all()


def test_buffers_are_handed_out_lowest_first_and_reused_last_freed_first() -> None:
    pool = FramePool(4, SHAPE, "uint16")
    assert [pool.free.get() for _ in range(2)] == [0, 1]
    pool.free.put(1)
    pool.free.put(0)
    assert pool.free.get() == 0  # the one freed last
