"""`AcquisitionSettings`: everything needed to create a stream, validated once."""

from __future__ import annotations

import dataclasses
import importlib.util
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ome_writers._registry import BY_NAME, compressions, url_writers
from ome_writers._schema._base import SettingsModel
from ome_writers._schema._dimension import Dimension, Position
from ome_writers._schema._format import (
    OmeTiffFormat,
    OmeZarrFormat,
    ScratchFormat,
    check_zarr_format,
    resolve_format,
)
from ome_writers._schema._geometry import AcquisitionGeometry
from ome_writers._schema._geometry_checks import (
    check_frame_order,
    check_position_dimensions,
    check_series,
)
from ome_writers._schema._labels import LabelImage, label_settings, labels_problem
from ome_writers._schema._object_storage import OBJECT_SCHEMES, S3Options, url_scheme
from ome_writers._schema._plate import Plate
from ome_writers._schema._pyramid import Pyramid, check_levels
from ome_writers._schema._size_estimate import (
    SizeEstimate,
    estimate_size,
    labels_part,
)

if TYPE_CHECKING:
    from typing_extensions import Self

Format = Annotated[
    OmeTiffFormat | OmeZarrFormat | ScratchFormat, Field(discriminator="name")
]
# every compression some backend writes (a test keeps it equal to the registry)
Compression = Literal["blosc-zstd", "blosc-lz4", "zstd", "zlib", "lzw", "none"]
# the key under which `AcquisitionSettings.geometry` is kept in the model's __dict__
_GEOMETRY = "_geometry_cache"


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
    significant_bits : int | None
        Bits of each pixel that hold data, when the camera fills fewer than
        its pixel type has (a 12-bit camera in ``uint16``): from 1 to the
        bits of `dtype` (of every position's pixel type), integer types only.
        Written as OME ``Pixels@SignificantBits`` and used for the default
        display windows (``0..4095`` for 12 bits). None (default): all bits.
    labels : sequence of LabelImage
        Label images written beside the frames (OME-Zarr only; see
        `LabelImage` and `OMEStream.write_label`). More can be added to a
        running stream (`OMEStream.add_labels`).
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
    significant_bits: int | None = None
    labels: tuple[LabelImage, ...] = ()

    @field_validator("pyramid", mode="before")
    @classmethod
    def _pyramid_shorthand(cls, value: Any) -> Any:
        if isinstance(value, (int, str)) and not isinstance(value, bool):
            return Pyramid(levels=value)
        return value

    @field_validator("significant_bits", mode="before")
    @classmethod
    def _bits_not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):  # an int to pydantic, a mistake here
            raise ValueError(f"significant_bits must be a number of bits, got {value}")
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
        data["format"] = resolve_format(data.get("format", "auto"), root)
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
        self._check_significant_bits()
        if self.dimensions:
            geometry = self.geometry
            check_series(geometry)
            self._check_storage_order()
            self._check_plate()
            check_position_dimensions(geometry)
            check_frame_order(geometry)
            self._check_pyramid()
            check_zarr_format(self.format, self.dimensions, self.positions)
            problem = labels_problem(self, self.labels)
            if problem:
                raise ValueError(problem)
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

    def _check_significant_bits(self) -> None:
        bits = self.significant_bits
        if bits is None or not self.dtype:  # checked again once dtype is set
            return
        dtypes = [self.dtype]
        if self.dimensions:  # positions of other cameras: their own pixel types
            dtypes += [p.dtype for p in self.positions if p.dtype]
        for name in dict.fromkeys(dtypes):
            dtype = np.dtype(name)
            if dtype.kind not in "iu":
                raise ValueError(
                    f"significant_bits={bits} applies to integer pixel types; "
                    f"dtype {name} is not one"
                )
            width = dtype.itemsize * 8
            if not 1 <= bits <= width:
                raise ValueError(
                    f"significant_bits={bits} does not fit dtype {name}: it "
                    f"must be from 1 to {width}"
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

    def _check_pyramid(self) -> None:
        pyramid = self.pyramid
        if pyramid is None:
            return
        if isinstance(self.format, ScratchFormat):
            raise ValueError(
                "pyramid levels are written to files: use an OME-Zarr or OME-TIFF "
                "root_path (the scratch format keeps the full resolution only)"
            )
        geometry = self.geometry
        if geometry.is_ragged or self.frame_order is not None:
            raise ValueError(
                "pyramid levels need every position to have the same dimensions "
                "and frames in C order (no per-position dimensions, no frame_order)"
            )
        problem = check_levels(pyramid, geometry.frame_dimensions)
        if problem:
            raise ValueError(problem)
        if pyramid.reduce_z and isinstance(self.format, OmeTiffFormat):
            raise ValueError(
                "OME-TIFF pyramid levels are SubIFDs of each 2D page and cannot "
                "reduce z: use reduce_z=False, or write OME-Zarr"
            )

    def validate_stream_ready(self) -> bool:
        """Raise `ValueError` unless dimensions and dtype are set."""
        if not self.dimensions:
            raise ValueError("settings.dimensions must be set before creating a stream")
        if not self.dtype:
            raise ValueError("settings.dtype must be set before creating a stream")
        return True

    # --------------------------------------------------------------- geometry

    @property
    def geometry(self) -> AcquisitionGeometry:
        """The layout these settings describe: dimension roles and orders,
        shapes, frame counts, images. Computed once per set of field values."""
        return self._geometry("geometry")

    def _geometry(self, what: str) -> AcquisitionGeometry:
        if not self.dimensions:
            raise ValueError(
                f"Cannot access {what!r}: dimensions has not been set yet."
            )
        # kept in __dict__ beside the fields (pydantic compares and dumps only
        # the fields); model_copy copies it along, hence the identity check
        cached: AcquisitionGeometry | None = self.__dict__.get(_GEOMETRY)
        if cached is None or not cached.computed_from(self):
            cached = self.__dict__[_GEOMETRY] = AcquisitionGeometry.of(self)
        return cached

    # The public read-only properties (the geometry computes them).

    @property
    def output_path(self) -> str:
        """Path of the dataset (file or directory) this settings object writes."""
        return self._geometry("output_path").output_path

    @property
    def shape(self) -> tuple[int | None, ...]:
        """Count of every dimension (None for an unbounded one)."""
        return self._geometry("shape").shape

    @property
    def is_unbounded(self) -> bool:
        """Whether the first dimension has no count."""
        return self._geometry("is_unbounded").is_unbounded

    @property
    def num_frames(self) -> int | None:
        """Total number of 2D frames (None when unbounded)."""
        return self._geometry("num_frames").num_frames

    @property
    def positions(self) -> tuple[Position, ...]:
        """The images of a dataset: one per position (and per combination of
        the other series dimensions' indices); `Position(name="0")` if none."""
        return self._geometry("positions").positions

    @property
    def position_dimension_index(self) -> int | None:
        """Index of the position dimension in `dimensions`, if there is one."""
        return self._geometry("position_dimension_index").position_dimension_index

    @property
    def frame_dimensions(self) -> tuple[Dimension, ...]:
        """The last two (Y, X) dimensions."""
        return self._geometry("frame_dimensions").frame_dimensions

    @property
    def index_dimensions(self) -> tuple[Dimension, ...]:
        """Non-frame, non-series dimensions in acquisition order."""
        return self._geometry("index_dimensions").index_dimensions

    @property
    def array_dimensions(self) -> tuple[Dimension, ...]:
        """All dimensions except the series ones, in acquisition order."""
        return self._geometry("array_dimensions").array_dimensions

    @property
    def storage_index_dimensions(self) -> tuple[Dimension, ...]:
        """Index dimensions in storage order."""
        return self._geometry("storage_index_dimensions").storage_index_dimensions

    @property
    def storage_index_permutation(self) -> tuple[int, ...] | None:
        """`perm` with ``storage[i] = acquisition[perm[i]]``; None for identity."""
        return self._geometry("storage_index_permutation").storage_index_permutation

    @property
    def array_storage_dimensions(self) -> tuple[Dimension, ...]:
        """Storage-order index dimensions followed by the frame dimensions."""
        return self._geometry("array_storage_dimensions").array_storage_dimensions

    @property
    def view_dimensions(self) -> tuple[Dimension, ...]:
        """Dimensions as a live view presents them: the declared order."""
        return self._geometry("view_dimensions").view_dimensions

    @property
    def pyramid_levels(self) -> int:
        """Number of resolution levels written (1: no pyramid)."""
        return self._geometry("pyramid_levels").pyramid_levels

    @property
    def estimated_size(self) -> SizeEstimate:
        """What the acquisition will write to disk: the uncompressed bound and,
        with compression, an estimate; per frame when unbounded.

        Computed from the settings alone (no I/O). Raises `ValueError` unless
        dimensions and dtype are set.
        """
        self.validate_stream_ready()
        estimate = estimate_size(self.geometry, self.compression, self.plate)
        if not self.labels or labels_problem(self, self.labels):
            return estimate
        part = labels_part(
            self.geometry,
            [
                (label_settings(self, label).geometry, label.compression)
                for label in self.labels
            ],
        )
        assert part is not None
        return dataclasses.replace(estimate, parts=(*estimate.parts, part))

    @property
    def is_ragged(self) -> bool:
        """Whether some position has dimensions of its own (arrays of other shapes)."""
        return bool(self.dimensions) and self.geometry.is_ragged

    def series_coordinates(self) -> list[dict[str, Any]] | None:
        """Per image, the coordinate of every series dimension (its label or
        index); None when only positions are series."""
        coords = self.geometry.series_coordinates
        return None if coords is None else [dict(c) for c in coords]

    @property
    def mixed_frames(self) -> bool:
        """Whether positions' frames differ in shape or dtype (several cameras)."""
        return bool(self.dimensions) and self.geometry.mixed_frames

    # Series and per-position layout, still read here by the router, the
    # stream and the tools; new code reads them from `geometry`.

    @property
    def series_dimension_indices(self) -> tuple[int, ...]:
        """Indices (in `dimensions`) of the dimensions stored as series."""
        return self._geometry("series_dimension_indices").series_dimension_indices

    def position_index_dimensions(self, position: int) -> tuple[Dimension, ...]:
        """Non-frame dimensions of one position's array, in acquisition order."""
        return self.geometry.position_index_dimensions(position)

    def position_frame_dimensions(self, position: int) -> tuple[Dimension, ...]:
        """Y, X of one position's frames (its own, else the acquisition's)."""
        return self.geometry.position_frame_dimensions(position)

    def position_dtype(self, position: int) -> str:
        """Pixel type of one position's frames."""
        return self.geometry.position_dtype(position)

    def frame_cells(self) -> list[tuple[int, ...]]:
        """Every frame's index along the non-frame dimensions, in default order."""
        return list(self._geometry("frame_cells").frame_cells)
