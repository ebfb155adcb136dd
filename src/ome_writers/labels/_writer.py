"""Label images written by index beside the frames: `LabelSet`.

Each label image has, per position and resolution level, a `ZarrArrays`
(one label plane per chunk) written through the dataset's own Zarr library,
with the frames' guarantees: growth along an unbounded axis, writes landed
and declared at each loss-window visit, drained at checkpoints, cut to the
image's extent at close. Lower levels are reduced on the writing thread,
plane by plane (labels arrive at the analysis' pace, not the camera's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers._schema._labels import channel_axis, label_settings, labels_problem
from ome_writers._schema._pyramid import level_dimensions
from ome_writers.backends.zarr._arrays import ZarrArrays
from ome_writers.labels._documents import label_documents, label_path
from ome_writers.labels._reduce import reduce_labels
from ome_writers.metadata._ngff import ngff_version
from ome_writers.metadata._zarr_groups import write_groups
from ome_writers.metadata._zarr_layout import plan_layout

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ome_writers._io._object_store import DatasetPath
    from ome_writers._router import FrameRouter
    from ome_writers._schema import AcquisitionSettings, LabelImage
    from ome_writers.backends.zarr._array_writer import WriterFactory


#: cells remembered between drains (a drain forgets them)
_MAX_IN_FLIGHT = 4096


class _LabelArrays:
    """One label image: its levels' arrays and how a plane reaches them."""

    def __init__(
        self,
        label: LabelImage,
        settings: AcquisitionSettings,
        root: DatasetPath,
        image_paths: list[str],
        router: FrameRouter,
        make_writer: WriterFactory,
        explain: Callable[[BaseException], BaseException],
    ) -> None:
        self.label = label
        self.settings = label_settings(settings, label)
        self.dtype = np.dtype(label.dtype)
        self.channel_axis = channel_axis(settings, label)
        dims = self.settings.array_storage_dimensions
        self.frame_shape = (int(dims[-2].count or 0), int(dims[-1].count or 0))
        zarr_format = 2 if ngff_version(settings) == "0.4" else 3
        pyramid = self.settings.pyramid
        self.levels = [
            ZarrArrays(
                root,
                [label_path(image, label.name, str(level)) for image in image_paths],
                dims if pyramid is None else level_dimensions(pyramid, dims, level),
                self.dtype,
                label.compression,
                router,
                make_writer,
                explain,
                zarr_format=zarr_format,
            )
            for level in range(self.settings.pyramid_levels)
        ]
        # cells written since the last drain: writes in flight may land in
        # any order, so a cell written again waits for the earlier write
        self._in_flight: set[tuple[int, tuple[int, ...]]] = set()

    def plane(self, data: Any) -> np.ndarray:
        """`data` as a label plane of this image (checked, cast losslessly)."""
        plane = np.asarray(data)
        if plane.shape != self.frame_shape:
            raise ValueError(
                f"label {self.label.name!r}: a plane of shape {plane.shape}, "
                f"expected the frame shape {self.frame_shape}"
            )
        if plane.dtype == bool:
            return plane.astype(self.dtype)
        if plane.dtype.kind not in "iu" or not np.can_cast(plane.dtype, self.dtype):
            if plane.dtype.kind in "iu" and plane.size:
                info = np.iinfo(self.dtype)
                low, high = int(plane.min()), int(plane.max())
                if info.min <= low and high <= info.max:
                    return plane.astype(self.dtype)
            raise TypeError(
                f"label {self.label.name!r}: {plane.dtype} values do not fit the "
                f"label dtype {self.dtype} (label planes hold integers or bools)"
            )
        return plane

    def reduced(self, plane: np.ndarray) -> list[np.ndarray]:
        """`plane` at every level, level 0 first."""
        planes = [plane]
        for _ in self.levels[1:]:
            planes.append(reduce_labels(planes[-1], self.label.downsample))
        return planes

    def write(
        self, position: int, index: tuple[int, ...], planes: list[np.ndarray]
    ) -> None:
        """Write a plane's `reduced` levels at the label index of the frame
        index `index`."""
        axis = self.channel_axis
        if axis is not None:
            index = (*index[:axis], 0, *index[axis + 1 :])
        cell = (position, index)
        if cell in self._in_flight or len(self._in_flight) >= _MAX_IN_FLIGHT:
            for arrays in self.levels:
                arrays.drain()
            self._in_flight.clear()
        self._in_flight.add(cell)
        for arrays, plane in zip(self.levels, planes, strict=True):
            arrays.write(position, index, plane)


class LabelSet:
    """Every label image of a stream (a `Companion`).

    Parameters
    ----------
    settings : AcquisitionSettings
        The stream's settings.
    root : DatasetPath
        The dataset's root.
    router : FrameRouter
        The stream's frame order.
    make_writer : WriterFactory
        Writer of the label arrays (the dataset's library, or one that writes
        plain arrays).
    explain : callable
        Turns a failed write's error into the one to raise.
    image_extent : callable
        ``position -> int | None``: the image's extent along its first axis
        after close, when it is cut to the frames written.
    """

    def __init__(
        self,
        settings: AcquisitionSettings,
        root: DatasetPath,
        router: FrameRouter,
        make_writer: WriterFactory,
        explain: Callable[[BaseException], BaseException],
        image_extent: Callable[[int], int | None],
    ) -> None:
        self.settings = settings
        self.root = root
        self.router = router
        self._make_writer = make_writer
        self._explain = explain
        self._image_extent = image_extent
        self.image_paths = plan_layout(settings).image_paths
        self.zarr_format = 2 if ngff_version(settings) == "0.4" else 3
        self.images: dict[str, _LabelArrays] = {}
        self.properties: dict[str, dict[int, dict[str, Any]]] = {}
        self._version = 0
        self._documents_due = False

    @property
    def version(self) -> int:
        return self._version

    @property
    def names(self) -> list[str]:
        return list(self.images)

    def add(self, label: LabelImage) -> None:
        """Create a label image's arrays and (re)write the label documents."""
        problem = labels_problem(self.settings, [*self._labels(), label])
        if problem:
            raise ValueError(problem)
        image = _LabelArrays(
            label,
            self.settings,
            self.root,
            self.image_paths,
            self.router,
            self._make_writer,
            self._explain,
        )
        self.properties[label.name] = {
            int(k): dict(v) for k, v in (label.properties or {}).items()
        }
        self.images[label.name] = image
        try:
            self._write_documents()
            for arrays in image.levels:
                arrays.prepare()
        except BaseException:
            del self.images[label.name]
            raise

    def _labels(self) -> list[LabelImage]:
        return [image.label for image in self.images.values()]

    def image(self, name: str) -> _LabelArrays:
        try:
            return self.images[name]
        except KeyError:
            raise KeyError(
                f"no label image {name!r} (label images: {self.names}); add it "
                "with AcquisitionSettings.labels or OMEStream.add_labels"
            ) from None

    def written(self) -> None:
        """A plane was written: a loss-window visit is due."""
        self._version += 1

    def set_properties(
        self, name: str, properties: Mapping[int, Mapping[str, Any]]
    ) -> None:
        self.image(name)
        self.properties[name] = {int(k): dict(v) for k, v in properties.items()}
        self._documents_due = True
        self._version += 1

    def read(self, name: str, position: int, key: Any, level: int = 0) -> np.ndarray:
        image = self.image(name)
        image.levels[level].drain()
        return image.levels[level].read(position, key)

    def _write_documents(self) -> None:
        documents = label_documents(
            self.settings,
            [(image.label, image.settings) for image in self.images.values()],
            self.image_paths,
            self.properties,
        )
        write_groups(self.root, documents, atomic=True, zarr_format=self.zarr_format)
        self._documents_due = False

    def _all_arrays(self) -> list[ZarrArrays]:
        return [a for image in self.images.values() for a in image.levels]

    # ------------------------------------------------------------- Companion

    def start_readable(self) -> Callable[[], None] | None:
        arrays = self._all_arrays()
        for level in arrays:
            level.wait_for_arrays()
        lands = [level.writes_in_flight() for level in arrays]
        extents = [level.undeclared() for level in arrays]
        documents = self._documents_due

        def finish() -> None:
            for land in lands:
                if land is not None:
                    land()
            for level, shapes in zip(arrays, extents, strict=True):
                if shapes:
                    level.declare(shapes)
            if documents:
                self._write_documents()

        return finish

    def checkpoint(self) -> None:
        for level in self._all_arrays():
            level.wait_for_arrays()
            level.drain()
            if level.grow_axis is not None:
                level.declare_written()
        if self._documents_due:
            self._write_documents()

    def finalize(self) -> None:
        """Cut every label array to its image's extent, land and declare it,
        write the documents; raise the first failure after trying all."""
        errors: list[Exception] = []
        for level in self._all_arrays():
            try:
                level.wait_for_arrays()
                for position in range(level.num_positions):
                    extent = self._image_extent(position)
                    if extent is not None:
                        level.reach(position, extent)
                level.stop_background(0)
                try:
                    level.finish()
                finally:
                    level.close()
            except Exception as e:
                errors.append(e)
        if self._documents_due:
            try:
                self._write_documents()
            except Exception as e:
                errors.append(e)
        if errors:
            raise errors[0]
