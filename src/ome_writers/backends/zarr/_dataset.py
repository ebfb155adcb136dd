"""An OME-Zarr dataset written by one library: its hierarchy and its arrays.

`ZarrDataset` is the backend of every Zarr library that writes arrays by
index (tensorstore, zarr-python, zarrs-python): it composes the hierarchy
(`ZarrHierarchy`), the arrays (`ZarrArrays`) and the library's `ArrayWriter`,
and decides what happens at loss-window visits, checkpoints and close.

Durability: chunk files are written without per-file fsync; checkpoints and
close sync the filesystem holding the dataset once, after write-back of the
files written has started in the background.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from ome_writers._io._durable import sync_filesystem
from ome_writers._io._object_store import explain_write_failure
from ome_writers.backends._base import Backend, json_safe
from ome_writers.backends.zarr._arrays import ZarrArrays
from ome_writers.backends.zarr._hierarchy import ZarrHierarchy
from ome_writers.metadata._ngff_axes import check_axes
from ome_writers.metadata._zarr_layout import check_plate

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from ome_writers._schema import AcquisitionSettings
    from ome_writers.backends._base import BackendContext, StorageKey
    from ome_writers.backends.zarr._array_writer import ZarrLibrary
    from ome_writers.metadata._progress import Status


class ZarrDataset(Backend):
    """OME-Zarr through a library that writes arrays by index."""

    #: how the library writes arrays
    library: ClassVar[ZarrLibrary]

    @classmethod
    def check_settings(cls, settings: AcquisitionSettings) -> str | None:
        return (
            super().check_settings(settings)
            or check_axes(settings)
            or check_plate(settings)
        )

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        settings = context.settings
        self.hierarchy = ZarrHierarchy.for_context(context)
        self.root = self.hierarchy.root
        self.compression = settings.compression or "none"
        self.arrays = ZarrArrays(
            self.root,
            self.hierarchy.array_paths(),
            settings.array_storage_dimensions,
            self.dtype,
            self.compression,
            context.router,
            self.library.writer,
            self.explain_failure,
            # the library writes chunk files below ``c/`` of a local array
            # directory; once it falls behind, make their directories ahead
            directories_ahead=self.record().makes_directories_ahead,
            zarr_format=self.hierarchy.zarr_format,
        )
        self.finalized = False

    @property
    def grow_axis(self) -> int | None:
        return self.arrays.grow_axis

    @property
    def frame_shape(self) -> tuple[int, int]:
        return self.arrays.frame_shape

    @property
    def attributes(self) -> dict[str, dict[str, Any]]:
        """Group path -> attributes (waits until the group documents exist)."""
        return self.hierarchy.attributes

    def explain_failure(self, error: BaseException) -> BaseException:
        return explain_write_failure(error, self.root)

    # --------------------------------------------------------------- creation

    def prepare(self) -> None:
        self.hierarchy.prepare()
        self.arrays.prepare()
        # a bounded acquisition's collection OME-XML depends on the settings
        # alone: it follows the group documents in the background
        self.hierarchy.start(ome_xml_ahead=self.grow_axis is None)

    def _wait_for_background(self) -> None:
        """Wait for every array and group document made in the background."""
        self.arrays.wait_for_arrays()
        self.hierarchy.wait()

    # ---------------------------------------------------------------- writing

    def frame_writer(self) -> Callable[[int, tuple[int, ...], np.ndarray], None]:
        return self.arrays.write

    def write(self, position: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        self.arrays.write(position, index, frame)

    def write_owned(
        self,
        position: int,
        index: tuple[int, ...],
        frame: np.ndarray,
        release: Callable[[], None],
    ) -> None:
        """`write` a buffer nobody writes to until `release()` is called.

        The library may then keep the buffer instead of copying it; `release`
        is called exactly once, when it is no longer needed.
        """
        self.arrays.write_owned(position, index, frame, release)

    def skip(self, position: int, index: tuple[int, ...]) -> None:
        self.arrays.skip(position, index)

    def read(self, position: int, key: StorageKey) -> np.ndarray:
        return self.arrays.read(position, key)

    def final_first_extent(self, position: int) -> int | None:
        return self.arrays.final_first_extent(position)

    # --------------------------------------------------- readable and durable

    def checkpoint(self, frames_done: int) -> None:
        """`make_readable`, then hand the data to the disk (one sync)."""
        self.make_readable(frames_done)
        sync_filesystem(self.root)

    def start_checkpoint(self, frames_done: int) -> Callable[[], object] | None:
        """`checkpoint` in two parts: `start_readable`, then (without the
        stream's lock) its finisher and the sync."""
        return self._readable_then(frames_done, partial(sync_filesystem, self.root))

    def make_readable(self, frames_done: int) -> None:
        """Pending writes land, partially filled chunks are written as they
        are (missing frames as zeros; rewritten when complete), an unbounded
        array declares the frames written, per-frame metadata is journaled."""
        finish = self.start_readable(frames_done)
        if finish is not None:
            finish()

    def start_readable(self, frames_done: int) -> Callable[[], object] | None:
        """`make_readable` in two parts. Under the stream's lock: provisional
        writes, and the extents written. What is returned, without it: waiting
        for the writes in flight to land, then each unbounded array's
        ``zarr.json`` declaring those extents (one document write per array
        that grew, never room grown ahead), the per-frame metadata journal,
        the display settings (when changed) and the progress record in the
        root's ``zarr.json``."""
        self._wait_for_background()  # a dataset after a crash has all it names
        arrays = self.arrays
        land: Callable[[], None] | None = None
        if arrays.write_provisional() and not arrays.writer.lands_in_order:
            # orders a provisional write before its chunk's final one (under
            # the lock: appends wait meanwhile)
            arrays.drain()
        else:
            land = arrays.writes_in_flight()
        extents = arrays.undeclared()
        self.hierarchy.describe_not_acquired(self._index_shape)
        hierarchy = self.hierarchy

        def finish() -> None:
            if land is not None:
                land()
            if extents:
                arrays.declare(extents)
            hierarchy.journal_new()
            hierarchy.write_display()
            hierarchy.write_ome_xml(frames_done, self._declared_extents())
            # last: every frame it counts has landed and is declared
            hierarchy.write_progress(frames_done)

        return finish

    def _declared_extents(self) -> list[int] | None:
        """Each array's declared extent along its unbounded dimension."""
        axis = self.arrays.grow_axis
        if axis is None:
            return None
        return [shape[axis] for shape in self.arrays.declared]

    def _index_shape(self, position: int) -> list[int]:
        """The index shape of one array as far as written."""
        arrays = self.arrays
        shape = list(arrays.allocated[position][:-2])
        if arrays.grow_axis is not None:
            shape[arrays.grow_axis] = arrays.extent[position]
        return shape

    def finalize(self, frames_done: int) -> None:
        """Write what is pending, declare it, describe and sync the dataset.

        After a failed write every step is still attempted, so the metadata
        describes what reached the disk; the first error is raised at the end.
        """
        if self.finalized:
            return
        self.finalized = True
        arrays = self.arrays
        arrays.stop_background(frames_done)
        errors: list[Exception] = []

        def attempt(step: Callable[[], None]) -> None:
            try:
                step()
            except Exception as e:  # describe what exists; report the failure
                errors.append(e)

        attempt(self._wait_for_background)
        attempt(arrays.flush_assembled)
        attempt(arrays.drain)
        if arrays.grow_axis is not None:
            attempt(arrays.declare_written)
        extents = list(arrays.extent) if arrays.grow_axis is not None else None
        attempt(lambda: self.hierarchy.write_ome_xml_at_close(frames_done, extents))
        # the root's document, written last, states the run complete
        status: Status = "failed" if errors else "complete"
        attempt(lambda: self.hierarchy.set_progress(frames_done, status))
        attempt(lambda: self.hierarchy.write_frame_metadata(self._index_shape))
        attempt(arrays.close)
        attempt(lambda: sync_filesystem(self.root))
        if errors:
            raise errors[0]

    # --------------------------------------------------------------- metadata

    def get_metadata(self) -> dict[str, dict[str, Any]]:
        """Image group path ("." for a single image) -> copy of its attributes."""
        return self.hierarchy.get_metadata()

    def update_metadata(self, metadata: Any) -> None:
        """Replace the attributes of the given groups and write them now."""
        self.hierarchy.update_metadata(metadata)

    def set_global_metadata(self, namespace: str, metadata: dict[str, Any]) -> None:
        self.global_metadata[namespace] = json_safe(metadata)
        self.hierarchy.set_global_metadata(namespace, self.global_metadata[namespace])
