"""One resolution level's arrays of an OME-Zarr dataset, one per position.

`ZarrArrays` decides what reaches the library and when; its `ArrayWriter`
does the library's part. It owns:

- room and growth: an unbounded first dimension's handles start with room
  for `INITIAL_GROWTH_BYTES` of frames and double it, in whole chunks, so a
  handle is replaced O(log n) times; room is never declared on disk: each
  ``zarr.json`` declares the frames written as of the last loss-window
  visit, checkpoint or close (`undeclared`, `declare`);
- chunk assembly, when a chunk (or shard) spans several frames;
- write-back of the files written, so that a sync has little left to do;
- arrays made ahead of their first frame, and chunk directories made ahead
  once the library falls behind.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ome_writers._io._writeback import Flusher, flush_every
from ome_writers._schema._storage import chunk_grid
from ome_writers.backends._base import read_padded
from ome_writers.backends.zarr._array_creation import made_at_once, make_arrays
from ome_writers.backends.zarr._array_writer import ArrayGrid
from ome_writers.backends.zarr._chunk_assembly import ChunkAssembler
from ome_writers.backends.zarr._chunk_directories import (
    WAKE_EVERY,
    DirectoryPreparer,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    import numpy as np

    from ome_writers._io._object_store import DatasetPath
    from ome_writers._router import FrameRouter
    from ome_writers._schema import Dimension
    from ome_writers.backends._base import StorageKey
    from ome_writers.backends.zarr._array_creation import ArraysAhead
    from ome_writers.backends.zarr._array_writer import ArrayWriter

#: an unbounded array starts with room for this many bytes along its growing
#: axis, and at most this many indices (at least one chunk), and never grows by
#: less: growing from one chunk resized the array at frames 1, 2, 3, 5, 9, ...,
#: each resize queued behind the writes in flight, which the first frames
#: then waited for
INITIAL_GROWTH_BYTES = 64 * 1024**2
INITIAL_GROWTH_INDICES = 128


class ZarrArrays:
    """The arrays of one level, written through `writer`.

    Parameters
    ----------
    root : DatasetPath
        The dataset's root.
    paths : sequence of str
        Each position's array path, relative to `root`.
    dims : sequence of Dimension
        Storage dimensions at this level (index dimensions, then Y, X).
    dtype, compression
        Pixel type and compression.
    router : FrameRouter
        Frame order (arrays made ahead, directories ahead, planned cells).
    make_writer : callable
        ``(grid, explain) -> ArrayWriter``: the library's writer.
    explain : callable
        Turns a failed write's error into the one to raise.
    directories_ahead : bool
        Make chunk directories ahead once the library falls behind.
    zarr_format : int
        3 (OME-Zarr 0.5) or 2 (OME-Zarr 0.4).
    """

    def __init__(
        self,
        root: DatasetPath,
        paths: Sequence[str],
        dims: Sequence[Dimension],
        dtype: np.dtype,
        compression: str,
        router: FrameRouter,
        make_writer: Callable[
            [ArrayGrid, Callable[[BaseException], BaseException]], ArrayWriter
        ],
        explain: Callable[[BaseException], BaseException],
        *,
        directories_ahead: bool = False,
        zarr_format: int = 3,
    ) -> None:
        self.router = router
        self.num_positions = len(paths)
        self.dtype = dtype
        self.storage_shape: tuple[int | None, ...] = tuple(d.count for d in dims)
        n_index = len(dims) - 2
        chunks, shards = chunk_grid(dims)
        frame_shape = (int(dims[-2].count or 0), int(dims[-1].count or 0))
        self.frame_shape = frame_shape
        self.frame_bytes = math.prod(frame_shape) * dtype.itemsize
        self.grow_axis = next((i for i, d in enumerate(dims) if d.count is None), None)
        unit = shards or chunks
        self.grow_step: int = unit[self.grow_axis] if self.grow_axis is not None else 0
        self.allocated = [self._initial_shape() for _ in range(self.num_positions)]
        self.extent = [0] * self.num_positions  # written extent on the grow axis
        # growing never leaves less room than the array started with
        self._initial_room = (
            self.allocated[0][self.grow_axis] if self.grow_axis is not None else 0
        )
        # each array's shape in its zarr.json (`declare`)
        self.declared = [list(shape) for shape in self.allocated]
        if self.grow_axis is not None:
            for shape in self.declared:
                shape[self.grow_axis] = 0
        # visits declare without the stream's lock, a checkpoint under it
        self._declaring = threading.Lock()
        self.assembler: ChunkAssembler | None = None
        if ChunkAssembler.needed(unit[:n_index]):
            self.assembler = ChunkAssembler(
                self.storage_shape[:n_index],
                unit[:n_index],
                frame_shape,
                dtype,
                self._write_block,
                planned=router.is_planned if router.jagged else None,
                allocate=self._reuse_block,
            )
        self.grid = ArrayGrid(
            root=root,
            paths=tuple(paths),
            names=tuple(d.name for d in dims),
            dtype=dtype,
            chunks=chunks,
            shards=shards,
            compression=compression,
            frame_shape=frame_shape,
            grow_axis=self.grow_axis,
            block_bytes=(
                self.frame_bytes
                if self.assembler is None
                else self.assembler.block_bytes
            ),
            assembled=self.assembler is not None,
            zarr_format=zarr_format,
        )
        self.writer = make_writer(self.grid, explain)
        self.grows_ahead = self.writer.grows_ahead
        # the grow-axis index whose write resizes each array (`_grow`)
        self._resize_at = [self._resize_index(p) for p in range(self.num_positions)]
        self._flush = not self.writer.writes_back
        self.flusher = Flusher(
            root if isinstance(root, Path) else None,
            flush_every(self.writer.max_bytes_in_flight),
            locate=self.grid.unit_files,
            commit=True,
        )
        # a writer that makes its directories on its own threads gets no
        # thread making them ahead: that one would compete for the cores
        self._directories_ahead = (
            directories_ahead
            and isinstance(root, Path)
            and not self.writer.makes_directories
        )
        self.preparer: DirectoryPreparer | None = None
        # positions whose array exists (all but the first are made in the
        # background when there are several: `prepare`)
        self.arrays_ahead: ArraysAhead = made_at_once(self.num_positions)
        self.ready = self.arrays_ahead.ready
        self._frames_seen = 0  # frames written or skipped
        self._wake_preparer_at = WAKE_EVERY
        self.closed = False

    def _initial_shape(self) -> list[int]:
        shape = [int(c) if c is not None else 0 for c in self.storage_shape]
        if self.grow_axis is not None:
            index_bytes = self.dtype.itemsize * math.prod(
                n for i, n in enumerate(shape) if i != self.grow_axis
            )
            room = min(
                INITIAL_GROWTH_INDICES, INITIAL_GROWTH_BYTES // max(1, index_bytes)
            )
            steps = max(1, room // self.grow_step)
            shape[self.grow_axis] = self.grow_step * steps
        return shape

    # --------------------------------------------------------------- creation

    def create(self, positions: list[int]) -> None:
        """Make the arrays of `positions` now."""
        root, paths = self.grid.root, self.grid.paths
        self.writer.create([(p, root / paths[p], self.allocated[p]) for p in positions])

    def prepare(self) -> None:
        """Start the writer and make the arrays: the first position's now, the
        others on a background thread in the order frames first reach them."""
        self.writer.start()
        if self._flush:
            self.flusher.start()
        if self.assembler is not None:  # blocks kept by the writer: set up now
            self.writer.reserve_blocks(self.assembler.first_shape)
        self.arrays_ahead = make_arrays(self.num_positions, self.router, self.create)
        self.ready = self.arrays_ahead.ready

    def share_with(self, base: ArrayWriter | None, memory_fraction: float) -> None:
        """Write through `base`'s resources (pyramid levels of its dataset),
        with at most `memory_fraction` of its bytes in flight."""
        self.writer.share_with(base, memory_fraction)
        self.flusher.every_bytes = flush_every(self.writer.max_bytes_in_flight)

    def wait_for_arrays(self) -> None:
        """Wait for every array made in the background; raise its failure."""
        self.arrays_ahead.wait_all()

    # ---------------------------------------------------------------- writing

    def write(self, position: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        """Write one frame; the caller may reuse `frame` on return."""
        if not self.ready[position]:  # still being made (`prepare`)
            self.arrays_ahead.wait(position)
        self._frames_seen += 1
        if self._frames_seen >= self._wake_preparer_at:
            self._wake_preparer()
        axis = self.grow_axis
        extent = self.extent[position]
        try:
            if axis is not None and index[axis] >= extent:
                i = index[axis]
                self.extent[position] = i + 1
                if i >= self._resize_at[position]:
                    self._grow(position, i)
            if self.assembler is not None:
                self.assembler.add(position, index, frame)
                return
            self.writer.write_frame(position, index, frame)
        except BaseException:
            self.extent[position] = extent  # close declares the frames before it
            raise
        if self._flush:
            self.flusher.add(frame.nbytes, (position, index))

    def write_owned(
        self,
        position: int,
        index: tuple[int, ...],
        frame: np.ndarray,
        release: Callable[[], None],
    ) -> None:
        """`write` a buffer nobody writes to until `release()`, which is
        called exactly once, when the buffer is no longer needed."""
        if self.assembler is not None:
            try:
                self.write(position, index, frame)
            finally:
                release()
            return
        extent = self.extent[position]
        try:
            self._arrive(position, index)
        except BaseException:
            self.extent[position] = extent
            release()
            raise
        try:
            self.writer.write_frame_owned(position, index, frame, release)
        except BaseException:
            self.extent[position] = extent
            raise
        if self._flush:
            self.flusher.add(frame.nbytes, (position, index))

    def skip(self, position: int, index: tuple[int, ...]) -> None:
        """Leave the frame at `index` unwritten (reads as zeros)."""
        self._arrive(position, index)
        if self.assembler is not None:
            self.assembler.skip(position, index)

    def _arrive(self, position: int, index: tuple[int, ...]) -> None:
        """A frame reaches `index`: its array exists, the frame is counted,
        the grow axis extends (`write` does the same inline: the hot path)."""
        if not self.ready[position]:
            self.arrays_ahead.wait(position)
        self._frames_seen += 1
        if self._frames_seen >= self._wake_preparer_at:
            self._wake_preparer()
        axis = self.grow_axis
        if axis is not None and index[axis] >= self.extent[position]:
            self._grow(position, index[axis])

    def reach(self, position: int, extent: int) -> None:
        """Extend one array's unbounded axis to `extent` indices without
        writing (what is not written reads as the fill value)."""
        if self.grow_axis is not None and extent > self.extent[position]:
            if not self.ready[position]:
                self.arrays_ahead.wait(position)
            self._grow(position, extent - 1)

    def _wake_preparer(self) -> None:
        seen = self._frames_seen
        self._wake_preparer_at = seen + WAKE_EVERY
        if self.preparer is not None:
            self.preparer.advance(seen)
        elif self._directories_ahead and self.writer.falling_behind():
            self.preparer = DirectoryPreparer(
                self._frame_directories, self.router.total, start=seen
            )

    def _frame_directories(self, n: int) -> list[str]:
        """Directories frame `n`'s chunk (or shard) files go into, parents first."""
        prefixes = self.grid.chunk_prefixes(*self.router.route(n))
        head = prefixes[-1]
        return [*prefixes, *(f"{head}/{y}" for y in range(self.grid.yx_units[0]))]

    def _resize_index(self, position: int) -> int:
        if self.grow_axis is None:
            return 0
        room = self.allocated[position][self.grow_axis]
        # a writer that resizes asynchronously grows once half full, so the
        # larger shape is in place before a write needs it
        return (room + 1) // 2 if self.grows_ahead else room

    def _grow(self, position: int, i: int) -> None:
        """Index `i` of the grow axis is written: extend, and resize if needed."""
        self.extent[position] = i + 1
        if i < self._resize_at[position]:
            return
        shape = self.allocated[position]
        axis = self.grow_axis
        assert axis is not None
        step = self.grow_step
        target = max(i + 1, 2 * shape[axis], self._initial_room)
        shape[axis] = math.ceil(target / step) * step
        self._resize_at[position] = self._resize_index(position)
        self.writer.make_room(position, tuple(shape))

    def _reuse_block(self, shape: tuple[int, ...]) -> np.ndarray | None:
        return self.writer.reuse_block(shape)

    def _write_block(
        self,
        position: int,
        origin: tuple[int, ...],
        block: np.ndarray,
        borrowed: bool = False,
    ) -> None:
        if borrowed:
            self.writer.write_block_borrowed(position, origin, block)
        else:
            self.writer.write_block(position, origin, block)
        if self._flush:
            self.flusher.add(block.nbytes, (position, origin))

    # --------------------------------------------------- readable and durable

    def write_provisional(self) -> bool:
        """Write partially filled chunks as they are (missing frames as zeros;
        rewritten when complete); whether there were any."""
        if self.assembler is None:
            return False
        written = False
        for position, origin, block, borrowed in self.assembler.provisional():
            self._write_block(position, origin, block, borrowed)
            written = True
        return written

    def undeclared(self) -> dict[int, tuple[int, ...]]:
        """Position -> the shape declaring every frame written so far, of the
        arrays whose ``zarr.json`` declares fewer along the grow axis. Taken
        under the stream's lock; `declare` it once those writes landed."""
        axis = self.grow_axis
        if axis is None:
            return {}
        out = {}
        for position, extent in enumerate(self.extent):
            if extent > self.declared[position][axis]:
                shape = list(self.declared[position])
                shape[axis] = extent
                out[position] = tuple(shape)
        return out

    def declare(self, shapes: Mapping[int, Sequence[int]]) -> None:
        """Each array's ``zarr.json`` declares `shapes[position]` (the writes
        it covers have landed): one document write per array. Along the grow
        axis it never goes back: a visit whose shapes a checkpoint overtook
        leaves them."""
        axis = self.grow_axis
        with self._declaring:
            changed = {
                position: tuple(int(n) for n in shape)
                for position, shape in shapes.items()
                if list(shape) != self.declared[position]
                and (axis is None or shape[axis] > self.declared[position][axis])
            }
            if changed:
                self.writer.declare(changed)
                for position, shape in changed.items():
                    self.declared[position] = list(shape)

    def declare_written(self) -> None:
        """`declare` every frame written (the writes have landed)."""
        self.declare(self.undeclared())

    def drain(self) -> None:
        """Wait for every write issued; raise the first failure."""
        self.writer.drain()

    def writes_in_flight(self) -> Callable[[], None] | None:
        return self.writer.writes_in_flight()

    def flush_assembled(self) -> None:
        """Write the chunks still being assembled, as they are."""
        if self.assembler is not None:
            self.assembler.flush_all()

    def finish(self, first_extents: Sequence[int] | None = None) -> None:
        """Write what is pending and declare what was written (bounded arrays:
        `first_extents` along the first axis, if given); the writer stays
        open."""
        self.flush_assembled()
        self.writer.drain()
        if self.grow_axis is not None:
            self.declare_written()
        elif first_extents is not None:
            shapes = {
                position: (extent, *self.declared[position][1:])
                for position, extent in enumerate(first_extents)
            }
            self.declare(shapes)

    def stop_background(self, frames_done: int) -> None:
        """Stop write-back and the directories made ahead (close starts)."""
        self.flusher.close()
        if self.preparer is not None:
            self.preparer.close(frames_done)

    def close(self) -> None:
        """Release the library's resources (the arrays stay readable)."""
        self.closed = True
        self.writer.close()

    # ---------------------------------------------------------------- reading

    def final_first_extent(self, position: int) -> int | None:
        """Extent of one array's first dimension after close, if it is cut
        to the frames written.

        None: the declared count stays (bounded arrays keep their shape).
        """
        return self.extent[position] if self.grow_axis == 0 else None

    def read(self, position: int, key: StorageKey) -> np.ndarray:
        """Read a region of one array; unwritten parts are zeros."""
        if not self.ready[position]:
            self.arrays_ahead.wait(position)
        out = read_padded(
            _Reader(self.writer, position), self.allocated[position], key, self.dtype
        )
        if self.assembler is not None:
            self.assembler.overlay(position, key, out)
        return out


class _Reader:
    """numpy-style `[key]` access to one array, for `read_padded`."""

    def __init__(self, writer: ArrayWriter, position: int) -> None:
        self._writer = writer
        self._position = position

    def __getitem__(self, key: tuple[Any, ...]) -> np.ndarray:
        return self._writer.read(self._position, key)
