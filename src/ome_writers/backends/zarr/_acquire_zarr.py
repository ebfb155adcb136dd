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
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import math
import os
import shutil
import threading
import time
import weakref
from collections import OrderedDict
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

import acquire_zarr as az
import numpy as np

from ome_writers._io._durable import sync_filesystem
from ome_writers._io._frame_copy import copy_frame
from ome_writers._io._object_store import zarr_store
from ome_writers._io._overlap import overlapped
from ome_writers._io._paths import replace_file
from ome_writers._router import c_order_per_position
from ome_writers._schema import effective_type
from ome_writers.backends._base import Backend, StorageKey, read_padded
from ome_writers.backends.zarr._acquire_zarr_staging import StagingStore, move_document
from ome_writers.backends.zarr._chunk_assembly import locate
from ome_writers.backends.zarr._dataset import ZarrBackend, codec_configs
from ome_writers.errors import BackendError
from ome_writers.metadata._zarr_groups import write_group

if TYPE_CHECKING:
    from collections.abc import Callable

    from ome_writers._io._object_store import DatasetPath
    from ome_writers._schema import AcquisitionSettings
    from ome_writers.backends._base import BackendContext

RECENT_FRAMES = 8
# threads making or moving many arrays' files (five file-system calls each):
# a plate's 384 arrays took 1.6 ms each on four threads against 2.0 ms on one
# while the disk was busy, 0.29 against 0.20 ms while it was not (`_overlap`)
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


class AcquireZarrBackend(ZarrBackend):
    """OME-Zarr v0.5 through acquire-zarr."""

    name = "acquire-zarr"
    writes_level_arrays = False  # it writes only what it streams

    @classmethod
    def check_settings(cls, settings: AcquisitionSettings) -> str | None:
        reason = super().check_settings(settings)
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
        self.assembler = None  # acquire-zarr assembles chunks itself
        self._stream: Any = None
        self._keys = [self.layout.array_path(p) for p in range(self.num_positions)]
        self._stream_keys = self._keys  # acquire-zarr's: flat ones when staged
        self._recent: list[OrderedDict[tuple[int, ...], np.ndarray]] = [
            OrderedDict() for _ in range(self.num_positions)
        ]
        self._zeros = np.zeros(self.frame_shape, dtype=self.dtype)
        self._readers: list[Any] = []
        self._keep_recent = False  # copies for live reads, once a view exists
        self._frames = [0] * self.num_positions  # frames handed to acquire-zarr
        self._declared = [0] * self.num_positions  # first-dim extent on disk
        self._store: StagingStore | None = None  # acquire-zarr's, if not the root
        self._linked = False  # a staging link was made
        self._empty_docs: dict[tuple[int, ...], str] = {}  # array docs by shape
        # one declaration of complete shards at a time (a loss-window visit
        # declares without the stream's lock, a checkpoint with it)
        self._declaring = threading.Lock()
        # close has started: a visit's declarations (which close rewrites) stop
        self._closing = threading.Event()

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
        except BaseException:
            # the failure is what to raise; no link is made while the store goes
            with contextlib.suppress(Exception):
                self._await_arrays()
            with contextlib.suppress(OSError):
                self._remove_store()
            raise

    def _prepare_stream(self) -> None:
        # groups, and each array's directory and staging link: the first
        # position's now, the others ahead of their frames (`_create_arrays`)
        super().prepare()
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

    def _create_arrays(self, arrays: list[tuple[int, DatasetPath, list[int]]]) -> None:
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

        def create(entry: tuple[int, DatasetPath, list[int]]) -> None:
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
        shape = (0, *allocated[1:])
        if shape not in self._empty_docs:
            self._empty_docs[shape] = self._array_doc(list(shape))
        # a new array: nothing to replace atomically
        (array / "zarr.json").write_text(self._empty_docs[shape])

    def write(self, position: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        if not self._array_ready[position]:
            self._await_array(position)
        if (
            self.grow_axis is not None
            and index[self.grow_axis] >= self.extent[position]
        ):
            self.extent[position] = index[self.grow_axis] + 1
        self._stream.append(
            np.ascontiguousarray(frame), key=self._stream_keys[position]
        )
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

    def _write_frame(
        self, position: int, index: tuple[int, ...], frame: np.ndarray
    ) -> None:
        raise NotImplementedError  # write() streams directly

    def _write_block(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        raise NotImplementedError  # acquire-zarr assembles chunks

    def _resize(self, position: int, shape: tuple[int, ...]) -> None:
        pass  # acquire-zarr sizes unbounded arrays itself

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
            self._await_arrays()  # no link is made while the staging goes
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
            for group, attributes in self.attributes.items():
                if group not in self.layout.image_paths:
                    write_group(self.root, group, attributes)
        self._write_frame_metadata()
        self._write_ome_xml_at_close()
        for position, key in enumerate(self._keys):
            if self._frames[position] == 0:  # acquire-zarr wrote no metadata
                shape = list(self.allocated[position])
                if self.grow_axis is not None:
                    shape[self.grow_axis] = 0
                self._write_array_doc(key, shape)
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
                self._stream.close()
            except RuntimeError as e:  # acquire-zarr reports write failures here
                raise self._explain(e) from e

    def checkpoint(self, frames_done: int) -> None:
        """Declare the complete first-dimension shards of each array on disk."""
        self._declare_complete(CHECKPOINT_WAIT_SECONDS)
        sync_filesystem(self.root)

    def make_readable(self, frames_done: int) -> None:
        """Declare the first-dimension shards acquire-zarr has completed.

        acquire-zarr has no flush: frames of a shard it has not completed are
        not readable until it is (the loss window's bound on this backend).
        """
        self._declare_complete(0.0)

    def start_readable(self, frames_done: int) -> Callable[[], object] | None:
        """`make_readable` in two parts: under the stream's lock, what each
        array has received; without it, waiting for the arrays made ahead,
        finding the complete shards and declaring them (one file read per
        shard), so that appends go on meanwhile."""
        if self.router.jagged:  # image documents rewritten: all under the lock
            return Backend.start_readable(self, frames_done)
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
        """Journal per-frame metadata; each array's ``zarr.json`` declares the
        complete shards (up to `targets`, default: of the frames received so
        far), waiting up to `wait_seconds` for acquire-zarr. A visit stops
        declaring once close has started (close declares every array)."""
        self._await_ahead()  # each array's first document is written
        self._checkpoint_metadata()
        if len(self.storage_shape) < 3:  # one frame per array: written at close
            return
        if targets is None:
            targets = self._target_extents()
        with self._declaring:
            self._declare_shards(targets, wait_seconds, visit)

    def _declare_shards(
        self, targets: list[int], wait_seconds: float, visit: bool
    ) -> None:
        for position, key in enumerate(self._keys):
            if visit and self._closing.is_set():
                return
            target = targets[position]
            deadline = time.monotonic() + wait_seconds
            extent = self._complete_extent(position, target)
            while extent < target and time.monotonic() < deadline:
                time.sleep(0.005)  # acquire-zarr writes shards on its threads
                extent = self._complete_extent(position, target)
            if extent > self._declared[position]:
                shape = [c or 0 for c in self.storage_shape]
                shape[0] = extent
                self._write_array_doc(key, shape)
                self._declared[position] = extent

    def _target_extents(self) -> list[int]:
        return [self._target_extent(p) for p in range(self.num_positions)]

    def _target_extent(self, position: int) -> int:
        """First-dimension extent of the shards that have every frame."""
        counts = [d.count for d in self.settings.array_storage_dimensions]
        per_step = math.prod(c or 1 for c in counts[1:-2])  # frames per dim-0 index
        steps = self._frames[position] // per_step
        if counts[0] is not None and steps >= counts[0]:
            return counts[0]  # the last, possibly short, shard is full too
        step = (self.shards or self.chunks)[0]
        return steps // step * step

    def _complete_extent(self, position: int, target: int) -> int:
        """First-dimension extent (up to `target`) of shards found on disk."""
        counts = [d.count for d in self.settings.array_storage_dimensions]
        shards = self.shards or self.chunks
        step = shards[0]
        grid = [
            range(math.ceil((c or 1) / s))
            for c, s in zip(counts[1:], shards[1:], strict=True)
        ]
        done = self._declared[position]
        while done < target:
            shard = done // step
            shard_files = ((shard, *rest) for rest in product(*grid))
            if not all(self._shard_complete(position, c) for c in shard_files):
                break
            done = min(done + step, target)
        return done

    def _shard_complete(self, position: int, coords: tuple[int, ...]) -> bool:
        """Whether one shard file exists with a valid (checksummed) index."""
        from numcodecs import CRC32C

        shards = self.shards or self.chunks
        n_chunks = math.prod(s // c for s, c in zip(shards, self.chunks, strict=True))
        index_bytes = 16 * n_chunks + 4
        path = self.root / self._keys[position] / "c" / "/".join(map(str, coords))
        try:
            if isinstance(path, Path):
                with open(path, "rb") as fh:
                    fh.seek(-index_bytes, os.SEEK_END)
                    tail = fh.read(index_bytes)
            else:
                tail = path.read_tail(index_bytes)
            CRC32C().decode(tail)
        except (OSError, RuntimeError, ValueError):
            return False
        return True

    def _explain(self, error: RuntimeError) -> Exception:
        """Name a full disk when acquire-zarr reports only an I/O error."""
        root = self.root
        if isinstance(root, Path) and shutil.disk_usage(root).free < self.frame_bytes:
            return OSError(errno.ENOSPC, f"No space left on device writing {self.root}")
        return BackendError(f"acquire-zarr could not finish {self.root}: {error}")

    def _array_doc(self, shape: list[int]) -> str:
        """The array metadata acquire-zarr writes at close, for `shape`."""
        shards = self.shards or self.chunks
        itemsize = self.dtype.itemsize
        codecs = [{"name": "bytes", "configuration": {"endian": "little"}}]
        doc = {
            "zarr_format": 3,
            "node_type": "array",
            "shape": shape,
            "data_type": self.dtype.name,
            "chunk_grid": {
                "name": "regular",
                "configuration": {"chunk_shape": list(shards)},
            },
            "chunk_key_encoding": {
                "name": "default",
                "configuration": {"separator": "/"},
            },
            "fill_value": 0,
            "codecs": [
                {
                    "name": "sharding_indexed",
                    "configuration": {
                        "chunk_shape": list(self.chunks),
                        "codecs": codecs + codec_configs(self.compression, itemsize),
                        "index_codecs": [*codecs, {"name": "crc32c"}],
                        "index_location": "end",
                    },
                }
            ],
            "dimension_names": list(self.storage_names),
            "attributes": {},
        }
        return json.dumps(doc, indent=2)

    def _write_array_doc(self, key: str, shape: list[int]) -> None:
        """Replace an array's metadata with `_array_doc` for `shape`."""
        text = self._array_doc(shape)
        if not isinstance(self.root, Path):  # one PUT replaces it atomically
            (self.root / key / "zarr.json").write_text(text)
            return
        (self.root / key).mkdir(parents=True, exist_ok=True)
        replace_file(self.root / key / "zarr.json", text)

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
        shape = list(self.allocated[position])
        if self.grow_axis is not None:
            shape[self.grow_axis] = max(self.extent[position], 1)
        out = read_padded(_Zeros(tuple(shape), self.dtype), shape, key, self.dtype)
        index_key = key[: len(shape) - 2]
        for index, frame in list(self._recent[position].items()):
            target = locate(index, index_key)
            if target is not None:
                out[(*target, Ellipsis)] = frame[tuple(key[-2:])]  # type: ignore[index]
        return out

    def _read_array(self, position: int, key: tuple[Any, ...]) -> np.ndarray:
        raise NotImplementedError


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
