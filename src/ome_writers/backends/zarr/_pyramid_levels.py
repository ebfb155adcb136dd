"""OME-Zarr pyramids written while frames arrive: one array per level.

`LeveledZarrBackend` wraps the chosen Zarr backend (which writes level 0 and
the whole hierarchy, its ``multiscales`` listing every level) and adds, per
level k >= 1, the `ZarrArrays` ``<image>/<k>`` written through the same
library (or, for acquire-zarr, which writes only what it streams, another
one): their own chunk assembly, growth, backpressure and cut at close, with
the level's shape (chunk and shard sizes clipped to it). A `LevelPipeline`
reduces the frames on a background thread and feeds the levels; the
acquisition thread only copies each frame once.

Order at checkpoint and close: the pipeline settles (or closes), the level
arrays are drained (and declare what landed), then the base backend writes
the metadata and syncs the dataset, so a dataset after a crash never
describes a level block whose frames did not reach level 0. A loss-window
visit declares the levels' blocks after level 0's frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ome_writers._schema._pyramid import level_dimensions, reduced_axes
from ome_writers.backends._base import Backend
from ome_writers.backends.pyramid._pipeline import LevelPipeline
from ome_writers.backends.zarr._arrays import ZarrArrays
from ome_writers.backends.zarr._dataset import ZarrDataset

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from ome_writers._io._object_store import DatasetPath
    from ome_writers._schema import AcquisitionSettings
    from ome_writers.backends._base import BackendContext, StorageKey
    from ome_writers.backends.zarr._array_writer import WriterFactory
    from ome_writers.backends.zarr._hierarchy import ZarrHierarchy


class LevelZero(Protocol):
    """The backend writing level 0 and the hierarchy, as the levels use it."""

    root: DatasetPath
    hierarchy: ZarrHierarchy
    frame_shape: tuple[int, int]
    grow_axis: int | None

    @property
    def label(self) -> str: ...
    def explain_failure(self, error: BaseException) -> BaseException: ...
    def prepare(self) -> None: ...
    def skip(self, position: int, index: tuple[int, ...]) -> None: ...
    def read(self, position: int, key: StorageKey) -> np.ndarray: ...
    def checkpoint(self, frames_done: int) -> None: ...
    def start_readable(self, frames_done: int) -> Callable[[], object] | None: ...
    def closing(self) -> None: ...
    def finalize(self, frames_done: int) -> None: ...
    def enable_live_reads(self) -> None: ...
    def set_global_metadata(self, namespace: str, metadata: dict[str, Any]) -> None: ...
    def get_metadata(self) -> Any: ...
    def update_metadata(self, metadata: Any) -> None: ...

    def write_owned(
        self,
        position: int,
        index: tuple[int, ...],
        frame: np.ndarray,
        release: Callable[[], None],
    ) -> None: ...

    def final_first_extent(self, position: int) -> int | None: ...


def level_writer_for(cls: type[Backend]) -> WriterFactory:
    """The writer of the level arrays of `cls`'s datasets.

    `cls`'s own library, unless it cannot write plain arrays (acquire-zarr
    writes only what it streams): then the first available that can.
    """
    if issubclass(cls, ZarrDataset):
        return cls.library.level_writer
    from ome_writers._registry import BACKENDS
    from ome_writers.backends._select import load_backend

    for record in BACKENDS:
        if record.format == "ome-zarr" and record.available:
            candidate = load_backend(record)
            if issubclass(candidate, ZarrDataset):
                return candidate.library.level_writer
    names = [r.name for r in BACKENDS if r.format == "ome-zarr" and r.name != cls.name]
    raise NotImplementedError(
        f"the {cls.name} backend writes pyramid levels through another Zarr "
        f"library; install one of {names} (e.g. pip install ome-writers[tensorstore])"
    )


def level_settings(settings: AcquisitionSettings, level: int) -> AcquisitionSettings:
    """`settings` with the dimensions of pyramid `level` (and no pyramid)."""
    assert settings.pyramid is not None
    # levels keep level 0's chunks and shards (the default ones of small frames
    # too); a chunk size of 1 stated keeps smaller level frames from regrouping
    layout = {
        d.name: {
            "chunk_size": d.chunk_size or 1,
            "shard_size_chunks": d.shard_size_chunks,
        }
        for d in settings.array_storage_dimensions[:-2]
    }
    dims = tuple(
        d.model_copy(update=layout[d.name]) if d.name in layout else d
        for d in level_dimensions(settings.pyramid, settings.dimensions, level)
    )
    return settings.model_copy(update={"dimensions": dims, "pyramid": None})


class LeveledZarrBackend(Backend):
    """A Zarr backend plus pyramid levels 1..N reduced from its frames."""

    name = "level-arrays"

    def __init__(self, context: BackendContext, backend_cls: type[Backend]) -> None:
        super().__init__(context)
        settings = context.settings
        pyramid = settings.pyramid
        assert pyramid is not None
        make_writer = level_writer_for(backend_cls)
        base: LevelZero = backend_cls(context)  # type: ignore[assignment]
        self.base = base
        base_writer = base.arrays.writer if isinstance(base, ZarrDataset) else None
        self.levels: list[ZarrArrays] = []
        for level in range(1, settings.pyramid_levels):
            arrays = ZarrArrays(
                base.root,
                base.hierarchy.array_paths(level),
                level_settings(settings, level).array_storage_dimensions,
                self.dtype,
                settings.compression or "none",
                context.router,
                make_writer,
                base.explain_failure,
                zarr_format=base.hierarchy.zarr_format,
            )
            # level k holds 4**-k of the bytes: as much less in flight
            arrays.share_with(base_writer, 4.0**-level)
            self.levels.append(arrays)
        dims = settings.array_storage_dimensions
        self.pipeline = LevelPipeline(
            base.frame_shape,
            self.dtype,
            pyramid.method,
            self.storage_shape[:-2],
            reduced_axes(pyramid, dims)[:-2],
            self.levels,
            setup=self._create_levels,
        )

    @property
    def label(self) -> str:
        return self.base.label

    def _create_levels(self) -> None:
        for level in self.levels:
            level.create(list(range(level.num_positions)))

    def prepare(self) -> None:
        self.base.prepare()
        self.pipeline.start()  # level arrays are created on its thread

    def write(self, position: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        # one copy on the caller's thread, shared by level 0's writer (which may
        # keep it until written) and the reduction
        pipeline = self.pipeline
        slot, buffer = pipeline.take(frame, holders=2)
        try:
            self.base.write_owned(
                position, index, buffer, lambda: pipeline.release(slot)
            )
        except BaseException:
            pipeline.release(slot)  # the reduction's hold: never queued
            raise
        pipeline.queue(position, index, slot)

    def skip(self, position: int, index: tuple[int, ...]) -> None:
        self.base.skip(position, index)
        self.pipeline.skip(position, index)

    def checkpoint(self, frames_done: int) -> None:
        self.pipeline.settle()
        for level in self.levels:
            level.write_provisional()  # partly filled chunks, as level 0's
            level.drain()
            level.declare_written()  # before level 0's sync, which covers it
        self.base.checkpoint(frames_done)

    def make_readable(self, frames_done: int) -> None:
        self.pipeline.settle()
        for level in self.levels:
            level.write_provisional()
            level.drain()
            level.declare_written()
        # then level 0 as at a visit of its own (its progress record last),
        # all of it under the stream's lock
        finish = self.base.start_readable(frames_done)
        if finish is not None:
            finish()

    def closing(self) -> None:
        self.base.closing()

    def finalize(self, frames_done: int) -> None:
        """Complete the levels, then level 0 and the metadata; raise the first error."""
        errors: list[Exception] = []
        base = self.base
        cut = [base.final_first_extent(p) for p in range(self.num_positions)]
        extents = None if None in cut else [int(e or 0) for e in cut]
        try:
            self.pipeline.close(extents)
        except Exception as e:
            errors.append(e)
        first_reduced = bool(self.pipeline.reduced) and self.pipeline.reduced[0]
        for k, level in enumerate(self.levels, 1):
            first_extents = None
            if extents is not None and base.grow_axis is None:
                factor = 2**k if first_reduced else 1
                first_extents = [-(-e // factor) for e in extents]
            try:
                level.stop_background(frames_done)
                try:
                    level.finish(first_extents)
                finally:
                    level.close()
            except Exception as e:
                errors.append(e)
        try:
            self.base.finalize(frames_done)
        except Exception as e:
            errors.append(e)
        if errors:
            raise errors[0]

    def read(self, position: int, key: StorageKey) -> np.ndarray:
        return self.base.read(position, key)

    def final_first_extent(self, position: int) -> int | None:
        return self.base.final_first_extent(position)

    def read_level(self, level: int, position: int, key: StorageKey) -> np.ndarray:
        if level == 0:
            return self.read(position, key)
        self.pipeline.settle()
        return self.levels[level - 1].read(position, key)

    def enable_live_reads(self) -> None:
        self.base.enable_live_reads()

    def set_global_metadata(self, namespace: str, metadata: dict[str, Any]) -> None:
        self.base.set_global_metadata(namespace, metadata)

    def get_metadata(self) -> Any:
        return self.base.get_metadata()

    def update_metadata(self, metadata: Any) -> None:
        self.base.update_metadata(metadata)
