"""Display windows from the data: each channel's observed range, sampled cheaply.

Every appended frame is sampled on a grid of every `STRIDE`-th row and column
(1/256 of its pixels: two numpy reductions, cheap next to the frame's copy),
and the running minimum and maximum per image and channel become the NGFF
``omero`` window's ``start``/``end`` at close (``min``/``max`` stay the pixel
type's range). A bright spot smaller than the grid can fall between samples:
the window is a starting point for a viewer, not a measurement.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

STRIDE = 16


class DisplayRanges:
    """Running (min, max) of sampled pixels per image and channel."""

    def __init__(self, images: int, channels: int, channel_axis: int) -> None:
        self.channel_axis = channel_axis  # in the storage index
        self.channels = channels  # declared (an unbounded axis grows past it)
        self.lo: dict[tuple[int, int], float] = {}
        self.hi: dict[tuple[int, int], float] = {}

    def add(self, image: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        """Sample one frame at storage `index` of `image`."""
        key = (image, index[self.channel_axis])
        sample = frame[::STRIDE, ::STRIDE]
        lo, hi = float(sample.min()), float(sample.max())
        if lo < self.lo.get(key, math.inf):
            self.lo[key] = lo
        if hi > self.hi.get(key, -math.inf):
            self.hi[key] = hi

    def windows(self, image: int) -> list[tuple[float, float] | None]:
        """(start, end) per channel of `image`; None where nothing was seen."""
        seen = [c for i, c in self.lo if i == image]
        count = max([self.channels, *(c + 1 for c in seen)])
        return [
            (self.lo[image, c], self.hi[image, c]) if (image, c) in self.lo else None
            for c in range(count)
        ]
