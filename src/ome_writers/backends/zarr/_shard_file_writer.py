"""Shards of one-frame chunks of a local Zarr v3 array, written by a thread of ours.

The default layout of small frames (`small_frame_layout`) stores shards of
thousands of uncompressed one-frame chunks. tensorstore's sharding codec
makes each of them a cache entry of its own, allocated on one of its threads
and freed on another, so that glibc's per-thread arenas keep the freed memory
and the process's resident memory grows with the frames written. Such a
shard is the assembled block's own bytes followed by its index, so a thread
of ours writes it whole, under a temporary name renamed into place (a reader,
also after a crash, finds the previous shard or this one); tensorstore still
makes, declares and reads the array. As tensorstore does, a chunk whose frame
is all zeros (the fill value: a frame skipped) is marked absent in the index.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers._io._threads import WriterPool
from ome_writers.backends.zarr._array_writer import ArrayWriter
from ome_writers.backends.zarr._chunk_file_writer import PARTIAL_SUFFIX
from ome_writers.backends.zarr._writes_in_flight import PendingWrites

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ome_writers._io._object_store import DatasetPath
    from ome_writers.backends.zarr._array_writer import ArrayGrid

#: bytes of assembled shards handed to the writer thread and not yet written
MAX_PENDING_BYTES = 64 * 1024**2
#: shards handed to the writer thread and not yet written: with the one being
#: filled (per array), the most blocks shards are assembled in, all recycled
SHARDS_IN_FLIGHT = 3
#: an index entry of a chunk not stored (offset and size)
_ABSENT = np.uint64(2**64 - 1)
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


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


def write_shard(path: str, block: np.ndarray, cells: tuple[int, ...]) -> None:
    """The shard holding `block` into `path`, through a temporary name."""
    data = np.ascontiguousarray(block).data.cast("B")
    tail = shard_index(block, cells)
    partial = path + PARTIAL_SUFFIX
    try:
        fd = os.open(partial, _FLAGS, 0o644)
    except FileNotFoundError:  # the shard's directories do not exist yet
        Path(partial).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(partial, _FLAGS, 0o644)
    try:
        for part in (data, memoryview(tail)):
            done = 0
            while done < len(part):
                done += os.write(fd, part[done:])
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    os.close(fd)
    os.replace(partial, path)


class ShardFileWriter(ArrayWriter):
    """Assembled shards written as files by a thread of ours; `inner`, the
    library's writer, makes, resizes and reads the arrays."""

    def __init__(
        self,
        inner: ArrayWriter,
        grid: ArrayGrid,
        explain: Callable[[BaseException], BaseException],
    ) -> None:
        super().__init__(grid, explain)
        assert grid.shards is not None
        self.inner = inner
        self.grows_ahead = inner.grows_ahead
        self._cells = tuple(grid.shards[:-2])  # one frame per chunk
        self._pending = PendingWrites(
            max_bytes=MAX_PENDING_BYTES, max_items=SHARDS_IN_FLIGHT, explain=explain
        )
        self._thread: WriterPool | None = None
        self._reserved = False  # the blocks of whole shards (`reuse_block`)

    @property
    def max_bytes_in_flight(self) -> int:
        return MAX_PENDING_BYTES

    def start(self) -> None:
        self.inner.start()
        if self._thread is None:
            self._thread = WriterPool(1, "ome-writers-shards")

    def create(self, arrays: list[tuple[int, DatasetPath, list[int]]]) -> None:
        self.inner.create(arrays)

    def write_frame(
        self, position: int, index: tuple[int, ...], frame: np.ndarray
    ) -> None:
        self.inner.write_frame(position, index, frame)

    def write_block(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        self._pending.check()
        if self._thread is None:
            self.start()
        assert self._thread is not None
        path = next(self.grid.unit_files((position, origin)))
        future = self._thread.submit(write_shard, path, block, self._cells)
        # the assembler never touches a block again: recycled once written
        self._pending.add(future, block.nbytes, block)

    def reuse_block(self, shape: tuple[int, ...]) -> np.ndarray | None:
        if not self._reserved:
            # the first shard's shape (a whole one, unless the array is smaller)
            # gets every block at once, made resident now: no later shard
            # commits memory of its own
            self._reserved = True
            count = len(self.grid.paths) + SHARDS_IN_FLIGHT
            self._pending.reserve(shape, self.grid.dtype, count, resident=True)
        return self._pending.reuse(shape)

    def make_room(self, position: int, shape: tuple[int, ...]) -> None:
        self.inner.make_room(position, shape)

    def declare(self, shapes: Mapping[int, tuple[int, ...]]) -> None:
        self.inner.declare(shapes)

    def read(self, position: int, key: tuple[Any, ...]) -> np.ndarray:
        self._pending.wait()  # a failure is raised by writes and close
        return self.inner.read(position, key)

    def falling_behind(self) -> bool:
        return self._pending.stalls > 0 or self.inner.falling_behind()

    def writes_in_flight(self) -> Callable[[], None] | None:
        self._pending.check()
        inner = self.inner.writes_in_flight()
        ours = self._pending.waiter()

        def wait() -> None:
            if inner is not None:
                inner()
            ours()

        return wait

    def drain(self) -> None:
        self._pending.drain()
        self.inner.drain()

    def close(self) -> None:
        thread, self._thread = self._thread, None
        try:
            self.inner.close()
        finally:
            if thread is not None:
                thread.shutdown()
