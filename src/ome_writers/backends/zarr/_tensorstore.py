"""OME-Zarr arrays through tensorstore (the default OME-Zarr backend).

Writes are asynchronous: a write waits only until tensorstore has copied the
frame (so the caller may reuse its buffer), then keeps the commit pending.
Small frames are instead copied once into a pooled buffer that tensorstore
references until the commit: for them, waiting for a tensorstore thread costs
more than the copy. An assembled chunk (or shard) is handed over as it is.
Growing an unbounded array's room (a new handle) is asynchronous too (it
starts when the array is half full) and is issued from a thread of its own,
so that no append waits for it. At most `MAX_PENDING_BYTES` are in flight;
beyond that a write waits for the oldest commit (backpressure). A failed
commit is raised from the next write and from close.

The writes go through handles opened without reading or writing metadata
(``assume_metadata``), with room grown ahead of the frames; each array's
``zarr.json`` is written only through a handle of its own (`declare`, a
metadata-only resize), so it declares the frames that landed, never the room.

Chunk files are written without fsync (``file_io_sync: false``); the dataset
syncs its filesystem at checkpoints and close. A local array whose chunks are
each one frame's raw bytes has them written by threads of ours instead
(`ChunkFileWriter`), and so has one whose shards are such chunks
(`ShardFileWriter`); tensorstore still makes, declares and reads it.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tensorstore as ts

from ome_writers._io._object_store import ObjectPath, tensorstore_kvstore
from ome_writers._io._threads import WriterPool
from ome_writers._io._writeback import flush_every
from ome_writers.backends.zarr._array_writer import (
    ARRAY_METADATA_FILE,
    ArrayWriter,
    ZarrLibrary,
    codec_configs,
    v2_compressor,
)
from ome_writers.backends.zarr._dataset import ZarrDataset
from ome_writers.backends.zarr._delegating_writer import DelegatingWriter
from ome_writers.backends.zarr._own_files import with_own_files
from ome_writers.backends.zarr._writes_in_flight import PendingWrites

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    import numpy as np

    from ome_writers._io._object_store import DatasetPath
    from ome_writers.backends.zarr._array_writer import ArrayGrid

MAX_PENDING_BYTES = 64 * 1024**2
MAX_PENDING_WRITES = 64  # also bounds the pool of frame copies
#: frames up to this size are copied on the caller's thread (such a copy is
#: shorter than waiting for one of tensorstore's threads to be scheduled);
#: larger ones are copied by tensorstore, on its threads, in parallel
SMALL_FRAME_BYTES = 1024**2

Threads = tuple[int, int]  # tensorstore's data-copy (and encoding), file-I/O threads


def thread_limits(
    cores: int, encoded: bool, frame_bytes: int
) -> tuple[Threads, Threads]:
    """tensorstore's threads to start with, and to use once the disk falls behind.

    Encoded (compressed, or sharded), encoding is the work and gets every
    core from the start. Uncompressed, tensorstore's threads only copy and
    write bytes, and every extra busy thread takes CPU from the acquisition
    thread: few threads to start with; small frames, which one I/O thread
    cannot keep up with, move to more once an append had to wait.
    """
    bulk = (cores, max(4, cores))
    if encoded:
        return bulk, bulk
    if frame_bytes <= SMALL_FRAME_BYTES:
        return (max(1, cores // 4), max(1, cores // 2 - 1)), bulk
    large = (max(1, cores // 4), max(2, cores // 2))
    return large, large


def _context(
    copy_threads: int, io_threads: int, s3_retries: dict[str, Any] | None = None
) -> Any:
    return ts.Context(
        {
            "file_io_sync": False,
            "data_copy_concurrency": {"limit": copy_threads},
            "file_io_concurrency": {"limit": io_threads},
            **({"s3_request_retries": s3_retries} if s3_retries else {}),
        }
    )


class TensorstoreWriter(ArrayWriter):
    """One level's arrays through tensorstore's zarr3 driver (its zarr driver
    for Zarr v2)."""

    grows_ahead = True

    def __init__(
        self,
        grid: ArrayGrid,
        explain: Callable[[BaseException], BaseException],
        *,
        writes_frames: bool = True,
    ) -> None:
        super().__init__(grid, explain)
        encoded = grid.compression != "none" or grid.shards is not None
        self.threads, self._bulk_threads = thread_limits(
            os.cpu_count() or 1, encoded, grid.frame_bytes
        )
        root = grid.root
        # object storage: transient failures (5xx, resets) are retried
        self._s3_retries = (
            root.location.tensorstore_retries()
            if isinstance(root, ObjectPath)
            else None
        )
        self._context = _context(*self.threads, self._s3_retries)
        # held while the context is switched and while arrays made ahead (on
        # another thread) are stored, so that none keeps the old context
        self._context_lock = threading.Lock()
        self._making_context = _context(*self._bulk_threads, self._s3_retries)
        count = len(grid.paths)
        self._arrays: list[Any] = [None] * count  # the writes' handles, with room
        # the handles whose metadata-only resizes write each zarr.json
        self._declaring: list[Any] = [None] * count
        self._paths: dict[int, DatasetPath] = {}  # position -> array directory
        # shape -> zarr.json of an array made in this local dataset (`create`)
        self._templates: dict[tuple[int, ...], bytes] = {}
        self._metadata_file = ARRAY_METADATA_FILE[grid.zarr_format]
        self._resizing: list[Any] = [None] * count
        self._resizer: WriterPool | None = None  # `start`, if it grows
        self._pending = PendingWrites(
            max_bytes=MAX_PENDING_BYTES,
            max_items=MAX_PENDING_WRITES,
            explain=lambda e: explain(_as_os_error(e)),
        )
        self._max_bytes = MAX_PENDING_BYTES
        self._copy_frames = grid.frame_bytes <= SMALL_FRAME_BYTES
        if self._copy_frames and writes_frames and not grid.assembled:
            self._reserve(MAX_PENDING_BYTES)

    def _reserve(self, max_bytes: int) -> None:
        """One frame copy per write in flight, plus the next one."""
        frame_bytes = max(1, self.grid.frame_bytes)
        in_flight = min(MAX_PENDING_WRITES, max_bytes // frame_bytes + 1)
        self._pending.reserve(self.grid.frame_shape, self.grid.dtype, in_flight + 1)

    @property
    def max_bytes_in_flight(self) -> int:
        return self._max_bytes

    def start(self) -> None:
        if self.grid.grow_axis is not None and self._resizer is None:
            self._resizer = WriterPool(1, "ome-writers-resize")
            self._resizer.submit(int)  # its thread starts now, not on an append

    def share_with(self, other: ArrayWriter | None, memory_fraction: float) -> None:
        # levels are written from a background thread, frame by frame from a
        # reused buffer: copied at once rather than behind level 0's copies
        self._copy_frames = True
        base = other.inner if isinstance(other, DelegatingWriter) else other
        if isinstance(base, TensorstoreWriter):  # one set of tensorstore threads
            self.threads, self._bulk_threads = base.threads, base._bulk_threads  # noqa: SLF001
            self._context = base._context  # noqa: SLF001
        max_bytes = max(1, int(MAX_PENDING_BYTES * memory_fraction))
        self._pending.max_bytes = self._max_bytes = max_bytes
        if not self._pending.pooled:
            self._reserve(max_bytes)

    # --------------------------------------------------------------- creation

    def _codecs(self) -> tuple[list[int], list[dict[str, Any]]]:
        grid = self.grid
        endian = {"name": "bytes", "configuration": {"endian": "little"}}
        inner = [endian, *codec_configs(grid.compression, grid.dtype.itemsize)]
        if grid.shards is None:
            return list(grid.chunks), inner
        sharding = {
            "name": "sharding_indexed",
            "configuration": {
                "chunk_shape": list(grid.chunks),
                "codecs": inner,
                "index_codecs": [endian, {"name": "crc32c"}],
                "index_location": "end",
            },
        }
        return list(grid.shards), [sharding]

    def create(self, arrays: list[tuple[int, DatasetPath, list[int]]]) -> None:
        # every open is started before any is awaited, so tensorstore makes
        # them concurrently, in a context of their own (not queued behind the
        # writes in flight). In a local dataset the first array of a shape is
        # made by tensorstore and the others get its document: a new directory
        # of a new dataset holds nothing to delete.
        making: list[tuple[int, DatasetPath, list[int], Any]] = []
        shapes_made: set[tuple[int, ...]] = set()  # locally, in this batch
        copies: list[tuple[int, Path, list[int]]] = []
        for position, path, room in arrays:
            shape = self.first_declared(room)
            if isinstance(path, Path):
                shape_key = tuple(shape)
                if shape_key in self._templates or shape_key in shapes_made:
                    copies.append((position, path, shape))
                    continue
                shapes_made.add(shape_key)
            future = ts.open(
                self._spec(path, shape),
                create=True,
                delete_existing=True,
                context=self._making_context,
            )
            making.append((position, path, shape, future))
        for position, path, shape, future in making:
            self._declaring[position] = future.result()
            if isinstance(path, Path):
                document = (path / self._metadata_file).read_bytes()
                self._templates[tuple(shape)] = document
        for position, path, shape in copies:
            path.mkdir(parents=True, exist_ok=True)
            (path / self._metadata_file).write_bytes(self._templates[tuple(shape)])
            self._declaring[position] = ts.open(
                self._spec(path, shape),
                open=True,
                assume_cached_metadata=True,
                context=self._making_context,
            ).result()
        with self._context_lock:  # the writes' handles: opened without I/O
            for position, path, room in arrays:
                self._arrays[position] = self._open_room(path, room)
                self._paths[position] = path

    def _open_room(self, path: DatasetPath, room: Sequence[int]) -> Any:
        """A handle of an existing array with room for `room`, in the writes'
        context, that neither reads nor writes its metadata."""
        return self._opening_room(path, room).result()

    def _opening_room(self, path: DatasetPath, room: Sequence[int]) -> Any:
        """`_open_room`, as a future."""
        return ts.open(
            self._spec(path, list(room)),
            open=True,
            assume_metadata=True,
            context=self._context,
        )

    def _spec(self, path: DatasetPath, shape: list[int]) -> dict[str, Any]:
        if self.grid.zarr_format == 2:
            return self._spec_v2(path, shape)
        grid_shape, codecs = self._codecs()
        return {
            "driver": "zarr3",
            "kvstore": tensorstore_kvstore(path),
            "metadata": {
                "shape": shape,
                "chunk_grid": {
                    "name": "regular",
                    "configuration": {"chunk_shape": grid_shape},
                },
                "chunk_key_encoding": {"name": "default"},
                "codecs": codecs,
                "data_type": self.grid.dtype.name,
                "dimension_names": list(self.grid.names),
                "fill_value": 0,
            },
        }

    def _spec_v2(self, path: DatasetPath, shape: list[int]) -> dict[str, Any]:
        grid = self.grid
        return {
            "driver": "zarr",
            "kvstore": tensorstore_kvstore(path),
            "metadata": {
                "shape": shape,
                "chunks": list(grid.chunks),
                "dtype": grid.dtype.newbyteorder("<").str,
                "compressor": v2_compressor(grid.compression),
                "fill_value": 0,
                "order": "C",
                "filters": None,
                "dimension_separator": "/",
            },
        }

    # ---------------------------------------------------------------- writing

    def _keep_up(self) -> None:
        """Use more threads once an append had to wait for the disk."""
        if self._pending.stalls and self.threads != self._bulk_threads:
            self.threads = self._bulk_threads
            with self._context_lock:  # arrays made ahead from now on use it
                self._context = _context(*self.threads, self._s3_retries)
                # writes in flight finish on the old handles; a read waits
                # for every commit first (`read`)
                for position, path in self._paths.items():
                    self._settle_resize(position)
                    shape = self._arrays[position].shape
                    self._arrays[position] = self._open_room(path, shape)

    def write_frame(
        self, position: int, index: tuple[int, ...], frame: np.ndarray
    ) -> None:
        pending = self._pending
        pending.check()
        array = self._arrays[position]
        if self._resizing[position] is not None:  # settled if this write needs it
            array = self._array(position, index)
        target = array[index]
        if self._copy_frames:
            buffer = pending.copy(frame)
            futures = target.write(buffer, can_reference_source_data_indefinitely=True)
            pending.add(futures.commit, frame.nbytes, buffer)
        else:
            futures = target.write(frame)
            futures.copy.result()  # the caller's buffer may be reused from here
            pending.add(futures.commit, frame.nbytes, None)
        if pending.stalls:
            self._keep_up()

    def write_frame_owned(
        self,
        position: int,
        index: tuple[int, ...],
        frame: np.ndarray,
        release: Callable[[], None],
    ) -> None:
        # tensorstore references the buffer until the commit: no copy, no wait
        def start() -> Any:
            target = self._array(position, index)[index]
            return target.write(
                frame, can_reference_source_data_indefinitely=True
            ).commit

        self._pending.add_releasing(start, frame.nbytes, release)
        self._keep_up()

    def write_block(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        self._write_block(position, origin, block, recycle=True)

    def write_block_borrowed(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        self._write_block(position, origin, block, recycle=False)

    def _write_block(
        self,
        position: int,
        origin: tuple[int, ...],
        block: np.ndarray,
        *,
        recycle: bool,
    ) -> None:
        region = tuple(
            slice(o, o + n) for o, n in zip(origin, block.shape, strict=False)
        )
        # the last index the block reaches decides whether a resize must land
        last = tuple(o + n - 1 for o, n in zip(origin, block.shape, strict=False))
        self._pending.check()
        # the assembler never touches a block again: no copy, no wait; once
        # written, it is recycled for assembling another (`reuse_block`)
        futures = self._array(position, last)[region].write(
            block, can_reference_source_data_indefinitely=True
        )
        if recycle:
            self._pending.add(futures.commit, block.nbytes, block)
        else:
            self._pending.add(futures.commit, block.nbytes, keep=block)
        self._keep_up()

    def reuse_block(self, shape: tuple[int, ...]) -> np.ndarray | None:
        return self._pending.reuse(shape)

    def make_room(self, position: int, shape: tuple[int, ...]) -> None:
        # a new handle: pending writes finish through the old one. It is
        # awaited only when a write needs it (`_array`).
        self._settle_resize(position)
        resizer, future = self._resizer, None
        path = self._paths[position]
        if resizer is not None:  # a `concurrent.futures.Future` of the result
            with contextlib.suppress(RuntimeError):  # pools stopped: at exit
                future = resizer.submit(self._open_room, path, shape)
        if future is None:  # closed, or never growing: open it from here
            future = self._opening_room(path, shape)
        self._resizing[position] = future

    def declare(self, shapes: Mapping[int, tuple[int, ...]]) -> None:
        # issued together, so tensorstore writes the documents concurrently
        resizing = [
            (
                position,
                self._declaring[position].resize(
                    exclusive_max=list(shape), resize_metadata_only=True
                ),
            )
            for position, shape in shapes.items()
        ]
        try:
            for position, future in resizing:
                self._declaring[position] = future.result()
        except Exception as e:
            raise self.explain(_as_os_error(e)) from e

    def _settle_resize(self, position: int) -> None:
        future = self._resizing[position]
        if future is not None:
            self._resizing[position] = None
            self._arrays[position] = future.result()

    def _array(self, position: int, index: tuple[int, ...]) -> Any:
        """The array to write through up to `index` (the last index written,
        along the grow axis; a handle with more room may still be opening)."""
        future = self._resizing[position]
        if future is not None:
            axis = self.grid.grow_axis or 0  # resizes happen only with one
            if future.done() or index[axis] >= self._arrays[position].shape[axis]:
                self._settle_resize(position)
        return self._arrays[position]

    def falling_behind(self) -> bool:
        return self._pending.stalls > 0

    def writes_in_flight(self) -> Callable[[], None] | None:
        for position in range(len(self._arrays)):
            self._settle_resize(position)
        self._pending.check()
        return self._pending.waiter()

    def drain(self) -> None:
        for position in range(len(self._arrays)):
            self._settle_resize(position)
        self._pending.drain()

    def close(self) -> None:
        resizer, self._resizer = self._resizer, None
        if resizer is not None:
            resizer.shutdown()  # every resize was settled by `drain`

    def read(self, position: int, key: tuple[Any, ...]) -> np.ndarray:
        # a read is sure to see a write only once it is committed (reads
        # issued between a write's copy and its commit could read zeros)
        self._pending.wait()
        self._settle_resize(position)
        result: np.ndarray = self._arrays[position][key].read().result()
        return result


def make_writer(
    grid: ArrayGrid, explain: Callable[[BaseException], BaseException]
) -> ArrayWriter:
    """tensorstore's writer; frame-sized raw chunks of a local array, and
    its shards of them, go to files written by threads of ours."""
    return with_own_files(TensorstoreWriter, grid, explain)


class TensorstoreBackend(ZarrDataset):
    """OME-Zarr through tensorstore's zarr3 driver (zarr for OME-Zarr 0.4)."""

    name = "tensorstore"
    # levels go through tensorstore itself, never chunk files of ours
    library = ZarrLibrary(writer=make_writer, level_writer=TensorstoreWriter)


def _as_os_error(error: BaseException) -> BaseException:
    """tensorstore reports I/O failures as ValueError; recover the OSError."""
    match = re.search(r"os_error_code='(\d+)'", str(error))
    if match is None:
        return error
    code = int(match.group(1))
    return OSError(code, f"{os.strerror(code)}: {error}")


__all__ = ["TensorstoreBackend", "TensorstoreWriter", "flush_every"]
