"""Storage order and chunk grid: where each acquisition dimension goes on
disk, and in which blocks."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ome_writers._schema._dimension import Dimension

_NAME_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


def effective_type(dim: Dimension) -> str | None:
    """The dimension's type, or the type implied by a standard name (t/c/z/y/x)."""
    return dim.type or _NAME_TYPES.get(dim.name.lower())


def _zarr_key(dim: Dimension) -> tuple[int, int]:
    # NGFF axis order: time, then channel and custom axes, then space (z, y, x).
    kind = effective_type(dim)
    if kind == "time":
        return (0, 0)
    if kind == "channel":
        return (1, 0)
    if kind == "space":
        return (3, {"z": 0, "y": 1, "x": 2}.get(dim.name.lower(), -1))
    return (2, 0)


def resolve_storage_order(
    index_dims: tuple[Dimension, ...], order: str | list[str], format_name: str
) -> tuple[Dimension, ...]:
    """Index dimensions (non-frame, non-position) in storage order.

    `order` is the settings' ``storage_order``; `format_name` the output format.
    """
    if isinstance(order, list):
        by_name = {d.name: d for d in index_dims}
        return tuple(by_name[n] for n in order if n in by_name)
    if order == "acquisition":
        return index_dims
    if format_name == "ome-zarr":
        return tuple(sorted(index_dims, key=_zarr_key))
    # OME-TIFF accepts any order of Z, C and T (one other axis is stored as C),
    # so pages stay in acquisition order; scratch keeps it too
    return index_dims


def chunk_grid(
    dims: Sequence[Dimension],
) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """Chunk and shard shapes of arrays with `dims` (storage order)."""
    n_index = len(dims) - 2
    big = 2**62  # stands for the extent of an unbounded dimension
    counts = [d.count or big for d in dims]
    chunks = tuple(
        min(d.chunk_size or (n if i >= n_index else 1), n)
        for i, (d, n) in enumerate(zip(dims, counts, strict=True))
    )
    shards = None
    if any(d.shard_size_chunks for d in dims):
        # a shard holds whole chunks: cap it at the chunks covering the array
        shards = tuple(
            c * min(d.shard_size_chunks or 1, math.ceil(n / c))
            for c, d, n in zip(chunks, dims, counts, strict=True)
        )
    return chunks, shards
