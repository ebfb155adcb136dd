"""Which local arrays have their files written by threads of ours.

A local array whose chunks are each one frame, raw or compressed as
`frame_encoder` can (`ChunkFileWriter`), or whose shards are raw one-frame
chunks (`ShardFileWriter`), is written by threads of ours whatever the
backend: the bytes are the same whichever library would write them, and ours
write them at the disk's rate (direct I/O, few syscalls, no per-chunk work in
Python objects) and compress on every core. The library's writer still
makes, resizes, declares and reads the arrays, and writes every other layout
(compressed shards, tiled, remote).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ome_writers.backends.zarr._chunk_file_writer import (
    ChunkFileWriter,
    frame_chunk_files,
)
from ome_writers.backends.zarr._shard_file_writer import ShardFileWriter, shard_files

if TYPE_CHECKING:
    from collections.abc import Callable

    from ome_writers.backends.zarr._array_writer import ArrayGrid, ArrayWriter


class LibraryWriter(Protocol):
    """A library's `ArrayWriter` for `grid`; without frame buffers of its own
    when another writer writes the frames (`writes_frames` False)."""

    def __call__(
        self,
        grid: ArrayGrid,
        explain: Callable[[BaseException], BaseException],
        *,
        writes_frames: bool = True,
    ) -> ArrayWriter: ...


def with_own_files(
    library: LibraryWriter,
    grid: ArrayGrid,
    explain: Callable[[BaseException], BaseException],
) -> ArrayWriter:
    """The writer of `grid`'s arrays: threads of ours in front of `library`'s
    writer where the layout is one of theirs, else `library`'s alone."""
    local = isinstance(grid.root, Path)
    if shard_files(
        local=local,
        zarr_format=grid.zarr_format,
        compression=grid.compression,
        chunks=grid.chunks,
        shards=grid.shards,
        frame_shape=grid.frame_shape,
        dtype=grid.dtype,
    ):
        inner = library(grid, explain, writes_frames=False)
        return ShardFileWriter(inner, grid, explain)
    if frame_chunk_files(
        local=local,
        compression=grid.compression,
        sharded=grid.shards is not None,
        chunks=grid.chunks,
        frame_shape=grid.frame_shape,
        dtype=grid.dtype,
    ):
        inner = library(grid, explain, writes_frames=False)
        return ChunkFileWriter(inner, grid, explain)
    return library(grid, explain)
