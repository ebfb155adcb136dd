"""OME-Zarr arrays through tensorstore (the default OME-Zarr backend).

Writes are asynchronous: `write` waits only until tensorstore has copied the
frame (so the caller may reuse its buffer), then keeps the commit pending.
For small frames waiting for any tensorstore thread costs more than the copy;
they are instead copied once into a pooled buffer that tensorstore references
until the commit (the pool is bounded like the queue). Larger frames are
copied by tensorstore, compressed ones too: its copy waits behind chunk
encoding on the same threads, but copying 2048² blosc-zstd frames on the
caller's thread instead cost 8 % of the throughput (median of four runs each
way) and did not lower the paced latency (38 fps: p99 10.8 against 9.0 ms).
An assembled chunk (or shard) buffer is handed over as it is: the assembler
never writes to it again.
Growing an unbounded array is asynchronous too (it starts when the array is
half full, see `ZarrBackend.grow_ahead`), and is issued from a thread of its
own: the call took 0.1-0.44 ms, and 512² appends at ~2,000 fps that issued it
(frames 64, 128 and 256) were late.
At most `MAX_PENDING_BYTES` of uncommitted data are in flight; beyond that
`write` waits for the oldest commit (backpressure). A failed commit is raised
from the next `write` and from `finalize`. Chunk files are written without
fsync (``file_io_sync: false``); checkpoints and close sync the dataset's
filesystem once. Uncompressed, unsharded writes start on few tensorstore
threads, leaving the CPU to the acquisition thread; small frames move to
more threads once the disk falls behind (`thread_limits`).

A local array whose chunks are each one frame's raw bytes has them written by
threads of ours instead (`ChunkFiles`: a resident frame pool, two writer
threads, a temporary name and a rename per chunk): tensorstore still makes,
resizes and reads the array.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tensorstore as ts

from ome_writers._io._object_store import ObjectPath, tensorstore_kvstore
from ome_writers._io._writeback import flush_every
from ome_writers.backends.zarr._chunk_file_writer import ChunkFiles, frame_chunk_files
from ome_writers.backends.zarr._dataset import ZarrBackend, codec_configs
from ome_writers.backends.zarr._writes_in_flight import PendingWrites

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy as np

    from ome_writers._io._object_store import DatasetPath
    from ome_writers.backends._base import BackendContext

MAX_PENDING_BYTES = 64 * 1024**2
MAX_PENDING_WRITES = 64  # also bounds the pool of frame copies
# Frames up to this size are copied on the caller's thread: a copy of 1 MiB
# takes ~50 µs, while waiting for tensorstore's copy means waiting for one of
# its threads to be scheduled (p99 several ms on a busy two-core machine).
# Larger frames are copied by tensorstore, on its threads, in parallel.
SMALL_FRAME_BYTES = 1024**2


Threads = tuple[int, int]  # tensorstore's data-copy (and encoding), file-I/O threads


def thread_limits(
    cores: int, encoded: bool, frame_bytes: int
) -> tuple[Threads, Threads]:
    """tensorstore's threads to start with, and to use once the disk falls behind.

    Encoded (compressed, or sharded: chunks assembled into a shard and its
    index checksummed on the copy threads), encoding is the work and gets
    every core from the start: uncompressed 2048² shards went 7 % faster
    with them (1.43 against 1.33 GB/s, six interleaved runs), at a paced
    p99 of 11.3 against 8.8 ms.
    Uncompressed, tensorstore's threads only copy and write bytes, and every
    extra busy thread takes CPU from the acquisition thread. On two cores,
    tensorstore's defaults (2 copy, 4 I/O threads) made appends of 512²
    frames at 500 fps wait 3 ms at p99 (one I/O thread: 0.3 ms), and 2048²
    frames at 100 fps 21-52 ms (1 copy and 2 I/O threads: 14-16 ms, same
    throughput, 40 MB less memory). One I/O thread caps small writes at about
    500 files/s here, so small frames move to more threads once an append had
    to wait for the disk (backpressure); more threads did not raise the
    throughput of large frames, only their memory and latency.
    """
    bulk = (cores, max(4, cores))
    if encoded:
        return bulk, bulk
    if frame_bytes <= SMALL_FRAME_BYTES:
        return (max(1, cores // 4), max(1, cores // 2 - 1)), bulk
    large = (max(1, cores // 4), max(2, cores // 2))
    return large, large


def _store_spec(path: DatasetPath) -> dict[str, Any]:
    return {"driver": "zarr3", "kvstore": tensorstore_kvstore(path)}


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


class TensorstoreBackend(ZarrBackend):
    """OME-Zarr v0.5 through tensorstore's zarr3 driver."""

    name = "tensorstore"
    grow_ahead = True

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        encoded = self.compression != "none" or self.shards is not None
        cores = os.cpu_count() or 1
        self.threads, self._bulk_threads = thread_limits(
            cores, encoded, self.frame_bytes
        )
        # object storage: transient failures (5xx, resets) are retried
        self._s3_retries = (
            self.root.location.tensorstore_retries()
            if isinstance(self.root, ObjectPath)
            else None
        )
        self._context = _context(*self.threads, self._s3_retries)
        # held while the context is switched and while arrays made ahead (on
        # another thread) are stored, so that none keeps the old context
        self._context_lock = threading.Lock()
        self._making_context = _context(*self._bulk_threads, self._s3_retries)
        self._arrays: list[Any] = [None] * self.num_positions
        self._paths: dict[int, DatasetPath] = {}  # position -> array directory
        # shape -> zarr.json of an array made in this local dataset (`_create_arrays`)
        self._templates: dict[tuple[int, ...], bytes] = {}
        self._old_writes_pending = False
        self._resizing: list[Any] = [None] * self.num_positions
        self._resizer: ThreadPoolExecutor | None = None  # `prepare`, if it grows
        self._pending = PendingWrites(
            max_bytes=MAX_PENDING_BYTES,
            max_items=MAX_PENDING_WRITES,
            explain=lambda e: self.explain_failure(_as_os_error(e)),
        )
        # frame-sized raw chunks of a local array: written by a thread of ours
        # (`_chunk_files`); everything else goes through tensorstore
        self._files: ChunkFiles | None = None
        if isinstance(self.root, Path) and frame_chunk_files(
            local=True,
            compression=self.compression,
            sharded=self.shards is not None,
            chunks=self.chunks,
            frame_shape=self.frame_shape,
            dtype=self.dtype,
        ):
            self._files = ChunkFiles(
                self.frame_shape, self.dtype, self._chunk_file, self.root
            )
        self._copy_frames = self.frame_bytes <= SMALL_FRAME_BYTES
        if self._copy_frames and self._files is None:
            # one copy per write in flight, plus the next one
            in_flight = min(
                MAX_PENDING_WRITES, MAX_PENDING_BYTES // self.frame_bytes + 1
            )
            self._pending.reserve(self.frame_shape, self.dtype, in_flight + 1)

    def _max_bytes_in_flight(self) -> int:
        return MAX_PENDING_BYTES

    def _chunk_file(self, unit: Any) -> str:
        """The one chunk file of the frame at `unit` (position, index)."""
        return next(self._unit_files(unit))

    def prepare(self) -> None:
        if self._files is not None:
            self._files.start()
        if self.grow_axis is not None:
            self._resizer = ThreadPoolExecutor(1, "ome-writers-resize")
            self._resizer.submit(int)  # its thread starts now, not on an append
        super().prepare()

    def _handed_over(self, nbytes: int, unit: tuple[int, tuple[int, ...]]) -> None:
        if self._files is None:  # else its writer starts write-back itself
            super()._handed_over(nbytes, unit)

    def share_with(self, other: ZarrBackend, memory_fraction: float) -> None:
        # levels write their (smaller) frames through the shared tensorstore
        # threads, within a fraction of level 0's memory
        self._files = None
        # levels are written from a background thread, frame by frame from a
        # reused buffer: copy it at once rather than wait for tensorstore's
        # copy behind level 0's on the shared threads
        self._copy_frames = True
        if isinstance(other, TensorstoreBackend):  # one set of tensorstore threads
            self.threads, self._bulk_threads = other.threads, other._bulk_threads  # noqa: SLF001
            self._context = other._context  # noqa: SLF001
        max_bytes = max(1, int(MAX_PENDING_BYTES * memory_fraction))
        self._pending.max_bytes = max_bytes
        # less in flight: write-back may start sooner (`flush_every`)
        self.flusher.every_bytes = flush_every(max_bytes)
        if not self._pending.pooled:
            in_flight = min(
                MAX_PENDING_WRITES, max_bytes // max(1, self.frame_bytes) + 1
            )
            self._pending.reserve(self.frame_shape, self.dtype, in_flight + 1)

    def _codecs(self) -> tuple[list[int], list[dict[str, Any]]]:
        endian = {"name": "bytes", "configuration": {"endian": "little"}}
        inner = [endian, *codec_configs(self.compression, self.dtype.itemsize)]
        if self.shards is None:
            return list(self.chunks), inner
        sharding = {
            "name": "sharding_indexed",
            "configuration": {
                "chunk_shape": list(self.chunks),
                "codecs": inner,
                "index_codecs": [endian, {"name": "crc32c"}],
                "index_location": "end",
            },
        }
        return list(self.shards), [sharding]

    def _create_arrays(self, arrays: list[tuple[int, DatasetPath, list[int]]]) -> None:
        # made on threads of their own, not queued behind the writes in flight
        # (arrays made ahead of a plate's frames); every open is started before
        # any is awaited, so tensorstore makes them concurrently. In a local
        # dataset, the first array of a shape is made by tensorstore and the
        # others get its document: a new directory of a new dataset holds
        # nothing to delete (0.1 against 0.4 ms of CPU time per array)
        making: list[tuple[DatasetPath, list[int], Any]] = []
        shapes_made: set[tuple[int, ...]] = set()  # locally, in this batch
        copies: list[tuple[Path, tuple[int, ...]]] = []
        for _, path, shape in arrays:
            if isinstance(path, Path):
                shape_key = tuple(shape)
                if shape_key in self._templates or shape_key in shapes_made:
                    copies.append((path, shape_key))
                    continue
                shapes_made.add(shape_key)
            future = ts.open(
                self._spec(path, shape),
                create=True,
                delete_existing=True,
                context=self._making_context,
            )
            making.append((path, shape, future))
        for path, shape, future in making:
            future.result()
            if isinstance(path, Path):
                self._templates[tuple(shape)] = (path / "zarr.json").read_bytes()
        for path, shape_key in copies:
            path.mkdir(parents=True, exist_ok=True)
            (path / "zarr.json").write_bytes(self._templates[shape_key])
        with self._context_lock:  # the writes' handles: opened without I/O
            for position, path, shape in arrays:
                self._arrays[position] = self._open_made(path, shape)
                self._paths[position] = path

    def _open_made(self, path: DatasetPath, shape: Sequence[int]) -> Any:
        """A handle of an existing array, in the writes' context, opened without
        reading its metadata (it is `shape` and the settings' metadata)."""
        return ts.open(
            self._spec(path, list(shape)),
            open=True,
            assume_cached_metadata=True,
            context=self._context,
        ).result()

    def _spec(self, path: DatasetPath, shape: list[int]) -> dict[str, Any]:
        grid, codecs = self._codecs()
        return {
            **_store_spec(path),
            "metadata": {
                "shape": shape,
                "chunk_grid": {
                    "name": "regular",
                    "configuration": {"chunk_shape": grid},
                },
                "chunk_key_encoding": {"name": "default"},
                "codecs": codecs,
                "data_type": self.dtype.name,
                "dimension_names": list(self.storage_names),
                "fill_value": 0,
            },
        }

    def _keep_up(self) -> None:
        """Use more threads once an append had to wait for the disk."""
        if self._pending.stalls and self.threads != self._bulk_threads:
            self.threads = self._bulk_threads
            with self._context_lock:  # arrays made ahead from now on use it
                self._context = _context(*self.threads, self._s3_retries)
                # writes in flight finish on the old handles, which a read
                # through the new ones sees only once committed (`_read_array`)
                self._old_writes_pending = True
                for position, path in self._paths.items():
                    self._settle_resize(position)
                    shape = self._arrays[position].shape
                    self._arrays[position] = self._open_made(path, shape)

    def _submit(self, target: Any, data: np.ndarray, own_copy: bool) -> None:
        self._pending.check()
        buffer = None
        if own_copy:
            buffer = self._pending.copy(data)
            futures = target.write(buffer, can_reference_source_data_indefinitely=True)
        else:
            futures = target.write(data)
            futures.copy.result()  # the caller's buffer may be reused from here
        self._pending.add(futures.commit, data.nbytes, buffer)
        self._keep_up()

    def _submit_owned(self, target: Any, block: np.ndarray) -> None:
        """Write an assembled block: no copy, no wait; once written, it is
        recycled for assembling another (`_reuse_block`)."""
        self._pending.check()
        futures = target.write(block, can_reference_source_data_indefinitely=True)
        self._pending.add(futures.commit, block.nbytes, block)
        self._keep_up()

    def _reuse_block(self, shape: tuple[int, ...]) -> np.ndarray | None:
        return self._pending.reuse(shape)

    def _write_frame(
        self, position: int, index: tuple[int, ...], frame: np.ndarray
    ) -> None:
        if self._files is not None:
            self._files.write((position, index), frame)
            return
        self._submit(self._array(position, index)[index], frame, self._copy_frames)

    def _write_frame_owned(
        self,
        position: int,
        index: tuple[int, ...],
        frame: np.ndarray,
        release: Callable[[], None],
    ) -> None:
        if self._files is not None:
            self._files.write_owned((position, index), frame, release)
            return

        # tensorstore references the buffer until the commit: no copy, no wait
        def start() -> Any:
            target = self._array(position, index)[index]
            return target.write(
                frame, can_reference_source_data_indefinitely=True
            ).commit

        self._pending.add_releasing(start, frame.nbytes, release)
        self._keep_up()

    def _write_block(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        region = tuple(
            slice(o, o + n) for o, n in zip(origin, block.shape, strict=False)
        )
        # the last index the block reaches decides whether a resize must land
        last = tuple(o + n - 1 for o, n in zip(origin, block.shape, strict=False))
        # the assembler hands over each chunk buffer and never touches it again
        self._submit_owned(self._array(position, last)[region], block)

    def _resize(self, position: int, shape: tuple[int, ...]) -> None:
        # growing rewrites only zarr.json: pending chunk writes stay valid (the
        # final cut at close comes after every write has finished). The new
        # shape is awaited only when a write needs it (`_array`).
        self._settle_resize(position)
        array, resizer, future = self._arrays[position], self._resizer, None
        if resizer is not None:  # a `concurrent.futures.Future` of the result
            with contextlib.suppress(RuntimeError):  # pools stopped: at exit
                future = resizer.submit(_resized, array, list(shape))
        if future is None:  # closed, or never growing: resize from here
            future = array.resize(exclusive_max=list(shape), resize_metadata_only=True)
        self._resizing[position] = future

    def _settle_resize(self, position: int) -> None:
        future = self._resizing[position]
        if future is not None:
            self._resizing[position] = None
            self._arrays[position] = future.result()

    def _array(self, position: int, index: tuple[int, ...]) -> Any:
        """The array to write through up to `index` (the last index written,
        along the grow axis; a resize may still be in flight)."""
        future = self._resizing[position]
        if future is not None:
            axis = self.grow_axis or 0  # resizes happen only with a grow axis
            if future.done() or index[axis] >= self._arrays[position].shape[axis]:
                self._settle_resize(position)
        return self._arrays[position]

    def _falling_behind(self) -> bool:
        files = self._files
        return self._pending.stalls > 0 or (files is not None and files.stalls > 0)

    def _writes_in_flight(self) -> Callable[[], None] | None:
        for position in range(self.num_positions):
            self._settle_resize(position)
        self._pending.check()
        pending = self._pending.waiter()
        if self._files is None:
            return pending
        files = self._files.waiter()

        def wait() -> None:
            pending()
            files()

        return wait

    def _drain(self) -> None:
        for position in range(self.num_positions):
            self._settle_resize(position)
        if self._files is not None:
            self._files.drain()
        self._pending.drain()

    def _close_arrays(self) -> None:
        resizer, self._resizer = self._resizer, None
        if resizer is not None:
            resizer.shutdown()  # every resize was settled by `_drain`
        if self._files is not None:
            self._files.close()

    def _read_array(self, position: int, key: tuple[Any, ...]) -> np.ndarray:
        # a read is sure to see a write only once it is committed (reads
        # issued between a write's copy and its commit could read zeros)
        self._pending.wait()
        if self._files is not None:  # a failure is raised by writes and close
            with contextlib.suppress(Exception):
                self._files.drain()
        self._old_writes_pending = False
        self._settle_resize(position)
        result: np.ndarray = self._arrays[position][key].read().result()
        return result


def _resized(array: Any, shape: list[int]) -> Any:
    """`array` grown (or cut) to `shape`, on the resize thread."""
    return array.resize(exclusive_max=shape, resize_metadata_only=True).result()


def _as_os_error(error: BaseException) -> BaseException:
    """tensorstore reports I/O failures as ValueError; recover the OSError."""
    match = re.search(r"os_error_code='(\d+)'", str(error))
    if match is None:
        return error
    code = int(match.group(1))
    return OSError(code, f"{os.strerror(code)}: {error}")
