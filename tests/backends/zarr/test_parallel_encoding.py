"""Compressed zarr-python/zarrs writes run on worker threads, bounded, exact."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.backends.zarr import _zarr_python
from tests.backends.zarr.internals import library_writer

BACKENDS = ["zarr-python", "zarrs-python"]
SHAPE = (32, 48)


def _settings(root: Path, backend: str, **dims: Any) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(root),
        format=backend,
        compression="blosc-zstd",
        dimensions=[
            Dimension(name="t", count=dims.get("t"), chunk_size=dims.get("t_chunk")),
            Dimension(name="z", count=4, chunk_size=dims.get("z_chunk")),
            Dimension(name="y", count=SHAPE[0], chunk_size=dims.get("y_chunk")),
            Dimension(name="x", count=SHAPE[1]),
        ],
        dtype="uint16",
    )


@pytest.mark.parametrize("z_chunk", [None, 4])
@pytest.mark.parametrize("backend", BACKENDS)
def test_reused_caller_buffer_round_trips(
    tmp_path: Path, backend: str, z_chunk: int | None
) -> None:
    pytest.importorskip(backend.replace("-python", "").replace("-", "_"))
    root = tmp_path / "a.ome.zarr"
    stream = create_stream(
        _settings(root, backend, z_chunk=z_chunk), checkpoint_seconds=None
    )
    assert library_writer(stream._backend)._executor is not None
    buffer = np.empty(SHAPE, "uint16")  # one camera buffer, refilled every frame
    expected = []
    for n in range(40):
        buffer[...] = np.arange(SHAPE[0] * SHAPE[1]).reshape(SHAPE) % 977 + n
        expected.append(buffer.copy())
        stream.append(buffer)
    stream.close()
    data = zarr.open_array(str(root / "0"), mode="r")[...]
    np.testing.assert_array_equal(data.reshape(-1, *SHAPE), np.stack(expected))


def test_in_flight_writes_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_zarr_python, "MAX_IN_FLIGHT", 3)
    stream = create_stream(  # one write per frame: two chunks per frame, which
        # the library encodes (frame-sized chunks are encoded by threads of ours)
        _settings(tmp_path / "b.ome.zarr", "zarr-python", t=10, t_chunk=1, y_chunk=16),
        checkpoint_seconds=None,
    )
    backend = library_writer(stream._backend)
    array_type = type(backend._arrays[0])
    original = array_type.__setitem__

    def slow(self: Any, key: Any, value: Any) -> None:
        time.sleep(0.005)  # a sink much slower than the caller
        original(self, key, value)

    monkeypatch.setattr(array_type, "__setitem__", slow)
    most = 0
    for n in range(40):
        stream.append(np.full(SHAPE, n, "uint16"))
        most = max(most, len(backend._pending))
    assert most == 3  # appends waited instead of queueing more
    # buffers are recycled: no more than the in-flight bound were ever made
    stream.close()
    assert backend._pending.pooled == 0  # released at close
    data = zarr.open_array(str(tmp_path / "b.ome.zarr" / "0"), mode="r")[...]
    assert [int(f[0, 0]) for f in data.reshape(-1, *SHAPE)] == list(range(40))


def test_background_error_surfaces_and_keeps_earlier_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "c.ome.zarr"
    stream = create_stream(
        _settings(root, "zarr-python", t=10), checkpoint_seconds=None
    )
    array_type = type(library_writer(stream._backend)._arrays[0])
    original = array_type.__setitem__
    calls = {"n": 0}
    lock = threading.Lock()

    def failing(self: Any, key: Any, value: Any) -> None:
        with lock:
            calls["n"] += 1
            n = calls["n"]
        if n == 11:
            raise OSError(28, "No space left on device")
        original(self, key, value)

    monkeypatch.setattr(array_type, "__setitem__", failing)
    appended = 0
    with pytest.raises(OSError, match="No space left"):
        for n in range(40):
            stream.append(np.full(SHAPE, n + 1, "uint16"))
            appended += 1
            stream.checkpoint()  # waits for the write: the failing frame is known
    assert appended == 11  # the 11th frame's write failed in the background
    monkeypatch.setattr(array_type, "__setitem__", original)
    stream.close()  # the error was reported already; close writes the metadata
    data = zarr.open_array(str(root / "0"), mode="r")[...].reshape(-1, *SHAPE)
    for n in range(10):
        np.testing.assert_array_equal(data[n], np.full(SHAPE, n + 1, "uint16"))
