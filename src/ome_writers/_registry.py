"""The backend registry: one record per backend holding every fact about it.

Everything else (settings validation, format-name parsing, backend selection,
CLI choices, the benchmark's backend list, capability-driven test skips)
derives from these records. This module imports nothing from the package, so
settings can consult it without an import circle; backends are imported only
when chosen (see `_select.py`).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class BackendRecord:
    """What we know about a backend without importing it.

    Attributes
    ----------
    name : str
        The backend's name (``format=name`` selects it).
    format : str
        The format it writes: "ome-zarr", "ome-tiff" or "scratch".
    target : str
        ``"module:Class"`` of the implementation.
    requires : tuple[str, ...]
        Top-level modules that must be importable.
    extra : str
        The pip extra that installs them.
    compressions : tuple[str, ...]
        Compressions it writes (empty: compression is ignored).
    aliases : tuple[str, ...]
        Other names accepted for ``format=`` that select this backend.
    min_python : tuple[int, int]
        Oldest Python its libraries support.
    writes_in_background : bool
        Writes complete on background threads: a failure surfaces at a later
        `append`, `checkpoint` or `close`.
    complete_live_reads : bool
        A live view reads every frame appended so far while acquiring (False:
        some frames become readable only after close).
    makes_directories_ahead : bool
        Chunk directories are created before the first frame needs them.
    pyramids : str
        How pyramid levels are written: "level-arrays" (ome-writers reduces
        the frames and writes one array per level, see `_pyramid_levels`),
        "subifds" (the backend writes reduced pages as SubIFDs) or "none".
    url_schemes : tuple[str, ...]
        URL schemes of object storage it writes to (``"s3"``); local paths
        are written by every backend that writes files.
    s3_credentials : tuple[str, ...]
        The credential sources its library reads itself ("environment",
        "profile"); empty: it takes the resolved credentials, explicit ones
        too.
    retries_object_storage : bool
        Failed object-storage requests (5xx, resets, a restarting server) are
        retried for `S3Options.retry_seconds` before the stream raises.
    zarr_formats : tuple[int, ...]
        Zarr format versions its library writes (an OME-Zarr backend): 3 for
        OME-Zarr 0.5, 2 for OME-Zarr 0.4. Empty: Zarr v3 only.
    groups_small_frames : bool
        An OME-Zarr backend that writes a partly filled chunk or shard at
        every loss-window visit, so small frames may share one by default
        (`small_frame_layout`) without a crash losing more of them.
    """

    name: str
    format: str
    target: str
    requires: tuple[str, ...]
    extra: str
    compressions: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    min_python: tuple[int, int] = (3, 0)
    writes_in_background: bool = False
    complete_live_reads: bool = True
    makes_directories_ahead: bool = False
    pyramids: str = "none"
    url_schemes: tuple[str, ...] = ()
    s3_credentials: tuple[str, ...] = ()
    retries_object_storage: bool = False
    zarr_formats: tuple[int, ...] = ()
    groups_small_frames: bool = True

    @property
    def available(self) -> bool:
        """Whether the libraries this backend needs can be imported."""
        return _available(self.requires, self.min_python)

    def writes_zarr_format(self, zarr_format: int) -> bool:
        """Whether it writes OME-Zarr as Zarr format `zarr_format`."""
        return self.format == "ome-zarr" and zarr_format in (self.zarr_formats or (3,))

    @property
    def writes_files(self) -> bool:
        """Whether the output is on disk (not the in-memory scratch format)."""
        return self.format != "scratch"


@cache
def _available(requires: tuple[str, ...], min_python: tuple[int, int]) -> bool:
    if sys.version_info[:2] < min_python:
        return False
    return all(importlib.util.find_spec(mod) is not None for mod in requires)


_ZARR = ("blosc-zstd", "blosc-lz4", "zstd", "none")

# Order is priority: "auto" takes the first available compatible backend.
BACKENDS: list[BackendRecord] = [
    BackendRecord(
        name="tensorstore",
        format="ome-zarr",
        target="ome_writers.backends.zarr._tensorstore:TensorstoreBackend",
        requires=("tensorstore",),
        extra="tensorstore",
        compressions=_ZARR,
        writes_in_background=True,
        makes_directories_ahead=True,
        pyramids="level-arrays",
        url_schemes=("s3",),
        s3_credentials=("environment", "profile"),
        retries_object_storage=True,
        zarr_formats=(2, 3),
    ),
    BackendRecord(
        name="acquire-zarr",
        format="ome-zarr",
        target="ome_writers.backends.zarr._acquire_zarr:AcquireZarrBackend",
        requires=("acquire_zarr",),
        extra="acquire-zarr",
        compressions=("blosc-zstd", "blosc-lz4", "none"),
        complete_live_reads=False,
        pyramids="level-arrays",
        url_schemes=("s3",),
        s3_credentials=("environment",),
        zarr_formats=(3,),
        # writes a shard only once all its frames arrived
        groups_small_frames=False,
    ),
    BackendRecord(
        name="zarrs-python",
        format="ome-zarr",
        target="ome_writers.backends.zarr._zarr_python:ZarrsBackend",
        requires=("zarr", "zarrs", "obstore"),
        extra="zarrs-python",
        compressions=_ZARR,
        min_python=(3, 11),
        writes_in_background=True,
        makes_directories_ahead=True,
        pyramids="level-arrays",
        url_schemes=("s3",),
        retries_object_storage=True,
        zarr_formats=(2, 3),
    ),
    BackendRecord(
        name="zarr-python",
        format="ome-zarr",
        target="ome_writers.backends.zarr._zarr_python:ZarrPythonBackend",
        requires=("zarr",),
        extra="zarr-python",
        compressions=_ZARR,
        min_python=(3, 11),
        writes_in_background=True,
        makes_directories_ahead=True,
        pyramids="level-arrays",
        url_schemes=("s3",),
        retries_object_storage=True,
        zarr_formats=(2, 3),
    ),
    BackendRecord(
        name="tifffile",
        format="ome-tiff",
        target="ome_writers.backends.tiff._writer:TiffBackend",
        requires=("tifffile", "ome_types"),
        extra="tifffile",
        compressions=("lzw", "zlib", "zstd", "none"),
        pyramids="subifds",
    ),
    BackendRecord(
        name="scratch",
        format="scratch",
        target="ome_writers.backends._scratch:ScratchBackend",
        requires=(),
        extra="scratch",
        aliases=("memory",),
    ),
]

BY_NAME = {record.name: record for record in BACKENDS}


def register(record: BackendRecord) -> None:
    """Add a backend (lowest priority): its module plus this record is all."""
    if record.name in BY_NAME:
        raise ValueError(f"A backend named {record.name!r} is already registered")
    BACKENDS.append(record)
    BY_NAME[record.name] = record


def unregister(name: str) -> None:
    """Remove the backend registered as `name`."""
    BACKENDS.remove(BY_NAME.pop(name))


FORMATS = ("ome-zarr", "ome-tiff", "scratch")


def backend_names(format_name: str | None = None) -> tuple[str, ...]:
    """Names of every registered backend (optionally of one format)."""
    return tuple(
        r.name for r in BACKENDS if format_name is None or r.format == format_name
    )


def compressions(format_name: str) -> tuple[str, ...]:
    """Every compression some backend of `format_name` writes, in registry order."""
    seen: dict[str, None] = {}
    for r in BACKENDS:
        if r.format == format_name:
            seen.update(dict.fromkeys(r.compressions))
    return tuple(seen)


def available_backends(format_name: str | None = None) -> list[BackendRecord]:
    """Available backends (optionally only those writing `format_name`)."""
    return [
        r
        for r in BACKENDS
        if r.available and (format_name is None or r.format == format_name)
    ]


def url_writers(scheme: str, format_name: str | None = None) -> list[str]:
    """Names of the backends that write ``scheme://`` outputs."""
    return [
        r.name
        for r in BACKENDS
        if scheme in r.url_schemes and (format_name is None or r.format == format_name)
    ]


def zarr_format_writers(zarr_format: int) -> list[str]:
    """Names of the OME-Zarr backends whose library writes `zarr_format`."""
    return [r.name for r in BACKENDS if r.writes_zarr_format(zarr_format)]


def first_available() -> BackendRecord:
    """The highest-priority available backend that writes files."""
    for record in BACKENDS:
        if record.available and record.writes_files:
            return record
    return BY_NAME["scratch"]
