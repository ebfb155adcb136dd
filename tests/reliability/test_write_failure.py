"""A write failing in the background: reported once, and close still describes
what reached the disk (unbounded arrays cut, per-frame metadata written)."""

from __future__ import annotations

import errno
import json
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from ome_writers import create_stream
from ome_writers.backends._registry import BACKENDS
from tests.conftest import time_series_settings

# backends whose writes finish on background threads, tracked by PendingWrites
THREADED = [
    r.name
    for r in BACKENDS
    if r.available and r.name in ("tensorstore", "zarr-python", "zarrs-python")
]
SHAPE = (32, 32)
FAIL_AT = 5  # the sixth write fails


@pytest.mark.parametrize("backend", THREADED)
def test_background_failure(tmp_path: Path, backend: str) -> None:
    root = tmp_path / "failed.ome.zarr"
    settings = time_series_settings(root, SHAPE, format=backend)
    stream = create_stream(settings, checkpoint_seconds=None)
    pending = stream._backend._pending
    track = pending.add
    writes = [0]

    def add(future: Any, nbytes: int, *args: Any, **kwargs: Any) -> None:
        if writes[0] == FAIL_AT:  # the write lands, then is reported as failed
            future.result()
            future = Future()
            future.set_exception(OSError(errno.EIO, "injected I/O error"))
        writes[0] += 1
        track(future, nbytes, *args, **kwargs)

    pending.add = add
    accepted = 0
    with pytest.raises(OSError, match="injected I/O error"):
        for i in range(50):
            stream.append(np.full(SHAPE, i + 1, "uint16"), frame_metadata={"i": i})
            accepted += 1
    assert FAIL_AT < accepted < 50
    stream.close()  # the failure was reported: close does not raise it again
    stream.close()

    array = zarr.open_array(str(root / "0"), mode="r")
    # cut to the frames appended (not the one whose append raised), not left
    # at the allocated size of the unbounded axis
    assert array.shape[0] == accepted
    data = array[:]
    for i in range(accepted):
        assert (data[i] == i + 1).all(), i
    attributes = json.loads((root / "zarr.json").read_text())["attributes"]
    records = attributes["ome_writers"]["frame_metadata"]
    assert [r["i"] for r in records] == list(range(accepted))
