"""Assemble chunks (or shards) that span several frames before they are written.

When a storage dimension other than Y/X has ``chunk_size > 1`` (or a shard
holds several chunks along it), a chunk or shard holds several frames. Each
frame is copied once into a preallocated buffer for its chunk; the buffer is
handed to the writer when its last frame (or skip) arrives, so no chunk is
ever read back and rewritten. Incomplete chunks are flushed at close. Live
reads overlay the frames still held here.

A writer may hand buffers back once written (`allocate`): a recycled buffer
is already in memory, where a new one of tens of MB costs a page fault per
page on first use, on the appending thread. Cells of
a recycled buffer that no frame filled are zeroed before the chunk leaves the
assembler. A partly filled chunk written at a loss-window visit is copied
under the stream's lock, unless every cell up to its last frame is filled:
then the writer gets a view of the buffer itself, whose cells there never
change again, and must not recycle it (`write_block_borrowed`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

# (position, chunk origin along the index dims, buffer) -> None
Flush = Callable[[int, tuple[int, ...], np.ndarray], None]
# buffer shape -> a written buffer of that shape to reuse, or None
Allocate = Callable[[tuple[int, ...]], "np.ndarray | None"]


@dataclass
class _OpenChunk:
    buffer: np.ndarray
    expected: int
    received: int = 0
    written: set[tuple[int, ...]] = field(default_factory=set)
    changed: bool = False  # frames arrived since the last provisional copy
    dirty: bool = False  # recycled: cells no frame filled are not yet zero


class ChunkAssembler:
    """Per-position buffers for chunks spanning several frames.

    Parameters
    ----------
    index_shape : sequence of int | None
        Extent of each index (non-frame) storage dimension; None = unbounded.
    index_chunks : sequence of int
        Chunk size of each index dimension.
    frame_shape : tuple[int, int]
        Y, X extent of a frame.
    dtype : numpy dtype
    flush : callable
        Receives (position, origin, buffer) for each completed chunk.
    planned : callable, optional
        ``planned(position, index)``: whether a frame will ever come for a cell
        (jagged acquisitions); a chunk is complete when its planned cells are.
    allocate : callable, optional
        ``allocate(shape)``: a buffer handed to `flush` earlier and written
        since, to reuse (or None: a new zeroed buffer is made).
    """

    def __init__(
        self,
        index_shape: Sequence[int | None],
        index_chunks: Sequence[int],
        frame_shape: tuple[int, int],
        dtype: np.dtype,
        flush: Flush,
        planned: Callable[[int, tuple[int, ...]], bool] | None = None,
        allocate: Allocate | None = None,
    ) -> None:
        self._shape = tuple(index_shape)
        self._chunks = tuple(index_chunks)
        self._frame_shape = frame_shape
        self._dtype = dtype
        self._flush = flush
        self._planned = planned
        self._allocate = allocate
        self._open: dict[tuple[int, tuple[int, ...]], _OpenChunk] = {}

    @property
    def block_bytes(self) -> int:
        """Bytes of a whole block handed to `flush` (edge blocks are smaller)."""
        frame = math.prod(self._frame_shape) * self._dtype.itemsize
        return math.prod(self._chunks) * frame

    @property
    def first_shape(self) -> tuple[int, ...]:
        """The shape of the block at the origin (index dims + Y, X)."""
        return self._block_shape((0,) * len(self._chunks))

    def _block_shape(self, origin: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of the block at `origin`: whole chunks, cut at the
        index shape's end."""
        extent = (
            c if n is None else min(c, n - o)
            for o, c, n in zip(origin, self._chunks, self._shape, strict=True)
        )
        return (*extent, *self._frame_shape)

    @staticmethod
    def needed(index_chunks: Sequence[int]) -> bool:
        """Whether chunks span frames at all."""
        return any(c > 1 for c in index_chunks)

    def _chunk(
        self, position: int, index: tuple[int, ...]
    ) -> tuple[tuple[int, ...], _OpenChunk, tuple[int, ...]]:
        # called for every frame: comprehensions over lists (lengths match)
        origin = tuple([i - i % c for i, c in zip(index, self._chunks, strict=False)])
        key = (position, origin)
        chunk = self._open.get(key)
        if chunk is None:
            shape = self._block_shape(origin)
            extent = shape[: len(origin)]
            buffer = self._allocate(shape) if self._allocate is not None else None
            dirty = buffer is not None
            if buffer is None:
                buffer = np.zeros(shape, dtype=self._dtype)
            expected = math.prod(extent)
            planned = self._planned
            if planned is not None:
                cells = itertools.product(
                    *(range(o, o + e) for o, e in zip(origin, extent, strict=True))
                )
                expected = sum(planned(position, cell) for cell in cells)
            chunk = self._open[key] = _OpenChunk(buffer, expected, dirty=dirty)
        local = tuple([i - o for i, o in zip(index, origin, strict=False)])
        return origin, chunk, local

    def add(self, position: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        """Copy `frame` into its chunk; flush the chunk when it is complete."""
        origin, chunk, local = self._chunk(position, index)
        chunk.buffer[local] = frame
        chunk.written.add(index)
        chunk.changed = True
        chunk.received += 1
        if chunk.received >= chunk.expected:
            self._complete(position, origin, chunk)

    def skip(self, position: int, index: tuple[int, ...]) -> None:
        """Count a skipped frame (zeros) towards its chunk's completion."""
        origin, chunk, _ = self._chunk(position, index)
        self._count(position, origin, chunk)

    def _count(self, position: int, origin: tuple[int, ...], chunk: _OpenChunk) -> None:
        chunk.received += 1
        if chunk.received >= chunk.expected:
            self._complete(position, origin, chunk)

    def _complete(
        self, position: int, origin: tuple[int, ...], chunk: _OpenChunk
    ) -> None:
        del self._open[(position, origin)]
        self._clean(origin, chunk)
        self._flush(position, origin, chunk.buffer)

    @staticmethod
    def _clean(
        origin: tuple[int, ...],
        chunk: _OpenChunk,
        extent: tuple[int, ...] | None = None,
    ) -> None:
        """Zero the cells of a recycled buffer that no frame filled (of its
        first `extent` cells along each index dimension, if given: those
        beyond may still receive frames)."""
        if not chunk.dirty:
            return
        whole = chunk.buffer.shape[: len(origin)]
        if extent is None or extent == whole:
            extent = whole
            chunk.dirty = False
        # every frame written lies within `extent`
        if len(chunk.written) == math.prod(extent):
            return
        for local in itertools.product(*map(range, extent)):
            cell = tuple(o + i for o, i in zip(origin, local, strict=True))
            if cell not in chunk.written:
                chunk.buffer[local] = 0

    def flush_all(self) -> None:
        """Write every incomplete chunk (unwritten frames stay zero)."""
        while self._open:
            (position, origin), chunk = self._open.popitem()
            if chunk.written:
                self._flush(position, origin, self._present(origin, chunk))

    def provisional(
        self,
    ) -> Iterator[tuple[int, tuple[int, ...], np.ndarray, bool]]:
        """(position, origin, block, borrowed) of each incomplete chunk that
        received frames since the last call: written as it is now (missing
        frames as zeros), to be overwritten when the chunk completes. The
        chunk stays open. Where a frame filled every cell up to the last
        one written, `block` is a view of the chunk's own buffer (`borrowed`:
        those cells never change again, but the buffer is still being
        filled, so not the writer's to recycle); else a copy."""
        for (position, origin), chunk in list(self._open.items()):
            if chunk.changed and chunk.written:
                chunk.changed = False
                present = self._present(origin, chunk)
                if len(chunk.written) == math.prod(present.shape[:-2]):
                    yield position, origin, present, True
                else:
                    copy = self._copy(chunk.buffer.shape, present)
                    yield position, origin, copy, False

    def _copy(self, shape: tuple[int, ...], present: np.ndarray) -> np.ndarray:
        """`present` copied into the start of a recycled block of `shape`
        (its chunk's), where the writer has one: already in memory, where a
        new copy costs a page fault per page, under the stream's lock."""
        whole = None
        if self._allocate is not None and present.size:
            whole = self._allocate(shape)
        if whole is None:
            return present.copy()
        out = whole.reshape(-1)[: present.size].reshape(present.shape)
        np.copyto(out, present)
        return out

    def _present(self, origin: tuple[int, ...], chunk: _OpenChunk) -> np.ndarray:
        """The chunk's buffer; an unbounded one trimmed to the frames there."""
        extent = list(chunk.buffer.shape[: len(origin)])
        for axis, n in enumerate(self._shape):
            if n is None:
                last = max(i[axis] for i in chunk.written)
                extent[axis] = last - origin[axis] + 1
        self._clean(origin, chunk, tuple(extent))
        return chunk.buffer[tuple(slice(0, e) for e in extent)]

    def overlay(
        self, position: int, key: Sequence[int | slice], out: np.ndarray
    ) -> None:
        """Copy frames still held here into `out` (the result of reading `key`)."""
        index_key = key[: len(self._chunks)]
        frame_key = tuple(key[len(self._chunks) :])
        for (pos, _origin), chunk in list(self._open.items()):
            if pos != position:
                continue
            for index in list(chunk.written):
                target = locate(index, index_key)
                if target is None:
                    continue
                local = tuple(i - o for i, o in zip(index, _origin, strict=True))
                out[(*target, Ellipsis)] = chunk.buffer[local][frame_key]  # type: ignore[index]


def locate(
    index: tuple[int, ...], key: Sequence[int | slice]
) -> tuple[int, ...] | None:
    """Position of storage `index` in the result of reading `key`, or None."""
    target: list[int] = []
    for i, k in zip(index, key, strict=True):
        if isinstance(k, int):
            if i != k:
                return None
            continue
        if i < k.start or i >= k.stop or (i - k.start) % k.step:
            return None
        target.append((i - k.start) // k.step)
    return tuple(target)
