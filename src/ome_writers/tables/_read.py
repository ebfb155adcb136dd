"""Reading a table's part files (in a directory, or under a bucket prefix)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ome_writers.tables._arrow import parquet, pyarrow
from ome_writers.tables._schema import check_table_name

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ome_writers._io._object_store import DatasetPath

_TIFF_SUFFIXES = (".ome.tiff", ".ome.tif", ".tiff", ".tif")
PART = re.compile(r"part-\d{6,}\.parquet")


def part_name(number: int) -> str:
    """The name of a table's part `number` (lexical order is write order)."""
    return f"part-{number:06d}.parquet"


def part_paths(table_dir: DatasetPath) -> list[DatasetPath]:
    """A table's part files, in write order (none when it does not exist)."""
    if isinstance(table_dir, Path):
        try:
            names = [p.name for p in table_dir.iterdir()]
        except (FileNotFoundError, NotADirectoryError):
            return []
    else:
        names = [k for k in table_dir.iter_keys() if "/" not in k]
    return [table_dir / name for name in sorted(names) if PART.fullmatch(name)]


def read_part(path: DatasetPath) -> Any:
    """One part file as a `pyarrow.Table`."""
    if isinstance(path, Path):
        return parquet().read_table(path)
    return parquet().read_table(pyarrow().BufferReader(path.read_bytes()))


def part_metadata(path: DatasetPath) -> Any:
    """One part file's Parquet metadata (rows, schema), read from its footer."""
    if isinstance(path, Path):
        return parquet().ParquetFile(path).metadata
    reader = pyarrow().BufferReader(path.read_bytes())
    return parquet().ParquetFile(reader).metadata


def tiff_tables_dir(path: Path) -> Path:
    """The tables' folder of the OME-TIFF file `path`: ``<stem>.tables``
    beside it (a file set's: named after the set's folder)."""
    name = path.name
    suffix = next((s for s in _TIFF_SUFFIXES if name.lower().endswith(s)), "")
    stem = name[: len(name) - len(suffix)]
    for candidate in (stem, path.parent.name):  # one file; a file set's folder
        folder = path.parent / f"{candidate}.tables"
        if folder.is_dir():
            return folder
    return path.parent / f"{stem}.tables"


def concat(tables: list[Any]) -> Any:
    pa = pyarrow()
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables)


class Tables:
    """The tables written beside a dataset, by name (``view.tables``).

    Every access reads what is on disk now: while the dataset is written,
    rows appear as the writer adds part files.
    """

    def __init__(self, root: DatasetPath | None) -> None:
        self._root = root

    @property
    def names(self) -> list[str]:
        """The tables' names, sorted (those with at least one part file)."""
        root = self._root
        if root is None:
            return []
        if isinstance(root, Path):
            try:
                found = [p.name for p in root.iterdir() if p.is_dir()]
            except (FileNotFoundError, NotADirectoryError):
                return []
        else:
            found = list(
                {k.split("/", 1)[0] for k in root.iter_keys() if k.count("/") == 1}
            )
        return sorted(n for n in found if _valid(n) and part_paths(root / n))

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names

    def __getitem__(self, name: str) -> Any:
        return self.read(name)

    def read(self, name: str) -> Any:
        """Every row of table `name` written so far, as a `pyarrow.Table`.

        Raises
        ------
        KeyError
            No such table.
        """
        parts = self._parts(name)
        return concat([read_part(p) for p in parts])

    def rows(self, name: str) -> int:
        """How many rows table `name` holds (from the part files' footers)."""
        return sum(part_metadata(p).num_rows for p in self._parts(name))

    def columns(self, name: str) -> list[str]:
        """The column names of table `name`, key columns first."""
        return list(part_metadata(self._parts(name)[0]).schema.to_arrow_schema().names)

    def _parts(self, name: str) -> list[DatasetPath]:
        check_table_name(name)
        parts = [] if self._root is None else part_paths(self._root / name)
        if not parts:
            raise KeyError(f"No table {name!r} (tables: {self.names})")
        return parts

    def __repr__(self) -> str:
        return f"<Tables {self.names}>"


def _valid(name: str) -> bool:
    try:
        check_table_name(name)
    except ValueError:
        return False
    return True
