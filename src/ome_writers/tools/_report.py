"""What `ome-writers info` finds in a dataset: the report, as data and as text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ome_writers._schema._units import LENGTH_SYMBOLS, TIME_SYMBOLS

if TYPE_CHECKING:
    from pathlib import Path

    from ome_writers._io._object_store import ObjectPath

Index = tuple[int, ...]

#: indices listed in the human summary per kind (missing, not acquired)
SHOWN_INDICES = 5
#: indices listed in `to_dict()` per kind (the counts are always complete)
LISTED_INDICES = 1000
#: how the summary names the planes declared past the last frame
PAST_LAST = "not acquired past the last frame (room grown ahead, or never reached)"

_SOURCES = {
    "frame_metadata": "frame metadata",
    "journal": "frame_metadata.jsonl",
    "frame_metadata_file": "frame metadata (frame_metadata.jsonl)",
    "chunks": "chunk files",
    "ome-xml": "OME-XML",
    "progress": "progress record: every frame written",
}
_SYMBOLS = {**LENGTH_SYMBOLS, **TIME_SYMBOLS}
_NAMES = {symbol: name for name, symbol in _SYMBOLS.items()}


def unit_name(unit: str | None) -> str | None:
    """The NGFF (UDUNITS-2) name of a unit given by name or OME symbol."""
    if unit is None:
        return None
    return _NAMES.get(unit, unit)


def unit_symbol(unit: str | None) -> str:
    """The short symbol of a unit name (``micrometer`` -> ``µm``), for text."""
    if unit is None:
        return ""
    return _SYMBOLS.get(unit, unit)


@dataclass
class Quantity:
    """A value with its unit (an NGFF unit name; None when not given)."""

    value: float
    unit: str | None = None

    def text(self) -> str:
        """``0.5 µm``."""
        symbol = unit_symbol(self.unit)
        return f"{self.value:g} {symbol}" if symbol else f"{self.value:g}"

    def to_dict(self) -> dict[str, Any]:
        """``{"value": ..., "unit": ...}``."""
        return {"value": self.value, "unit": self.unit}


@dataclass
class Frames:
    """The planes an image declares and which of them hold an acquired frame.

    Attributes
    ----------
    declared : int
        Planes of the image: the product of every axis but Y and X.
    acquired : int | None
        Planes holding an acquired frame; None when it cannot be told.
    index_axes : tuple[str, ...]
        The axes the indices below run over (storage order for OME-Zarr,
        ``("z", "c", "t")`` for OME-TIFF).
    not_acquired : list[tuple[int, ...]]
        Planes the dataset records as not acquired (cells a jagged acquisition
        leaves out; in OME-TIFF also the zero planes padded at close).
    missing : list[tuple[int, ...]]
        Planes that are neither acquired nor recorded as not acquired, up to
        the last index along the first axis that holds a frame.
    frames_end : int | None
        OME-Zarr: one past the last index along the first axis that holds a
        frame (or a plane recorded as not acquired); None when it cannot be
        told.
    past_last : list[tuple[int, ...]]
        OME-Zarr: the planes declared past `frames_end`, never acquired: room
        an unbounded array grew ahead of its frames (older versions declared
        it until close), or time points an acquisition did not reach.
    source : str
        Where `acquired` comes from: ``frame_metadata`` (the records in
        ``zarr.json``), ``journal`` (``frame_metadata.jsonl`` of an acquisition
        not closed), ``chunks`` (chunk files on disk; a chunk holding only the
        fill value may not be written), ``progress`` (a progress record
        stating a bounded run closed with every frame), ``ome-xml`` or
        ``unknown``; several joined with ``+``.
    chunks_stored, chunks_total : int | None
        OME-Zarr: chunks (the inner chunks of shards) on disk and in the
        chunk grid, when they were counted.
    """

    declared: int
    acquired: int | None = None
    index_axes: tuple[str, ...] = ()
    not_acquired: list[Index] = field(default_factory=list)
    missing: list[Index] = field(default_factory=list)
    frames_end: int | None = None
    past_last: list[Index] = field(default_factory=list)
    source: str = "unknown"
    chunks_stored: int | None = None
    chunks_total: int | None = None

    @property
    def complete(self) -> bool:
        """Whether every plane not recorded as not acquired holds a frame."""
        return self.acquired == self.declared - len(self.not_acquired)

    def text(self) -> str:
        """``4 of 12 acquired (frame_metadata); missing 8 (t,c,z): ...``."""
        axes = ",".join(self.index_axes)
        kinds: list[tuple[str, list[Index]]] = []
        if self.acquired is None:
            out = f"unknown of {self.declared}"
            if self.chunks_total is not None:
                out += f" ({self.chunks_stored} of {self.chunks_total} chunks stored)"
        else:
            out = f"{self.acquired} of {self.declared} acquired ({self.source_text()})"
            missing = "missing"
            if "chunks" in self.source.split("+"):
                missing = "missing (no chunk on disk)"
            kinds += [("not acquired", self.not_acquired), (missing, self.missing)]
        kinds.append((PAST_LAST, self.past_last))
        for what, indices in kinds:
            if indices and not self.index_axes:  # a single plane
                out += f"; {what}"
            elif indices:
                shown = ", ".join(_index_text(i) for i in indices[:SHOWN_INDICES])
                more = len(indices) - SHOWN_INDICES
                tail = f", ... (+{more})" if more > 0 else ""
                out += f"; {what} {len(indices)} ({axes}): {shown}{tail}"
        return out

    def source_text(self) -> str:
        """`source` in words."""
        return " + ".join(_SOURCES.get(s, s) for s in self.source.split("+"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields; index lists hold at most `LISTED_INDICES` each."""
        return {
            "declared": self.declared,
            "acquired": self.acquired,
            "complete": self.complete,
            "source": self.source,
            "index_axes": list(self.index_axes),
            "not_acquired_count": len(self.not_acquired),
            "not_acquired": [list(i) for i in self.not_acquired[:LISTED_INDICES]],
            "missing_count": len(self.missing),
            "missing": [list(i) for i in self.missing[:LISTED_INDICES]],
            "frames_end": self.frames_end,
            "past_last_frame_count": len(self.past_last),
            "past_last_frame": [list(i) for i in self.past_last[:LISTED_INDICES]],
            "chunks_stored": self.chunks_stored,
            "chunks_total": self.chunks_total,
        }


@dataclass
class Storage:
    """How an image's pixels are laid out and compressed on disk.

    Attributes
    ----------
    compression : str
        ``none``, or the codec with its settings (``blosc-zstd (level 3,
        shuffle)``, ``zstd (level 3)``; TIFF: ``zlib``, ``lzw``, ``zstd``).
    layout : str
        ``chunks`` (OME-Zarr), ``strips`` or ``tiles`` (TIFF).
    chunks : tuple[int, ...] | None
        Zarr chunk shape (the inner chunk of a shard); TIFF strip
        (rows, width) or tile (height, width).
    shards : tuple[int, ...] | None
        Zarr shard shape, when the array is sharded.
    """

    compression: str
    layout: str
    chunks: Index | None = None
    shards: Index | None = None

    def text(self) -> str:
        """``chunks (1, 16, 16), shards (4, 16, 16), compression zstd (level 3)``."""
        if self.layout == "strips" and self.chunks:
            parts = [f"strips of {self.chunks[0]} rows"]
        elif self.layout == "tiles" and self.chunks:
            parts = [f"tiles of {self.chunks[0]}x{self.chunks[1]}"]
        else:
            parts = [f"chunks {self.chunks}"]
            if self.shards is not None:
                parts.append(f"shards {self.shards}")
        parts.append(f"compression {self.compression}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "compression": self.compression,
            "layout": self.layout,
            "chunks": list(self.chunks) if self.chunks is not None else None,
            "shards": list(self.shards) if self.shards is not None else None,
        }


@dataclass
class ImageInfo:
    """One image (position) of a dataset.

    Attributes
    ----------
    name : str
        Image name (the position name; NGFF ``multiscales`` name, OME ``Image``
        Name).
    path : str
        OME-Zarr: the image group ("." for the root); OME-TIFF: the file
        holding its pages; scratch: its data file.
    shape, dtype, axes
        Of the full-resolution array (``axes`` as the format names them).
    array : str | None
        OME-Zarr: the full-resolution array, relative to the dataset.
    series : int | None
        OME-TIFF: the image's index in the OME-XML (Bio-Formats' series).
    well : str | None
        ``row/column`` of the plate well the image is a field of.
    levels : list[tuple[int, ...]]
        Shape of every resolution level (full resolution first), when the
        image has more than one.
    channels : list[str]
        Channel names.
    scales : dict[str, Quantity]
        Pixel size, z step and time increment by axis name.
    stage : dict[str, Quantity]
        Stage coordinates (``x``, ``y``, ``z``) of the position.
    frames : Frames | None
        Frames declared and acquired.
    frame_keys : list[str]
        Keys of the per-frame metadata (the union over frames).
    frames_with_metadata : int
        Frames that carry per-frame metadata.
    storage : Storage | None
        Chunking and compression.
    labels : list[LabelInfo]
        OME-Zarr: the image's label images.
    """

    name: str
    path: str
    shape: Index
    dtype: str
    axes: tuple[str, ...]
    array: str | None = None
    series: int | None = None
    well: str | None = None
    levels: list[Index] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    scales: dict[str, Quantity] = field(default_factory=dict)
    stage: dict[str, Quantity] = field(default_factory=dict)
    frames: Frames | None = None
    frame_keys: list[str] = field(default_factory=list)
    frames_with_metadata: int = 0
    storage: Storage | None = None
    labels: list[LabelInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "name": self.name,
            "path": self.path,
            "array": self.array,
            "series": self.series,
            "well": self.well,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "axes": list(self.axes),
            "levels": [list(s) for s in self.levels],
            "channels": list(self.channels),
            "scales": {k: q.to_dict() for k, q in self.scales.items()},
            "stage": {k: q.to_dict() for k, q in self.stage.items()},
            "frames": self.frames.to_dict() if self.frames is not None else None,
            "frame_metadata": {
                "frames": self.frames_with_metadata,
                "keys": list(self.frame_keys),
            },
            "storage": self.storage.to_dict() if self.storage is not None else None,
            "labels": [label.to_dict() for label in self.labels],
        }


@dataclass
class LabelInfo:
    """A label image of an OME-Zarr image (NGFF ``labels``).

    Attributes
    ----------
    name : str
        Its name in the image's ``labels`` group.
    path : str
        Its group, relative to the dataset.
    shape, dtype
        Of its full-resolution array.
    levels : list[tuple[int, ...]]
        Shape of every resolution level (full resolution first).
    colors, properties : int
        Label values given a colour, and values given properties
        (``image-label``).
    """

    name: str
    path: str
    shape: Index
    dtype: str
    levels: list[Index] = field(default_factory=list)
    colors: int = 0
    properties: int = 0

    def text(self) -> str:
        parts = [
            f"label {self.name}: shape={self.shape} dtype={self.dtype}",
            _count(len(self.levels), "level"),
        ]
        if self.colors:
            parts.append(f"colours for {_count(self.colors, 'value')}")
        if self.properties:
            parts.append(f"properties for {_count(self.properties, 'value')}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "name": self.name,
            "path": self.path,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "levels": [list(s) for s in self.levels],
            "colors": self.colors,
            "properties": self.properties,
        }


@dataclass
class PlateInfo:
    """The layout of an HCS plate.

    Attributes
    ----------
    name : str | None
        Plate name.
    rows, columns : list[str]
        Row and column names.
    wells : dict[str, int]
        ``row/column`` of every well with images -> its number of fields.
    """

    name: str | None
    rows: list[str]
    columns: list[str]
    wells: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        """``plate 'P': 2 rows (A, B) x 3 columns (1, 2, 3); 2 wells, ...``."""
        name = f" {self.name!r}" if self.name else ""
        out = (
            f"plate{name}: {len(self.rows)} rows ({', '.join(self.rows)}) x "
            f"{len(self.columns)} columns ({', '.join(self.columns)}); "
            f"{len(self.wells)} wells"
        )
        counts = sorted(set(self.wells.values()))
        if counts:
            span = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
            out += f", {span} fields per well"
        if len(self.wells) <= 24:
            out += ": " + ", ".join(f"{w} ({n})" for w, n in self.wells.items())
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "name": self.name,
            "rows": list(self.rows),
            "columns": list(self.columns),
            "wells": dict(self.wells),
        }


def _index_text(index: Index) -> str:
    return str(index[0]) if len(index) == 1 else str(index)


def _scales_text(scales: dict[str, Quantity]) -> str:
    return ", ".join(f"{axis}={q.text()}" for axis, q in scales.items())


def _stage_text(stage: dict[str, Quantity]) -> str:
    units = {q.unit for q in stage.values()}
    if len(units) == 1:
        values = " ".join(f"{axis}={q.value:g}" for axis, q in stage.items())
        symbol = unit_symbol(units.pop())
        return f"{values} {symbol}".rstrip()
    return " ".join(f"{axis}={q.text()}" for axis, q in stage.items())


@dataclass
class TableInfo:
    """A per-frame table written beside the dataset (`ome_writers.tables`)."""

    name: str
    rows: int
    columns: list[str]

    def text(self) -> str:
        return (
            f"table {self.name}: {_count(self.rows, 'row')}, columns: "
            f"{', '.join(self.columns)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rows": self.rows, "columns": list(self.columns)}


@dataclass
class DatasetReport:
    """What a dataset holds and whether independent readers accept it.

    Attributes
    ----------
    path : Path | ObjectPath | str
        The dataset (a local path, or the prefix of one in a bucket; a URL as
        given when it could not be opened).
    kind : str
        ``OME-Zarr``, ``OME-TIFF``, ``scratch``, ``unknown`` (not a dataset
        the readers know) or ``unreadable`` (missing, or access refused).
    arrays : dict[str, tuple[tuple[int, ...], str, str]]
        Array label -> (shape, dtype, axes); OME-Zarr lists every array
        (resolution levels too), OME-TIFF every image once.
    problems : list[str]
        What the readers reported; empty for a valid dataset.
    warnings : list[str]
        What the readers warned about (recommendations the dataset does not
        follow, e.g. an NGFF axis unit that is not a UDUNITS-2 name); a
        dataset with warnings is still valid.
    levels : dict[str, list[tuple[int, ...]]]
        Image label -> shape of each resolution level, for pyramids.
    layout : str
        ``image``, ``collection``, ``plate`` (OME-Zarr); ``single file`` or
        ``multi-file set (<where the OME-XML is>)`` (OME-TIFF).
    files : list[str]
        OME-TIFF: the files of the dataset (TIFF files and companion
        OME-XML), relative to `path` when it is a directory.
    images : list[ImageInfo]
        Every image (position), once.
    plate : PlateInfo | None
        The plate layout of an HCS dataset.
    ome_xml : tuple[int, int] | None
        OME-Zarr: the Images and Planes of ``OME/METADATA.ome.xml`` (None:
        the dataset has none).
    archive : str | None
        ``zip`` for an OME-Zarr read from inside a single-file ZIP archive
        (``.ozx``); None otherwise.
    tables : list[TableInfo]
        The per-frame tables written beside the dataset.
    size : tuple[int, int] | None
        Bytes and files the dataset takes on a local disk (None: not known).
    """

    path: Path | ObjectPath | str
    kind: str
    arrays: dict[str, tuple[tuple[int, ...], str, str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # image -> shape of each resolution level (level 0 first), for pyramids
    levels: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)
    layout: str = ""
    files: list[str] = field(default_factory=list)
    images: list[ImageInfo] = field(default_factory=list)
    plate: PlateInfo | None = None
    ome_xml: tuple[int, int] | None = None
    archive: str | None = None
    tables: list[TableInfo] = field(default_factory=list)
    size: tuple[int, int] | None = None

    @property
    def valid(self) -> bool:
        """Whether no reader reported a problem."""
        return not self.problems

    def label(self, image: ImageInfo) -> str:
        """How the summary names `image`: its array, or its name and file."""
        if self.kind == "OME-TIFF":
            name = f"{image.well}/{image.name}" if image.well else image.name
            return f"{name} in {image.path}"
        return image.array or image.path

    def add_image(self, image: ImageInfo) -> None:
        """Add `image` and its entries in `arrays` and `levels`."""
        self.images.append(image)
        label = self.label(image)
        self.arrays.setdefault(label, (image.shape, image.dtype, self._axes(image)))
        if len(image.levels) > 1:
            self.levels[label] = list(image.levels)

    def _axes(self, image: ImageInfo) -> str:
        if self.kind == "OME-TIFF":  # as tifffile names them: TCZYX
            return "".join(image.axes).upper()
        return ",".join(image.axes)

    def lines(self) -> list[str]:
        """Human-readable summary: what the dataset holds, then its problems."""
        header = f"{self.path} ({self.kind}"
        if self.archive is not None:
            header += f" in a {self.archive} archive"
        if self.layout:
            header += f", {self.layout}"
        if len(self.images) > 1:
            header += f", {len(self.images)} images"
        out = [header + ")"]
        if len(self.files) > 1:
            out.append(f"  files: {', '.join(self.files)}")
        if self.plate is not None:
            out.append(f"  {self.plate.text()}")
        if self.ome_xml is not None:
            images, planes = self.ome_xml
            out.append(
                f"  OME-XML: OME/METADATA.ome.xml, {_count(images, 'Image')}, "
                f"{_count(planes, 'Plane')}"
            )
        shared = self._shared()
        out.extend(f"  {line}" for line in shared.values())
        for image in self.images:
            out.append(
                f"  {self.label(image)}: shape={image.shape} dtype={image.dtype} "
                f"axes={self._axes(image)}"
            )
            out.extend(f"    {line}" for line in self._image_lines(image, shared))
        out.extend(f"  {table.text()}" for table in self.tables)
        if self.size is not None:
            out.append(f"  {self._size_text()}")
        out.extend(f"  problem: {p}" for p in self.problems)
        out.extend(f"  warning: {w}" for w in self.warnings)
        out.append(f"  {self.verdict()}")
        return out

    def expected_bytes(self) -> int | None:
        """Bytes on disk once every declared frame is acquired, at the rate
        so far (None: complete, or not known)."""
        frames = [image.frames for image in self.images]
        if self.size is None or not frames or any(f is None for f in frames):
            return None
        declared = sum(f.declared for f in frames if f is not None)
        acquired = sum(f.acquired or 0 for f in frames if f is not None)
        if not 0 < acquired < declared:
            return None
        return round(self.size[0] * declared / acquired)

    def _size_text(self) -> str:
        from ome_writers._schema._size_estimate import format_bytes

        assert self.size is not None
        nbytes, files = self.size
        text = f"on disk: {format_bytes(nbytes)} in {_count(files, 'file')}"
        expected = self.expected_bytes()
        if expected is not None:
            text += f"; about {format_bytes(expected)} once every frame is acquired"
        return text

    def verdict(self) -> str:
        """``NOT READ``, ``INVALID``, ``valid`` or ``valid, with N warnings``."""
        if self.kind == "unreadable":  # nothing read: no verdict on the data
            return "NOT READ"
        if not self.valid:
            return "INVALID"
        n = len(self.warnings)
        if not n:
            return "valid"
        return f"valid, with {n} warning{'s' if n > 1 else ''}"

    def _facts(self, image: ImageInfo) -> dict[str, str]:
        """The lines of `image` that may be shared by every image."""
        facts = {}
        if image.channels:
            facts["channels"] = f"channels: {', '.join(image.channels)}"
        if image.scales:
            facts["scales"] = f"scale: {_scales_text(image.scales)}"
        if image.storage is not None:
            facts["storage"] = f"storage: {image.storage.text()}"
        if image.frame_keys:
            facts["keys"] = f"frame metadata keys: {', '.join(image.frame_keys)}"
        for label in image.labels:
            facts[f"label {label.name}"] = label.text()
        return facts

    def _shared(self) -> dict[str, str]:
        """Facts every image has alike (printed once, above the images)."""
        if not self.images:
            return {}
        first = self._facts(self.images[0])
        shared = {
            key: line
            for key, line in first.items()
            if all(self._facts(image).get(key) == line for image in self.images[1:])
        }
        frames = [image.frames for image in self.images]
        if frames and all(f is not None and f.acquired == f.declared for f in frames):
            declared = sum(f.declared for f in frames if f is not None)
            acquired = sum(f.acquired or 0 for f in frames if f is not None)
            sources = sorted({f.source_text() for f in frames if f is not None})
            shared["frames"] = (
                f"frames: {acquired} of {declared} acquired ({'; '.join(sources)})"
            )
        return shared

    def _image_lines(self, image: ImageInfo, shared: dict[str, str]) -> list[str]:
        out = []
        tail = image.path.rstrip("/").rsplit("/", 1)[-1]
        if self.kind == "OME-Zarr" and image.path != "." and image.name != tail:
            out.append(f"name: {image.name}")
        if image.stage:
            out.append(f"stage: {_stage_text(image.stage)}")
        out.extend(v for k, v in self._facts(image).items() if k not in shared)
        if image.frames is not None and "frames" not in shared:
            out.append(f"frames: {image.frames.text()}")
        if len(image.levels) > 1:
            listed = ", ".join(f"{k}: {shape}" for k, shape in enumerate(image.levels))
            out.append(f"{len(image.levels)} resolution levels ({listed})")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything in the report as JSON-ready data (``info --json``)."""
        return {
            "path": str(self.path),
            "kind": self.kind,
            "layout": self.layout,
            "valid": self.valid,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "files": list(self.files),
            "archive": self.archive,
            "plate": self.plate.to_dict() if self.plate is not None else None,
            "ome_xml": None
            if self.ome_xml is None
            else {"images": self.ome_xml[0], "planes": self.ome_xml[1]},
            "images": [image.to_dict() for image in self.images],
            "tables": [table.to_dict() for table in self.tables],
            "size": None
            if self.size is None
            else {
                "bytes": self.size[0],
                "files": self.size[1],
                "expected_bytes": self.expected_bytes(),
            },
        }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
