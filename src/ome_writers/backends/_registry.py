"""Lazy backend registry: one record per backend, imported only when chosen."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._base import Backend


@dataclass(frozen=True)
class BackendRecord:
    """What we know about a backend without importing it."""

    name: str
    format: str
    target: str  # "module:Class"
    requires: tuple[str, ...]
    extra: str
    #: compressions it writes (empty: compression is ignored)
    compressions: tuple[str, ...] = ()
    min_python: tuple[int, int] = (3, 0)

    @property
    def available(self) -> bool:
        """Whether the libraries this backend needs can be imported."""
        return _available(self.requires, self.min_python)

    def load(self) -> type[Backend]:
        """Import and return the backend class."""
        module_name, _, cls_name = self.target.partition(":")
        module = importlib.import_module(module_name)
        cls: type[Backend] = getattr(module, cls_name)
        return cls


@cache
def _available(requires: tuple[str, ...], min_python: tuple[int, int]) -> bool:
    if sys.version_info[:2] < min_python:
        return False
    return all(importlib.util.find_spec(mod) is not None for mod in requires)


_PKG = "ome_writers.backends"
_ZARR = ("blosc-zstd", "blosc-lz4", "zstd", "none")

# Order is priority: "auto" takes the first available compatible backend.
BACKENDS: tuple[BackendRecord, ...] = (
    BackendRecord(
        "tensorstore",
        "ome-zarr",
        f"{_PKG}._tensorstore:TensorstoreBackend",
        ("tensorstore",),
        "tensorstore",
        _ZARR,
    ),
    BackendRecord(
        "acquire-zarr",
        "ome-zarr",
        f"{_PKG}._acquire_zarr:AcquireZarrBackend",
        ("acquire_zarr",),
        "acquire-zarr",
        ("blosc-zstd", "blosc-lz4", "none"),
    ),
    BackendRecord(
        "zarrs-python",
        "ome-zarr",
        f"{_PKG}._zarr_python:ZarrsBackend",
        ("zarr", "zarrs"),
        "zarrs-python",
        _ZARR,
        (3, 11),
    ),
    BackendRecord(
        "zarr-python",
        "ome-zarr",
        f"{_PKG}._zarr_python:ZarrPythonBackend",
        ("zarr",),
        "zarr-python",
        _ZARR,
        (3, 11),
    ),
    BackendRecord(
        "tifffile",
        "ome-tiff",
        f"{_PKG}._tifffile:TiffBackend",
        ("tifffile", "ome_types"),
        "tifffile",
        ("lzw", "zlib", "zstd", "none"),
    ),
    BackendRecord(
        "scratch", "scratch", f"{_PKG}._scratch:ScratchBackend", (), "scratch"
    ),
)

BY_NAME = {record.name: record for record in BACKENDS}


def available_backends(format_name: str | None = None) -> list[BackendRecord]:
    """Available backends (optionally only those writing `format_name`)."""
    return [
        r
        for r in BACKENDS
        if r.available and (format_name is None or r.format == format_name)
    ]


def first_available() -> BackendRecord:
    """The highest-priority available backend that writes files."""
    for record in BACKENDS:
        if record.available and record.format != "scratch":
            return record
    return BY_NAME["scratch"]


def select_backend(settings: object) -> type[Backend]:
    """Pick the backend class for `settings` (see the registry order)."""
    fmt = settings.format  # type: ignore[attr-defined]
    requested: str = fmt.backend
    if requested != "auto":
        record = BY_NAME.get(requested)
        if record is None:
            names = [r.name for r in available_backends()]
            raise ValueError(f"Unknown backend {requested!r}. Available: {names}")
        if record.format != fmt.name:
            raise ValueError(
                f"Backend {requested!r} writes {record.format!r}, not {fmt.name!r}."
            )
        if not record.available:
            raise ValueError(
                f"Requested backend {requested!r} is not available. "
                f"Install with: pip install ome-writers[{record.extra}]"
            )
        try:
            cls = record.load()
        except ImportError as e:
            raise ValueError(f"Could not import backend {requested!r}: {e}") from e
        reason = cls.check_settings(settings)  # type: ignore[arg-type]
        if reason:
            raise NotImplementedError(
                f"Backend {cls.__name__!r} ({requested}) does not support "
                f"settings: {reason}"
            )
        return cls

    attempted: dict[str, str] = {}
    for record in BACKENDS:
        if record.format != fmt.name:
            continue
        if not record.available:
            attempted[record.name] = (
                f"not installed (pip install ome-writers[{record.extra}])"
            )
            continue
        try:
            cls = record.load()
        except ImportError as e:
            attempted[record.name] = f"import failed: {e}"
            continue
        reason = cls.check_settings(settings)  # type: ignore[arg-type]
        if reason is None:
            return cls
        attempted[record.name] = reason
    raise ValueError(
        f"Could not find compatible backend for requested backend 'auto' and target "
        f"format {fmt.name!r}. Attempted: {list(attempted)}. Reasons: {attempted}"
    )
