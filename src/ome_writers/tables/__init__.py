"""Per-frame analysis tables written beside the frames, as Parquet parts.

Rows are written with `OMEStream.write_row` and read with
`OMEStream.read_table` or ``ome_writers.open(path).tables``. Needs pyarrow
(``pip install 'ome-writers[tables]'``), imported when a table is first used.
"""

from ome_writers.tables._read import Tables

__all__ = ["Tables"]
