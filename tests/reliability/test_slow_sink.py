"""tensorstore behind a slow disk: append waits, in-flight bytes stay bounded."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from ome_writers import create_stream
from ome_writers.backends.zarr import _tensorstore
from tests.backends.zarr.internals import library_writer
from tests.conftest import time_series_settings

pytest.importorskip("tensorstore")
SHAPE = (64, 64)  # 8 KiB frames
# two chunks per frame: written through tensorstore (frame-sized raw chunks
# are written by `_chunk_files`, whose backpressure its own tests cover)
Y_CHUNK = SHAPE[0] // 2
FRAME_BYTES = SHAPE[0] * SHAPE[1] * 2


class _SlowArray:
    """Stands in for a tensorstore array whose commits take 2 ms each.

    `hold` (optional): commits start only once it returns True (polled), so
    the caller is ahead of the sink however loaded the machine is.
    """

    def __init__(self, shape: tuple[int, ...], hold: Any = None) -> None:
        self.shape = shape  # of the array it stands in for
        self._hold = hold
        self.committed: list[int] = []
        self._jobs: list[tuple[Future[None], int]] = []
        self._lock = threading.Condition()
        self._worker = threading.Thread(target=self._run, daemon=True)
        self._worker.start()

    def __getitem__(self, index: Any) -> Any:
        array = self

        class _Target:
            def write(self, data: np.ndarray, **kwargs: Any) -> Any:
                copied: Future[None] = Future()
                copied.set_result(None)
                commit: Future[None] = Future()
                with array._lock:
                    array._jobs.append((commit, int(data[0, 0])))
                    array._lock.notify()
                return SimpleNamespace(copy=copied, commit=commit)

        return _Target()

    def _run(self) -> None:
        deadline = time.monotonic() + 60
        while self._hold is not None and not self._hold():
            if time.monotonic() > deadline:
                break
            time.sleep(0.001)
        while True:
            with self._lock:
                while not self._jobs:
                    self._lock.wait()
                commit, value = self._jobs.pop(0)
            time.sleep(0.002)  # the disk is far slower than the caller
            self.committed.append(value)
            commit.set_result(None)


def test_pending_writes_stay_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_tensorstore, "MAX_PENDING_BYTES", 4 * FRAME_BYTES)
    n = 100
    settings = time_series_settings(
        tmp_path / "slow.ome.zarr", SHAPE, n, y_chunk=Y_CHUNK, format="tensorstore"
    )
    stream = create_stream(settings, checkpoint_seconds=None)
    backend = library_writer(stream._backend)
    backend._bulk_threads = backend.threads  # keep the stand-in array in place
    slow = _SlowArray(backend._arrays[0].shape)
    backend._arrays[0] = slow
    most_bytes = most_items = 0
    for i in range(n):
        stream.append(np.full(SHAPE, i, "uint16"))
        most_bytes = max(most_bytes, backend._pending.nbytes)
        most_items = max(most_items, len(backend._pending))
    # the caller outpaces the sink 100:1, yet never more than the bound is queued
    assert most_bytes <= 4 * FRAME_BYTES
    assert most_items <= 4
    assert len(slow.committed) >= n - 4  # append waited for the sink
    backend.drain()
    assert slow.committed == list(range(n))  # nothing dropped, in order
    stream.close()


def test_small_frames_get_more_threads_once_appends_wait(tmp_path: Path) -> None:
    n = _tensorstore.MAX_PENDING_WRITES + 2
    settings = time_series_settings(
        tmp_path / "switch.ome.zarr", SHAPE, n, y_chunk=Y_CHUNK, format="tensorstore"
    )
    stream = create_stream(settings, checkpoint_seconds=None)
    backend = library_writer(stream._backend)
    start, bulk = backend.threads, backend._bulk_threads
    assert start != bulk
    # nothing commits until an append had to wait (the sink is slower than
    # the caller, whatever the machine's load)
    slow = _SlowArray(
        backend._arrays[0].shape, hold=lambda: backend._pending.stalls > 0
    )
    backend._arrays[0] = slow
    for i in range(n):
        stream.append(np.full(SHAPE, i, "uint16"))
    assert backend._pending.stalls > 0
    assert backend.threads == bulk
    assert backend._arrays[0] is not slow  # reopened on tensorstore with more threads
    stream.close()
