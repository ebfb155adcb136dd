"""OME-Zarr arrays through zarr-python, optionally with the zarrs codec pipeline.

Writes use every core: each frame (or assembled chunk) is copied once into a
pooled buffer (so the caller may reuse its own at once) and encoded and stored
by one of ``os.cpu_count()`` writer threads. Uncompressed frames go the same
way: storing an 8 MiB chunk in the caller's thread took 13-14 ms (page-cache
writes on a busy machine), more than a 100 fps camera's frame period, while a
copy takes 1-2 ms. At most `MAX_IN_FLIGHT` writes are pending; beyond that
`write` waits for the oldest (backpressure). A failed write is raised from the
next `write` and from `finalize`. Resizes and reads first wait for pending
writes.

The zarrs variant opens its arrays with zarrs' Rust codec pipeline; the choice
is made when each array is opened, so other zarr users are unaffected.

Arrays of one shape in a local dataset (a plate's fields) are created once
through `zarr.create_array`; the others get a copy of its ``zarr.json`` and
are opened from its metadata (`zarr.AsyncArray`), 0.25 instead of 1.1-1.4 ms
each, most of it interpreter time that competes with the writes.
"""

from __future__ import annotations

import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import zarr
from zarr.codecs import BloscCodec, ZstdCodec
from zarr.core.sync import sync
from zarr.storage import LocalStore, StorePath

from ome_writers._io._object_store import zarr_store
from ome_writers.backends.zarr._dataset import BLOSC, ZarrBackend
from ome_writers.backends.zarr._writes_in_flight import PendingWrites

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from ome_writers._io._object_store import DatasetPath
    from ome_writers.backends._base import BackendContext


MAX_IN_FLIGHT = 2 * (os.cpu_count() or 1)
# zarr's configuration is global: streams that create arrays at once (on
# their own threads) take turns, or one could restore the other's pipeline
# for the whole process when they leave their `config.set` out of order
_CONFIG_LOCK = threading.Lock()


class ZarrPythonBackend(ZarrBackend):
    """OME-Zarr v0.5 through zarr-python."""

    name = "zarr-python"
    codec_pipeline: ClassVar[str | None] = None
    # a local store whose chunk files are replaced atomically (zarr-python's
    # own local store already writes a temporary file and renames it)
    atomic_local_store: ClassVar[bool] = False

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        self._arrays: list[Any] = [None] * self.num_positions
        self._executor = ThreadPoolExecutor(
            os.cpu_count() or 1, thread_name_prefix="ome-writers-zarr"
        )
        self._shared_executor = False  # another backend's (`share_with`)
        # shape -> (metadata, zarr.json bytes) of an array created in this
        # local dataset: arrays of that shape are made from it (`_create_array`)
        self._templates: dict[tuple[int, ...], tuple[Any, bytes]] = {}
        self._pending = PendingWrites(
            max_items=MAX_IN_FLIGHT, explain=self.explain_failure
        )
        if self.assembler is None:  # frame copies: one per write in flight + next
            self._pending.reserve(self.frame_shape, self.dtype, MAX_IN_FLIGHT + 1)

    def _max_bytes_in_flight(self) -> int:
        # `MAX_IN_FLIGHT` writes, each a frame or an assembled block
        assembler = self.assembler
        block = self.frame_bytes if assembler is None else assembler.block_bytes
        return MAX_IN_FLIGHT * block

    def share_with(self, other: ZarrBackend, memory_fraction: float) -> None:
        if isinstance(other, ZarrPythonBackend):  # one pool of writer threads
            self._executor.shutdown(wait=False)
            self._executor = other._executor  # noqa: SLF001
            self._shared_executor = True

    def _close_arrays(self) -> None:
        if not self._shared_executor:
            self._executor.shutdown(wait=True)
        self._pending.release()

    def _config(self) -> Any:
        options: dict[str, Any] = {"array.write_empty_chunks": True}
        if self.codec_pipeline:
            options["codec_pipeline.path"] = self.codec_pipeline
        return zarr.config.set(options)

    def _compressors(self) -> list[Any]:
        if self.compression in BLOSC:
            cname, clevel = BLOSC[self.compression]
            return [BloscCodec(cname=cname, clevel=clevel, shuffle="shuffle")]  # type: ignore[arg-type]
        if self.compression == "zstd":
            return [ZstdCodec(level=3)]
        return []

    def _create_arrays(self, arrays: list[tuple[int, DatasetPath, list[int]]]) -> None:
        # on the writer threads: creating an array mostly waits for the disk.
        # zarr's configuration is global, so it is set once around them all.
        with _CONFIG_LOCK, self._config():
            futures = [
                (position, self._executor.submit(self._create_array, path, shape))
                for position, path, shape in arrays
            ]
            for position, future in futures:
                self._arrays[position] = future.result()

    def _create_array(self, path: DatasetPath, shape: list[int]) -> Any:
        store = zarr_store(path, atomic=self.atomic_local_store)
        local = isinstance(path, Path)
        template = self._templates.get(tuple(shape)) if local else None
        if template is None:
            array = zarr.create_array(
                store=store,
                shape=tuple(shape),
                chunks=self.chunks,
                shards=self.shards,
                dtype=self.dtype,
                compressors=self._compressors(),
                fill_value=0,
                dimension_names=list(self.storage_names),
                zarr_format=3,
                overwrite=True,
            )
            if local:
                document = (path / "zarr.json").read_bytes()
                self._templates[tuple(shape)] = (array.metadata, document)
            return array
        # a new directory of a new dataset: nothing to overwrite or protect
        metadata, document = template
        path.mkdir(parents=True, exist_ok=True)
        (path / "zarr.json").write_bytes(document)
        if isinstance(store, str):
            store = LocalStore(store)
        return zarr.Array(zarr.AsyncArray(metadata, StorePath(store)))

    def _store(
        self, position: int, region: tuple[Any, ...], data: np.ndarray, *, owned: bool
    ) -> None:
        """Write on a thread; copy `data` first unless nobody writes to it again."""
        self._pending.check()
        # the caller may reuse a frame at once; an assembled chunk is handed over
        buffer = None if owned else self._pending.copy(data)
        array = self._arrays[position]
        future = self._executor.submit(
            array.__setitem__, region, data if buffer is None else buffer
        )
        self._pending.add(future, data.nbytes, buffer)

    def _falling_behind(self) -> bool:
        return self._pending.stalls > 0

    def _writes_in_flight(self) -> Callable[[], None] | None:
        self._pending.check()
        return self._pending.waiter()

    def _drain(self) -> None:
        self._pending.drain()

    def _write_frame(
        self, position: int, index: tuple[int, ...], frame: np.ndarray
    ) -> None:
        self._store(position, index, frame, owned=False)

    def _write_frame_owned(
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

    def _write_block(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        region = tuple(
            slice(o, o + n) for o, n in zip(origin, block.shape, strict=False)
        )
        self._store(position, region, block, owned=True)

    # a failed write is raised from the next `write` (and from `finalize`), so
    # resizes and reads only wait: they still work on what reached the disk

    def _resize(self, position: int, shape: tuple[int, ...]) -> None:
        self._pending.wait()  # writes land under the old shape first
        # only zarr.json changes: no chunk lies beyond the frames written, and
        # looking for some to delete would cost O(extent) at every cut (a
        # loss-window visit cuts an unbounded array to the frames written)
        array = self._arrays[position]
        sync(array.async_array.resize(shape, delete_outside_chunks=False))

    def _read_array(self, position: int, key: tuple[Any, ...]) -> np.ndarray:
        self._pending.wait()
        result: np.ndarray = self._arrays[position][key]
        return result


class ZarrsBackend(ZarrPythonBackend):
    """OME-Zarr v0.5 through zarr-python with the zarrs (Rust) codec pipeline."""

    name = "zarrs-python"
    codec_pipeline = "zarrs.ZarrsCodecPipeline"
    # zarrs' own file system store truncates a chunk file and rewrites it in
    # place (a crash could leave it torn); obstore's renames a complete file
    atomic_local_store = True

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        # zarrs rebuilds the obstore store in Rust from its configuration (same
        # directory or bucket, endpoint and credentials) and warns that the two
        # do not share connections: expected, not a problem
        _ignore_warning(_ZARRS_STORE_WARNING)


_ZARRS_STORE_WARNING = "Successfully reconstructed a store"


def _ignore_warning(message: str) -> None:
    if not any(f[1] and f[1].pattern == message for f in warnings.filters):
        warnings.filterwarnings("ignore", message=message, category=RuntimeWarning)
