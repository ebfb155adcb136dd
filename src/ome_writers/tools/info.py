"""Describe and validate a dataset on disk with independent readers.

`inspect_dataset` returns a `DatasetReport`: per image its shape, channels,
scales, stage position, the frames acquired of those declared, the per-frame
metadata keys, chunking and compression; the plate layout and the files of an
OME-TIFF set; and every problem a reader reported. ``ome-writers info``
prints `DatasetReport.lines()`, or `DatasetReport.to_dict()` with ``--json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ome_writers._io._paths import written_path
from ome_writers._schema._object_storage import url_scheme
from ome_writers.reading._zip import is_zip_archive
from ome_writers.tools._ozx import is_ozx_name
from ome_writers.tools._report import (
    DatasetReport,
    Frames,
    ImageInfo,
    PlateInfo,
    Quantity,
    Storage,
    TableInfo,
)

if TYPE_CHECKING:
    from ome_writers._io._object_store import ObjectPath

__all__ = [
    "DatasetReport",
    "Frames",
    "ImageInfo",
    "PlateInfo",
    "Quantity",
    "Storage",
    "TableInfo",
    "inspect_dataset",
]


def inspect_dataset(path: str | Path) -> DatasetReport:
    """Open a dataset with independent readers and describe what it holds.

    Parameters
    ----------
    path : str | Path
        An OME-Zarr directory or ``s3://`` prefix, a single-file OME-Zarr
        (a ZIP archive, ``.ozx``, also checked against RFC-9), an OME-TIFF
        file, a directory of OME-TIFF files (a multi-file set), or a scratch
        directory. An OME-TIFF path that was given as the output of several
        positions (``run.ome.tiff``) is looked up as the directory they were
        written to (``run/``).

    Returns
    -------
    DatasetReport
        What the dataset holds (its per-frame tables too); ``report.valid``
        is False when a reader reported a problem (listed in
        ``report.problems``).
    """
    report = _inspect(path)
    _add_tables(report)
    _add_size(report)
    return report


def _add_size(report: DatasetReport) -> None:
    """The bytes and files a local dataset takes (for one being written: and
    what it will take once every declared frame is acquired, at its rate)."""
    path = report.path
    if not isinstance(path, Path) or report.kind in ("unreadable", "unknown"):
        return
    if path.is_file():
        names = [path, *(path.parent / f for f in report.files if f != path.name)]
        sizes = [p.stat().st_size for p in names if p.is_file()]
    elif path.is_dir():
        sizes = [
            os.path.getsize(os.path.join(folder, name))
            for folder, _, files in os.walk(path)
            for name in files
        ]
    else:
        return
    report.size = (sum(sizes), len(sizes))


def _add_tables(report: DatasetReport) -> None:
    """List the tables written beside the dataset, if any."""
    root = _tables_root(report)
    if root is None or not root.exists():
        return
    try:
        from ome_writers.tables import Tables

        tables = Tables(root)
        for name in tables.names:
            report.tables.append(
                TableInfo(name, tables.rows(name), tables.columns(name))
            )
    except ImportError as e:
        report.warnings.append(f"tables in {root} not read: {e}")
    except Exception as e:
        report.problems.append(f"tables in {root}: {e}")


def _tables_root(report: DatasetReport) -> Path | ObjectPath | None:
    from ome_writers.reading._tiff_files import find_tiff
    from ome_writers.tables._read import tiff_tables_dir

    path = report.path
    if isinstance(path, str) or report.archive is not None:
        return None
    if report.kind in ("OME-Zarr", "scratch"):
        return path / "tables"
    if report.kind == "OME-TIFF" and isinstance(path, Path):
        try:
            return tiff_tables_dir(find_tiff(path))
        except FileNotFoundError:
            return None
    return None


def _inspect(path: str | Path) -> DatasetReport:
    from ome_writers.tools._info_tiff import inspect_tiff, is_companion
    from ome_writers.tools._info_zarr import inspect_zarr

    if isinstance(path, str) and url_scheme(path) is not None:
        from ome_writers.tools._info_object import inspect_object_dataset

        return inspect_object_dataset(path)
    path = written_path(Path(path))
    if not path.exists():
        report = DatasetReport(path, "unreadable")
        report.problems.append("does not exist")
        return report
    if (path / "zarr.json").is_file() or (path / ".zgroup").is_file():
        return inspect_zarr(path)
    if path.is_file() and (is_zip_archive(path) or is_ozx_name(path)):
        from ome_writers.tools._info_ozx import inspect_ozx

        return inspect_ozx(path)
    if (path / "manifest.json").is_file():
        return _inspect_scratch(path)
    if path.is_file() and (
        path.suffix.lower() in (".tif", ".tiff") or is_companion(path)
    ):
        return inspect_tiff(path)
    if path.is_dir() and any(
        p.suffix.lower() in (".tif", ".tiff") for p in path.iterdir()
    ):
        return inspect_tiff(path)
    report = DatasetReport(path, "unknown")
    report.problems.append("not an OME-Zarr, OME-TIFF or scratch dataset")
    return report


def _inspect_scratch(path: Path) -> DatasetReport:
    report = DatasetReport(path, "scratch")
    manifest = json.loads((path / "manifest.json").read_text())
    axes = tuple(manifest.get("storage_dimensions", []))
    for i, shape in enumerate(manifest.get("position_shapes", [])):
        data = path / f"pos_{i}.dat"
        if not data.is_file():
            report.problems.append(f"missing {data.name}")
        image = ImageInfo(
            name=str(i),
            path=data.name,
            shape=tuple(shape),
            dtype=str(manifest["dtype"]),
            axes=axes,
        )
        report.add_image(image)
    return report
