"""The append path makes no frame-sized allocation: a frame is copied at most once."""

from __future__ import annotations

import tracemalloc

import numpy as np

from ome_writers import AcquisitionSettings, Dimension, create_stream

FRAME = (512, 512)  # 512 KiB per uint16 frame


def _peak_during_appends(
    settings: AcquisitionSettings, frames: list[np.ndarray]
) -> int:
    stream = create_stream(settings)
    view = stream.view()  # a live view must not add per-frame cost either
    stream.append(frames[0])  # warm up
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    for frame in frames[1:]:
        stream.append(frame, frame_metadata={"delta_t": 0.5})
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    stream.close()
    assert view.shape[0] == len(frames)
    return peak


def test_no_frame_sized_allocation_on_scratch() -> None:
    dims = [
        Dimension(name="t", count=20, type="time"),
        Dimension(name="y", count=FRAME[0]),
        Dimension(name="x", count=FRAME[1]),
    ]
    settings = AcquisitionSettings(dimensions=dims, dtype="uint16", format="scratch")
    frames = [np.full(FRAME, i, "uint16") for i in range(20)]
    frame_bytes = frames[0].nbytes
    peak = _peak_during_appends(settings, frames)
    # 19 appends of 512 KiB frames: bookkeeping only, far below one frame
    assert peak < frame_bytes // 16, f"peak {peak} bytes during appends"
