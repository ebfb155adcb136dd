"""`AcquisitionSettings`: everything needed to create a stream, validated once."""

from __future__ import annotations

import importlib.util
import itertools
import math
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ome_writers._registry import (
    BACKENDS,
    BY_NAME,
    compressions,
    first_available,
    url_writers,
)
from ome_writers._schema._base import SettingsModel
from ome_writers._schema._dimension import Dimension, Position
from ome_writers._schema._format import (
    OmeTiffFormat,
    OmeZarrFormat,
    ScratchFormat,
    ome_stem_suffix,
)
from ome_writers._schema._object_storage import OBJECT_SCHEMES, S3Options, url_scheme
from ome_writers._schema._plate import Plate
from ome_writers._schema._pyramid import Pyramid, check_levels, level_count
from ome_writers._schema._storage import effective_type, resolve_storage_order

if TYPE_CHECKING:
    from typing_extensions import Self

Format = Annotated[
    OmeTiffFormat | OmeZarrFormat | ScratchFormat, Field(discriminator="name")
]
FormatObject = OmeTiffFormat | OmeZarrFormat | ScratchFormat

# every compression some backend writes (a test keeps it equal to the registry)
Compression = Literal["blosc-zstd", "blosc-lz4", "zstd", "zlib", "lzw", "none"]
_FORMAT_MODELS: dict[str, type[FormatObject]] = {
    "ome-zarr": OmeZarrFormat,
    "ome-tiff": OmeTiffFormat,
    "scratch": ScratchFormat,
}
# format names and their short forms; backend names and aliases: the registry
_FORMAT_NAMES: dict[str, type[FormatObject]] = {
    "ome-tiff": OmeTiffFormat,
    "tiff": OmeTiffFormat,
    "ome-zarr": OmeZarrFormat,
    "zarr": OmeZarrFormat,
}


def _format_aliases() -> dict[str, tuple[type[FormatObject], str | None]]:
    """Every name `format=` accepts -> (format model, backend or None)."""
    out: dict[str, tuple[type[FormatObject], str | None]] = {
        name: (cls, None) for name, cls in _FORMAT_NAMES.items()
    }
    for record in BACKENDS:
        for name in (record.name, *record.aliases):
            out[name] = (_FORMAT_MODELS[record.format], record.name)
    return out


def _format_from_string(name: str, suffix: str) -> FormatObject:
    key = name.lower()
    aliases = _format_aliases()
    if key not in aliases:
        raise ValueError(
            f"Unknown format {name!r}. Use one of {sorted(aliases)} or 'auto'."
        )
    cls, backend = aliases[key]
    if cls is ScratchFormat:
        return ScratchFormat(backend=backend or "scratch")
    kwargs: dict[str, Any] = {}
    if backend:
        kwargs["backend"] = backend
    if suffix:
        kwargs["suffix"] = suffix
    return cls(**kwargs)


def _resolve_format(value: Any, root_path: str) -> Any:
    suffix = ome_stem_suffix(root_path)[1]
    if isinstance(value, Mapping):
        if suffix and "suffix" not in value and value.get("name") != "scratch":
            return {**value, "suffix": suffix}
        return value
    if not isinstance(value, str):
        return value
    if value.lower() != "auto":
        return _format_from_string(value, suffix)
    if root_path == "":
        return ScratchFormat()
    if suffix.endswith((".tif", ".tiff")):
        return OmeTiffFormat(suffix=suffix)
    if suffix.endswith(".zarr"):
        return OmeZarrFormat(suffix=suffix)
    record = first_available()
    warnings.warn(
        f"\n\nOutput format could not be inferred from root_path {root_path!r}. "
        f"Picking the first available format/backend: "
        f"{record.format!r}/{record.name!r}.\nThat may not be what you want, and "
        "a future version may refuse it: pass the format explicitly (for example "
        "format='ome-zarr' or format='ome-tiff') or end root_path with "
        "'.ome.zarr' or '.ome.tiff'.\n",
        UserWarning,
        stacklevel=4,
    )
    return _format_from_string(record.name, "")


class AcquisitionSettings(SettingsModel):
    """Everything needed to create a stream.

    Parameters
    ----------
    root_path : str
        Output location; its suffix selects the format when `format="auto"`.
    dimensions : tuple[Dimension, ...]
        Dimensions in acquisition order (slowest first); the last two are Y, X.
        May be left empty and set later (validated at `create_stream`).
    dtype : str
        Pixel data type (any numpy dtype spelling).
    format : OmeZarrFormat | OmeTiffFormat | ScratchFormat | str
        Output format, a format/backend name, or "auto".
    compression : str | None
        "blosc-zstd", "blosc-lz4", "zstd", "zlib", "lzw" or "none".
    storage_order : "ome" | "acquisition" | list[str]
        Order of the non-frame dimensions on disk.
    plate : Plate | None
        Plate layout (HCS mode); requires a position dimension.
    overwrite : bool
        Replace an existing dataset at the output path.
    frame_order : sequence of index tuples | None
        The order in which frames arrive, when it is not C order over
        `dimensions`: entry *n* is the index of frame *n* along the non-frame
        dimensions, in `dimensions` order (the position dimension included).
        Entries may leave out trailing non-frame dimensions (e.g. a camera axis
        inserted before Y, X): those vary fastest, in C order, within each
        entry. Every entry is a distinct cell; cells that no entry lists are
        never acquired (jagged acquisitions: they read as the fill value and
        are recorded as not acquired). With an unbounded first dimension the
        entries describe one cycle of it (indices 0..k-1 along it) that repeats
        shifted by k. None (default): C order, the last dimension fastest.
    series_dimensions : "auto" | list[str]
        Dimensions stored as series (one image per combination of their
        indices, like positions) rather than as axes of each image. Only
        dimensions other than time, channel and space (z) qualify; the
        position dimension always is one. "auto" (default): all of them when
        an image would otherwise have more than 5 axes (e.g. angle, t, c, z,
        y, x), none otherwise.
    pyramid : Pyramid | int | "auto" | None
        Resolution levels written while frames arrive (see `Pyramid`); an int
        or "auto" is the number of levels. None (default): full resolution only.
    s3 : S3Options | None
        Endpoint, region and credentials for an ``s3://`` root path; None
        (default): the standard AWS environment and configuration files.
    loss_window : float | None
        Seconds (default 1.0): every frame whose `append` returned at least
        this long before the process dies (killed, crashed, out of memory) is
        readable afterwards without a repair step, with metadata describing
        it. A background thread makes what was written readable at least this
        often (no sync: the operating system holds the data; power loss is
        covered by checkpoints, see `create_stream`). None: only at
        checkpoints and close.
    """

    root_path: str = ""
    dimensions: tuple[Dimension, ...] = ()
    dtype: str = ""
    format: Format = Field(default_factory=ScratchFormat)
    compression: Compression | None = None
    storage_order: Literal["acquisition", "ome"] | list[str] = "ome"
    plate: Plate | None = None
    overwrite: bool = False
    frame_order: tuple[tuple[int, ...], ...] | None = None
    series_dimensions: Literal["auto"] | list[str] = "auto"
    pyramid: Pyramid | None = None
    s3: S3Options | None = None
    loss_window: float | None = Field(default=1.0, gt=0)

    @field_validator("pyramid", mode="before")
    @classmethod
    def _pyramid_shorthand(cls, value: Any) -> Any:
        if isinstance(value, (int, str)) and not isinstance(value, bool):
            return Pyramid(levels=value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        if "backend" in data:
            raise ValueError(
                "`backend` is no longer a top-level field in AcquisitionSettings. "
                "Use format=OmeZarrFormat(backend=...) / OmeTiffFormat(backend=...) "
                "or a backend name such as format='tensorstore'."
            )
        data = dict(data)
        root = data.get("root_path", "")
        root = "" if root is None else str(root)
        data["root_path"] = root
        data["format"] = _resolve_format(data.get("format", "auto"), root)
        return data

    @field_validator("dtype", mode="before")
    @classmethod
    def _canonical_dtype(cls, value: Any) -> str:
        if isinstance(value, str) and value == "":
            return ""
        try:
            return str(np.dtype(value).name)
        except TypeError as e:
            raise ValueError(f"Invalid dtype: {value!r}. {e}") from None

    @field_validator("dimensions", mode="after")
    @classmethod
    def _check_dimensions(cls, dims: tuple[Dimension, ...]) -> tuple[Dimension, ...]:
        if not dims:
            return dims
        positional = [d for d in dims if d.type == "position"]
        if len(positional) > 1:
            raise ValueError("Only one position dimension is allowed.")
        if any(d.count is None for d in dims[1:]):
            raise ValueError("Only the first dimension may be unbounded (count=None).")
        n_array = len(dims) - len(positional)
        if n_array < 2:
            raise ValueError(
                "At least 2 non-position dimensions are required (usually Y and X)."
            )
        names = [d.name for d in dims]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"Dimension names must be unique, duplicates: {dupes}")
        for dim in dims[-2:]:
            if dim.type not in ("space", None):
                raise ValueError(
                    "The last two dimensions must be spatial dimensions "
                    f"(type='space'); {dim.name!r} has type={dim.type!r}."
                )
            if dim.count is None:
                raise ValueError(
                    f"The last two (frame) dimensions must have a count; "
                    f"{dim.name!r} has count=None."
                )
        fixed = list(dims)
        for i in (-2, -1):
            if fixed[i].type is None:
                if fixed[i].name.lower() not in ("x", "y"):
                    warnings.warn(
                        "The last two dimensions are expected to have type='space' "
                        f"(usually named 'y' and 'x'); treating {fixed[i].name!r} as "
                        "a spatial dimension.",
                        UserWarning,
                        stacklevel=2,
                    )
                fixed[i] = fixed[i].model_copy(update={"type": "space"})
        return tuple(fixed)

    @model_validator(mode="after")
    def _check_combinations(self) -> Self:
        self._check_location()
        self._check_compression()
        if self.dimensions:
            self._check_series()
            self._check_storage_order()
            self._check_plate()
            self._check_position_dimensions()
            self._check_frame_order()
            self._check_pyramid()
        return self

    def _check_location(self) -> None:
        """Refuse a URL that the chosen format or backend cannot write."""
        scheme = url_scheme(self.root_path)
        if scheme is None:
            return
        every = url_writers(scheme)
        if not every:
            raise ValueError(
                f"root_path {self.root_path!r}: no backend writes {scheme}:// URLs. "
                f"Object storage is written as OME-Zarr to {', '.join(OBJECT_SCHEMES)}"
                f":// by the backends {url_writers('s3')}; other outputs are "
                "local paths."
            )
        if not isinstance(self.format, OmeZarrFormat):
            why = (
                "an OME-TIFF needs a random-access file"
                if isinstance(self.format, OmeTiffFormat)
                else "the scratch format spills to a local directory"
            )
            raise ValueError(
                f"root_path {self.root_path!r}: {self.format.name} cannot be "
                f"written to {scheme}:// ({why}). Write OME-Zarr to object "
                f"storage instead (root_path ending in .ome.zarr), with one of "
                f"{every}."
            )
        if importlib.util.find_spec("obstore") is None:
            raise ValueError(
                f"root_path {self.root_path!r}: writing to {scheme}:// needs the "
                "obstore package: pip install 'ome-writers[s3]'"
            )
        backend = self.format.backend
        if backend != "auto" and backend not in every:
            raise ValueError(
                f"root_path {self.root_path!r}: the {backend} backend does not "
                f"write {scheme}:// URLs; backends that do: {every}"
            )

    def _check_compression(self) -> None:
        if self.compression is None or isinstance(self.format, ScratchFormat):
            return
        allowed = compressions(self.format.name)
        label = "OME-Zarr" if isinstance(self.format, OmeZarrFormat) else "OME-TIFF"
        if self.compression not in allowed:
            raise ValueError(
                f"Compression {self.compression!r} is not supported for {label}. "
                f"Supported: {allowed}"
            )
        backend = self.format.backend
        if backend != "auto":  # a backend named explicitly: its own list
            record = BY_NAME.get(backend)
            if record is not None and self.compression not in record.compressions:
                raise ValueError(
                    f"Compression {self.compression!r} is not supported by the "
                    f"{backend} backend. Supported: {record.compressions}"
                )

    def _check_storage_order(self) -> None:
        order = self.storage_order
        if not isinstance(order, list):
            return
        names = [d.name for d in self.dimensions]
        dupes = sorted({n for n in order if order.count(n) > 1})
        if dupes:
            raise ValueError(f"storage_order contains duplicate names: {dupes}")
        if set(order[-2:]) != set(names[-2:]):
            raise ValueError(
                "storage_order may not (yet) permute the last two dimensions: "
                f"expected {names[-2:]} last, got {order}."
            )
        if set(order) != set(names):
            raise ValueError(
                f"storage_order names {order} don't match acquisition dimension "
                f"names {names}"
            )

    def _check_plate(self) -> None:
        if self.plate is None:
            return
        if self.position_dimension_index is None:
            raise ValueError("Plate mode requires a position dimension in dimensions.")
        positions = self.positions
        missing = [p.name for p in positions if p.plate_row is None]
        if missing:
            raise ValueError(
                "All positions must have row and column for plate mode. "
                f"Missing row/column for positions: {missing}"
            )
        outside = [
            f"{p.name} ({p.plate_row}, {p.plate_column})"
            for p in positions
            if p.plate_row not in self.plate.row_names
            or p.plate_column not in self.plate.column_names
        ]
        if outside:
            warnings.warn(
                "Some positions have row/column values not in the plate definition: "
                f"{outside}. These may be omitted from the plate metadata on disk.",
                UserWarning,
                stacklevel=2,
            )

    def _check_series(self) -> None:
        dims = self.dimensions
        listed = self.series_dimensions
        names = [d.name for d in dims[:-2]]
        if isinstance(listed, list):
            for name in listed:
                if name not in names:
                    raise ValueError(
                        f"series_dimensions names {name!r}, which is not a "
                        f"non-frame dimension {names}."
                    )
                dim = dims[names.index(name)]
                if not _extra(dim) and dim.type != "position":
                    raise ValueError(
                        f"series_dimensions: {name!r} is a {effective_type(dim)} "
                        "dimension; only dimensions other than time, channel and "
                        "space can be stored as series."
                    )
        series = self.series_dimension_indices
        for i in series:
            if dims[i].count is None:
                raise ValueError(
                    f"Dimension {dims[i].name!r} is stored as series (one image per "
                    "index) and cannot be unbounded."
                )
        n_array = len(dims) - len(series)
        if n_array > 5:
            raise ValueError(
                "At most 5 non-position dimensions are allowed for both OME-Zarr "
                f"and OME-TIFF, got {n_array}: time, channel and space dimensions "
                "beyond five cannot be stored as series."
            )
        if len(series) > 1 and self.is_ragged:
            raise ValueError(
                "Positions with their own dimensions cannot be combined with other "
                "series dimensions."
            )

    def _check_position_dimensions(self) -> None:
        if not self.is_ragged:
            return
        index_dims = self.index_dimensions
        by_name = {d.name: i for i, d in enumerate(index_dims)}
        if any(d.count is None for d in self.dimensions[:-2]):
            raise ValueError(
                "Positions with their own dimensions need bounded dimensions; "
                "an unbounded first dimension is not supported with them."
            )
        frame_names = [d.name for d in self.frame_dimensions]
        for position in self.positions:
            own = position.dimensions
            if own is None:
                continue
            framed = [d.name for d in own if d.name in frame_names]
            if framed and [d.name for d in own[-2:]] != frame_names:
                raise ValueError(
                    f"Position {position.name!r}: its own frame dimensions must be "
                    f"both {frame_names}, last and in that order; got "
                    f"{[d.name for d in own]}."
                )
            for dim in own[-2:] if framed else ():
                if dim.count is None:
                    raise ValueError(
                        f"Position {position.name!r}: frame dimension {dim.name!r} "
                        "needs a count."
                    )
            own = own[:-2] if framed else own
            names = [d.name for d in own]
            unknown = [n for n in names if n not in by_name]
            if unknown:
                raise ValueError(
                    f"Position {position.name!r} has dimensions {unknown} that are "
                    "not among the acquisition's non-position, non-frame dimensions "
                    f"{list(by_name)}."
                )
            if len(set(names)) != len(names):
                raise ValueError(
                    f"Position {position.name!r} lists a dimension twice: {names}."
                )
            if [by_name[n] for n in names] != sorted(by_name[n] for n in names):
                raise ValueError(
                    f"Position {position.name!r} lists its dimensions {names} in "
                    f"another order than the acquisition's {list(by_name)}."
                )
            for dim in own:
                limit = index_dims[by_name[dim.name]].count
                if dim.count is None or limit is None or dim.count > limit:
                    raise ValueError(
                        f"Position {position.name!r}: dimension {dim.name!r} has "
                        f"count={dim.count}; it must be set and at most the "
                        f"acquisition's count ({limit})."
                    )
                if dim.type == "position":
                    raise ValueError(
                        f"Position {position.name!r}: a position's own dimensions "
                        "cannot include a position dimension."
                    )

    def _check_frame_order(self) -> None:
        order = self.frame_order
        if order is None:
            return
        if self.is_ragged:
            cells = set(self.frame_cells())
            wrong = next((e for e in order if e not in cells), None)
            if wrong is not None or len(set(order)) != len(order):
                detail = (
                    f"{wrong} is not a cell of its position's own dimensions"
                    if wrong is not None
                    else "a cell is listed twice"
                )
                raise ValueError(
                    f"frame_order must list frames of the positions' own "
                    f"dimensions, each once ({detail})."
                )
            if len(order) != len(cells):
                raise ValueError(
                    "frame_order leaves out frames of the positions' own "
                    "dimensions: cells never acquired are not supported together "
                    "with per-position dimensions."
                )
            return
        all_dims = self.dimensions[:-2]
        n_dims = len(order[0]) if order else 0
        if not 0 < n_dims <= len(all_dims):
            raise ValueError(
                f"frame_order entries must give one index per non-frame dimension "
                f"{[d.name for d in all_dims]} (trailing ones may be left out); "
                f"got {order[0] if order else 'no entries'}."
            )
        dims = all_dims[:n_dims]
        counts = [d.count for d in dims]
        for n, entry in enumerate(order):
            if len(entry) != n_dims:
                raise ValueError(
                    f"frame_order[{n}] = {entry} has {len(entry)} indices; every "
                    f"entry must have {n_dims} (one per dimension "
                    f"{[d.name for d in dims]})."
                )
            for i, (value, limit) in enumerate(zip(entry, counts, strict=True)):
                if value < 0 or (limit is not None and value >= limit):
                    what = f"in [0, {limit})" if limit is not None else ">= 0"
                    raise ValueError(
                        f"frame_order[{n}] = {entry}: index {value} of dimension "
                        f"{dims[i].name!r} must be {what}."
                    )
        if len(set(order)) != len(order):
            seen: set[tuple[int, ...]] = set()
            dupe = next(e for e in order if e in seen or seen.add(e))  # type: ignore[func-returns-value]
            raise ValueError(
                f"frame_order lists the cell {dupe} more than once; every frame "
                "must have its own cell."
            )
        # fewer entries than cells: the cells left out are never acquired (they
        # read as the fill value and are recorded as not acquired)

    # ------------------------------------------------------------------ derived

    def _check_pyramid(self) -> None:
        pyramid = self.pyramid
        if pyramid is None:
            return
        if isinstance(self.format, ScratchFormat):
            raise ValueError(
                "pyramid levels are written to files: use an OME-Zarr or OME-TIFF "
                "root_path (the scratch format keeps the full resolution only)"
            )
        if self.is_ragged or self.frame_order is not None:
            raise ValueError(
                "pyramid levels need every position to have the same dimensions "
                "and frames in C order (no per-position dimensions, no frame_order)"
            )
        problem = check_levels(pyramid, self.frame_dimensions)
        if problem:
            raise ValueError(problem)
        if pyramid.reduce_z and isinstance(self.format, OmeTiffFormat):
            raise ValueError(
                "OME-TIFF pyramid levels are SubIFDs of each 2D page and cannot "
                "reduce z: use reduce_z=False, or write OME-Zarr"
            )

    @property
    def pyramid_levels(self) -> int:
        """Number of resolution levels written (1: no pyramid)."""
        return level_count(self.pyramid, self.array_storage_dimensions)

    def _require_dims(self, what: str) -> tuple[Dimension, ...]:
        if not self.dimensions:
            raise ValueError(
                f"Cannot access {what!r}: dimensions has not been set yet."
            )
        return self.dimensions

    @property
    def output_path(self) -> str:
        """Path of the dataset (file or directory) this settings object writes."""
        self._require_dims("output_path")
        return self.format.get_output_path(
            self.root_path, num_positions=len(self.positions)
        )

    @property
    def shape(self) -> tuple[int | None, ...]:
        """Count of every dimension (None for an unbounded one)."""
        return tuple(d.count for d in self._require_dims("shape"))

    @property
    def is_unbounded(self) -> bool:
        """Whether the first dimension has no count."""
        return self._require_dims("is_unbounded")[0].count is None

    @property
    def num_frames(self) -> int | None:
        """Total number of 2D frames (None when unbounded)."""
        dims = self._require_dims("num_frames")[:-2]
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

    @property
    def is_ragged(self) -> bool:
        """Whether some position has dimensions of its own (arrays of other shapes)."""
        if not self.dimensions or self.position_dimension_index is None:
            return False
        return any(
            p.dimensions is not None or p.dtype is not None for p in self.positions
        )

    @property
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

    def frame_cells(self) -> list[tuple[int, ...]]:
        """Every frame's index along the non-frame dimensions, in default order.

        C order over `dimensions`, skipping the cells outside a position's own
        dimensions (a dimension it does not have keeps index 0). Bounded only.
        """
        dims = self._require_dims("frame_cells")[:-2]
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
        return out

    @property
    def position_dimension_index(self) -> int | None:
        """Index of the position dimension in `dimensions`, if there is one."""
        dims = self._require_dims("position_dimension_index")
        for i, d in enumerate(dims[:-2]):
            if d.type == "position":
                return i
        return None

    @property
    def series_dimension_indices(self) -> tuple[int, ...]:
        """Indices (in `dimensions`) of the dimensions stored as series.

        The position dimension, and the dimensions `series_dimensions` selects.
        Each combination of their indices is one image ("position").
        """
        dims = self._require_dims("series_dimension_indices")[:-2]
        listed = self.series_dimensions
        if listed == "auto":
            extra = [i for i, d in enumerate(dims) if _extra(d)]
            others = len(dims) + 2 - sum(d.type == "position" for d in dims)
            chosen = set(extra) if others > 5 else set()
        else:
            chosen = {i for i, d in enumerate(dims) if d.name in listed}
        return tuple(
            i for i, d in enumerate(dims) if d.type == "position" or i in chosen
        )

    def series_coordinates(self) -> list[dict[str, Any]] | None:
        """Per image, the coordinate of every series dimension (its label or
        index); None when only positions are series."""
        series = self.series_dimension_indices
        dims = [self.dimensions[i] for i in series]
        if all(d.type == "position" for d in dims):
            return None
        out = []
        names = [d.coord_names for d in dims]
        for combo in itertools.product(*(range(d.count or 1) for d in dims)):
            out.append(
                {
                    d.name: labels[i] if labels else i
                    for d, labels, i in zip(dims, names, combo, strict=True)
                }
            )
        return out

    @property
    def positions(self) -> tuple[Position, ...]:
        """The images of a dataset: one per position (and per combination of
        the other series dimensions' indices, named after them); one unnamed
        position "0" when there is none."""
        self._require_dims("positions")
        series = self.series_dimension_indices
        index = self.position_dimension_index
        if index is None and not series:
            return (Position(name="0"),)
        if index is not None and series == (index,):
            coords = self.dimensions[index].coords or []
            return tuple(c for c in coords if isinstance(c, Position))
        return _series_positions([self.dimensions[i] for i in series])

    @property
    def frame_dimensions(self) -> tuple[Dimension, ...]:
        """The last two (Y, X) dimensions."""
        return self._require_dims("frame_dimensions")[-2:]

    @property
    def index_dimensions(self) -> tuple[Dimension, ...]:
        """Non-frame, non-position dimensions in acquisition order."""
        dims = self._require_dims("index_dimensions")
        series = self.series_dimension_indices
        return tuple(d for i, d in enumerate(dims[:-2]) if i not in series)

    @property
    def array_dimensions(self) -> tuple[Dimension, ...]:
        """All dimensions except the position dimension, in acquisition order."""
        dims = self._require_dims("array_dimensions")
        series = self.series_dimension_indices
        return tuple(d for i, d in enumerate(dims) if i not in series)

    @property
    def storage_index_dimensions(self) -> tuple[Dimension, ...]:
        """Index dimensions in storage order."""
        self._require_dims("storage_index_dimensions")
        return resolve_storage_order(
            self.index_dimensions, self.storage_order, self.format.name
        )

    @property
    def storage_index_permutation(self) -> tuple[int, ...] | None:
        """`perm` with ``storage[i] = acquisition[perm[i]]``; None for identity."""
        acquisition = [d.name for d in self.index_dimensions]
        perm = tuple(acquisition.index(d.name) for d in self.storage_index_dimensions)
        return None if perm == tuple(range(len(perm))) else perm

    @property
    def array_storage_dimensions(self) -> tuple[Dimension, ...]:
        """Storage-order index dimensions followed by the frame dimensions."""
        return self.storage_index_dimensions + self.frame_dimensions

    @property
    def view_dimensions(self) -> tuple[Dimension, ...]:
        """Dimensions as a live view presents them: the declared order.

        `storage_order` changes the layout on disk, never what a view index means.
        """
        return self._require_dims("view_dimensions")

    def validate_stream_ready(self) -> bool:
        """Raise `ValueError` unless dimensions and dtype are set."""
        if not self.dimensions:
            raise ValueError("settings.dimensions must be set before creating a stream")
        if not self.dtype:
            raise ValueError("settings.dtype must be set before creating a stream")
        return True


def _extra(dim: Dimension) -> bool:
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
