"""PendingWrites: order, bounds and the error that is reported."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import pytest

from ome_writers.backends.zarr._writes_in_flight import PendingWrites
from tests.memory_maps import advised_huge_pages


def _done(result: object = None, error: BaseException | None = None) -> Future[object]:
    future: Future[object] = Future()
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
    return future


def test_first_failure_is_reported_from_every_later_call() -> None:
    pending = PendingWrites(max_items=8)
    first, second = OSError(28, "disk full"), RuntimeError("later failure")
    pending.add(_done(), 0)
    pending.add(_done(error=first), 0)
    pending.add(_done(error=second), 0)
    with pytest.raises(OSError, match="disk full") as raised:
        pending.drain()
    assert raised.value is first
    # the later failure does not replace it
    with pytest.raises(OSError, match="disk full") as again:
        pending.drain()
    assert again.value is first
    with pytest.raises(OSError, match="disk full"):
        pending.check()


def test_explained_error_keeps_the_original_as_cause() -> None:
    pending = PendingWrites(explain=lambda e: OSError(28, f"explained: {e}"))
    pending.add(_done(error=ValueError("os_error_code='28'")), 0)
    with pytest.raises(OSError, match="explained") as raised:
        pending.drain()
    assert isinstance(raised.value.__cause__, ValueError)


def test_bound_settles_oldest_and_recycles_its_buffer() -> None:
    pending = PendingWrites(max_items=2)
    frame = np.arange(12, dtype="uint16").reshape(3, 4)
    buffers = [pending.copy(frame) for _ in range(3)]
    for buffer in buffers:
        pending.add(_done(), buffer.nbytes, buffer)
    assert len(pending) == 2  # the oldest was settled when the bound was passed
    assert pending.pooled == 1
    reused = pending.copy(frame + 1)
    assert reused is buffers[0]
    np.testing.assert_array_equal(reused, frame + 1)


def test_blocks_of_shapes_never_asked_for_are_not_pooled() -> None:
    """A partly filled chunk's block, trimmed to its frames, is written once:
    recycled, every such shape would stay pooled for good."""
    pending = PendingWrites(max_items=1)
    assert pending.reuse((4, 3, 4)) is None  # the chunk's shape, asked for
    for frames in (1, 2, 3, 4):
        block = np.zeros((frames, 3, 4), "uint16")
        pending.add(_done(), block.nbytes, block)
    pending.drain()
    assert pending.pooled == 1
    assert pending.reuse((4, 3, 4)) is not None
    assert pending.reuse((3, 3, 4)) is None


def test_resident_blocks_are_committed_off_the_callers_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`reserve(resident=True)` returns before its memory is committed (the
    append that asks for the first shard's block does not wait for all of
    them), and the buffers are usable meanwhile."""
    import threading

    from ome_writers.backends.zarr import _writes_in_flight

    entered, release = threading.Event(), threading.Event()
    committing: list[str] = []

    def slow_commit(array: np.ndarray) -> bool:
        committing.append(threading.current_thread().name)
        entered.set()
        release.wait(30)
        return True

    monkeypatch.setattr(_writes_in_flight, "make_resident", slow_commit)
    pending = PendingWrites()
    pending.reserve((4, 8), np.dtype("uint16"), 3, resident=True)
    buffer = pending.reuse((4, 8))  # while the commit is still under way
    assert buffer is not None
    buffer[:] = 5
    assert entered.wait(30)
    assert committing == ["ome-writers-commit"]  # not the caller's thread
    release.set()


def test_a_waiter_raises_the_first_failure_it_waited_for() -> None:
    # a visit waits outside the stream's lock: a failed write must stop it
    # before it declares the frames landed
    pending = PendingWrites(explain=lambda e: OSError(28, f"explained: {e}"))
    failed: Future[object] = Future()
    pending.add(_done(), 0)
    pending.add(failed, 0)
    pending.add(_done(error=RuntimeError("later")), 0)
    wait = pending.waiter()
    failed.set_exception(OSError(28, "disk full"))
    with pytest.raises(OSError, match=r"explained: .*disk full") as raised:
        wait()
    assert isinstance(raised.value.__cause__, OSError)
    with pytest.raises(OSError, match="disk full"):  # still reported
        pending.drain()
    pending.add(_done(), 0)
    pending.waiter()()  # writes issued later, all landed: nothing raised


def test_reserved_blocks_of_large_shards_are_whole_huge_pages() -> None:
    """Blocks written whole with direct I/O (a shard of frames) get whole
    huge pages where that adds at most a quarter, each block contiguous and
    aligned, and committing them covers every block."""
    import ctypes
    import itertools
    import mmap
    import sys

    from ome_writers._io import _frame_pool

    huge = _frame_pool._huge_page_bytes()
    if not huge or not sys.platform.startswith("linux"):
        pytest.skip("no transparent huge pages here")
    shape = (8, 700, 700)  # 7.5 MiB of uint16: 8 MiB a block
    pending = PendingWrites()
    pending.reserve(shape, np.dtype("uint16"), 3)
    blocks = [pending.reuse(shape) for _ in range(3)]
    assert all(b is not None and b.flags.c_contiguous for b in blocks)
    addresses = sorted(b.ctypes.data for b in blocks if b is not None)
    assert all(a % mmap.PAGESIZE == 0 for a in addresses)
    assert {b - a for a, b in itertools.pairwise(addresses)} == {8 * 1024**2}
    assert advised_huge_pages(addresses[0])
    # committed from the first block's start to the last one's end
    memory, array = _frame_pool.slotted(3, shape, "uint16")
    if not _frame_pool.make_resident(array):
        pytest.skip("MADV_POPULATE_WRITE not supported here")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    last = array[-1]
    span = last.ctypes.data + last.nbytes - array.ctypes.data
    pages = -(-span // mmap.PAGESIZE)
    vec = ctypes.create_string_buffer(pages)
    assert libc.mincore(array.ctypes.data, span, vec) == 0
    assert all(b & 1 for b in vec.raw)
    del array
    memory.close()
