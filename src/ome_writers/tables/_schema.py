"""A table's columns: names, the type each value is stored as, the key columns."""

from __future__ import annotations

import re
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ome_writers._router import FrameRouter
    from ome_writers._schema import AcquisitionSettings

_NAME = re.compile(r"[A-Za-z0-9_-]+")

#: the type names a column can have (pyarrow's, made in `arrow_type`)
INT, FLOAT, BOOL, STRING, FLOATS = "int64", "float64", "bool", "string", "list<float64>"


def check_table_name(name: object) -> str:
    """`name`, when it is a safe directory name; else ValueError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"Table name {name!r} is not allowed: use letters, digits, '_' and '-' only"
        )
    return name


def kind_of(value: Any) -> str | None:
    """The column type a value is stored as (None: no value); else TypeError."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return BOOL
    if isinstance(value, Integral):
        return INT
    if isinstance(value, Real):
        return FLOAT
    if isinstance(value, str):
        return STRING
    if isinstance(value, (list, tuple, np.ndarray)):
        items = np.asarray(value)
        if items.ndim == 1 and (items.size == 0 or items.dtype.kind in "iuf"):
            return FLOATS
    raise TypeError(
        f"{type(value).__name__} values cannot be stored (int, float, bool, str, "
        "None or a list of numbers)"
    )


def stored_value(kind: str, value: Any) -> Any:
    """`value` as the column of `kind` stores it (a Python object)."""
    if value is None:
        return None
    if kind == FLOATS:
        return [float(v) for v in np.asarray(value, dtype=np.float64)]
    if kind == FLOAT:
        return float(value)
    if kind == INT:
        return int(value)
    if kind == BOOL:
        return bool(value)
    return value


def accepts(kind: str, value_kind: str | None) -> bool:
    """Whether a column of `kind` holds a value of `value_kind`."""
    return (
        value_kind is None
        or value_kind == kind
        or (kind, value_kind)
        == (
            FLOAT,
            INT,
        )
    )


def arrow_type(kind: str) -> Any:
    from ome_writers.tables._arrow import pyarrow

    pa = pyarrow()
    types = {
        INT: pa.int64(),
        FLOAT: pa.float64(),
        BOOL: pa.bool_(),
        STRING: pa.string(),
        FLOATS: pa.list_(pa.float64()),
    }
    return types[kind]


class FrameKeys:
    """The key columns of a frame's rows: its number, its position (image)
    index and its index along every other non-frame dimension, by name."""

    def __init__(self, settings: AcquisitionSettings, router: FrameRouter) -> None:
        names = [d.name for d in settings.dimensions[:-2]]
        keyed = [d.name for d in settings.index_dimensions]
        self._take = [names.index(name) for name in keyed]
        self.names: tuple[str, ...] = ("frame", "position", *keyed)
        self._router = router

    def __call__(self, n: int) -> tuple[int, ...]:
        index = self._router.acquisition_index(n)
        position = self._router.route(n)[0]
        return (n, position, *(int(index[i]) for i in self._take))


def row_kinds(row: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, str]:
    """The column types a table's first row fixes (ValueError: a bad row)."""
    clash = [name for name in row if name in keys]
    if clash:
        raise ValueError(
            f"Column name(s) {clash} are key columns, written for every row "
            f"({', '.join(keys)}): choose other names"
        )
    kinds: dict[str, str] = {}
    for name, value in row.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"Column names must be non-empty strings, got {name!r}")
        try:
            kind = kind_of(value)
        except TypeError as e:
            raise ValueError(f"Column {name!r}: {e}") from None
        if kind is None:
            raise ValueError(
                f"Column {name!r} is None in the table's first row: its type is "
                "fixed by the first row, give it a value there"
            )
        kinds[name] = kind
    return kinds


def check_row(row: Mapping[str, Any], kinds: Mapping[str, str]) -> None:
    """ValueError unless `row` has exactly the columns `kinds` fixed, each
    of a type its column holds."""
    missing = [name for name in kinds if name not in row]
    extra = [name for name in row if name not in kinds]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unknown {extra}")
        raise ValueError(
            f"Row does not match the table's columns ({'; '.join(parts)}); the "
            f"first row fixed them: {list(kinds)}"
        )
    for name, kind in kinds.items():
        try:
            value_kind = kind_of(row[name])
        except TypeError as e:
            raise ValueError(f"Column {name!r}: {e}") from None
        if not accepts(kind, value_kind):
            raise ValueError(
                f"Column {name!r} holds {kind} values (fixed by the first row), "
                f"got {type(row[name]).__name__} {row[name]!r}"
            )
