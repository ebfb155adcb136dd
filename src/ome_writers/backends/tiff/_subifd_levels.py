"""OME-TIFF pyramid levels: reduced copies of each page, written as its SubIFDs.

tifffile writes a page with ``subifds=N`` and then its N reduced pages with
``subfiletype=1`` (reduced-resolution image), right after it; Bio-Formats
and tifffile (``series[0].levels``) read them as resolution levels, and the
OME-XML stays that of the full-resolution pages. Each level reduces the one
above (`PlaneReducer`), on the TIFF writer thread, into buffers allocated
once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ome_writers.backends.pyramid._reduce import PlaneReducer

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy as np


class SubIfdLevels:
    """Levels 1..`levels`-1 of pages of `frame_shape`, reduced with `method`."""

    def __init__(
        self, frame_shape: tuple[int, int], dtype: np.dtype, method: str, levels: int
    ) -> None:
        self.reducers: list[PlaneReducer] = []
        shape = frame_shape
        for _ in range(levels - 1):
            reducer = PlaneReducer(shape, dtype, method)
            self.reducers.append(reducer)
            shape = reducer.out_shape
        self.outputs = [r.new_output() for r in self.reducers]
        self.shapes = [frame_shape, *(r.out_shape for r in self.reducers)]

    @property
    def count(self) -> int:
        """Number of SubIFDs per page."""
        return len(self.reducers)

    def reduce(self, page: np.ndarray) -> Iterator[np.ndarray]:
        """Level 1, 2, ... of `page` (each buffer is reused for the next page)."""
        plane = page
        for reducer, out in zip(self.reducers, self.outputs, strict=True):
            plane = reducer.reduce([plane], out)
            yield plane
