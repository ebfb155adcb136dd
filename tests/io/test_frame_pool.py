"""The TIFF writer's frame pool: buffers made resident ahead of first use."""

from __future__ import annotations

import ctypes
import gc
import mmap
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ome_writers._io import _frame_pool
from ome_writers._io._frame_pool import SPARE, FramePool
from tests.memory_maps import advised_huge_pages, mapping

if TYPE_CHECKING:
    from collections.abc import Callable

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


def _pool_with_advice(count: int) -> FramePool:
    pool = FramePool(count, SHAPE, "uint16")
    if not sys.platform.startswith("linux"):
        pytest.skip("mincore: Linux")
    if pool._populate is None:
        pytest.skip("no madvise in this libc")
    return pool


def _resident(pool: FramePool) -> list[bool]:
    return [_resident_pages(pool, b) > 0 for b in range(len(pool.buffers))]


def test_buffers_become_resident_just_ahead_of_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_frame_pool, "SPARE_BYTES", 0)  # `SPARE` buffers ahead
    pool = _pool_with_advice(8)
    assert pool.spare == SPARE == 2
    assert not any(_resident(pool))  # nothing yet
    pool.keep_ahead()  # as the pool's thread does before the first take
    resident = [_resident_pages(pool, b) for b in range(8)]
    if resident[0] == 0:
        pytest.skip("MADV_POPULATE_WRITE not supported by this kernel")
    pages = pool.slot_bytes // mmap.PAGESIZE
    assert resident == [pages] * SPARE + [0] * (8 - SPARE)
    assert [pool.take() for _ in range(4)] == [0, 1, 2, 3]  # 3 handed out
    pool.keep_ahead()  # 4 and 5 next
    assert _resident(pool) == [True] * 6 + [False] * 2


def test_small_buffers_are_kept_ahead_by_bytes() -> None:
    pool = FramePool(64, SHAPE, "uint16")  # 192 KiB each
    assert pool.spare == -(-_frame_pool.SPARE_BYTES // pool.slot_bytes) == 43
    large = FramePool(3, (2048, 2048), "uint16")  # 8 MiB each
    assert large.spare == SPARE


def test_take_counts_the_waits_for_a_free_buffer() -> None:
    pool = FramePool(2, SHAPE, "uint16")
    assert (pool.take(), pool.take(), pool.stalls) == (0, 1, 0)
    threading.Timer(0.05, pool.release, args=(1,)).start()
    assert pool.take() == 1  # waited for the writer to free one
    assert pool.stalls == 1


def test_making_buffers_resident_keeps_their_contents() -> None:
    """A buffer in use (being filled or written) is never disturbed."""
    pool = FramePool(6, SHAPE, "uint16")
    frames = [np.full(SHAPE, i + 1, "uint16") for i in range(6)]
    for i in range(6):
        slot = pool.take()
        pool.buffers[slot] = frames[i]
        pool.keep_ahead()
    for slot in range(6):
        np.testing.assert_array_equal(pool.buffers[slot], frames[slot])


def test_without_the_advice_buffers_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = FramePool(3, SHAPE, "uint16")
    monkeypatch.setattr(pool, "_populate", lambda *a: -1)  # e.g. an older kernel
    pool.keep_ahead()
    assert pool._populate is None  # no second attempt
    pool.buffers[2] = 7
    assert (pool.buffers[2] == 7).all() and (pool.buffers[0] == 0).all()


def test_buffers_are_handed_out_lowest_first_and_reused_last_freed_first() -> None:
    pool = FramePool(4, SHAPE, "uint16")
    assert [pool.free.get() for _ in range(2)] == [0, 1]
    pool.release(1)
    pool.release(0)
    assert pool.free.get() == 0  # the one freed last


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_the_pools_thread_keeps_buffers_resident_ahead_of_take(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_frame_pool, "SPARE_BYTES", 0)
    pool = _pool_with_advice(12)
    pool.start()
    try:
        assert _wait_for(lambda: pool._resident == SPARE)  # before the first take
        if not _resident(pool)[0]:
            pytest.skip("MADV_POPULATE_WRITE not supported by this kernel")
        # counted from the highest buffer handed out, not from the one a
        # writer that fell behind is writing (none has emptied any here)
        for _ in range(5):
            pool.take()
        assert _wait_for(lambda: pool._resident == 5 + SPARE)
        assert _resident(pool) == [True] * 7 + [False] * 5
    finally:
        pool.close()
    assert pool._populator is None


def test_fill_copies_into_resident_and_other_buffers() -> None:
    pool = FramePool(4, SHAPE, "uint16")
    pool._resident = 1  # as if buffer 0 were made resident
    frame = np.arange(SHAPE[0] * SHAPE[1], dtype="uint16").reshape(SHAPE)
    for slot in (pool.take(), pool.take()):  # 0: resident, 1: not
        pool.fill(slot, frame + slot)
        np.testing.assert_array_equal(pool.buffers[slot], frame + slot)
    pool.fill(pool.take(), frame.astype("float32"))  # converted
    np.testing.assert_array_equal(pool.buffers[2], frame)


def test_the_pools_thread_ends_with_the_pool() -> None:
    pool = FramePool(4, SHAPE, "uint16")
    pool.start()
    thread = pool._populator
    if thread is None:
        pytest.skip("no madvise in this libc")
    del pool
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()


@pytest.mark.parametrize("shape", [SHAPE, (1024, 1024)])
def test_buffers_are_private_memory(shape: tuple[int, int]) -> None:
    """Not shared (shmem) memory, whose pages fault in several times slower;
    buffers of whole huge pages may come in huge pages, smaller ones not
    (one huge page would make several of them resident)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("/proc/self/smaps: Linux")
    pool = FramePool(4, shape, "uint16")
    permissions, fields = mapping(pool.buffers.ctypes.data)
    assert permissions.endswith("p"), permissions  # private, not shared
    if "THPeligible" not in fields:
        pytest.skip("no transparent huge pages in this kernel")
    huge = _frame_pool._huge_page_bytes()
    whole = bool(huge) and pool.slot_bytes % huge == 0
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    if "[never]" in thp:
        pytest.skip("transparent huge pages are off")
    assert fields["THPeligible"] == ("1" if whole or "[always]" in thp else "0")


def test_make_resident_maps_every_page_and_keeps_the_contents() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("mincore: Linux")
    memory = _frame_pool.anonymous_map(64 * mmap.PAGESIZE, mmap.PAGESIZE)
    array = np.frombuffer(memory, np.uint8)
    array[: mmap.PAGESIZE] = 7  # one page in use already
    if not _frame_pool.make_resident(array):
        pytest.skip("MADV_POPULATE_WRITE not supported here")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    vec = ctypes.create_string_buffer(64)
    assert libc.mincore(array.ctypes.data, array.nbytes, vec) == 0
    assert all(b & 1 for b in vec.raw)
    assert (array[: mmap.PAGESIZE] == 7).all() and not array[mmap.PAGESIZE :].any()


def test_whole_huge_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_frame_pool, "_huge_page_bytes", lambda: 2 << 20)
    sizes = [1, 2 << 20, (2 << 20) + 1, 5 << 20]
    assert [_frame_pool.whole_huge_pages(n) for n in sizes] == [
        2 << 20,
        2 << 20,
        4 << 20,
        6 << 20,
    ]
    monkeypatch.setattr(_frame_pool, "_huge_page_bytes", lambda: 0)  # none
    assert [_frame_pool.whole_huge_pages(n) for n in sizes] == sizes


def test_memory_of_whole_huge_pages_is_advised_so() -> None:
    size = _frame_pool.whole_huge_pages(3 << 20)
    memory = _frame_pool.anonymous_map(size, size)
    address = np.frombuffer(memory, np.uint8).ctypes.data
    assert advised_huge_pages(address)


@pytest.mark.parametrize(
    ("shape", "padded"),
    [((2304, 2304), True), ((2160, 2560), True), ((1536, 1536), False)],
)
def test_large_frames_get_whole_huge_pages(
    shape: tuple[int, int], padded: bool
) -> None:
    """A large frame's buffer is whole huge pages where that adds at most a
    quarter (most cameras' frames are not a multiple of 2 MiB), each buffer
    contiguous and aligned; the pool's memory bound counts the padding."""
    huge = _frame_pool._huge_page_bytes()
    if not huge:
        pytest.skip("no transparent huge pages here")
    frame_bytes = shape[0] * shape[1] * 2
    pool = FramePool.within(64 * 1024**2, 1024, shape, "uint16")
    assert pool.frame_bytes == frame_bytes
    assert (pool.slot_bytes % huge == 0) == padded
    assert pool.slot_bytes == (
        -(-frame_bytes // huge) * huge if padded else frame_bytes
    )
    assert len(pool.buffers) == 64 * 1024**2 // pool.slot_bytes
    frames = [np.full(shape, i, np.uint16) for i in range(len(pool.buffers))]
    for frame in frames:
        pool.fill(pool.take(), frame)
    for slot, buffer in enumerate(pool.buffers):
        assert buffer.flags.c_contiguous and buffer.ctypes.data % 4096 == 0
        assert buffer.ctypes.data - pool.buffers.ctypes.data == slot * pool.slot_bytes
        np.testing.assert_array_equal(buffer, frames[slot])
    assert advised_huge_pages(pool.buffers.ctypes.data) == padded
