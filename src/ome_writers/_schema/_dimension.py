"""Dimension, Channel, Position and the standard axes."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_extra_types.color import Color

from ome_writers._schema._base import SettingsModel
from ome_writers._schema._units import length_unit, normalise_unit, time_unit

if TYPE_CHECKING:
    from typing_extensions import Self

DimensionType = Literal["space", "time", "channel", "position", "other"]


class Channel(SettingsModel):
    """An optical channel; a bare string validates into ``Channel(name=...)``."""

    name: str = Field(min_length=1)
    excitation_wavelength_nm: int | None = Field(default=None, gt=0)
    emission_wavelength_nm: int | None = Field(default=None, gt=0)
    fluorophore: str | None = None
    color: Color | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data


class Position(SettingsModel):
    """A stage position (optionally in a plate well and/or a grid cell).

    Parameters
    ----------
    name : str
        Position name (series / field name on disk).
    plate_row, plate_column : str | None
        Well of a plate.
    grid_row, grid_column : int | None
        Grid cell (tile) of the position.
    x_coord, y_coord, z_coord : float | None
        Stage coordinates (µm).
    dimensions : sequence of Dimension | None
        This position's own dimensions, when its array differs from the
        others' (e.g. a z-stack here, three channels there). Each names one of
        the acquisition's non-position dimensions, with a count no larger than
        that dimension's, in the same order; a dimension left out has no axis
        at this position (its index is always 0 there). The frame dimensions
        (Y, X) may close the list with counts of their own: frames of another
        shape (a second camera); listing only Y, X keeps the acquisition's other
        dimensions. None: the acquisition's dimensions.
    dtype : str | None
        Pixel type of this position's frames, when it differs from the
        acquisition's (a second camera). None: the acquisition's.
    """

    name: str = Field(min_length=1)
    plate_row: str | None = None
    plate_column: str | None = None
    grid_row: int | None = None
    grid_column: int | None = None
    x_coord: float | None = None
    y_coord: float | None = None
    z_coord: float | None = None
    dimensions: tuple[Dimension, ...] | None = None
    dtype: str | None = None

    @field_validator("dtype", mode="before")
    @classmethod
    def _canonical_dtype(cls, value: Any) -> str | None:
        if value is None:
            return None
        try:
            return str(np.dtype(value).name)
        except TypeError as e:
            raise ValueError(f"Invalid dtype: {value!r}. {e}") from None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _pairs_complete(self) -> Self:
        for a, b in (("plate_row", "plate_column"), ("grid_row", "grid_column")):
            if (getattr(self, a) is None) != (getattr(self, b) is None):
                raise ValueError(f"{a} and {b} must both be set or both be None")
        return self

    @property
    def group(self) -> tuple[str | None, str | None, int | None, int | None]:
        """The (plate_row, plate_column, grid_row, grid_column) this position is in."""
        return (self.plate_row, self.plate_column, self.grid_row, self.grid_column)


Coord = str | float | Channel | Position


class Dimension(SettingsModel):
    """One axis of an acquisition.

    Parameters
    ----------
    name : str
        Axis label, unique within a settings object.
    count : int | None
        Number of elements; None makes the (first) dimension unbounded.
    type : str | None
        One of "space", "time", "channel", "position", "other"; inferred from
        `coords` or `unit` when not given.
    coords : list | None
        Per-index labels (channel names, positions, values).
    chunk_size : int | None
        Elements per chunk (Zarr). Default: whole frame for Y/X, 1 otherwise;
        when no dimension sets chunks or shards, OME-Zarr groups frames
        under 1 MiB into files of about 4 MiB (docs: formats).
    shard_size_chunks : int | None
        Chunks per shard (Zarr v3 sharding).
    unit : str | None
        Unit of `scale` (and `translation`): for a space dimension a length,
        for a time dimension a time, either for an untyped one (which it then
        types). An NGFF (UDUNITS-2) name, its OME symbol or a common spelling
        (``"um"``, ``"µm"``, ``"microns"``, ``"nm"``, ``"sec"``, ``"ms"``,
        ``"min"``, ``"h"``) is stored as the NGFF name (``"micrometer"``);
        any other unit is refused. Kept as given for channel, position and
        other dimensions (no format writes it).
    scale : float | None
        Physical step size; None (or 0, negative): not known, and then not
        declared (see the formats' documentation).
    translation : float | None
        Physical offset of index 0.
    """

    name: str = Field(min_length=1)
    count: int | None = Field(default=None, gt=0)
    type: DimensionType | None = None
    coords: list[Coord] | None = None
    chunk_size: int | None = Field(default=None, gt=0)
    shard_size_chunks: int | None = Field(default=None, gt=0)
    unit: str | None = None
    scale: float | None = None
    translation: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return _prepare_dimension(dict(data))

    @field_validator("unit")
    @classmethod
    def _normalise_unit(cls, unit: str | None, info: ValidationInfo) -> str | None:
        if unit is None:
            return None
        return normalise_unit(unit, info.data.get("type"), info.data.get("name"))

    @property
    def coord_names(self) -> list[Any] | None:
        """Coordinate labels: names of channels/positions, raw values otherwise."""
        if self.coords is None:
            return None
        return [getattr(c, "name", c) for c in self.coords]


def _infer_type(data: dict[str, Any]) -> str | None:
    coords = data.get("coords")
    coords_type = None
    if coords:
        if any(isinstance(c, Channel) for c in coords):
            coords_type = "channel"
        elif any(isinstance(c, Position) for c in coords):
            coords_type = "position"
    unit = data.get("unit")
    unit_type = None
    if isinstance(unit, str):
        if length_unit(unit):
            unit_type = "space"
        elif time_unit(unit):
            unit_type = "time"
    if coords_type and unit_type and coords_type != unit_type:
        raise ValueError(
            "Conflicting dimension type inference: coords suggests "
            f"type={coords_type!r} but unit suggests type={unit_type!r}. "
            "Set `type` explicitly."
        )
    return coords_type or unit_type


def _prepare_dimension(data: dict[str, Any]) -> dict[str, Any]:
    coords = data.get("coords")
    if coords is not None and not isinstance(coords, list):
        coords = data["coords"] = list(coords)
    if data.get("type") is None:
        inferred = _infer_type(data)
        if inferred is not None:
            data["type"] = inferred
    dim_type = data.get("type")
    name = data.get("name")

    if dim_type == "position":
        if coords is None:
            count = data.get("count")
            if count is None:
                raise NotImplementedError(
                    f"Unbounded position dimensions (count=None) are not yet "
                    f"implemented (dimension {name!r}). Give a count or coords."
                )
            coords = data["coords"] = [Position(name=str(i)) for i in range(int(count))]
        elif not coords:
            raise NotImplementedError(
                f"Empty coords for position dimensions are not yet implemented "
                f"(dimension {name!r})."
            )

    if coords is not None:
        if data.get("count") is None:
            data["count"] = len(coords)
        elif int(data["count"]) != len(coords):
            raise ValueError(
                f"Length of coords ({len(coords)}) does not match count "
                f"({data['count']}) for dimension {name!r}."
            )
        for kind, label in ((Channel, "channel"), (Position, "position")):
            if any(isinstance(c, kind) for c in coords):
                if not all(isinstance(c, (str, kind)) for c in coords):
                    raise ValueError(
                        f"May not mix {kind.__name__} objects with other coord types."
                    )
                if dim_type is not None and dim_type != label:
                    raise ValueError(
                        f"{kind.__name__} objects in coords require type={label!r}, "
                        f"got type={dim_type!r}"
                    )
        if dim_type == "channel":
            channels = [Channel.model_validate(c) for c in coords]
            names = [c.name for c in channels]
            if len(set(names)) != len(names):
                raise ValueError(f"Channel names must be unique. Got: {names}")
            data["coords"] = channels
        elif dim_type == "position":
            positions = [Position.model_validate(c) for c in coords]
            _check_unique_positions(positions)
            data["coords"] = positions

    return data


def _check_unique_positions(positions: Sequence[Position]) -> None:
    groups: dict[tuple[Any, ...], list[str]] = {}
    for p in positions:
        groups.setdefault(p.group, []).append(p.name)
    for group, names in groups.items():
        dupes = sorted({n for n in names if names.count(n) > 1})
        if not dupes:
            continue
        if group == (None, None, None, None):
            raise ValueError(
                f"All positions without row/column must have unique names. "
                f"Duplicates: {dupes}"
            )
        row, col, grow, gcol = group
        raise ValueError(
            "Position names must be unique within each group. Duplicate names in "
            f'well ("{row}", "{col}"), grid position ({grow}, {gcol}): {dupes}'
        )


class PositionDimension(Dimension):
    """Deprecated: use ``Dimension(name='p', type='position', coords=[...])``."""

    name: str = Field(default="p", min_length=1)
    type: DimensionType | None = "position"
    coords: list[Position] | None = None  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _positions_alias(cls, data: Any) -> Any:
        warnings.warn(
            "PositionDimension is deprecated. Use Dimension(name='p', "
            "type='position', coords=[...]) instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        if isinstance(data, Mapping) and "positions" in data:
            data = dict(data)
            data["coords"] = data.pop("positions")
        return data


class StandardAxis(str, Enum):
    """The standard axes x, y, z, c, t and p with their types and units."""

    X = "x"
    Y = "y"
    Z = "z"
    CHANNEL = "c"
    TIME = "t"
    POSITION = "p"

    def __str__(self) -> str:
        return self.value

    def dimension_type(self) -> DimensionType:
        """The `Dimension.type` of this axis."""
        return _AXIS_TYPES[self.value]

    def unit(self) -> str | None:
        """The default unit of this axis."""
        return _AXIS_UNITS.get(self.value)

    def to_dimension(
        self,
        *,
        count: int | None = None,
        coords: Iterable[Any] | None = None,
        chunk_size: int | None = None,
        shard_size_chunks: int | None = None,
        scale: float | None = None,
    ) -> Dimension:
        """Build a `Dimension` for this axis."""
        return Dimension(
            name=self.value,
            count=count,
            type=self.dimension_type(),
            unit=self.unit(),
            coords=list(coords) if coords is not None else None,
            chunk_size=chunk_size,
            shard_size_chunks=shard_size_chunks,
            scale=scale,
        )


_AXIS_TYPES: dict[str, DimensionType] = {
    "x": "space",
    "y": "space",
    "z": "space",
    "c": "channel",
    "t": "time",
    "p": "position",
}
_AXIS_UNITS = {"x": "micrometer", "y": "micrometer", "z": "micrometer", "t": "second"}


def dims_from_standard_axes(
    sizes: Mapping[str, int | Sequence[Any] | None],
    chunk_shapes: Mapping[str, int] | None = None,
    shard_shapes: Mapping[str, int] | None = None,
) -> list[Dimension]:
    """Build dimensions from a mapping of standard axis name to size or coords.

    Parameters
    ----------
    sizes : Mapping
        Axis name ("x", "y", "z", "c", "t", "p") to a count, None (unbounded)
        or a sequence of coords (channel names, position names). Order is kept.
    chunk_shapes, shard_shapes : Mapping, optional
        Axis name to elements per chunk / chunks per shard.
    """
    valid = [a.value for a in StandardAxis]
    bad = [k for k in sizes if str(k) not in valid]
    if bad:
        raise ValueError(f"Standard axes names must be one of {valid}. Got: {bad}")
    chunks = {str(k): v for k, v in (chunk_shapes or {}).items()}
    shards = {str(k): v for k, v in (shard_shapes or {}).items()}
    dims = []
    for key, value in sizes.items():
        axis = StandardAxis(str(key))
        is_count = value is None or isinstance(value, int)
        chunk = chunks.get(axis.value)
        if chunk is None and axis is not StandardAxis.POSITION:
            frame_axis = axis in (StandardAxis.X, StandardAxis.Y)
            chunk = value if frame_axis and isinstance(value, int) else 1
        dims.append(
            axis.to_dimension(
                count=value if is_count else None,  # type: ignore[arg-type]
                coords=None if is_count else value,  # type: ignore[arg-type]
                chunk_size=chunk,
                shard_size_chunks=shards.get(axis.value),
            )
        )
    return dims


Position.model_rebuild()
