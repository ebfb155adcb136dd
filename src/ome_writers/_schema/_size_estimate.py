"""`SizeEstimate`: what an acquisition will write to disk, known before its
first frame.

The pixels are counted as each format stores them: OME-Zarr writes whole
chunks (a chunk at the array's edge is padded to the chunk's shape) and, when
sharded, a 16-byte index entry per chunk of each shard; OME-TIFF writes one
page per frame (and one SubIFD page per pyramid level) behind an IFD of a few
hundred bytes. Metadata documents (``zarr.json``, OME-XML) are counted from
what the writers put in them for a layout like this one: a few hundred bytes
per document, per image and per channel. Per-frame metadata given to
`OMEStream.append` is not counted: its size is known only when it arrives.

With compression, the pixels are divided by a fixed ratio per codec
(`COMPRESSION_RATIOS`), the ratio measured on noisy 12-bit camera frames
(the demo camera's); images with a dark background compress further, pure
noise less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ome_writers._schema._format import OmeTiffFormat, OmeZarrFormat
from ome_writers._schema._pyramid import level_dimensions
from ome_writers._schema._storage import chunk_grid, effective_type

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from ome_writers._schema._dimension import Dimension
    from ome_writers._schema._geometry import AcquisitionGeometry
    from ome_writers._schema._plate import Plate

#: compressed size = uncompressed size / ratio (see the module docstring)
COMPRESSION_RATIOS: dict[str, float] = {
    "none": 1.0,
    "blosc-zstd": 1.6,
    "zstd": 1.6,
    "zlib": 1.5,
    "blosc-lz4": 1.35,
    "lzw": 1.25,
}

# Bytes beside the pixels, as the writers lay them out (a test compares the
# estimate with datasets written by every backend).
_SHARD_ENTRY = 16  # a shard index entry (offset, length) per chunk
_SHARD_CHECKSUM = 4  # the index's crc32c
_ZARR_ROOT = 500  # the root group's zarr.json (NGFF metadata, progress)
_ZARR_IMAGE = 300  # an image group's zarr.json, of a collection or plate
_ZARR_LEVEL = 60  # one more level in an image's multiscales
_ZARR_ARRAY = 600  # an array's zarr.json
_ZARR_OME_GROUP = 100  # OME/zarr.json of a collection
_ZARR_COLLECTION = 600  # the OME-XML of a collection
_ZARR_COLLECTION_IMAGE = 250  # an image in that OME-XML
_ZARR_LABELS_GROUP = 100  # an image's labels/zarr.json
_ZARR_LABEL_IMAGE = 500  # a label image's zarr.json (multiscales, image-label)
_ZARR_PLATE_ROW = 60
_ZARR_PLATE_WELL = 120
_TIFF_PAGE = 288  # a page's IFD and its values
_TIFF_LEVEL_PAGE = 340  # a SubIFD page, and its entry in the page's SubIFDs
_TIFF_DESCRIPTION = 8_800  # the description's slots, header and footer
_TIFF_IMAGE = 2_800  # an image in that description (provisional and final)
_TIFF_CHANNEL = 260  # each channel of an image after the first
_TIFF_OTHER_FILE = 2_000  # a file pointing at the one with the description
_TIFF_IMAGE_COPY = 450  # an image in another file's copy of the description
_TIFF_COMPANION = 1_500  # a companion file
_TIFF_COMPANION_IMAGE = 760  # an image in the companion file
_TIFF_COMPANION_FILE = 1_000  # a TIFF file beside a companion file
_SCRATCH_MANIFEST = 1_000


@dataclass(frozen=True)
class SizePart:
    """Bytes of one kind of content of a dataset (see `SizeEstimate.parts`).

    Attributes
    ----------
    name : str
        "frames" (the full resolution), "pyramid" (levels 1 and up) or
        "metadata" (documents).
    uncompressed_bytes, estimated_bytes : int | None
        Without and with compression; None for the frames of an unbounded
        acquisition.
    bytes_per_frame, estimated_bytes_per_frame : float
        The same per frame appended (0 for documents written once).
    files : int | None
        Files written (None: unbounded).
    """

    name: str
    uncompressed_bytes: int | None
    estimated_bytes: int | None
    bytes_per_frame: float
    estimated_bytes_per_frame: float
    files: int | None


@dataclass(frozen=True)
class SizeEstimate:
    """What an acquisition writes to disk, estimated from its settings alone.

    Get it from `AcquisitionSettings.estimated_size`; `create_stream` compares
    it with the free space of the output's filesystem.

    Attributes
    ----------
    parts : tuple[SizePart, ...]
        The frames, the pyramid levels (if any), the label images (if any)
        and the metadata documents;
        the totals below are their sums.
    frames : int | None
        Frames the acquisition appends (None: unbounded).
    compression : str
        The compression the estimate assumes ("none" when frames are not
        compressed).
    compression_ratio : float
        Uncompressed pixel bytes per compressed byte assumed for it.
    """

    parts: tuple[SizePart, ...]
    frames: int | None
    compression: str
    compression_ratio: float

    @property
    def uncompressed_bytes(self) -> int | None:
        """Bytes written without compression: every pixel of every position and
        level, chunk padding, shard indices, IFDs and metadata documents.
        None when unbounded."""
        return _sum(p.uncompressed_bytes for p in self.parts)

    @property
    def estimated_bytes(self) -> int | None:
        """`uncompressed_bytes` with the pixels divided by `compression_ratio`."""
        return _sum(p.estimated_bytes for p in self.parts)

    @property
    def bytes_per_frame(self) -> float:
        """Uncompressed bytes per frame appended (every level, padding included)."""
        return sum(p.bytes_per_frame for p in self.parts)

    @property
    def estimated_bytes_per_frame(self) -> float:
        """`bytes_per_frame` with compression."""
        return sum(p.estimated_bytes_per_frame for p in self.parts)

    @property
    def files(self) -> int | None:
        """Files written (None when unbounded)."""
        return _sum(p.files for p in self.parts)

    def __str__(self) -> str:
        compressed = self.compression_ratio != 1.0
        total, bound = self.estimated_bytes, self.uncompressed_bytes
        unbounded = total is None or bound is None
        if unbounded:
            size = format_bytes(self.estimated_bytes_per_frame) + " per frame"
            most = format_bytes(self.bytes_per_frame)
        else:
            size, most = format_bytes(total or 0), format_bytes(bound or 0)
        text = f"about {size}"
        if compressed:
            text += f" with {self.compression} (up to {most} uncompressed)"
        return text + (", unbounded" if unbounded else "")


def format_bytes(n: float) -> str:
    """`n` bytes in decimal units: ``"512 B"``, ``"12.3 MB"``, ``"4.1 GB"``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 999.95 or unit == "TB":
            break
        n /= 1000
    if unit == "B":
        return f"{n:.0f} B"
    return f"{n:.1f} {unit}" if abs(n) < 99.95 else f"{n:.0f} {unit}"


def estimate_size(
    geometry: AcquisitionGeometry, compression: str | None, plate: Plate | None
) -> SizeEstimate:
    """The `SizeEstimate` of an acquisition (see `AcquisitionSettings`)."""
    fmt = geometry.format
    if not isinstance(fmt, OmeZarrFormat | OmeTiffFormat):
        compression = "none"
        parts = _scratch_parts(geometry)
    else:
        compression = compression or "none"
        ratio = COMPRESSION_RATIOS[compression]
        if isinstance(fmt, OmeZarrFormat):
            parts = _zarr_parts(geometry, ratio, plate)
        else:
            parts = _tiff_parts(geometry, fmt, ratio)
    return SizeEstimate(
        parts=tuple(parts),
        frames=geometry.num_frames,
        compression=compression,
        compression_ratio=COMPRESSION_RATIOS[compression],
    )


# ------------------------------------------------------------------ the pixels


@dataclass(frozen=True)
class _Stored:
    """Bytes stored for some frames: pixels (compressible), the rest, files."""

    pixels: int
    other: int
    files: int
    frames: int

    def __add__(self, more: _Stored) -> _Stored:
        return _Stored(
            self.pixels + more.pixels,
            self.other + more.other,
            self.files + more.files,
            self.frames + more.frames,
        )


def _part(name: str, stored: _Stored, ratio: float, bounded: bool) -> SizePart:
    """A `SizePart`: totals when `bounded`, and per frame."""
    compressed = stored.pixels / ratio + stored.other
    per = 1 / stored.frames if stored.frames else 0.0  # documents: not per frame
    return SizePart(
        name=name,
        uncompressed_bytes=stored.pixels + stored.other if bounded else None,
        estimated_bytes=math.ceil(compressed) if bounded else None,
        bytes_per_frame=(stored.pixels + stored.other) * per,
        estimated_bytes_per_frame=compressed * per,
        files=stored.files if bounded else None,
    )


def _array_shapes(
    geometry: AcquisitionGeometry,
) -> Iterator[tuple[tuple[Dimension, ...], int]]:
    """Each position's storage dimensions and pixel size (bytes)."""
    n = len(geometry.positions)
    if not geometry.is_ragged:
        dims = geometry.array_storage_dimensions
        size = np.dtype(geometry.dtype).itemsize
        for _ in range(n):
            yield dims, size
        return
    for p in range(n):
        dims = geometry.position_storage_dimensions(p)
        yield dims, np.dtype(geometry.position_dtype(p)).itemsize


def _levels(
    geometry: AcquisitionGeometry, dims: Sequence[Dimension]
) -> list[tuple[Dimension, ...]]:
    """`dims` at every pyramid level, level 0 first."""
    pyramid = geometry.pyramid
    if pyramid is None:
        return [tuple(dims)]
    return [level_dimensions(pyramid, dims, k) for k in range(geometry.pyramid_levels)]


def _sample(dims: Sequence[Dimension]) -> tuple[tuple[Dimension, ...], int]:
    """`dims` bounded, and the frames they hold: an unbounded dimension is
    given the count of one chunk (or shard) along it, the unit arrays grow by."""
    chunks, shards = chunk_grid(dims)
    unit = shards or chunks
    out = tuple(
        d.model_copy(update={"count": unit[i]}) if d.count is None else d
        for i, d in enumerate(dims)
    )
    return out, math.prod(int(d.count or 1) for d in out[:-2])


def _zarr_array(dims: Sequence[Dimension], itemsize: int) -> _Stored:
    """What one Zarr array of bounded `dims` stores."""
    chunks, shards = chunk_grid(dims)
    counts = [int(d.count or 1) for d in dims]
    n_chunks = math.prod(math.ceil(n / c) for n, c in zip(counts, chunks, strict=True))
    pixels = n_chunks * math.prod(chunks) * itemsize
    frames = math.prod(counts[:-2])
    if shards is None:
        return _Stored(pixels, 0, n_chunks, frames)
    n_shards = math.prod(math.ceil(n / s) for n, s in zip(counts, shards, strict=True))
    per_shard = math.prod(s // c for s, c in zip(shards, chunks, strict=True))
    index = n_shards * (_SHARD_ENTRY * per_shard + _SHARD_CHECKSUM)
    return _Stored(pixels, index, n_shards, frames)


def _tiff_pages(dims: Sequence[Dimension], itemsize: int, level_page: bool) -> _Stored:
    """What the pages of bounded `dims` store (SubIFD pages: `level_page`)."""
    y, x = (int(d.count or 1) for d in dims[-2:])
    pages = math.prod(int(d.count or 1) for d in dims[:-2])
    ifd = _TIFF_LEVEL_PAGE if level_page else _TIFF_PAGE
    return _Stored(pages * y * x * itemsize, pages * ifd, 0, pages)


def _pixel_parts(
    geometry: AcquisitionGeometry, ratio: float, zarr: bool
) -> tuple[SizePart, SizePart | None]:
    """The frames part and the pyramid part (None without levels)."""
    bounded = not geometry.is_unbounded
    frames = _Stored(0, 0, 0, 0)
    pyramid: _Stored | None = None
    for dims, itemsize in _array_shapes(geometry):
        sample, held = _sample(dims) if not bounded else (tuple(dims), 0)
        for k, level in enumerate(_levels(geometry, sample)):
            if zarr:
                stored = _zarr_array(level, itemsize)
            else:
                stored = _tiff_pages(level, itemsize, level_page=k > 0)
            if held:  # count frames of level 0, per level the same
                stored = _Stored(stored.pixels, stored.other, stored.files, held)
            if k == 0:
                frames += stored
            else:
                pyramid = stored if pyramid is None else pyramid + stored
    if pyramid is not None:
        # a level's bytes are per frame of the full resolution
        pyramid = _Stored(pyramid.pixels, pyramid.other, pyramid.files, frames.frames)
    return (
        _part("frames", frames, ratio, bounded),
        None if pyramid is None else _part("pyramid", pyramid, ratio, bounded),
    )


# -------------------------------------------------------------------- formats


def _zarr_parts(
    geometry: AcquisitionGeometry, ratio: float, plate: Plate | None
) -> list[SizePart]:
    frames, pyramid = _pixel_parts(geometry, ratio, zarr=True)
    n_images = len(geometry.positions)
    levels = geometry.pyramid_levels
    arrays = n_images * levels
    image = _ZARR_IMAGE + _ZARR_LEVEL * (levels - 1)
    if n_images == 1 and plate is None:
        documents = _ZARR_ROOT + image - _ZARR_IMAGE + arrays * _ZARR_ARRAY
        files = 1 + arrays
    else:
        documents = _ZARR_ROOT + n_images * image + arrays * _ZARR_ARRAY
        files = 1 + n_images + arrays
        if plate is not None:
            wells = {(p.plate_row, p.plate_column) for p in geometry.positions}
            rows = {row for row, _ in wells}
            documents += _ZARR_PLATE_ROW * len(rows) + _ZARR_PLATE_WELL * len(wells)
            files += len(rows) + len(wells)
        else:  # a collection: the OME group, and its OME-XML unless ragged
            documents += _ZARR_OME_GROUP
            files += 1
            if not geometry.is_ragged:
                documents += _ZARR_COLLECTION + n_images * _ZARR_COLLECTION_IMAGE
                files += 1
    metadata = _part("metadata", _Stored(0, documents, files, 0), ratio, True)
    return [p for p in (frames, pyramid, metadata) if p is not None]


def _tiff_parts(
    geometry: AcquisitionGeometry, fmt: OmeTiffFormat, ratio: float
) -> list[SizePart]:
    frames, pyramid = _pixel_parts(geometry, ratio, zarr=False)
    n_images = len(geometry.positions)
    channel = next(
        (d for d in geometry.index_dimensions if effective_type(d) == "channel"),
        None,
    )
    channels = int(channel.count or 1) if channel is not None else 1
    description = (
        _TIFF_DESCRIPTION
        + n_images * _TIFF_IMAGE
        + n_images * (channels - 1) * _TIFF_CHANNEL
    )
    if geometry.is_ragged:  # a description per file, then the set in each
        n_files = n_images
        documents = n_files * (
            _TIFF_DESCRIPTION + _TIFF_IMAGE + n_images * _TIFF_IMAGE_COPY
        )
    elif fmt.is_single_file(n_images):
        n_files = 1
        documents = description
    elif fmt.multi_file_metadata == "companion-file":
        n_files = n_images + 1
        documents = (
            _TIFF_COMPANION
            + n_images * _TIFF_COMPANION_IMAGE
            + n_images * _TIFF_COMPANION_FILE
        )
    else:
        n_files = n_images
        documents = description + (n_files - 1) * _TIFF_OTHER_FILE
        if fmt.multi_file_metadata == "redundant":
            documents += (n_files - 1) * n_images * _TIFF_IMAGE_COPY
    metadata = _part("metadata", _Stored(0, documents, n_files, 0), ratio, True)
    return [p for p in (frames, pyramid, metadata) if p is not None]


def labels_part(
    image: AcquisitionGeometry, labels: Sequence[tuple[AcquisitionGeometry, str]]
) -> SizePart | None:
    """The label images' part: each label image's geometry and compression
    (None without label images). Per frame: per frame of the image."""
    if not labels:
        return None
    bounded = not image.is_unbounded
    image_planes = _planes_per_step(image)
    totals = [0.0, 0.0, 0.0, 0.0]  # uncompressed, estimated, per frame both
    files = 0
    for geometry, compression in labels:
        ratio = COMPRESSION_RATIOS[compression]
        share = _planes_per_step(geometry) / image_planes
        n_images = len(geometry.positions)
        levels = geometry.pyramid_levels
        documents = n_images * (
            _ZARR_LABELS_GROUP
            + _ZARR_LABEL_IMAGE
            + levels * (_ZARR_LEVEL + _ZARR_ARRAY)
        )
        for part in _pixel_parts(geometry, ratio, zarr=True):
            if part is None:
                continue
            totals[0] += part.uncompressed_bytes or 0
            totals[1] += part.estimated_bytes or 0
            totals[2] += part.bytes_per_frame * share
            totals[3] += part.estimated_bytes_per_frame * share
            files += part.files or 0
        totals[0] += documents
        totals[1] += documents
        files += n_images * (2 + levels)
    return SizePart(
        name="labels",
        uncompressed_bytes=int(totals[0]) if bounded else None,
        estimated_bytes=math.ceil(totals[1]) if bounded else None,
        bytes_per_frame=totals[2],
        estimated_bytes_per_frame=totals[3],
        files=files if bounded else None,
    )


def _planes_per_step(geometry: AcquisitionGeometry) -> int:
    """Planes of every array per index of an unbounded first axis (all
    planes when bounded)."""
    dims = geometry.array_storage_dimensions
    per_array = math.prod(int(d.count or 1) for d in dims[:-2])
    return per_array * len(geometry.positions)


def _scratch_parts(geometry: AcquisitionGeometry) -> list[SizePart]:
    bounded = not geometry.is_unbounded
    stored = _Stored(0, 0, 0, 0)
    for dims, itemsize in _array_shapes(geometry):
        sample, held = _sample(dims) if not bounded else (tuple(dims), 0)
        pages = _tiff_pages(sample, itemsize, level_page=False)
        stored += _Stored(pages.pixels, 0, 1, held or pages.frames)
    manifest = _Stored(0, _SCRATCH_MANIFEST, 1, 0)
    return [
        _part("frames", stored, 1.0, bounded),
        _part("metadata", manifest, 1.0, True),
    ]


def _sum(values: Iterator[int | None]) -> int | None:
    total = 0
    for v in values:
        if v is None:
            return None
        total += v
    return total
