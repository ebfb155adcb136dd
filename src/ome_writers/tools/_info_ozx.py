"""`ome-writers info` for a single-file OME-Zarr (``.ozx``, a ZIP archive).

The hierarchy inside is described as a directory is (`inspect_zarr`), from a
sparse copy of the archive's entries: every document whole, of a shard its
index, of any other chunk its name only, so an archive of any size costs its
documents and one read per shard. Then the archive itself is checked against
RFC-9 (`archive_findings`): what it MUST do are problems, what it SHOULD do
warnings.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from ome_writers.tools._info_object import sparse_copy
from ome_writers.tools._info_zarr import inspect_zarr
from ome_writers.tools._ozx import archive_findings
from ome_writers.tools._report import DatasetReport


def _safe(name: str) -> bool:
    """Whether an entry name stays inside the directory it is copied into."""
    parts = PurePosixPath(name).parts
    return (
        bool(parts)
        and not name.startswith("/")
        and "\\" not in name
        and ":" not in parts[0]
        and not any(p in ("..", ".") for p in parts)
    )


def _tail(archive: zipfile.ZipFile, name: str, n: int) -> bytes:
    with archive.open(name) as entry:
        size = archive.getinfo(name).file_size
        entry.seek(max(0, size - n))
        return entry.read(n)


def _root_version(archive: zipfile.ZipFile) -> str | None:
    try:
        doc = json.loads(archive.read("zarr.json"))
        version = doc["attributes"]["ome"]["version"]
    except (KeyError, TypeError, ValueError):
        return None
    return version if isinstance(version, str) else None


def inspect_ozx(path: Path) -> DatasetReport:
    """Describe and validate the OME-Zarr inside the ZIP archive at `path`."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        report = DatasetReport(path, "unknown")
        report.problems.append(f"not a readable ZIP archive: {e}")
        return report
    with archive, tempfile.TemporaryDirectory(prefix="ome-writers-info-") as tmp:
        names = [i.filename for i in archive.infolist() if not i.is_dir()]
        unsafe = [n for n in names if not _safe(n)]
        keys = [n for n in names if _safe(n)]
        local = Path(tmp, path.stem or "dataset")
        local.mkdir()
        try:
            sparse_copy(
                keys,
                local,
                archive.read,
                lambda key, n: _tail(archive, key, n),
            )
        except (OSError, zipfile.BadZipFile) as e:
            report = DatasetReport(path, "OME-Zarr")
            report.problems.append(f"the archive's entries cannot be read: {e}")
        else:
            report = inspect_zarr(local)
        version = _root_version(archive)
    report.path = path
    report.archive = "zip"
    report.problems += [f"an entry leaving the archive's root: {n}" for n in unsafe]
    problems, warnings = archive_findings(path, version)
    report.problems += problems
    report.warnings += warnings
    return report
