"""OME-Zarr arrays through acquire-zarr (C++ streaming writer).

acquire-zarr receives frames sequentially per array (``append(frame, key=...)``)
in acquisition order and assembles, compresses and writes chunks on its own
threads; it copies each frame before `append` returns. Dimensions are passed in
acquisition order with ``storage_dimension_order`` when storage differs; it
cannot move the first dimension, which `check_settings` reports. The group
hierarchy comes from the shared NGFF writer and is rewritten at close (after
acquire-zarr has written its array metadata).

Live reads: array files become readable only at close. Once a view exists,
it shows the most recent frames of each position (held in a small ring of
copies, kept only while a view exists); other frames read as zeros until the
stream is closed.

Checkpoints: acquire-zarr has no flush. It writes a shard once every frame of
it has arrived, so a checkpoint declares the complete shards along the first
dimension: it checks each shard file's index checksum and then writes the
array's ``zarr.json`` with that extent. Frames of an incomplete first-dimension
shard are not covered until close.

acquire-zarr also rewrites an array's ``zarr.json`` itself whenever a
first-dimension shard is complete (a "rollover"), on its own thread and possibly
before that shard's files are all written: a crash then would leave the array
declaring shards with a partial index (unreadable). So acquire-zarr writes into
a staging store (in shared memory, else inside the dataset: `_staging_store`)
whose arrays' ``c`` directories are links to the real arrays' ``c``: the chunk
data lands in place, its ``zarr.json`` documents do not. Only checkpoints (and
close, which moves acquire-zarr's final documents into place) write the
arrays' ``zarr.json``.
The staging store is flat (position *p*'s array is ``p<p>``, one directory
each, whatever the dataset's hierarchy), so acquire-zarr's own group documents
stay in it too. Where links cannot be made, acquire-zarr writes in place.

acquire-zarr's OpenMP runtime is loaded with the passive wait policy
(`passive_openmp`), so that its idle threads sleep rather than spin between
frames.

Small frames are handed over in batches (`_acquire_zarr_batches`). A batch
waits no longer than the next loss-window visit, which can declare no more
than complete shards anyway.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import math
import os
import shutil
import threading
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers._io._durable import sync_filesystem
from ome_writers._io._frame_pool import copy_frame
from ome_writers._io._object_store import explain_write_failure, zarr_store
from ome_writers._io._openmp import passive_openmp
from ome_writers._io._overlap import overlapped
from ome_writers._io._writeback import FLUSH_EVERY_BYTES, Flusher, flush_every
from ome_writers._router import c_order_per_position
from ome_writers._schema._storage import chunk_grid, effective_type
from ome_writers.backends._base import Backend, json_safe, read_padded
from ome_writers.backends.zarr._acquire_zarr_batches import FrameBatches
from ome_writers.backends.zarr._acquire_zarr_shards import CompleteShards
from ome_writers.backends.zarr._acquire_zarr_staging import StagingStore, move_document
from ome_writers.backends.zarr._array_creation import made_at_once, make_arrays
from ome_writers.backends.zarr._array_writer import ArrayGrid
from ome_writers.backends.zarr._chunk_assembly import locate
from ome_writers.backends.zarr._hierarchy import ZarrHierarchy
from ome_writers.errors import BackendError
from ome_writers.metadata._ngff_axes import check_axes
from ome_writers.metadata._zarr_layout import check_plate

# acquire-zarr's OpenMP threads otherwise spin between frames, taking a core
# from its writer threads and from the acquisition (`passive_openmp`)
with passive_openmp():
    import acquire_zarr as az

if TYPE_CHECKING:
    from collections.abc import Callable

    from ome_writers._schema import AcquisitionSettings
    from ome_writers.backends._base import BackendContext, StorageKey
    from ome_writers.backends.zarr._array_creation import ArraysAhead

RECENT_FRAMES = 8
# threads making or moving many arrays' files (five file-system calls each),
# which mostly wait for the disk (`_overlap`)
FS_THREADS = 4
CHECKPOINT_WAIT_SECONDS = 2.0  # for acquire-zarr's threads to write full shards
_KINDS = {
    "time": az.DimensionType.TIME,
    "channel": az.DimensionType.CHANNEL,
    "space": az.DimensionType.SPACE,
}
_CODECS = {
    "blosc-zstd": (az.Compressor.BLOSC1, az.CompressionCodec.BLOSC_ZSTD, 3),
    "blosc-lz4": (az.Compressor.BLOSC1, az.CompressionCodec.BLOSC_LZ4, 5),
}


class AcquireZarrBackend(Backend):
    """OME-Zarr v0.5 through acquire-zarr.

    The hierarchy is the one every Zarr library writes (`ZarrHierarchy`); the
    arrays are acquire-zarr's, streamed in acquisition order.
    """

    name = "acquire-zarr"

    @classmethod
    def check_settings(cls, settings: AcquisitionSettings) -> str | None:
        reason = (
            super().check_settings(settings)
            or check_axes(settings)
            or check_plate(settings)
        )
        if reason:
            return reason
        acquisition = [d.name for d in settings.index_dimensions]
        storage = [d.name for d in settings.storage_index_dimensions]
        if acquisition and storage[0] != acquisition[0]:
            return (
                "acquire-zarr cannot move the first acquisition dimension "
                f"{acquisition[0]!r} (storage order {storage}); use storage_order="
                "'acquisition' or another backend"
            )
        if not c_order_per_position(settings):
            return (
                "acquire-zarr appends each array's frames in sequence, so every "
                "position must receive all its frames in C order; this frame_order "
                "interleaves them differently or leaves cells out (use "
                "tensorstore, zarr-python or zarrs-python)"
            )
        if settings.dtype and np.dtype(settings.dtype).name not in _DTYPES:
            return f"acquire-zarr cannot write dtype {settings.dtype!r}"
        return None

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        settings = context.settings
        self.hierarchy = ZarrHierarchy.for_context(context)
        self.root = self.hierarchy.root
        dims = settings.array_storage_dimensions
        self.chunks, self.shards = chunk_grid(dims)
        self.compression = settings.compression or "none"
        self.frame_shape = (int(dims[-2].count or 0), int(dims[-1].count or 0))
        self.frame_bytes = self.dtype.itemsize * math.prod(self.frame_shape)
        self.grow_axis = next((i for i, d in enumerate(dims) if d.count is None), None)
        # each array's shape, an unbounded first dimension at 0
        self.shape = [int(c or 0) for c in self.storage_shape]
        self.extent = [0] * self.num_positions  # written extent on the grow axis
        self._keys = self.hierarchy.array_paths()
        self.grid = grid = ArrayGrid(
            root=self.root,
            paths=tuple(self._keys),
            names=self.storage_names,
            dtype=self.dtype,
            chunks=self.chunks,
            shards=self.shards,
            compression=self.compression,
            frame_shape=self.frame_shape,
            grow_axis=self.grow_axis,
            block_bytes=self.frame_bytes,
            assembled=False,
        )
        self.flusher = Flusher(
            self.root if isinstance(self.root, Path) else None,
            flush_every(FLUSH_EVERY_BYTES),
            locate=grid.unit_files,
        )
        # positions whose array directory and staging link exist (all but the
        # first are made in the background when there are several)
        self._arrays_ahead: ArraysAhead = made_at_once(self.num_positions)
        self._array_ready = self._arrays_ahead.ready
        self.finalized = False
        self._stream: Any = None
        self._stream_keys = self._keys  # acquire-zarr's: flat ones when staged
        self._recent: list[OrderedDict[tuple[int, ...], np.ndarray]] = [
            OrderedDict() for _ in range(self.num_positions)
        ]
        self._zeros = np.zeros(self.frame_shape, dtype=self.dtype)
        self._readers: list[Any] = []
        self._keep_recent = False  # copies for live reads, once a view exists
        self._frames = [0] * self.num_positions  # frames received per array
        self._batches = FrameBatches(
            self.num_positions, self.frame_shape, self.dtype, self._send
        )
        self._store: StagingStore | None = None  # acquire-zarr's, if not the root
        self._linked = False  # a staging link was made
        # the documents declaring complete shards (one declaration at a time:
        # a loss-window visit declares without the stream's lock)
        self.shards_done = CompleteShards(grid, self.storage_shape)
        # close has started: a visit's declarations (which close rewrites) stop
        self._closing = threading.Event()
        self._valid = 0  # frames from the first whose shards are declared
        self._valid_lock = threading.Lock()

    def _dimension(self, dim: Any, chunk: int, shard: int) -> Any:
        kind = _KINDS.get(str(effective_type(dim)), az.DimensionType.OTHER)
        kwargs: dict[str, Any] = {
            "name": dim.name,
            "kind": kind,
            "array_size_px": dim.count or 0,
            "chunk_size_px": chunk,
            "shard_size_chunks": shard,
        }
        if dim.unit and kind in (az.DimensionType.SPACE, az.DimensionType.TIME):
            kwargs["unit"] = dim.unit
        if dim.scale and dim.scale > 0:
            kwargs["scale"] = float(dim.scale)
        return az.Dimension(**kwargs)

    def prepare(self) -> None:
        if isinstance(self.root, Path):  # unless links fail (`_create_arrays`)
            self._store = StagingStore(self.root, self.num_positions)
        try:
            self._prepare_stream()
            self.flusher.start()
        except BaseException:
            # the failure is what to raise; no link is made while the store goes
            with contextlib.suppress(Exception):
                self._arrays_ahead.wait_all()
            with contextlib.suppress(OSError):
                self._remove_store()
            raise

    def _prepare_stream(self) -> None:
        # groups, and each array's directory and staging link: the first
        # position's now, the others ahead of their frames (`_create_arrays`)
        self.hierarchy.prepare()
        self._arrays_ahead = make_arrays(
            self.num_positions, self.router, self._create_positions
        )
        self._array_ready = self._arrays_ahead.ready
        self.hierarchy.start(ome_xml_ahead=self.grow_axis is None)
        if self._staging is not None:  # links work here
            self._stream_keys = [_staged_key(p) for p in range(self.num_positions)]
        settings = self.settings
        storage = list(settings.array_storage_dimensions)
        by_name = {d.name: i for i, d in enumerate(storage)}
        acquisition = [*settings.index_dimensions, *settings.frame_dimensions]
        shards = self.shards or self.chunks
        dims = []
        for d in acquisition:
            i = by_name[d.name]
            dims.append(self._dimension(d, self.chunks[i], shards[i] // self.chunks[i]))
        compression = None
        if self.compression in _CODECS:
            compressor, codec, level = _CODECS[self.compression]
            compression = az.CompressionSettings(
                compressor=compressor, codec=codec, level=level, shuffle=1
            )
        arrays = []
        for key in self._stream_keys:
            kwargs: dict[str, Any] = {
                "output_key": key,
                "dimensions": dims,
                "data_type": _DTYPES[self.dtype.name],
            }
            if compression is not None:
                kwargs["compression"] = compression
            order = [d.name for d in storage]
            if order != [d.name for d in acquisition]:
                kwargs["storage_dimension_order"] = order
            arrays.append(az.ArraySettings(**kwargs))
        if isinstance(self.root, Path):
            stream_settings = az.StreamSettings(
                store_path=str(self._staging or self.root),
                arrays=arrays,
                overwrite=False,
            )
        else:  # a bucket: acquire-zarr writes its array documents in place
            stream_settings = az.StreamSettings(
                store_path=self.root.key,
                s3=self.root.location.acquire_settings(),
                arrays=arrays,
                overwrite=False,
            )
        self._stream = az.ZarrStream(stream_settings)
        _open_streams.add(self)

    def _create_positions(self, positions: list[int]) -> None:
        root = self.root
        self._create_arrays([(p, root / self._keys[p], self.shape) for p in positions])

    def _await_ahead(self) -> None:
        """Wait for every array and group document made in the background."""
        self._arrays_ahead.wait_all()
        self.hierarchy.wait()

    def _index_shape(self, position: int) -> list[int]:
        """The index shape of one array as far as written."""
        shape = self.shape[:-2]
        if self.grow_axis is not None:
            shape[self.grow_axis] = self.extent[position]
        return shape

    def explain_failure(self, error: BaseException) -> BaseException:
        return explain_write_failure(error, self.root)

    def _create_arrays(self, arrays: list[tuple[int, Any, list[int]]]) -> None:
        """Array directories with no extent yet, acquire-zarr's store linked to them.

        acquire-zarr creates nothing before it writes. Its ``<staging>/<key>/c``
        is a link to ``<root>/<key>/c``, so its chunk files are the arrays'
        while its ``zarr.json`` stays apart. A position's link must exist
        before its first frame is appended (`write` waits for it).
        """
        staging = self._staging
        if staging is None:  # a bucket, or no links: acquire-zarr writes in place
            return
        if not self._linked:  # the first array tells whether links work here
            position, array, allocated = arrays[0]
            assert isinstance(array, Path)
            try:
                self._link(staging, position, array)
            except OSError:
                # no links here (e.g. Windows without the privilege)
                self._remove_store()
                return
            self._linked = True
            self._declare_empty(array, allocated)
            arrays = arrays[1:]

        def create(entry: tuple[int, Any, list[int]]) -> None:
            position, array, allocated = entry
            assert isinstance(array, Path)
            self._link(staging, position, array)
            self._declare_empty(array, allocated)

        overlapped(create, arrays, threads=FS_THREADS)  # five file-system calls each

    @staticmethod
    def _link(staging: Path, position: int, array: Path) -> None:
        """The array's directory and ``c``, and acquire-zarr's (staged) array
        directory whose ``c`` is a link to it."""
        linked = staging / _staged_key(position)
        _make_directories(array / "c")
        _make_directories(linked)
        # absolute: the store may be on another filesystem (`_staging_store`)
        target = os.path.abspath(array / "c")
        os.symlink(target, linked / "c", target_is_directory=True)

    def _declare_empty(self, array: Path, allocated: list[int]) -> None:
        """The array's ``zarr.json`` with no first-dimension extent yet."""
        document = self.shards_done.array_doc((0, *allocated[1:]))
        # a new array: nothing to replace atomically
        (array / "zarr.json").write_text(document)

    def write(self, position: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        if not self._array_ready[position]:
            self._arrays_ahead.wait(position)
        if (
            self.grow_axis is not None
            and index[self.grow_axis] >= self.extent[position]
        ):
            self.extent[position] = index[self.grow_axis] + 1
        self._batches.add(position, frame)
        self._frames[position] += 1
        self.flusher.add(frame.nbytes, (position, index))
        if not self._keep_recent:
            return
        recent = self._recent[position]
        slot = recent.popitem(last=False)[1] if len(recent) >= RECENT_FRAMES else None
        if slot is None:
            slot = np.empty(self.frame_shape, dtype=self.dtype)
        copy_frame(slot, frame)
        recent[index] = slot

    def _send(self, position: int, frames: np.ndarray) -> None:
        self._stream.append(frames, key=self._stream_keys[position])

    def write_owned(
        self,
        position: int,
        index: tuple[int, ...],
        frame: np.ndarray,
        release: Callable[[], None],
    ) -> None:
        try:  # acquire-zarr copies the frame before `append` returns
            self.write(position, index, frame)
        finally:
            release()

    def enable_live_reads(self) -> None:
        self._keep_recent = True

    def skip(self, position: int, index: tuple[int, ...]) -> None:
        # sequential writer: a skipped frame is written as zeros
        self.write(position, index, self._zeros)

    def final_first_extent(self, position: int) -> int | None:
        # acquire-zarr declares the first-dimension indices it received frames
        # for, also when a bounded acquisition ends early
        if len(self.storage_shape) < 3:
            return None
        per_index = math.prod(int(n or 1) for n in self.storage_shape[1:-2])
        return math.ceil(self._frames[position] / per_index)

    def finalize(self, frames_done: int) -> None:
        if self.finalized:
            return
        self.finalized = True
        self.flusher.close()
        failure: Exception | None = None
        try:
            self._arrays_ahead.wait_all()  # no link is made while the staging goes
        except Exception as e:  # finish what exists; raise it at the end
            failure = e
        try:
            self._close_stream()
        except BaseException:
            with contextlib.suppress(OSError):  # the failure is what to raise
                self._remove_store()
            raise
        for position in range(self.num_positions):
            self._recent[position].clear()
        store = self._store
        if store is not None:  # acquire-zarr's final array documents
            staging, root = store.path, self.root
            assert isinstance(root, Path)  # a staging store is local

            def move_in(position: int) -> None:
                staged = staging / self._stream_keys[position]
                if self._frames[position]:
                    move_document(
                        staged / "zarr.json", root / self._keys[position] / "zarr.json"
                    )
                if store.inside_dataset:  # on the disk: removed on these threads
                    # (also if this position's link failed)
                    shutil.rmtree(staged, ignore_errors=True)

            try:
                overlapped(move_in, range(self.num_positions), threads=FS_THREADS)
            finally:
                self._remove_store()
        else:  # acquire-zarr may have written group documents: restore ours
            self.hierarchy.rewrite_groups()
        hierarchy = self.hierarchy
        grown = self.grow_axis is not None
        try:
            extents = list(self.extent) if grown else None
            hierarchy.write_ome_xml_at_close(frames_done, extents)
        except Exception as e:  # what else close writes is written first
            failure = failure or e
        for position, key in enumerate(self._keys):
            if self._frames[position] == 0:  # acquire-zarr wrote no metadata
                self.shards_done.write_array_doc(key, list(self.shape))
        # the root's document, written last, states the run complete
        hierarchy.set_progress(frames_done, "failed" if failure else "complete")
        hierarchy.write_frame_metadata(self._index_shape)
        sync_filesystem(self.root)
        if failure is not None:
            raise failure

    @property
    def _staging(self) -> Path | None:
        """acquire-zarr's store directory (None: it writes in place)."""
        return None if self._store is None else self._store.path

    def _remove_store(self) -> None:
        """Remove the staging store (once) and release its lock."""
        store, self._store = self._store, None
        if store is not None:
            store.remove()

    def _close_stream(self) -> None:
        _open_streams.discard(self)
        if self._stream is not None:
            try:
                self._batches.hand_over()
                self._stream.close()
            except RuntimeError as e:  # acquire-zarr reports write failures here
                raise self._explain(e) from e

    def checkpoint(self, frames_done: int) -> None:
        """Declare the complete first-dimension shards of each array on disk."""
        self._batches.hand_over()
        self._declare_complete(CHECKPOINT_WAIT_SECONDS)
        sync_filesystem(self.root)

    def make_readable(self, frames_done: int) -> None:
        """Declare the first-dimension shards acquire-zarr has completed.

        acquire-zarr has no flush: frames of a shard it has not completed are
        not readable until it is (the loss window's bound on this backend).
        """
        self._batches.hand_over()
        self._declare_complete(0.0)

    def start_readable(self, frames_done: int) -> Callable[[], object] | None:
        """`make_readable` in two parts: under the stream's lock, what each
        array has received; without it, waiting for the arrays made ahead,
        finding the complete shards and declaring them (one file read per
        shard), so that appends go on meanwhile."""
        if self.router.jagged:  # image documents rewritten: all under the lock
            return Backend.start_readable(self, frames_done)
        self._batches.hand_over()
        targets = self._target_extents()
        return lambda: self._declare_complete(0.0, targets, visit=True)

    def closing(self) -> None:
        self._closing.set()

    def _declare_complete(
        self,
        wait_seconds: float,
        targets: list[int] | None = None,
        *,
        visit: bool = False,
    ) -> None:
        """Journal per-frame metadata and write changed display settings;
        each array's ``zarr.json`` declares the complete shards (up to
        `targets`, default: of the frames received so far), waiting up to
        `wait_seconds` for acquire-zarr. A visit stops declaring once close
        has started (close declares every array)."""
        self._await_ahead()  # each array's first document is written
        self.hierarchy.journal_new()
        self.hierarchy.describe_not_acquired(self._index_shape)
        self.hierarchy.write_display()
        if len(self.storage_shape) < 3:  # one frame per array: written at close
            return
        if targets is None:
            targets = self._target_extents()
        self.shards_done.declare(
            targets, wait_seconds, self._closing if visit else None
        )
        if not (visit and self._closing.is_set()):
            frames = self._declared_frames()
            declared = self.shards_done.declared
            extents = list(declared) if self.grow_axis is not None else None
            self.hierarchy.write_ome_xml(frames, extents)
            self.hierarchy.write_progress(frames)

    def _declared_frames(self) -> int:
        """Frames from the first, in acquisition order, whose first-dimension
        shard is declared complete (the storage index's first dimension is
        the acquisition's)."""
        with self._valid_lock:
            declared = self.shards_done.declared
            limit = sum(self._frames)
            route = self.router.route
            n = self._valid
            while n < limit:
                position, index = route(n)
                if index[0] >= declared[position]:
                    break
                n += 1
            self._valid = n
            return n

    def _target_extents(self) -> list[int]:
        return [self.shards_done.target_extent(n) for n in self._frames]

    def _explain(self, error: RuntimeError) -> Exception:
        """Name a full disk when acquire-zarr reports only an I/O error."""
        root = self.root
        if isinstance(root, Path) and shutil.disk_usage(root).free < self.frame_bytes:
            return OSError(errno.ENOSPC, f"No space left on device writing {self.root}")
        return BackendError(f"acquire-zarr could not finish {self.root}: {error}")

    def read(self, position: int, key: StorageKey) -> np.ndarray:
        if self.finalized:  # the arrays are complete on disk: read them there
            if not self._readers:
                import zarr

                self._readers = [
                    zarr.open_array(zarr_store(self.root / k), mode="r")
                    for k in self._keys
                ]
            reader = self._readers[position]
            return read_padded(reader, reader.shape, key, self.dtype)
        shape = list(self.shape)
        if self.grow_axis is not None:
            shape[self.grow_axis] = max(self.extent[position], 1)
        out = read_padded(_Zeros(tuple(shape), self.dtype), shape, key, self.dtype)
        index_key = key[: len(shape) - 2]
        for index, frame in list(self._recent[position].items()):
            target = locate(index, index_key)
            if target is not None:
                out[(*target, Ellipsis)] = frame[tuple(key[-2:])]  # type: ignore[index]
        return out

    # --------------------------------------------------------------- metadata

    @property
    def attributes(self) -> dict[str, dict[str, Any]]:
        """Group path -> attributes (waits until the group documents exist)."""
        return self.hierarchy.attributes

    def get_metadata(self) -> dict[str, dict[str, Any]]:
        return self.hierarchy.get_metadata()

    def update_metadata(self, metadata: Any) -> None:
        self.hierarchy.update_metadata(metadata)

    def set_global_metadata(self, namespace: str, metadata: dict[str, Any]) -> None:
        self.global_metadata[namespace] = json_safe(metadata)
        self.hierarchy.set_global_metadata(namespace, self.global_metadata[namespace])


# backends whose acquire-zarr stream is open (`_keep_in_child`)
_open_streams: weakref.WeakSet[AcquireZarrBackend] = weakref.WeakSet()


def _keep_in_child() -> None:
    """In a forked child, keep the parent's acquire-zarr streams forever.

    Destroying one (as the child exits) waits for its writer thread, which
    the fork did not copy: the child hung. The child never closes its parent's
    streams (`OMEStream._close_unclosed`), so an extra reference that is never
    dropped costs nothing.
    """
    for backend in list(_open_streams):
        if backend._stream is not None:  # noqa: SLF001
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(backend._stream))  # noqa: SLF001
    _open_streams.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_keep_in_child)


def _staged_key(position: int) -> str:
    """Where acquire-zarr writes position `position`'s array in the staging store."""
    return f"p{position}"


def _make_directories(path: Path) -> None:
    """`path` and its parent, in two calls when the grandparent exists (each
    call to the filesystem counts when a plate has hundreds of arrays)."""
    try:
        os.mkdir(path.parent)
    except FileExistsError:
        pass
    except FileNotFoundError:
        path.mkdir(parents=True, exist_ok=True)
        return
    with contextlib.suppress(FileExistsError):
        os.mkdir(path)


class _Zeros:
    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.shape = shape
        self.dtype = dtype

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.zeros(np.empty(self.shape, dtype="u1")[key].shape, dtype=self.dtype)


_DTYPES = {
    "uint8": az.DataType.UINT8,
    "uint16": az.DataType.UINT16,
    "uint32": az.DataType.UINT32,
    "uint64": az.DataType.UINT64,
    "int8": az.DataType.INT8,
    "int16": az.DataType.INT16,
    "int32": az.DataType.INT32,
    "int64": az.DataType.INT64,
    "float32": az.DataType.FLOAT32,
    "float64": az.DataType.FLOAT64,
}
