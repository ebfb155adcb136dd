"""`open`: a dataset on disk or in a bucket, as a `DatasetView`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from ome_writers.reading._location import Location
from ome_writers.reading._view import make_view

if TYPE_CHECKING:
    import os

    from ome_writers._io._object_store import DatasetPath
    from ome_writers._schema._object_storage import S3Options
    from ome_writers.reading._source import Source
    from ome_writers.reading._view import DatasetView

#: how long `open(..., live=True)` waits for a dataset being created to be
#: described (its group documents follow its first array within moments)
DESCRIBED_WITHIN_SECONDS = 10.0


def open(
    path_or_url: str | os.PathLike[str],
    *,
    live: bool = False,
    level: int = 0,
    image: int | str | None = None,
    poll_interval: float = 0.25,
    s3: S3Options | None = None,
) -> DatasetView:
    """Open an OME-Zarr or OME-TIFF dataset for reading, also while it is written.

    Parameters
    ----------
    path_or_url : str or os.PathLike
        An OME-Zarr directory (``.ome.zarr``, or any Zarr group or array), a
        single-file OME-Zarr (a ZIP archive: ``.ozx``, read in place), a
        TIFF file, the path a multi-position OME-TIFF acquisition was written
        to (``x.ome.tiff``: its files ``x/x_p000.ome.tiff``, ...), or an
        ``s3://bucket/key`` URL of an OME-Zarr dataset.
    live : bool
        Follow a dataset that is being written: its progress is read every
        `poll_interval` seconds on a background thread, `shape` grows and
        `DatasetView.coords_changed` is emitted as frames arrive.
    level : int
        The resolution level to read (0: full resolution).
    image : int or str, optional
        Read one image of a collection, plate or file set (its index, or its
        path or name) instead of all of them along ``p`` (needed when they
        differ in shape).
    poll_interval : float
        Seconds between two reads of the progress when `live`.
    s3 : S3Options, optional
        How to reach the object store of an ``s3://`` URL (default: the
        standard AWS environment and configuration files).

    Returns
    -------
    DatasetView
        The dataset as an array, valid as far as its metadata states.

    Raises
    ------
    FileNotFoundError
        Nothing is there.
    ValueError
        It is neither OME-Zarr nor TIFF, or its metadata is malformed.
    """
    if poll_interval <= 0:
        raise ValueError(f"poll_interval must be positive, got {poll_interval}")
    location = Location.of(path_or_url, s3)
    deadline = time.monotonic() + DESCRIBED_WITHIN_SECONDS
    while True:
        try:
            source = _source(location, image)
            break
        except _not_described() as e:
            if not live or time.monotonic() > deadline:
                raise ValueError(str(e)) from e
            time.sleep(min(poll_interval, 0.05))
    tables = _tables_root(location, source)
    return make_view(
        source, live=live, level=level, poll_interval=poll_interval, tables=tables
    )


def _tables_root(location: Location, source: Source) -> DatasetPath | None:
    """Where a dataset's tables are: ``<root>/tables`` of an OME-Zarr
    directory or bucket prefix, ``<stem>.tables`` beside OME-TIFF files."""
    from ome_writers.reading._tiff_files import find_tiff
    from ome_writers.reading._zarr import ZarrSource
    from ome_writers.tables._read import tiff_tables_dir

    root = location.root
    if not isinstance(root, Path):
        return root / "tables"
    if isinstance(source, ZarrSource):
        # a single-file OME-Zarr (.ozx) holds no tables
        return None if root.is_file() else root / "tables"
    return tiff_tables_dir(find_tiff(root))


def _not_described() -> tuple[type[Exception], ...]:
    from ome_writers.reading._tiff_files import NotWrittenYet
    from ome_writers.reading._zarr import NotDescribedYet

    return NotDescribedYet, NotWrittenYet


def _source(location: Location, image: int | str | None) -> Source:
    from ome_writers.reading._zarr import ZarrSource, is_zarr

    root = location.root
    if isinstance(root, Path) and root.is_file():
        from ome_writers.reading._zip import ZipLocation, is_zip_archive

        if is_zip_archive(root) or root.suffix.lower() == ".ozx":
            zipped = ZipLocation(root)
            try:
                return ZarrSource(zipped, image)
            except BaseException:
                zipped.close()
                raise
        return _tiff_source(root, image)
    if is_zarr(location):
        return ZarrSource(location, image)
    if not isinstance(root, Path):
        raise FileNotFoundError(f"{root}: no Zarr dataset there")
    from ome_writers.reading._tiff_files import find_tiff, is_tiff_name

    if root.is_dir() and not any(is_tiff_name(p) for p in root.iterdir()):
        raise ValueError(f"{root}: neither an OME-Zarr dataset nor TIFF files")
    return _tiff_source(find_tiff(root), image)


def _tiff_source(path: Path, image: int | str | None) -> Source:
    from ome_writers.reading._tiff_follow import tiff_source

    return tiff_source(path, image)
