"""A fixed pool of frame buffers, made resident just ahead of first use.

The acquisition thread copies each frame into a free buffer and a writer
thread writes it out; buffers are reused last-freed first, so a buffer is used
for the first time only when every lower one is in flight, i.e. exactly when
the writer has fallen behind. Touched for the first time then, each 4 KiB page
of it faults while the writer fills the page cache, and the copy of one 2048²
frame took 18-61 ms instead of 1 ms (paced 2048² OME-TIFF at 30 fps: p99
20-28 ms, against 1.1-3.1 ms with the pool made resident beforehand). Making
the whole pool resident at once costs its full size in memory for every
stream; instead the writer thread keeps the next `spare` buffers (at least
`SPARE` and `SPARE_BYTES`) after the highest one handed out resident
(``MADV_POPULATE_WRITE``: the pages are mapped
without being written, so a buffer in use is never disturbed). Where that
advice is unavailable (not Linux, or Linux before 5.14), buffers fault on
first use as before.

They are counted from the highest buffer *handed out* (`take`), not from
the one being written: counted from the latter, a writer that had fallen 30
frames behind kept buffers resident that were long in use, and each new one
faulted on the acquisition thread (paced 512² chunk files: copies of
0.5-5 ms instead of 0.03 ms, on buffers beyond the resident ones).
"""

from __future__ import annotations

import ctypes
import math
import mmap
import queue
from typing import TYPE_CHECKING, Any

import numpy as np

from ._durable import _libc_function

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

SPARE = 2  # at least this many buffers kept resident beyond the highest used
#: ... and at least this many bytes of them: small frames arrive faster than
#: a writer thread comes round to make more resident
SPARE_BYTES = 8 * 1024**2
_MADV_POPULATE_WRITE = 23  # Linux 5.14


def _madvise() -> Any:
    """libc's ``madvise`` (releases the interpreter while it runs), or None."""
    function = _libc_function("madvise")
    if function is not None:
        function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return function


class FramePool:
    """`count` buffers of `shape` and `dtype`; `free` hands out their indices."""

    def __init__(self, count: int, shape: tuple[int, ...], dtype: DTypeLike) -> None:
        items = math.prod(shape)
        self.slot_bytes = items * np.dtype(dtype).itemsize
        # anonymous and page-aligned, so pages can be advised
        self._map = mmap.mmap(-1, max(1, count * self.slot_bytes))
        self.buffers: np.ndarray = np.frombuffer(
            self._map, dtype=dtype, count=count * items
        ).reshape(count, *shape)
        self.free: queue.LifoQueue[int] = queue.LifoQueue()
        for i in reversed(range(count)):  # buffer 0 is handed out first
            self.free.put(i)
        self.spare = max(SPARE, -(-SPARE_BYTES // max(1, self.slot_bytes)))
        self.highest = -1  # the highest buffer handed out so far
        self.stalls = 0  # times `take` waited for a free buffer
        self._base: int = self.buffers.ctypes.data  # the map's first page
        self._resident = 0  # buffers [0, _resident) made resident
        self._populate = _madvise()

    @classmethod
    def within(
        cls, max_bytes: int, max_frames: int, shape: tuple[int, ...], dtype: DTypeLike
    ) -> FramePool:
        """As many buffers as fit in `max_bytes`, at most `max_frames`, at
        least two."""
        frame_bytes = max(1, math.prod(shape) * np.dtype(dtype).itemsize)
        return cls(max(2, min(max_frames, max_bytes // frame_bytes)), shape, dtype)

    def take(self) -> int:
        """A free buffer's index, waiting while every one is in flight (the
        thread that fills buffers)."""
        try:
            slot = self.free.get_nowait()
        except queue.Empty:
            self.stalls += 1
            slot = self.free.get()
        if slot > self.highest:
            self.highest = slot
        return slot

    def keep_ahead(self) -> None:
        """Make the `spare` buffers after the highest one handed out resident
        (call from the thread that empties buffers, also before the first)."""
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
