"""pyarrow, imported when a table is first used."""

from __future__ import annotations

from typing import Any


def pyarrow() -> Any:
    """The pyarrow module; ImportError naming the extra when it is missing."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as e:
        raise ImportError(
            "Tables are written and read with pyarrow: pip install "
            "'ome-writers[tables]'"
        ) from e
    return pyarrow


def parquet() -> Any:
    """The pyarrow.parquet module (see `pyarrow`)."""
    return pyarrow().parquet
