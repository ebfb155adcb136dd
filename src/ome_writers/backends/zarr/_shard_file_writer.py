"""Shards of one-frame chunks of a local Zarr v3 array, written by threads of ours.

The default layout of small frames (`small_frame_layout`) stores shards of
up to thousands of uncompressed one-frame chunks. tensorstore's sharding codec
makes each of them a cache entry of its own, allocated on one of its threads
and freed on another, so that glibc's per-thread arenas keep the freed memory
and the process's resident memory grows with the frames written. Such a
shard is the assembled block's own bytes followed by its index, so a thread
of ours writes it whole, under a temporary name renamed into place (a reader,
also after a crash, finds the previous shard or this one); the library
(tensorstore, zarr-python) still makes, declares and reads the array. As
tensorstore does, a chunk whose frame is all zeros (the fill value: a frame
skipped) is marked absent in the index.

Shards whose frames fill whole 4 KiB blocks are written with direct I/O
(`ome_writers._io._direct`) from page-aligned blocks, their index after them
through the page cache, several at a time; every write of one shard goes to
the same thread, so that a whole shard always lands after the partly filled
copy written before it.
"""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING

import numpy as np

from ome_writers._io._direct import aligned, direct_io_suits
from ome_writers._io._threads import WriterPool
from ome_writers.backends.zarr._chunk_file_writer import (
    DIRECT_WRITER_THREADS,
    DirectIORefused,
    write_file,
    write_file_direct,
)
from ome_writers.backends.zarr._delegating_writer import DelegatingWriter
from ome_writers.backends.zarr._writes_in_flight import PendingWrites

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

    from ome_writers.backends.zarr._array_writer import ArrayGrid, ArrayWriter

#: bytes of assembled shards handed to the writer thread and not yet written
MAX_PENDING_BYTES = 64 * 1024**2
#: shards handed to the writer threads and not yet written (at least; twice
#: the threads with direct I/O): with the one being filled (per array), the
#: most blocks shards are assembled in, all recycled
SHARDS_IN_FLIGHT = 3
#: shards whose writer thread is remembered: far more than can be in flight
RECENT_SHARDS = 1024
#: an index entry of a chunk not stored (offset and size)
_ABSENT = np.uint64(2**64 - 1)


def shard_files(
    *,
    local: bool,
    zarr_format: int,
    compression: str,
    chunks: tuple[int, ...],
    shards: tuple[int, ...] | None,
    frame_shape: tuple[int, int],
    dtype: np.dtype,
) -> bool:
    """Whether each shard of an array is a local file of uncompressed
    one-frame chunks, little-endian, that frames fill whole along Y and X."""
    return (
        local
        and zarr_format == 3
        and shards is not None
        and compression == "none"
        and all(c == 1 for c in chunks[:-2])
        and tuple(chunks[-2:]) == tuple(frame_shape)
        and tuple(shards[-2:]) == tuple(frame_shape)
        and dtype.newbyteorder("<") == dtype
    )


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


def _crc32c_python(data: bytes, _table: list[int] = _crc32c_table()) -> int:  # noqa: B008
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crc32c() -> Callable[[bytes], int]:
    """CRC-32C (Castagnoli), from a compiled implementation when installed."""
    with contextlib.suppress(ImportError):
        import google_crc32c

        return lambda data: int(google_crc32c.value(data))
    return _crc32c_python


crc32c = _crc32c()


def shard_index(block: np.ndarray, cells: tuple[int, ...]) -> bytes:
    """The index (with its checksum) of a shard of `cells` one-frame chunks
    whose file starts with `block`'s bytes (its frames in C order; `block`
    may have fewer along each index dimension)."""
    n_index = len(cells)
    extent = block.shape[:n_index]
    frames = math.prod(extent)
    index = np.full((math.prod(cells), 2), _ABSENT, dtype="<u8")
    if frames:
        frame_bytes = block.nbytes // frames
        where = np.asarray(
            np.ravel_multi_index(tuple(np.indices(extent).reshape(n_index, -1)), cells)
        )
        stored = block.reshape(frames, -1).any(axis=1)
        offsets = np.arange(frames, dtype="<u8") * np.uint64(frame_bytes)
        index[where[stored], 0] = offsets[stored]
        index[where[stored], 1] = frame_bytes
    raw = index.tobytes()
    return raw + crc32c(raw).to_bytes(4, "little")


def write_shard(
    path: str, block: np.ndarray, cells: tuple[int, ...], direct: bool = False
) -> bool:
    """The shard holding `block` into `path`, through a temporary name; its
    frames with direct I/O when `direct` and `block` is `aligned`. Returns
    whether direct I/O may be used again (False once the filesystem refused)."""
    tail = shard_index(block, cells)
    if direct and aligned(block):
        try:
            write_file_direct(path, block, tail)
            return True
        except DirectIORefused:
            direct = False
    data = np.ascontiguousarray(block).data.cast("B")
    write_file(path, data, memoryview(tail))
    return direct


class ShardFileWriter(DelegatingWriter):
    """Assembled shards written as files by a thread of ours; `inner`, the
    library's writer, makes, resizes and reads the arrays."""

    # each shard's writes go to one thread (a shard no longer remembered had
    # its writes land long ago: far fewer than `RECENT_SHARDS` are in flight)
    lands_in_order = True

    def __init__(
        self,
        inner: ArrayWriter,
        grid: ArrayGrid,
        explain: Callable[[BaseException], BaseException],
    ) -> None:
        assert grid.shards is not None
        self._cells = tuple(grid.shards[:-2])  # one frame per chunk
        #: whole shards are written with direct I/O (until the filesystem refuses)
        self._direct = direct_io_suits(grid.frame_bytes * math.prod(self._cells))
        # direct writes each wait for the disk: several threads keep it busy,
        # each with a shard queued behind the one it writes
        self._thread_count = DIRECT_WRITER_THREADS if self._direct else 1
        self._in_flight = max(SHARDS_IN_FLIGHT, 2 * self._thread_count)
        self._pending = PendingWrites(
            max_bytes=MAX_PENDING_BYTES, max_items=self._in_flight, explain=explain
        )
        super().__init__(inner, grid, explain, self._pending)
        # one thread each; shards are dealt to them in turn, and each shard's
        # writes (a provisional one, then the whole) to the same one, so that
        # they land in order
        self._threads: list[WriterPool] = []
        self._thread_of: dict[str, int] = {}  # recent shards' threads, oldest first
        self._next_thread = 0
        self._reserved = False  # the blocks of whole shards (`reuse_block`)

    @property
    def max_bytes_in_flight(self) -> int:
        return MAX_PENDING_BYTES

    def write_block(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        # the assembler never touches a block again: recycled once written
        self._pending.add(*self._submit(position, origin, block), block)

    def write_block_borrowed(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        self._pending.add(*self._submit(position, origin, block), keep=block)

    def _submit(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> tuple[Future[None], int]:
        """Hand `block` to its shard's thread: (the write's future, bytes)."""
        self._pending.check()
        if not self._threads:
            self.start()
        path = next(self.grid.unit_files((position, origin)))
        future = self._threads[self._thread_for(path)].submit(self._write, path, block)
        return future, block.nbytes

    def _thread_for(self, path: str) -> int:
        """The thread of the shard at `path`: the one of its last write, if
        recent, else the next in turn."""
        recent = self._thread_of
        thread = recent.pop(path, None)
        if thread is None:
            thread = self._next_thread
            self._next_thread = (thread + 1) % len(self._threads)
        recent[path] = thread
        if len(recent) > RECENT_SHARDS:
            del recent[next(iter(recent))]
        return thread

    def _write(self, path: str, block: np.ndarray) -> None:
        self._direct = write_shard(path, block, self._cells, self._direct)

    def reuse_block(self, shape: tuple[int, ...]) -> np.ndarray | None:
        self.reserve_blocks(shape)
        return self._pending.reuse(shape)

    def reserve_blocks(self, shape: tuple[int, ...]) -> None:
        if not self._reserved:
            # the first shard's shape (a whole one, unless the array is smaller)
            # gets every block at once, made resident from now on: no later
            # shard commits memory of its own
            self._reserved = True
            count = len(self.grid.paths) + self._in_flight
            self._pending.reserve(shape, self.grid.dtype, count, resident=True)

    def _start_own(self) -> None:
        if not self._threads:
            self._threads = [
                WriterPool(1, "ome-writers-shards") for _ in range(self._thread_count)
            ]
            for thread in self._threads:
                thread.submit(int)  # started now, not by the first shards' appends

    def _wait_own(self) -> None:
        self._pending.wait()  # a failure is raised by writes and close

    def _check_own(self) -> None:
        self._pending.check()

    def _close_own(self) -> None:
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.shutdown()
