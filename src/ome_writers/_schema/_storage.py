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


#: frames smaller than this are grouped by default (`small_frame_layout`)
SMALL_FRAME_BYTES = 1024 * 1024
#: bytes of pixels a default group of small frames (shard or chunk) holds
GROUP_BYTES = 4 * 1024 * 1024
#: bytes of the groups of all arrays together: each array's group being
#: filled is held in memory
GROUPS_BYTES = 64 * 1024 * 1024
#: least bytes of pixels in a chunk of a default shard: one frame, so that a
#: shard index says which frames are stored (`info`, `repair`)
SHARD_CHUNK_BYTES = 1


def small_frame_layout(
    dims: Sequence[Dimension], itemsize: int, zarr_format: int, arrays: int = 1
) -> tuple[Dimension, ...]:
    """`dims` (storage order) with the default layout of small frames.

    When no dimension chooses chunks or shards and a frame holds fewer than
    `SMALL_FRAME_BYTES`, stored objects group frames so that each holds about
    `GROUP_BYTES` (less when the `arrays` of a dataset would hold more than
    `GROUPS_BYTES` being filled): along the index dimensions from the
    innermost outward, an unbounded one last. Zarr v3 groups chunks of one
    frame (a few when tiny, `SHARD_CHUNK_BYTES`) into shards; Zarr v2, which
    has no shards, chunks of several frames. Otherwise `dims` are returned as
    they are.
    """
    dims = tuple(dims)
    n_index = len(dims) - 2
    if n_index < 1 or any(d.chunk_size or d.shard_size_chunks for d in dims):
        return dims
    frame = itemsize * math.prod(int(d.count or 0) for d in dims[-2:])
    if not 0 < frame < SMALL_FRAME_BYTES:
        return dims
    group = min(GROUP_BYTES, GROUPS_BYTES // max(1, arrays))
    counts = [d.count for d in dims[:n_index]]
    if zarr_format == 2:
        return _with(dims, _group(counts, group // frame), None)
    chunks = _group(counts, min(SHARD_CHUNK_BYTES, group) // frame)
    per_chunk = math.prod(chunks)
    in_chunks = [
        None if n is None else math.ceil(n / c)
        for n, c in zip(counts, chunks, strict=True)
    ]
    shards = _group(in_chunks, group // (frame * per_chunk))
    return _with(dims, chunks, shards)


def _group(counts: Sequence[int | None], budget: int) -> list[int]:
    """Sizes along `counts` (None: unbounded) holding at most `budget` cells:
    whole dimensions from the innermost outward, an unbounded one last; a
    dimension that does not fit whole takes a power of two."""
    sizes = [1] * len(counts)
    bounded = [i for i, n in enumerate(counts) if n is not None]
    unbounded = [i for i, n in enumerate(counts) if n is None]
    for i in [*reversed(bounded), *unbounded]:
        if budget < 2:
            break
        n = counts[i]
        sizes[i] = n if n is not None and n <= budget else 1 << budget.bit_length() - 1
        budget //= sizes[i]
    return sizes


def _with(
    dims: tuple[Dimension, ...], chunks: Sequence[int], shards: Sequence[int] | None
) -> tuple[Dimension, ...]:
    out = [
        d.model_copy(
            update={
                "chunk_size": c if c > 1 else None,
                "shard_size_chunks": None if not shards or shards[i] < 2 else shards[i],
            }
        )
        for i, (d, c) in enumerate(zip(dims, chunks, strict=False))
    ]
    return (*out, *dims[len(chunks) :])
