"""A fixed pool of frame buffers, made resident just ahead of first use.

The acquisition thread copies each frame into a free buffer and a writer
thread writes it out; buffers are reused last-freed first, so a buffer is used
for the first time only when every lower one is in flight, i.e. exactly when
the writer has fallen behind. Touched for the first time then, each page of
it faults while the writer fills the page cache, and the copy into it can
outlast a frame period, just when the acquisition has no time to spare.
Making the whole pool resident at once costs its full size in memory for
every stream; instead a thread of the pool's own (`start`) keeps the next
`spare` buffers (at least `SPARE` and `SPARE_BYTES`) after the highest one
handed out resident (``MADV_POPULATE_WRITE``: the pages are mapped without
being written, so a buffer in use is never disturbed). Where that advice is
unavailable (not Linux, or Linux before 5.14), buffers fault on first use.

The buffers kept resident are counted from the highest one *handed out*
(`take`), not from the one being written: counted from the latter, a writer
far behind keeps buffers resident that are long in use while each new one
faults on the acquisition thread. Nor does the writer thread make them
resident: when the acquisition outruns it, that work comes out of the time
it needs for writing. A resident buffer is filled by a copy that keeps the
interpreter lock (`fill`, `copy_frame`); one that is not, by numpy's, which
lets the writer run while its pages fault.

`copy_frame` is the acquisition thread's frame copy, into a pool buffer or
any other buffer of ours. numpy releases the GIL while it copies a frame and
must take it back after; by then a writer thread has usually taken it, and
the appending thread waits until that thread lets go again, which on busy
cores can take longer than a frame period. A memoryview slice assignment is
one ``memcpy`` like numpy's copy, but Python's own buffer copy never releases
the lock.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import mmap
import queue
import threading
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers._io._durable import _libc_function

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import DTypeLike

#: the pool of a writer thread (OME-TIFF, frame-sized chunk files): at most
#: this many bytes (and frames) queued for it. Only as many buffers as the
#: writer fell behind by are ever resident, so small frames get many buffers
#: to ride out a slow page-cache write without making the acquisition wait.
POOL_BYTES = 128 * 1024**2
POOL_FRAMES = 1024
SPARE = 2  # at least this many buffers kept resident beyond the highest used
#: ... and at least this many bytes of them: small frames arrive faster than
#: a writer thread comes round to make more resident
SPARE_BYTES = 8 * 1024**2
_MADV_POPULATE_WRITE = 23  # Linux 5.14


def copy_frame(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src``, keeping the GIL where both are C-contiguous arrays
    of one dtype and shape (else numpy's copy, which converts)."""
    if (
        isinstance(src, np.ndarray)
        and src.dtype == dst.dtype
        and src.shape == dst.shape
        and src.flags.c_contiguous
        and dst.flags.c_contiguous
        and not dst.dtype.hasobject
    ):
        dst.data.cast("B")[:] = src.data.cast("B")
    else:
        dst[...] = src


def _madvise() -> Any:
    """libc's ``madvise`` (releases the interpreter while it runs), or None."""
    function = _libc_function("madvise")
    if function is not None:
        function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return function


def make_resident(array: np.ndarray) -> bool:
    """Map every page of `array`'s memory without writing it
    (``MADV_POPULATE_WRITE``; the interpreter is released meanwhile), so that
    its first writes do not fault; False where that advice is unavailable."""
    madvise = _madvise()
    if madvise is None or array.nbytes == 0:
        return False
    page = mmap.PAGESIZE
    start = array.ctypes.data // page * page
    # to the last item's end (buffers of a pool lie apart, `slotted`)
    steps = zip(array.shape, array.strides, strict=True)
    span = sum((n - 1) * step for n, step in steps)
    length = array.ctypes.data + span + array.itemsize - start
    return bool(madvise(start, length, _MADV_POPULATE_WRITE) == 0)


@functools.cache
def _huge_page_bytes() -> int:
    """The size of a transparent huge page (Linux), or 0."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


def whole_huge_pages(nbytes: int) -> int:
    """`nbytes` rounded up to whole transparent huge pages (unchanged where
    there are none): a buffer written with direct I/O from huge pages reaches
    the device in fewer, larger segments, which some disks take faster."""
    huge = _huge_page_bytes()
    return -(-nbytes // huge) * huge if huge else nbytes


def slot_bytes(frame_bytes: int) -> int:
    """The memory a pool gives a frame of `frame_bytes`: whole huge pages
    where that adds at most a quarter (large frames of most cameras' sizes,
    written directly from their buffers), else the frame's bytes."""
    whole = whole_huge_pages(frame_bytes)
    return whole if 4 * (whole - frame_bytes) <= frame_bytes else frame_bytes


def slotted(
    count: int, shape: tuple[int, ...], dtype: DTypeLike
) -> tuple[mmap.mmap, np.ndarray]:
    """`count` buffers of `shape` in private memory of their own: (the
    memory, the buffers as one array), each buffer C-contiguous and
    `slot_bytes` after the one before (so page-aligned when its size is
    whole pages)."""
    dtype = np.dtype(dtype)
    slot = slot_bytes(math.prod(shape) * dtype.itemsize)
    memory = anonymous_map(max(1, count * slot), slot)
    inner = [dtype.itemsize]
    for n in reversed(shape[1:]):
        inner.insert(0, inner[0] * n)
    buffers = np.ndarray((count, *shape), dtype, buffer=memory, strides=(slot, *inner))
    return memory, buffers


def anonymous_map(size: int, slot_bytes: int) -> mmap.mmap:
    """Private anonymous memory of `size` bytes, page-aligned so that it can
    be advised.

    Private, not shared: a shared anonymous map is backed by shmem, whose
    pages fault in several times slower. Buffers of whole huge pages
    (`slot_bytes`) ask for transparent huge pages, so that each faults in as
    a few pages rather than hundreds; smaller ones do not, as a huge page
    would make several buffers resident at once. Kept out of child
    processes, so that a fork never turns the buffers copy-on-write under
    the writers.
    """
    if not hasattr(mmap, "MAP_PRIVATE"):  # Windows: shared is all there is
        return mmap.mmap(-1, size)
    anonymous = getattr(mmap, "MAP_ANONYMOUS", getattr(mmap, "MAP_ANON", 0))
    memory = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | anonymous)
    advice = ["MADV_DONTFORK"]
    huge = _huge_page_bytes()
    if huge and slot_bytes % huge == 0:
        advice.append("MADV_HUGEPAGE")
    for name in advice:
        if hasattr(mmap, name):
            with contextlib.suppress(OSError):  # advice only
                memory.madvise(getattr(mmap, name))
    return memory


class FramePool:
    """`count` buffers of `shape` and `dtype`; `free` hands out their indices."""

    def __init__(self, count: int, shape: tuple[int, ...], dtype: DTypeLike) -> None:
        self.frame_bytes = math.prod(shape) * np.dtype(dtype).itemsize
        self.slot_bytes = slot_bytes(self.frame_bytes)  # a buffer's share
        self._map, self.buffers = slotted(count, shape, dtype)
        self.free: queue.LifoQueue[int] = queue.LifoQueue()
        for i in reversed(range(count)):  # buffer 0 is handed out first
            self.free.put(i)
        self.spare = max(SPARE, -(-SPARE_BYTES // max(1, self.slot_bytes)))
        self.highest = -1  # the highest buffer handed out so far
        self.stalls = 0  # times `take` waited for a free buffer
        self._base: int = self.buffers.ctypes.data  # the map's first page
        self._resident = 0  # buffers [0, _resident) made resident
        self._populate = _madvise()
        self._wanted = threading.Event()
        self._populator: threading.Thread | None = None

    @classmethod
    def within(
        cls, max_bytes: int, max_frames: int, shape: tuple[int, ...], dtype: DTypeLike
    ) -> FramePool:
        """As many buffers as fit in `max_bytes`, at most `max_frames`, at
        least two."""
        frame_bytes = max(1, math.prod(shape) * np.dtype(dtype).itemsize)
        count = max_bytes // slot_bytes(frame_bytes)
        return cls(max(2, min(max_frames, count)), shape, dtype)

    def take(self, on_wait: Callable[[], object] | None = None) -> int:
        """A free buffer's index, waiting while every one is in flight (the
        thread that fills buffers); `on_wait()` is called before waiting."""
        try:
            slot = self.free.get_nowait()
        except queue.Empty:
            self.stalls += 1
            if on_wait is not None:
                on_wait()
            slot = self.free.get()
        if slot > self.highest:
            self.highest = slot
            if slot + self.spare >= self._resident and self._populator is not None:
                self._wanted.set()
        return slot

    def release(self, slot: int) -> None:
        """Hand buffer `slot` back once its frame is written (or failed)."""
        self.free.put(slot)

    def fill(self, slot: int, frame: np.ndarray) -> None:
        """Copy `frame` into buffer `slot` (from `take`).

        A resident buffer is filled by a copy that keeps the interpreter lock
        (`copy_frame`): the append does not wait to take it back from a writer
        thread. One not yet resident faults page by page, and numpy's copy
        lets the writer threads run meanwhile.
        """
        if slot < self._resident:
            copy_frame(self.buffers[slot], frame)
        else:
            self.buffers[slot] = frame

    def start(self) -> None:
        """Start making buffers resident ahead of use, on a thread of the
        pool's own (before the first `take`)."""
        if self._populator is None and self._populate is not None:
            self._populator = threading.Thread(
                target=_populate_ahead,
                args=(weakref.ref(self), self._wanted),
                name="ome-writers-frame-pool",
                daemon=True,
            )
            weakref.finalize(self, self._wanted.set)  # the thread ends with us
            self._populator.start()
            self._wanted.set()  # the first `spare` buffers

    def close(self) -> None:
        """Stop the thread `start` started."""
        thread, self._populator = self._populator, None
        if thread is not None:
            self._wanted.set()
            thread.join()

    def keep_ahead(self) -> None:
        """Make the `spare` buffers after the highest one handed out resident."""
        want = min(len(self.buffers), self.highest + 1 + self.spare)
        if self._resident >= want or self._populate is None:
            return
        page = mmap.PAGESIZE
        start = self._resident * self.slot_bytes // page * page
        end = min(len(self._map), -(-want * self.slot_bytes // page) * page)
        if self._populate(self._base + start, end - start, _MADV_POPULATE_WRITE):
            self._populate = None  # not supported here: buffers fault on use
            return
        self._resident = want


def _populate_ahead(pool_ref: weakref.ref[FramePool], wanted: threading.Event) -> None:
    """The pool's thread: `keep_ahead` whenever `take` went past the buffers
    made resident, until the pool is closed or gone."""
    while True:
        wanted.wait()
        wanted.clear()
        pool = pool_ref()
        if pool is None or pool._populator is None:  # noqa: SLF001
            return
        pool.keep_ahead()
        del pool
