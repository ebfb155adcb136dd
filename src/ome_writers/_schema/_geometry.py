"""`AcquisitionGeometry`: the layout a set of `AcquisitionSettings` describes.

Nothing here is chosen by the user: which dimensions are series (one image per
index), index or frame dimensions, their order on disk, shapes and frame counts,
the images, and each image's own dimensions when positions differ.
"""

from __future__ import annotations

import itertools
import math
import operator
from dataclasses import dataclass, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ome_writers._registry import BACKENDS, BY_NAME
from ome_writers._schema._dimension import Position
from ome_writers._schema._pyramid import level_count
from ome_writers._schema._storage import (
    effective_type,
    resolve_storage_order,
    small_frame_layout,
)

if TYPE_CHECKING:
    from ome_writers._schema._dimension import Dimension
    from ome_writers._schema._format import OmeTiffFormat, OmeZarrFormat, ScratchFormat
    from ome_writers._schema._pyramid import Pyramid


@dataclass(frozen=True, eq=False)
class AcquisitionGeometry:
    """The layout of an acquisition, computed from its settings.

    Holds the settings fields it is computed from (the objects themselves, not
    copies); each property is computed on first use, then kept. Built by
    `AcquisitionSettings.geometry`, which validated the fields first.
    """

    dimensions: tuple[Dimension, ...]
    dtype: str
    format: OmeTiffFormat | OmeZarrFormat | ScratchFormat
    storage_order: Literal["acquisition", "ome"] | list[str]
    series_dimensions: Literal["auto"] | list[str]
    frame_order: tuple[tuple[int, ...], ...] | None
    pyramid: Pyramid | None
    root_path: str

    def __post_init__(self) -> None:
        if not self.dimensions:
            raise ValueError("An acquisition geometry needs dimensions.")

    @classmethod
    def of(cls, settings: Any) -> AcquisitionGeometry:
        """The geometry of `settings` (anything with the fields above)."""
        return cls(*_inputs(settings))

    def computed_from(self, settings: Any) -> bool:
        """Whether every input field of `settings` is the object this geometry
        was computed from (`model_copy(update=...)` and assignment put new
        objects in the fields they change)."""
        return all(map(operator.is_, _inputs(settings), _inputs(self)))

    # ------------------------------------------------------------- dimensions

    @cached_property
    def frame_dimensions(self) -> tuple[Dimension, ...]:
        """The last two (Y, X) dimensions."""
        return self.dimensions[-2:]

    @cached_property
    def position_dimension_index(self) -> int | None:
        """Index of the position dimension in `dimensions`, if there is one."""
        for i, d in enumerate(self.dimensions[:-2]):
            if d.type == "position":
                return i
        return None

    @cached_property
    def series_dimension_indices(self) -> tuple[int, ...]:
        """Indices (in `dimensions`) of the dimensions stored as series.

        The position dimension, and the dimensions `series_dimensions` selects.
        Each combination of their indices is one image ("position").
        """
        dims = self.dimensions[:-2]
        listed = self.series_dimensions
        if listed == "auto":
            extra = [i for i, d in enumerate(dims) if is_extra(d)]
            others = len(dims) + 2 - sum(d.type == "position" for d in dims)
            chosen = set(extra) if others > 5 else set()
        else:
            chosen = {i for i, d in enumerate(dims) if d.name in listed}
        return tuple(
            i for i, d in enumerate(dims) if d.type == "position" or i in chosen
        )

    @cached_property
    def index_dimensions(self) -> tuple[Dimension, ...]:
        """Non-frame, non-series dimensions in acquisition order."""
        series = self.series_dimension_indices
        return tuple(d for i, d in enumerate(self.dimensions[:-2]) if i not in series)

    @cached_property
    def array_dimensions(self) -> tuple[Dimension, ...]:
        """All dimensions except the series ones, in acquisition order."""
        series = self.series_dimension_indices
        return tuple(d for i, d in enumerate(self.dimensions) if i not in series)

    @cached_property
    def storage_index_dimensions(self) -> tuple[Dimension, ...]:
        """Index dimensions in storage order."""
        return resolve_storage_order(
            self.index_dimensions, self.storage_order, self.format.name
        )

    @cached_property
    def storage_index_permutation(self) -> tuple[int, ...] | None:
        """`perm` with ``storage[i] = acquisition[perm[i]]``; None for identity."""
        acquisition = [d.name for d in self.index_dimensions]
        perm = tuple(acquisition.index(d.name) for d in self.storage_index_dimensions)
        return None if perm == tuple(range(len(perm))) else perm

    @cached_property
    def array_storage_dimensions(self) -> tuple[Dimension, ...]:
        """Storage-order index dimensions followed by the frame dimensions.

        In OME-Zarr, with the chunks and shards of the default layout of
        small frames filled in (`small_frame_layout`).
        """
        dims = (*self.storage_index_dimensions, *self.frame_dimensions)
        return self.zarr_layout(dims, self.dtype)

    def zarr_layout(
        self, dims: tuple[Dimension, ...], dtype: str
    ) -> tuple[Dimension, ...]:
        """`dims` (storage order) as an OME-Zarr array of `dtype` stores them."""
        fmt = self.format
        if fmt.name != "ome-zarr" or not dtype or not _groups_small_frames(fmt):
            return dims
        if any(d.chunk_size or d.shard_size_chunks for d in self.dimensions):
            return dims  # chosen for the acquisition: no position regroups
        return small_frame_layout(
            dims, np.dtype(dtype).itemsize, fmt.zarr_format, len(self.positions)
        )

    def position_storage_dimensions(self, position: int) -> tuple[Dimension, ...]:
        """One position's array dimensions (storage order), as stored."""
        own = resolve_storage_order(
            self.position_index_dimensions(position),
            self.storage_order,
            self.format.name,
        )
        dims = (*own, *self.position_frame_dimensions(position))
        return self.zarr_layout(dims, self.position_dtype(position))

    @property
    def view_dimensions(self) -> tuple[Dimension, ...]:
        """Dimensions as a live view presents them: the declared order.

        `storage_order` changes the layout on disk, never what a view index means.
        """
        return self.dimensions

    # ------------------------------------------------------- shapes and counts

    @cached_property
    def shape(self) -> tuple[int | None, ...]:
        """Count of every dimension (None for an unbounded one)."""
        return tuple(d.count for d in self.dimensions)

    @property
    def is_unbounded(self) -> bool:
        """Whether the first dimension has no count."""
        return self.dimensions[0].count is None

    @cached_property
    def num_frames(self) -> int | None:
        """Total number of 2D frames (None when unbounded)."""
        dims = self.dimensions[:-2]
        if self.frame_order is not None and all(d.count for d in dims):
            entries = len(self.frame_order)
            listed = len(self.frame_order[0]) if self.frame_order else 0
            return entries * math.prod(d.count or 1 for d in dims[listed:])
        if self.is_ragged:  # each position's own frames (bounded: validated)
            return sum(
                math.prod(d.count or 1 for d in self.position_index_dimensions(p))
                for p in range(len(self.positions))
            )
        total = 1
        for d in dims:
            if d.count is None:
                return None
            total *= d.count
        return total

    @cached_property
    def pyramid_levels(self) -> int:
        """Number of resolution levels written (1: no pyramid)."""
        return level_count(self.pyramid, self.array_storage_dimensions)

    # ----------------------------------------------------------------- images

    @cached_property
    def positions(self) -> tuple[Position, ...]:
        """The images of a dataset: one per position (and per combination of
        the other series dimensions' indices, named after them); one unnamed
        position "0" when there is none."""
        series = self.series_dimension_indices
        index = self.position_dimension_index
        if index is None and not series:
            return (Position(name="0"),)
        if index is not None and series == (index,):
            coords = self.dimensions[index].coords or []
            return tuple(c for c in coords if isinstance(c, Position))
        return _series_positions([self.dimensions[i] for i in series])

    @cached_property
    def series_coordinates(self) -> tuple[dict[str, Any], ...] | None:
        """Per image, the coordinate of every series dimension (its label or
        index); None when only positions are series."""
        dims = [self.dimensions[i] for i in self.series_dimension_indices]
        if all(d.type == "position" for d in dims):
            return None
        names = [d.coord_names for d in dims]
        return tuple(
            {
                d.name: labels[i] if labels else i
                for d, labels, i in zip(dims, names, combo, strict=True)
            }
            for combo in itertools.product(*(range(d.count or 1) for d in dims))
        )

    @cached_property
    def output_path(self) -> str:
        """Path of the dataset (file or directory) written."""
        return self.format.get_output_path(
            self.root_path, num_positions=len(self.positions)
        )

    # -------------------------------------------- positions of their own shape

    @cached_property
    def is_ragged(self) -> bool:
        """Whether some position has dimensions of its own (arrays of other shapes)."""
        if self.position_dimension_index is None:
            return False
        return any(
            p.dimensions is not None or p.dtype is not None for p in self.positions
        )

    @cached_property
    def mixed_frames(self) -> bool:
        """Whether positions' frames differ in shape or dtype (several cameras)."""
        if not self.is_ragged:
            return False
        shapes = {
            (
                tuple(d.count for d in self.position_frame_dimensions(p)),
                self.position_dtype(p),
            )
            for p in range(len(self.positions))
        }
        return len(shapes) > 1 or shapes != {
            (tuple(d.count for d in self.frame_dimensions), self.dtype)
        }

    def position_index_dimensions(self, position: int) -> tuple[Dimension, ...]:
        """Non-frame dimensions of one position's array, in acquisition order."""
        own = self.positions[position].dimensions
        frame = {d.name for d in self.frame_dimensions}
        if own is None or (own and all(d.name in frame for d in own)):
            return self.index_dimensions  # (only its frame shape is its own)
        return tuple(d for d in own if d.name not in frame)

    def position_frame_dimensions(self, position: int) -> tuple[Dimension, ...]:
        """Y, X of one position's frames (its own, else the acquisition's)."""
        own = self.positions[position].dimensions or ()
        frame = {d.name for d in self.frame_dimensions}
        mine = tuple(d for d in own if d.name in frame)
        return mine or self.frame_dimensions

    def position_dtype(self, position: int) -> str:
        """Pixel type of one position's frames."""
        return self.positions[position].dtype or self.dtype

    @cached_property
    def frame_cells(self) -> tuple[tuple[int, ...], ...]:
        """Every frame's index along the non-frame dimensions, in default order.

        C order over `dimensions`, skipping the cells outside a position's own
        dimensions (a dimension it does not have keeps index 0). Bounded only.
        """
        dims = self.dimensions[:-2]
        pidx = self.position_dimension_index
        limits_of = []
        for p in range(len(self.positions)):
            own = {d.name: d.count or 1 for d in self.position_index_dimensions(p)}
            limits_of.append(
                [0 if i == pidx else own.get(d.name, 1) for i, d in enumerate(dims)]
            )
        counts = [d.count or 1 for d in dims]
        out = []
        for cell in itertools.product(*(range(c) for c in counts)):
            limits = limits_of[cell[pidx]] if pidx is not None else limits_of[0]
            if all(
                i == pidx or v < lim
                for i, (v, lim) in enumerate(zip(cell, limits, strict=True))
            ):
                out.append(cell)
        return tuple(out)


# the geometry's inputs, read from the settings (or a geometry) in field order
_inputs = operator.attrgetter(*(f.name for f in fields(AcquisitionGeometry)))


def _groups_small_frames(fmt: OmeZarrFormat) -> bool:
    """Whether the backend `fmt` names (or "auto" picks: the first available
    one writing its Zarr format) may group small frames."""
    name = fmt.backend
    if name == "auto":
        zarr_format = fmt.zarr_format
        picked = next(
            (
                r
                for r in BACKENDS
                if r.format == "ome-zarr"
                and r.writes_zarr_format(zarr_format)
                and r.available
            ),
            None,
        )
        return picked is None or picked.groups_small_frames
    record = BY_NAME.get(name)
    return record is None or record.groups_small_frames


def is_extra(dim: Dimension) -> bool:
    """A dimension other than time, channel and space (angle, view, camera...)."""
    return dim.type != "position" and effective_type(dim) not in (
        "time",
        "channel",
        "space",
    )


def _series_positions(dims: list[Dimension]) -> tuple[Position, ...]:
    """One Position per combination of series dimension indices (C order).

    Named after the position (if any) and ``<axis><label>`` of every other
    series dimension, joined by ``_`` (e.g. ``A_angle1``, ``camleft``); the
    position's stage and plate fields are kept.
    """
    out = []
    for combo in itertools.product(*(range(d.count or 1) for d in dims)):
        parts: list[str] = []
        base: Position | None = None
        for dim, i in zip(dims, combo, strict=True):
            labels = dim.coord_names
            label = labels[i] if labels else i
            if dim.type == "position":
                coord = dim.coords[i] if dim.coords else None
                base = coord if isinstance(coord, Position) else None
                parts.append(str(label))
            else:
                parts.append(f"{dim.name}{label}")
        name = "_".join(parts)
        if base is not None:
            out.append(base.model_copy(update={"name": name}))
        else:
            out.append(Position(name=name))
    return tuple(out)
