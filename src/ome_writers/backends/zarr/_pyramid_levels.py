"""OME-Zarr pyramids written while frames arrive: one array per level.

`LeveledZarrBackend` wraps the chosen Zarr backend (which writes level 0 and
the whole hierarchy, its ``multiscales`` listing every level) and adds, per
level k >= 1, a `LevelArrays` backend of the same library that writes only
the arrays ``<image>/<k>``: its own chunk assembly, growth, backpressure and
cut at close, with the level's shape (chunk and shard sizes clipped to it).
A `LevelPipeline` reduces the frames on a background thread and feeds the
level backends; the acquisition thread only copies each frame once.

Order at checkpoint and close: the pipeline settles (or closes), the level
arrays are drained (and cut), then the base backend writes the metadata and
syncs the dataset, so a dataset after a crash never describes a level block
whose frames did not reach level 0.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from ome_writers._schema._pyramid import level_dimensions, reduced_axes
from ome_writers.backends._base import Backend, BackendContext, StorageKey
from ome_writers.backends.pyramid._pipeline import LevelPipeline
from ome_writers.backends.zarr._dataset import ZarrBackend
from ome_writers.metadata._frame_metadata import FrameMetadataLog

if TYPE_CHECKING:
    import numpy as np

    from ome_writers._schema import AcquisitionSettings


class LevelArrays(ZarrBackend):
    """Mix-in: the arrays of one pyramid level, nothing else of the dataset."""

    level: ClassVar[int] = 1

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        self._directories_ahead = False  # only level 0 races the disk
        # first-dimension extent per position at close, when level 0's is cut
        self.first_extents: list[int] | None = None

    def _array_path(self, position: int) -> str:
        return self.layout.array_path(position, self.level)

    def prepare(self) -> None:
        root = self.root
        self._create_arrays(
            [
                (p, root / self._array_path(p), self.allocated[p])
                for p in range(self.num_positions)
            ]
        )

    def checkpoint(self, frames_done: int) -> None:
        self._drain()

    # all of `make_readable` under the stream's lock (not ZarrBackend's split)
    start_readable = Backend.start_readable

    def make_readable(self, frames_done: int) -> None:
        self._drain()

    def finalize(self, frames_done: int) -> None:
        if self.finalized:
            return
        self.finalized = True
        self.flusher.close()
        try:
            if self.assembler is not None:
                self.assembler.flush_all()
            self._drain()
            if self.grow_axis is not None:
                self._cut_to_extent()
                self._drain()
            elif self.first_extents is not None:  # level 0 is cut: cut alike
                for position, extent in enumerate(self.first_extents):
                    shape = list(self.allocated[position])
                    shape[0] = extent
                    self._resize(position, tuple(shape))
                self._drain()
        finally:
            self._close_arrays()


@cache
def level_arrays_class(cls: type[ZarrBackend], level: int) -> type[LevelArrays]:
    """`cls` writing only the arrays of pyramid `level`."""
    name = f"{cls.__name__}Level{level}"
    made: type[LevelArrays] = type(name, (LevelArrays, cls), {"level": level})
    return made


def level_arrays_backend(cls: type[ZarrBackend]) -> type[ZarrBackend]:
    """The backend that writes the level arrays of `cls`'s datasets.

    `cls` itself, unless its library cannot write plain arrays (acquire-zarr
    writes only what it streams): then the first available that can.
    """
    if cls.writes_level_arrays:
        return cls
    from ome_writers._registry import BACKENDS
    from ome_writers.backends._select import load_backend

    for record in BACKENDS:
        if record.format == "ome-zarr" and record.available:
            candidate = load_backend(record)
            if issubclass(candidate, ZarrBackend) and candidate.writes_level_arrays:
                return candidate
    names = [r.name for r in BACKENDS if r.format == "ome-zarr" and r.name != cls.name]
    raise NotImplementedError(
        f"the {cls.name} backend writes pyramid levels through another Zarr "
        f"library; install one of {names} (e.g. pip install ome-writers[tensorstore])"
    )


def level_settings(settings: AcquisitionSettings, level: int) -> AcquisitionSettings:
    """`settings` with the dimensions of pyramid `level` (and no pyramid)."""
    assert settings.pyramid is not None
    dims = level_dimensions(settings.pyramid, settings.dimensions, level)
    return settings.model_copy(update={"dimensions": dims, "pyramid": None})


class LeveledZarrBackend(Backend):
    """A Zarr backend plus pyramid levels 1..N reduced from its frames."""

    name = "level-arrays"

    def __init__(self, context: BackendContext, backend_cls: type[Backend]) -> None:
        super().__init__(context)
        assert issubclass(backend_cls, ZarrBackend)
        settings = context.settings
        pyramid = settings.pyramid
        assert pyramid is not None
        arrays_cls = level_arrays_backend(backend_cls)
        self.base = backend_cls(context)
        self.levels: list[LevelArrays] = []
        for level in range(1, settings.pyramid_levels):
            level_cls = level_arrays_class(arrays_cls, level)
            level_context = BackendContext(
                level_settings(settings, level),
                context.router,
                FrameMetadataLog(context.router),
            )
            arrays = level_cls(level_context)
            # level k holds 4**-k of the bytes: as much less in flight
            arrays.share_with(self.base, 4.0**-level)
            self.levels.append(arrays)
        dims = settings.array_storage_dimensions
        self.pipeline = LevelPipeline(
            self.base.frame_shape,
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
            level.prepare()

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
            level.checkpoint(frames_done)
        self.base.checkpoint(frames_done)

    def make_readable(self, frames_done: int) -> None:
        self.pipeline.settle()
        for level in self.levels:
            level.make_readable(frames_done)
        # level 0 as at a visit of its own (an unbounded array is cut once its
        # frames stopped arriving), all of it under the stream's lock
        finish = self.base.start_readable(frames_done)
        if finish is not None:
            finish()

    def needs_visit(self) -> bool:
        return self.base.needs_visit()

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
            if extents is not None and base.grow_axis is None:
                factor = 2**k if first_reduced else 1
                level.first_extents = [-(-e // factor) for e in extents]
        for level in self.levels:
            try:
                level.finalize(frames_done)
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

    def read_level(self, level: int, position: int, key: StorageKey) -> np.ndarray:
        if level == 0:
            return self.base.read(position, key)
        self.pipeline.settle()
        return self.levels[level - 1].read(position, key)

    def enable_live_reads(self) -> None:
        self.base.enable_live_reads()
        for level in self.levels:
            level.enable_live_reads()

    def set_global_metadata(self, namespace: str, metadata: dict[str, Any]) -> None:
        self.base.set_global_metadata(namespace, metadata)

    def get_metadata(self) -> Any:
        return self.base.get_metadata()

    def update_metadata(self, metadata: Any) -> None:
        self.base.update_metadata(metadata)
