"""Zero-copy appends straight from pymmcore-plus's camera ring buffer."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream

unicore = pytest.importorskip("pymmcore_plus.experimental.unicore")
from ome_writers.adapters.pymmcore_plus import (  # noqa: E402
    stream_sequence_acquisition,
)

SHAPE = (64, 96)


class CountingCamera(unicore.SimpleCameraDevice):  # type: ignore[misc, name-defined]
    """Every pixel of frame n holds n (mod 65536)."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def sensor_shape(self) -> tuple[int, int]:
        return SHAPE

    def dtype(self) -> str:
        return "uint16"

    def get_exposure(self) -> float:
        return 1.0

    def set_exposure(self, exposure: float) -> None:
        pass

    def snap(self, buffer: np.ndarray) -> dict[str, Any]:
        buffer[:] = self.n % 65536
        self.n += 1
        return {}


@pytest.fixture
def core() -> Any:
    core = unicore.UniMMCore()
    core.loadPyDevice("Cam", CountingCamera())
    core.initializeDevice("Cam")
    core.setCameraDevice("Cam")
    return core


def _stream(n: int) -> Any:
    s = AcquisitionSettings(
        dimensions=[
            Dimension(name="t", count=n),
            Dimension(name="y", count=SHAPE[0]),
            Dimension(name="x", count=SHAPE[1]),
        ],
        dtype="uint16",
    )
    return create_stream(s)


def test_frames_arrive_in_order_without_copies(core: Any) -> None:
    n = 300
    stream = _stream(n)
    pool = core._seq_buffer._pool
    shared: list[bool] = []
    write = stream._write  # the hand-off from append to the backend

    def spy(pos: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        shared.append(np.shares_memory(frame, pool) and not frame.flags.writeable)
        write(pos, index, frame)

    stream._write = spy
    stats = stream_sequence_acquisition(core, stream, n)
    stream.close()
    assert stats.frames == n
    assert stats.zero_copy
    # every frame handed to append was a read-only view of the camera's pool
    assert all(shared)
    assert len(shared) == n
    data = np.asarray(stream.view())
    first = int(data[0, 0, 0])
    np.testing.assert_array_equal(data[:, 0, 0], np.arange(first, first + n))
    assert (data == data[:, :1, :1]).all()  # no frame overwritten while read


def test_drain_allocates_no_frame_copies(core: Any) -> None:
    n = 50
    stream = _stream(n)
    frame_bytes = SHAPE[0] * SHAPE[1] * 2
    core.startSequenceAcquisition(1, 0, True)  # warm the camera thread up
    while core.isSequenceRunning() or core.getRemainingImageCount():
        if core.getRemainingImageCount():
            core.popNextImage()
    tracemalloc.start()
    stats = stream_sequence_acquisition(core, stream, n)
    _, peak = tracemalloc.get_traced_memory()
    stream.close()  # before stopping: tensorstore threads may still free buffers
    tracemalloc.stop()
    assert stats.frames == n
    # the camera fills slots of its own preallocated pool; neither it nor the
    # stream allocates per-frame buffers: far less than one frame per frame
    assert peak < frame_bytes * n / 4, f"peak {peak} bytes for {n} frames"
