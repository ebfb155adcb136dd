"""Which page of its file holds each storage index of one image.

Live reads, padding at close and the frame metadata attached at close look a
cell's page up here. A long acquisition writes hundreds of thousands of
pages; a dict keyed by index tuples would hold several Python objects per
page for as long as the stream is open, so the page numbers are kept in one
int32 array over the index grid, grown along the outer dimension by doubling
as frames reach it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

_NONE = -1
_FIRST_ROWS = 64


class PageNumbers:
    """Storage index -> page (IFD) number, for the cells written.

    Parameters
    ----------
    counts : sequence of int | None
        The extent of each storage index dimension, outer first; only the
        outer one may be None (it grows).
    """

    __slots__ = ("_count", "_limit", "_outer", "_pages")

    def __init__(self, counts: Sequence[int | None]) -> None:
        inner = [int(c or 1) for c in counts[1:]]
        #: rows the outer dimension may reach (None: unbounded, or no dimension)
        self._limit = int(counts[0]) if counts and counts[0] is not None else None
        rows = [] if not counts else [min(self._limit or _FIRST_ROWS, _FIRST_ROWS)]
        self._pages = np.full([*rows, *inner], _NONE, dtype=np.int32)
        self._outer = 0  # 1 + the highest outer index written
        self._count = 0  # cells written

    def _room_for(self, outer: int) -> None:
        """Rows up to `outer` (doubling; never past a bounded count)."""
        pages = self._pages
        rows = max(outer + 1, 2 * len(pages))
        if self._limit is not None:
            rows = max(outer + 1, min(rows, self._limit))
        grown = np.full((rows, *pages.shape[1:]), _NONE, dtype=np.int32)
        grown[: len(pages)] = pages
        self._pages = grown

    def __setitem__(self, index: tuple[int, ...], page: int) -> None:
        if index and index[0] >= len(self._pages):
            self._room_for(index[0])
        if self._pages[index] == _NONE:
            self._count += 1
        self._pages[index] = page
        if index and index[0] >= self._outer:
            self._outer = index[0] + 1

    def get(self, index: tuple[int, ...]) -> int | None:
        """The page of cell `index`, or None when none is written (or it lies
        outside the grid)."""
        pages = self._pages
        if len(index) != pages.ndim or not all(
            0 <= i < n for i, n in zip(index, pages.shape, strict=True)
        ):
            return None
        page = int(pages[index])
        return None if page == _NONE else page

    def __contains__(self, index: object) -> bool:
        return isinstance(index, tuple) and self.get(index) is not None

    def __len__(self) -> int:
        """Cells written."""
        return self._count

    def outer_extent(self) -> int:
        """1 + the highest outer index written (1 when none is)."""
        return max(self._outer, 1)
