"""`TableWriter`: one table's rows, buffered and written as Parquet parts.

Rows are buffered column by column. A loss-window visit, a checkpoint or
close moves the buffered rows into one new part file, written to a
temporary name in the table's directory and renamed into place, so a reader
listing ``part-*.parquet`` never sees a torn file. In a bucket, each part
is one PUT. In memory (scratch without a root path), parts are kept as
`pyarrow.Table` objects.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ome_writers.tables._arrow import parquet, pyarrow
from ome_writers.tables._read import concat, part_name, read_part
from ome_writers.tables._schema import (
    INT,
    FrameKeys,
    arrow_type,
    check_row,
    check_table_name,
    row_kinds,
    stored_value,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ome_writers._io._object_store import DatasetPath
    from ome_writers._router import FrameRouter
    from ome_writers._schema import AcquisitionSettings

_TIFF_SUFFIX = re.compile(r"\.ome\.tiff?$|\.tiff?$", re.IGNORECASE)
_STALE = re.compile(r"part-\d{6,}\.parquet|\.part-\d{6,}\.partial")

Columns = dict[str, list[Any]]


class _Companions(Protocol):
    """The stream's companions, by key."""

    def get(self, key: str) -> object | None: ...

    def add(self, key: str, companion: TableWriter) -> None: ...


def tables_root(
    settings: AcquisitionSettings, paths: tuple[str, ...]
) -> DatasetPath | None:
    """Where a stream's tables go (None: kept in memory).

    OME-Zarr: ``<root>/tables``; OME-TIFF: ``<stem>.tables`` beside the
    file(s); scratch: ``<root>/tables``, or in memory without a root path.
    """
    from ome_writers._io._paths import resolve_output, resolve_root

    fmt = settings.format.name
    if fmt == "ome-zarr":
        return resolve_root(settings.output_path, settings.s3) / "tables"
    if not paths:
        return None
    if fmt == "ome-tiff":
        folder = Path(paths[0]).parent
        stem = _TIFF_SUFFIX.sub("", resolve_output(settings.output_path).name)
        return folder / f"{stem}.tables"
    return Path(paths[0]) / "tables"


def remove_earlier_tables(
    settings: AcquisitionSettings, paths: tuple[str, ...]
) -> None:
    """Remove the tables an earlier run of an OME-TIFF left beside its files.

    Called when the run replaces that earlier one (``overwrite=True``): a table
    it does not write again would otherwise be read as this run's. An
    OME-Zarr's tables go with the dataset they are in.
    """
    if settings.format.name != "ome-tiff" or not settings.overwrite:
        return
    root = tables_root(settings, paths)
    if isinstance(root, Path) and root.is_dir():
        shutil.rmtree(root)


def write_row(
    settings: AcquisitionSettings,
    paths: tuple[str, ...],
    companions: _Companions,
    router: FrameRouter,
    name: str,
    row: Mapping[str, Any],
    frame: int,
) -> None:
    """Buffer `row` of `frame` in table `name` of the stream writing
    `settings` to `paths` (under the stream's lock). A table is registered
    with its first row, once that row is accepted."""
    key = f"table:{check_table_name(name)}"
    found = companions.get(key)
    if found is not None:
        assert isinstance(found, TableWriter)
        found.add(row, frame)
        return
    pyarrow()  # the missing extra is reported at the first row
    root = tables_root(settings, paths)
    store = _PartStore(None if root is None else root / name)
    writer = TableWriter(name, FrameKeys(settings, router), store)
    writer.add(row, frame)
    companions.add(key, writer)


class _PartStore:
    """Where a table's parts go: a directory, a bucket prefix, or memory."""

    def __init__(self, folder: DatasetPath | None) -> None:
        self.folder = folder
        self._unsynced: list[Path] = []
        self._made = False

    def write(self, number: int, table: Any) -> Any:
        """Write part `number`; what `read` takes to read it back."""
        folder = self.folder
        if folder is None:
            return table
        name = part_name(number)
        if not isinstance(folder, Path):  # one PUT: all of it or nothing
            sink = pyarrow().BufferOutputStream()
            parquet().write_table(table, sink)
            target = folder / name
            target.write_bytes(sink.getvalue().to_pybytes())
            return target
        if not self._made:
            folder.mkdir(parents=True, exist_ok=True)
            _remove_stale(folder)  # parts of an earlier run this one replaced
            self._made = True
            self._unsynced.extend([folder.parent, folder])
        temporary = folder / f".part-{number:06d}.partial"
        parquet().write_table(table, temporary)
        final = folder / name
        os.replace(temporary, final)
        self._unsynced.append(final)
        return final

    def read(self, ref: Any) -> Any:
        return ref if self.folder is None else read_part(ref)

    def sync(self) -> None:
        """fsync the parts written since the last call, and the directory."""
        if not self._unsynced or not isinstance(self.folder, Path):
            return
        for path in [*self._unsynced, self.folder]:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._unsynced.clear()


def _remove_stale(folder: Path) -> None:
    for path in folder.iterdir():
        if _STALE.fullmatch(path.name):
            path.unlink()


class TableWriter:
    """One table of a stream (a `Companion`): rows keyed by frame."""

    def __init__(self, name: str, keys: FrameKeys, store: _PartStore) -> None:
        self.name = name
        self._keys = keys
        self._store = store
        self._kinds: dict[str, str] | None = None  # the user's columns
        self._columns: Columns = {}
        self._rows = 0
        self._buffered = 0
        self._next_part = 0
        self._pending: list[tuple[int, Columns]] = []
        self._written: list[Any] = []
        self._state = threading.Lock()  # columns, pending and written parts
        self._io = threading.Lock()  # one writer of parts at a time

    # -------------------------------------------------------------- rows

    def add(self, row: Mapping[str, Any], frame: int) -> None:
        """Buffer one row of `frame` (ValueError: nothing of it is kept)."""
        kinds = self._kinds
        if kinds is None:
            kinds = row_kinds(row, self._keys.names)
        else:
            check_row(row, kinds)
        values = [stored_value(kind, row[name]) for name, kind in kinds.items()]
        keys = self._keys(frame)
        with self._state:
            if self._kinds is None:
                self._kinds = kinds
            if not self._columns:
                self._columns = {name: [] for name in self._names()}
            for column, value in zip(
                self._columns.values(), (*keys, *values), strict=True
            ):
                column.append(value)
            self._buffered += 1
            self._rows += 1

    def read(self) -> Any:
        """Every row so far (written parts, then buffered ones)."""
        with self._state:
            written = list(self._written)
            pending = [columns for _, columns in self._pending]
            if self._buffered:
                pending.append({k: list(v) for k, v in self._columns.items()})
        tables = [self._store.read(ref) for ref in written]
        tables += [self._arrow(columns) for columns in pending]
        if not tables:
            return self._arrow({name: [] for name in self._names()})
        return concat(tables)

    def _names(self) -> list[str]:
        return [*self._keys.names, *(self._kinds or {})]

    def _arrow(self, columns: Columns) -> Any:
        pa = pyarrow()
        kinds = dict.fromkeys(self._keys.names, INT) | (self._kinds or {})
        fields = [pa.field(n, arrow_type(k), nullable=True) for n, k in kinds.items()]
        schema = pa.schema(fields)
        return pa.table([columns[n] for n in kinds], schema=schema)

    # ---------------------------------------------------------- companion

    @property
    def version(self) -> int:
        return self._rows

    def start_readable(self) -> Callable[[], None] | None:
        if not self._take() and not self._pending:
            return None
        return self._drain

    def checkpoint(self) -> None:
        self._take()
        self._drain()
        self._store.sync()

    def finalize(self) -> None:
        self.checkpoint()

    def _take(self) -> bool:
        """Move the buffered rows into the next part to write."""
        with self._state:
            if not self._buffered:
                return False
            self._pending.append((self._next_part, self._columns))
            self._next_part += 1
            self._columns = {}
            self._buffered = 0
            return True

    def _drain(self) -> None:
        """Write every part taken so far, in order."""
        with self._io:
            while True:
                with self._state:
                    if not self._pending:
                        return
                    number, columns = self._pending[0]
                ref = self._store.write(number, self._arrow(columns))
                with self._state:
                    self._pending.pop(0)
                    self._written.append(ref)
