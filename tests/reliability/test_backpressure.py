"""A slow sink makes append wait; memory stays bounded (no growing queue)."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ome_writers import create_stream
from tests.conftest import time_series_settings

SHAPE = (256, 256)  # 128 KiB frames


def test_slow_tiff_sink_blocks_append_and_bounds_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ome_writers.backends.tiff import _writer as _tifffile

    monkeypatch.setattr(_tifffile, "POOL_FRAMES", 16)  # a pool n frames outgrow
    n = 60
    settings = time_series_settings(tmp_path / "slow.ome.tiff", SHAPE, n)
    stream = create_stream(settings, checkpoint_seconds=None)
    backend = stream._backend
    write_page = backend.pages.write_page

    def slow(*args: Any) -> None:
        time.sleep(0.01)  # a disk ten times slower than the caller
        write_page(*args)

    backend.pages.write_page = slow
    pool_bytes = backend.pool.nbytes
    frames = [np.full(SHAPE, i, "uint16") for i in range(n)]
    pool = len(backend.pool)
    # the stream imports the OME-XML models on a thread of its own; traced
    # meanwhile, that import's allocations would count as the appends'
    import ome_writers.backends.tiff._ome_models  # noqa: F401

    lag = []
    tracemalloc.start()
    for i, frame in enumerate(frames):
        stream.append(frame)  # must wait for free buffers, never queue copies
        lag.append(i + 1 - backend.files.pages[0])  # frames accepted but not written
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stream.close()
    frame_bytes = frames[0].nbytes
    # the pool holds at most len(pool) frames; nothing else grows with n
    assert peak < 4 * frame_bytes, f"peak {peak} B with a {pool_bytes} B pool"
    # append waited for the sink: never more in flight than the pool holds
    # (+1: the frame the writer thread is working on)
    assert pool == 16
    assert pool - 1 <= max(lag) <= pool + 1, lag
    np.testing.assert_array_equal(stream.view()[n - 1], frames[-1])
