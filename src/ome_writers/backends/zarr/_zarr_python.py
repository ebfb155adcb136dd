"""OME-Zarr arrays through zarr-python, optionally with the zarrs codec pipeline.

Writes use every core: each frame (or assembled chunk) is copied once into a
pooled buffer (so the caller may reuse its own at once) and encoded and stored
by one of ``os.cpu_count()`` writer threads; uncompressed frames too, since
storing a large chunk on the caller's thread can take longer than a fast
camera's frame period. At most `MAX_IN_FLIGHT` writes are pending; beyond that
a write waits for the oldest (backpressure). A failed write is raised from the
next write and from close. Resizes and reads first wait for pending writes.

The zarrs variant opens its arrays with zarrs' Rust codec pipeline; the choice
is made when each array is opened, so other zarr users are unaffected.

Arrays of one shape in a local dataset (a plate's fields) are created once
through `zarr.create_array`; the others get a copy of its ``zarr.json`` and
are opened from its metadata (`zarr.AsyncArray`), which costs a fraction of
the interpreter time.

Each array has two handles: the writes' one, with room grown ahead of the
frames (its metadata changed in memory only), and one whose `resize` writes
the array's ``zarr.json`` (`declare`), which so declares only frames that
landed.
"""

from __future__ import annotations

import asyncio
import copy
import os
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zarr
from zarr.codecs import BloscCodec, ZstdCodec
from zarr.core.sync import sync
from zarr.storage import LocalStore, StorePath

from ome_writers._io._object_store import zarr_store
from ome_writers._io._threads import WriterPool
from ome_writers.backends.zarr._array_writer import (
    ARRAY_METADATA_FILE,
    BLOSC,
    BLOSC_BLOCK_BYTES,
    ZSTD_LEVEL,
    ArrayWriter,
    ZarrLibrary,
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


MAX_IN_FLIGHT = 2 * (os.cpu_count() or 1)
# zarr's configuration is global: streams that create arrays at once (on
# their own threads) take turns, or one could restore the other's pipeline
# for the whole process when they leave their `config.set` out of order
_CONFIG_LOCK = threading.Lock()


class ZarrPythonWriter(ArrayWriter):
    """One level's arrays through zarr-python."""

    def __init__(
        self,
        grid: ArrayGrid,
        explain: Callable[[BaseException], BaseException],
        *,
        codec_pipeline: str | None = None,
        atomic_local_store: bool = False,
        writes_frames: bool = True,
    ) -> None:
        super().__init__(grid, explain)
        self._codec_pipeline = codec_pipeline
        # a local store whose chunk files are replaced atomically (zarr-python's
        # own local store already writes a temporary file and renames it)
        self._atomic_local_store = atomic_local_store
        self._arrays: list[Any] = [None] * len(grid.paths)  # with room
        self._declaring: list[Any] = [None] * len(grid.paths)  # write zarr.json
        self._executor = WriterPool(
            os.cpu_count() or 1, thread_name_prefix="ome-writers-zarr"
        )
        self._shared_executor = False  # another writer's (`share_with`)
        # shape -> (metadata, zarr.json bytes) of an array created in this
        # local dataset: arrays of that shape are made from it (`_create_array`)
        self._templates: dict[tuple[int, ...], tuple[Any, bytes]] = {}
        self._pending = PendingWrites(max_items=MAX_IN_FLIGHT, explain=explain)
        # frame copies: one per write in flight, and the next
        if writes_frames and not grid.assembled:
            self._pending.reserve(grid.frame_shape, grid.dtype, MAX_IN_FLIGHT + 1)

    @property
    def max_bytes_in_flight(self) -> int:
        # `MAX_IN_FLIGHT` writes, each a frame or an assembled block
        return MAX_IN_FLIGHT * self.grid.block_bytes

    def share_with(self, other: ArrayWriter | None, memory_fraction: float) -> None:
        base = other.inner if isinstance(other, DelegatingWriter) else other
        if isinstance(base, ZarrPythonWriter):  # one pool of writer threads
            self._executor.shutdown(wait=False)
            self._executor = base._executor  # noqa: SLF001
            self._shared_executor = True

    def close(self) -> None:
        if not self._shared_executor:
            self._executor.shutdown(wait=True)
        self._pending.release()

    def _config(self) -> Any:
        options: dict[str, Any] = {"array.write_empty_chunks": True}
        if self._codec_pipeline:
            options["codec_pipeline.path"] = self._codec_pipeline
        return zarr.config.set(options)

    def _compressors(self) -> Any:
        compression = self.grid.compression
        if self.grid.zarr_format == 2:
            return _v2_compressor(compression)
        if compression in BLOSC:
            cname, clevel = BLOSC[compression]
            codec = BloscCodec(
                cname=cname,  # type: ignore[arg-type]
                clevel=clevel,
                shuffle="shuffle",
                blocksize=BLOSC_BLOCK_BYTES,
            )
            return [codec]
        if compression == "zstd":
            return [ZstdCodec(level=ZSTD_LEVEL)]
        return []

    def create(self, arrays: list[tuple[int, DatasetPath, list[int]]]) -> None:
        # on the writer threads: creating an array mostly waits for the disk.
        # zarr's configuration is global, so it is set once around them all.
        with _CONFIG_LOCK, self._config():
            futures = [
                (
                    position,
                    room,
                    self._executor.submit(
                        self._create_array, path, self.first_declared(room)
                    ),
                )
                for position, path, room in arrays
            ]
            for position, room, future in futures:
                array = future.result()
                self._declaring[position] = array
                self._arrays[position] = _with_room(array, room)

    def _create_array(self, path: DatasetPath, shape: list[int]) -> Any:
        grid = self.grid
        store = zarr_store(path, atomic=self._atomic_local_store)
        local = isinstance(path, Path)
        template = self._templates.get(tuple(shape)) if local else None
        metadata_file = ARRAY_METADATA_FILE[grid.zarr_format]
        if template is None:
            layout: dict[str, Any] = {
                "shards": grid.shards,
                "dimension_names": list(grid.names),
            }
            if grid.zarr_format == 2:  # no shards or names; keys as 0.4 has them
                layout = {"chunk_key_encoding": {"name": "v2", "separator": "/"}}
            array = zarr.create_array(
                store=store,
                shape=tuple(shape),
                chunks=grid.chunks,
                dtype=grid.dtype,
                compressors=self._compressors(),
                fill_value=0,
                zarr_format=grid.zarr_format,  # type: ignore[arg-type]
                overwrite=True,
                **layout,
            )
            if local:
                document = (path / metadata_file).read_bytes()
                self._templates[tuple(shape)] = (array.metadata, document)
            return array
        # a new directory of a new dataset: nothing to overwrite or protect
        metadata, document = template
        path.mkdir(parents=True, exist_ok=True)
        (path / metadata_file).write_bytes(document)
        if isinstance(store, str):
            store = LocalStore(store)
        return zarr.Array(zarr.AsyncArray(metadata, StorePath(store)))

    def _store(
        self, position: int, region: tuple[Any, ...], data: np.ndarray, *, owned: bool
    ) -> None:
        """Write on a thread; copy `data` first unless nobody writes to it again."""
        self._pending.check()
        buffer = None if owned else self._pending.copy(data)
        array = self._arrays[position]
        future = self._executor.submit(
            array.__setitem__, region, data if buffer is None else buffer
        )
        self._pending.add(future, data.nbytes, buffer)

    def falling_behind(self) -> bool:
        return self._pending.stalls > 0

    def writes_in_flight(self) -> Callable[[], None] | None:
        self._pending.check()
        return self._pending.waiter()

    def drain(self) -> None:
        self._pending.drain()

    def write_frame(
        self, position: int, index: tuple[int, ...], frame: np.ndarray
    ) -> None:
        self._store(position, index, frame, owned=False)

    def write_frame_owned(
        self,
        position: int,
        index: tuple[int, ...],
        frame: np.ndarray,
        release: Callable[[], None],
    ) -> None:
        array = self._arrays[position]
        self._pending.add_releasing(
            lambda: self._executor.submit(array.__setitem__, index, frame),
            frame.nbytes,
            release,
        )

    def write_block(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        region = tuple(
            slice(o, o + n) for o, n in zip(origin, block.shape, strict=False)
        )
        self._store(position, region, block, owned=True)

    def make_room(self, position: int, shape: tuple[int, ...]) -> None:
        self._arrays[position] = _with_room(self._arrays[position], shape)

    def declare(self, shapes: Mapping[int, tuple[int, ...]]) -> None:
        # only zarr.json changes: chunks past the declared shape are frames
        # that landed since, or are landing (kept; never looked for)
        async def declare_all() -> None:
            await asyncio.gather(
                *(
                    self._declaring[position].async_array.resize(
                        shape, delete_outside_chunks=False
                    )
                    for position, shape in shapes.items()
                )
            )

        sync(declare_all())

    # a failed write is raised from the next write (and from close), so reads
    # only wait: they still work on what reached the disk

    def read(self, position: int, key: tuple[Any, ...]) -> np.ndarray:
        self._pending.wait()
        result: np.ndarray = self._arrays[position][key]
        return result


def _v2_compressor(compression: str) -> Any:
    """The numcodecs compressor of `compression` (a Zarr v2 array's one)."""
    import numcodecs

    if compression in BLOSC:
        cname, clevel = BLOSC[compression]
        return numcodecs.Blosc(
            cname=cname,
            clevel=clevel,
            shuffle=numcodecs.Blosc.SHUFFLE,
            blocksize=BLOSC_BLOCK_BYTES,
        )
    if compression == "zstd":
        return numcodecs.Zstd(level=ZSTD_LEVEL)
    return None


def _with_room(array: Any, shape: Sequence[int]) -> Any:
    """Another handle of `array` with room for `shape`, without writing its
    ``zarr.json``: its metadata changed as zarr-python's own resize changes
    it (in place), here in a copy, so writes in flight keep theirs."""
    handle = copy.copy(array.async_array)
    object.__setattr__(handle, "metadata", handle.metadata.update_shape(shape))
    return zarr.Array(handle)


def zarr_python_writer(
    grid: ArrayGrid,
    explain: Callable[[BaseException], BaseException],
    *,
    writes_frames: bool = True,
) -> ArrayWriter:
    """zarr-python's writer with its own codec pipeline and local store."""
    return ZarrPythonWriter(grid, explain, writes_frames=writes_frames)


def zarrs_writer(
    grid: ArrayGrid,
    explain: Callable[[BaseException], BaseException],
    *,
    writes_frames: bool = True,
) -> ArrayWriter:
    """zarr-python's writer with zarrs' (Rust) codec pipeline; obstore's local
    store, which renames a complete chunk file into place (zarrs' own file
    system store rewrites it in place, which a crash could leave torn)."""
    # zarrs rebuilds the obstore store in Rust from its configuration and
    # warns that the two do not share connections: expected
    _ignore_warning(_ZARRS_STORE_WARNING)
    return ZarrPythonWriter(
        grid,
        explain,
        codec_pipeline="zarrs.ZarrsCodecPipeline",
        atomic_local_store=True,
        writes_frames=writes_frames,
    )


def zarr_python_files(
    grid: ArrayGrid, explain: Callable[[BaseException], BaseException]
) -> ArrayWriter:
    """`zarr_python_writer`, its frame-sized raw chunks (and shards of them)
    of a local array written by threads of ours (`with_own_files`)."""
    return with_own_files(zarr_python_writer, grid, explain)


def zarrs_files(
    grid: ArrayGrid, explain: Callable[[BaseException], BaseException]
) -> ArrayWriter:
    """`zarrs_writer`, with frame files of ours as `zarr_python_files`."""
    return with_own_files(zarrs_writer, grid, explain)


class ZarrPythonBackend(ZarrDataset):
    """OME-Zarr through zarr-python."""

    name = "zarr-python"
    # levels go through zarr-python itself, never files of ours
    library = ZarrLibrary(writer=zarr_python_files, level_writer=zarr_python_writer)


class ZarrsBackend(ZarrDataset):
    """OME-Zarr through zarr-python with the zarrs (Rust) codec pipeline."""

    name = "zarrs-python"
    library = ZarrLibrary(writer=zarrs_files, level_writer=zarrs_writer)


_ZARRS_STORE_WARNING = "Successfully reconstructed a store"


def _ignore_warning(message: str) -> None:
    if not any(f[1] and f[1].pattern == message for f in warnings.filters):
        warnings.filterwarnings("ignore", message=message, category=RuntimeWarning)
