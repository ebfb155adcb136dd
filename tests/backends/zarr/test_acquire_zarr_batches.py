"""Small frames reach acquire-zarr in batches, every frame in its place.

Each acquire-zarr `append` costs a fixed hand-off, so frames small enough
are gathered per array and handed over together: when a batch is full, at
every loss-window visit and checkpoint, and at close.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zarr

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.backends.zarr import _acquire_zarr_batches

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("acquire_zarr")

SHAPE = (16, 16)


class _Recording:
    """acquire-zarr's stream, with the frames of each `append` recorded."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.appends: list[tuple[str, int]] = []

    def append(self, data: np.ndarray, key: str) -> None:
        frames = 1 if data.ndim == 2 else data.shape[0]
        self.appends.append((key, frames))
        self._stream.append(data, key=key)

    def close(self) -> None:
        self._stream.close()


def _frame(position: int, t: int) -> np.ndarray:
    rng = np.random.default_rng(position * 10_000 + t)
    return rng.integers(0, 60_000, SHAPE, dtype=np.uint16)


def _settings(root: Path, positions: int, **extra: Any) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(root / "batches.ome.zarr"),
        format="acquire-zarr",
        dimensions=[
            Dimension(name="t", count=None, chunk_size=8, type="time"),
            Dimension(name="p", count=positions, type="position"),
            Dimension(name="y", count=SHAPE[0]),
            Dimension(name="x", count=SHAPE[1]),
        ],
        dtype="uint16",
        **extra,
    )


def _stored(root: Path, array_path: str) -> np.ndarray:
    array = zarr.open_array(root / "batches.ome.zarr" / array_path, mode="r")
    return np.asarray(array[:])


def test_every_frame_lands_in_its_place_from_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # batches of 5 frames (16 x 16 uint16 frames are 512 bytes)
    monkeypatch.setattr(_acquire_zarr_batches, "BATCH_BYTES", 5 * 512)
    stream = create_stream(_settings(tmp_path, 3, loss_window=None))
    assert stream._backend._batches.frames == 5
    recording = _Recording(stream._backend._stream)
    stream._backend._stream = recording
    for t in range(23):  # 4 full batches per array, and 3 frames at close
        for p in range(3):
            stream.append(_frame(p, t))
    stream.close()
    assert len(recording.appends) == 3 * 5
    assert {n for _, n in recording.appends} == {5, 3}
    assert sum(n for _, n in recording.appends) == 3 * 23
    for p in range(3):  # read by zarr-python, not by us
        expected = np.stack([_frame(p, t) for t in range(23)])
        np.testing.assert_array_equal(_stored(tmp_path, f"{p}/0"), expected)


def test_a_checkpoint_hands_the_batch_over(tmp_path: Path) -> None:
    stream = create_stream(_settings(tmp_path, 1, loss_window=None))
    assert stream._backend._batches.frames > 20  # all of them wait in the batch
    for t in range(20):
        stream.append(_frame(0, t))
    stream.checkpoint()
    # two complete shards of 8 time points are declared while the stream is open
    stored = _stored(tmp_path, "0")
    assert stored.shape[0] >= 16
    expected = np.stack([_frame(0, t) for t in range(stored.shape[0])])
    np.testing.assert_array_equal(stored, expected)
    stream.close()
    np.testing.assert_array_equal(
        _stored(tmp_path, "0"), np.stack([_frame(0, t) for t in range(20)])
    )


def test_a_loss_window_visit_hands_the_batch_over(tmp_path: Path) -> None:
    stream = create_stream(_settings(tmp_path, 1, loss_window=0.1))
    for t in range(20):
        stream.append(_frame(0, t))
    try:
        deadline = time.monotonic() + 30
        while _stored(tmp_path, "0").shape[0] < 16:
            assert time.monotonic() < deadline, "the visit never declared them"
            time.sleep(0.05)
        stored = _stored(tmp_path, "0")[:16]
        np.testing.assert_array_equal(
            stored, np.stack([_frame(0, t) for t in range(16)])
        )
    finally:
        stream.close()


@pytest.mark.parametrize(
    ("positions", "shape", "frames"),
    [
        (1, (16, 16), _acquire_zarr_batches.BATCH_BYTES // 512),
        (1, (256, 256), 2),  # two frames of 128 KiB still fit
        (1, (512, 512), 0),  # one 512 KiB frame: appended alone
        # many arrays share the bound on what batches hold
        (100, (64, 64), _acquire_zarr_batches.BATCH_BYTES_TOTAL // 100 // 8192),
        (150, (256, 256), 0),
    ],
)
def test_batches_hold_a_bounded_number_of_bytes(
    tmp_path: Path, positions: int, shape: tuple[int, int], frames: int
) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "bound.ome.zarr"),
        format="acquire-zarr",
        dimensions=[
            Dimension(name="p", count=positions, type="position"),
            Dimension(name="t", count=2, type="time"),
            Dimension(name="y", count=shape[0]),
            Dimension(name="x", count=shape[1]),
        ],
        dtype="uint16",
    )
    stream = create_stream(settings)
    try:
        backend = stream._backend
        assert backend._batches.frames == frames
        per_frame = shape[0] * shape[1] * 2
        assert frames * per_frame * positions <= _acquire_zarr_batches.BATCH_BYTES_TOTAL
    finally:
        stream.close()
