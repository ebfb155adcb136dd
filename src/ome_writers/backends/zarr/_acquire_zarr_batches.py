"""Small frames gathered per array and handed to acquire-zarr together.

Each acquire-zarr `append` costs a hand-off of about a tenth of a millisecond
even for a frame of 16 x 16 pixels, which takes a microsecond to copy; a
batch of frames costs one hand-off. The backend hands every partial batch
over at each loss-window visit, checkpoint and at close.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ome_writers._io._frame_pool import copy_frame

if TYPE_CHECKING:
    from collections.abc import Callable

# frames are gathered into batches of about this many bytes per array when at
# least two fit
BATCH_BYTES = 1 << 18
# the batches of all arrays together hold at most this
BATCH_BYTES_TOTAL = 1 << 24


def frames_per_batch(arrays: int, frame_bytes: int) -> int:
    """Frames in one array's batch; 0: frames go one by one."""
    per_array = min(BATCH_BYTES, BATCH_BYTES_TOTAL // max(arrays, 1))
    frames = per_array // frame_bytes if frame_bytes else 0
    return frames if frames >= 2 else 0


class FrameBatches:
    """Each array's batch of frames, sent by `send(array, frames)` when full.

    When not two frames fit a batch (`frames` 0), every frame is sent as it
    comes. A sent array may be reused at once (acquire-zarr copies what it is
    given).
    """

    def __init__(
        self,
        arrays: int,
        frame_shape: tuple[int, int],
        dtype: np.dtype,
        send: Callable[[int, np.ndarray], None],
    ) -> None:
        frame_bytes = dtype.itemsize * frame_shape[0] * frame_shape[1]
        self.frames = frames_per_batch(arrays, frame_bytes)
        self._shape = (self.frames, *frame_shape)
        self._dtype = dtype
        self._send = send
        self._batches: list[np.ndarray | None] = [None] * arrays  # made when used
        self._filled = [0] * arrays

    def add(self, array: int, frame: np.ndarray) -> None:
        """Copy `frame` into `array`'s batch; send the batch once full."""
        if not self.frames:
            self._send(array, np.ascontiguousarray(frame))
            return
        batch = self._batches[array]
        if batch is None:
            batch = self._batches[array] = np.empty(self._shape, dtype=self._dtype)
        n = self._filled[array]
        copy_frame(batch[n], frame)
        n += 1
        if n == self.frames:
            n = 0
            self._send(array, batch)
        self._filled[array] = n

    def hand_over(self) -> None:
        """Send every batch's frames so far."""
        for array, n in enumerate(self._filled):
            batch = self._batches[array]
            if n and batch is not None:
                self._filled[array] = 0
                self._send(array, batch[:n])
