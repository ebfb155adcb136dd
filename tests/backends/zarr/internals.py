"""Reaching the library writer inside an OME-Zarr dataset, for white-box tests."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ome_writers.backends.zarr import _chunk_file_writer as _chunk_files
from ome_writers.backends.zarr._chunk_file_writer import ChunkFileWriter

if TYPE_CHECKING:
    import pytest


def library_writer(backend: Any) -> Any:
    """The library's writer of a Zarr dataset's level-0 arrays (the one below
    chunk files of ours, where frames go to those)."""
    writer = backend.arrays.writer
    return writer.inner if isinstance(writer, ChunkFileWriter) else writer


def blocked_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[threading.Event, list[str]]:
    """Every chunk file `ChunkFiles` writes waits for the returned event; the
    list holds the paths of the writes that began."""
    go = threading.Event()
    began: list[str] = []
    write = _chunk_files.write_file

    def blocked(path: str, *parts: memoryview) -> None:
        began.append(path)
        go.wait()
        write(path, *parts)

    monkeypatch.setattr(_chunk_files, "write_file", blocked)
    return go, began
