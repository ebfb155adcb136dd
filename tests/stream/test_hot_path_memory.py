"""Allocation proofs for every backend (tracemalloc, not timings).

tracemalloc sees numpy and Python allocations; copies made inside C++ or Rust
libraries (tensorstore, acquire-zarr, zarrs) are invisible to it, which is the
point: these tests prove that *our* layer adds no frame-sized copy.
"""

from __future__ import annotations

import tracemalloc
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._registry import BY_NAME
from tests.backends.params import backend_params, root_for
from tests.backends.zarr.internals import library_writer

FRAME = (512, 512)  # 512 KiB per uint16 frame
FRAME_BYTES = FRAME[0] * FRAME[1] * 2
# zarr-python encodes each chunk into new Python bytes objects on our writer
# threads; those writes are run outside the measured window (see below)
LIBRARY_ENCODES_IN_PYTHON = {"zarr-python"}


class _DeferredExecutor:
    """Runs submitted writes only when asked, outside the measured window."""

    def __init__(self) -> None:
        self._queued: list[tuple[Future[Any], Any, tuple[Any, ...]]] = []

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._queued.append((future, fn, args))
        return future

    def run_all(self) -> None:
        for future, fn, args in self._queued:
            future.set_result(fn(*args))
        self._queued.clear()

    def shutdown(self, wait: bool = True) -> None:
        self.run_all()


def _settings(
    tmp_path: Path, backend: str, dims: list[Dimension]
) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=root_for(tmp_path, backend, "a"),
        format=backend,
        dimensions=dims,
        dtype="uint16",
    )


def _append_peaks(settings: AcquisitionSettings, frames: list[np.ndarray]) -> list[int]:
    """Traced bytes newly allocated (peak above the start) during each append."""
    stream = create_stream(settings, checkpoint_seconds=None)
    deferred = None
    if stream._backend.name in LIBRARY_ENCODES_IN_PYTHON:
        # measure our layer alone: the library's encoding runs between appends
        library_writer(stream._backend)._executor.shutdown(wait=True)
        deferred = library_writer(stream._backend)._executor = _DeferredExecutor()
    for frame in frames[:4]:  # warm up: lazily created state, first chunk files
        stream.append(frame)
        if deferred is not None:
            deferred.run_all()
    tracemalloc.start()
    peaks = []
    try:
        for frame in frames[4:]:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            stream.append(frame)
            peaks.append(tracemalloc.get_traced_memory()[1] - before)
            if deferred is not None:
                deferred.run_all()
    finally:
        # close while tracing: stopping tracemalloc while tensorstore's threads
        # still release buffers crashes CPython 3.11
        stream.close()
        tracemalloc.stop()
    return peaks


@pytest.mark.parametrize("backend", backend_params())
def test_no_frame_sized_allocation_per_append(tmp_path: Path, backend: str) -> None:
    n = 40
    dims = [
        # one frame per chunk, stated: frames this small are grouped otherwise
        Dimension(name="t", count=n, chunk_size=1),
        Dimension(name="y", count=FRAME[0]),
        Dimension(name="x", count=FRAME[1]),
    ]
    frames = [np.full(FRAME, i, "uint16") for i in range(n)]
    peaks = _append_peaks(_settings(tmp_path, backend, dims), frames)
    # tracemalloc counts every thread: a library's own transient buffer on its
    # writer thread may fall inside one append's window, never a frame per append
    assert max(peaks) < 1.5 * FRAME_BYTES, f"peaks {sorted(peaks)[-3:]}"
    # chunk == frame: the caller's buffer is handed on as it is, or copied into
    # a buffer reserved when the stream was created
    typical = sorted(peaks)[len(peaks) // 2]
    assert typical < FRAME_BYTES // 16, f"median {typical}, peaks {peaks}"


@pytest.mark.parametrize(
    "backend", backend_params(names=("tensorstore", "zarrs-python"))
)
def test_chunks_spanning_frames_copy_each_frame_once(
    tmp_path: Path, backend: str
) -> None:
    """z chunk 16: each frame is copied once into its chunk buffer, no more."""
    shape = (128, 128)
    frame_bytes = shape[0] * shape[1] * 2
    dims = [
        Dimension(name="t", count=6),
        Dimension(name="z", count=16, chunk_size=16),
        Dimension(name="y", count=shape[0]),
        Dimension(name="x", count=shape[1]),
    ]
    frames = [np.full(shape, i, "uint16") for i in range(6 * 16)]
    peaks = _append_peaks(_settings(tmp_path, backend, dims), frames)
    # an append allocates one chunk buffer (16 frames) when it opens a chunk,
    # and otherwise nothing frame-sized: all new bytes together are one copy
    # of every frame, not two
    total = sum(peaks)
    appended = len(peaks) * frame_bytes
    assert total < 1.1 * appended + 64 * 1024, (total, appended)
    opening = [p for p in peaks if p >= frame_bytes]
    assert len(opening) <= 6, f"{len(opening)} appends allocated a frame or more"


@pytest.mark.skipif(not BY_NAME["tensorstore"].available, reason="needs tensorstore")
def test_small_frame_copies_are_recycled_within_a_bound(tmp_path: Path) -> None:
    """Small frames are copied into reserved buffers: never more than the bound."""
    from ome_writers.backends.zarr._tensorstore import (
        MAX_PENDING_WRITES,
        SMALL_FRAME_BYTES,
    )

    assert FRAME_BYTES <= SMALL_FRAME_BYTES
    n = 4 * MAX_PENDING_WRITES
    dims = [
        Dimension(name="t", count=n, chunk_size=1),  # not grouped into shards
        Dimension(name="y", count=FRAME[0]),
        Dimension(name="x", count=FRAME[1]),
    ]
    frame = np.ones(FRAME, "uint16")
    stream = create_stream(_settings(tmp_path, "tensorstore", dims))
    pending = library_writer(stream._backend)._pending
    most = 0
    for i in range(n):
        frame[0, 0] = i  # the caller reuses its buffer at once
        stream.append(frame)
        most = max(most, len(pending) + pending.pooled)
    stream.close()
    assert most <= MAX_PENDING_WRITES + 1
    zarr = pytest.importorskip("zarr")
    data = zarr.open_array(str(tmp_path / "a.ome.zarr" / "0"), mode="r")[:, 0, 0]
    assert data.tolist() == list(range(n))  # every frame as it was at its append


@pytest.mark.parametrize("backend", backend_params())
def test_create_stream_leaves_its_objects_out_of_the_young_generations(
    tmp_path: Path, backend: str
) -> None:
    """A collection of the young generations during an append costs in
    proportion to what they hold: what `create_stream` made is promoted
    before the first append, not collected with the first frames."""
    import gc

    dims = [
        Dimension(name="t", count=4),
        Dimension(name="y", count=FRAME[0]),
        Dimension(name="x", count=FRAME[1]),
    ]
    gc.collect()
    stream = create_stream(_settings(tmp_path, backend, dims))
    try:
        young = {id(o) for generation in (0, 1) for o in gc.get_objects(generation)}
        made = [stream, stream._backend, stream._backend.settings]
        assert all(gc.is_tracked(o) for o in made)
        assert not any(id(o) in young for o in made)
    finally:
        stream.close()
