"""Backend parameters for tests, derived from the registry records.

Every registered backend matching the requested format and capability flags
becomes a parameter; one whose libraries are missing is skipped, never left
out, so a run shows what it did not test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from ome_writers._registry import BACKENDS, BY_NAME

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

SUFFIXES = {"ome-zarr": ".ome.zarr", "ome-tiff": ".ome.tiff", "scratch": ""}


def backend_params(
    *,
    format: str | None = None,
    names: Iterable[str] | None = None,
    **capabilities: bool,
) -> list[Any]:
    """``pytest.param(name)`` for every backend of `format` with `capabilities`.

    `capabilities` are `BackendRecord` flags and their required values, e.g.
    ``backend_params(format="ome-zarr", writes_in_background=True)``. `names`
    keeps only those backends (for tests about particular libraries).
    """
    wanted = None if names is None else set(names)
    if wanted is not None and (unknown := wanted - set(BY_NAME)):
        raise ValueError(f"unknown backends: {sorted(unknown)}")
    out = []
    for record in BACKENDS:
        if format is not None and record.format != format:
            continue
        if wanted is not None and record.name not in wanted:
            continue
        if any(getattr(record, k) != v for k, v in capabilities.items()):
            continue
        out.append(
            pytest.param(
                record.name,
                id=record.name,
                marks=pytest.mark.skipif(
                    not record.available,
                    reason=f"{record.name} not installed "
                    f"(pip install ome-writers[{record.extra}])",
                ),
            )
        )
    if not out:
        raise ValueError(f"no backend has format={format!r} and {capabilities}")
    return out


def suffix(backend: str) -> str:
    """The output suffix of `backend`'s format ("" for scratch)."""
    return SUFFIXES[BY_NAME[backend].format]


def root_for(tmp_path: Path, backend: str, stem: str = "data") -> str:
    """A root path for `backend` in `tmp_path` ("" for a format without files)."""
    record = BY_NAME[backend]
    return str(tmp_path / f"{stem}{suffix(backend)}") if record.writes_files else ""
