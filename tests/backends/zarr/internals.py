"""Reaching the library writer inside an OME-Zarr dataset, for white-box tests."""

from __future__ import annotations

from typing import Any

from ome_writers.backends.zarr._chunk_file_writer import ChunkFileWriter


def library_writer(backend: Any) -> Any:
    """The library's writer of a Zarr dataset's level-0 arrays (the one below
    chunk files of ours, where frames go to those)."""
    writer = backend.arrays.writer
    return writer.inner if isinstance(writer, ChunkFileWriter) else writer
