"""Where the pages of an OME-TIFF are: which page holds each cell of an
image (`PageNumbers`), and where each page's strip is in its file
(`StripLocations`).

Live reads (`stream.view()`), padding at close and the frame metadata
attached at close look pages up here. A long acquisition writes hundreds of
thousands of pages; dicts of tuples would hold several Python objects per
page for as long as the stream is open, so both tables are integer arrays,
grown along their first axis by doubling as pages reach it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

_NONE = -1
_FIRST_ROWS = 64


def _grown(table: np.ndarray, row: int, limit: int | None = None) -> np.ndarray:
    """`table` with room for `row` (doubling; never past `limit` rows)."""
    rows = max(row + 1, 2 * len(table))
    if limit is not None:
        rows = max(row + 1, min(rows, limit))
    out = np.full((rows, *table.shape[1:]), _NONE, dtype=table.dtype)
    out[: len(table)] = table
    return out


class PageNumbers:
    """Storage index -> page (IFD) number of one image, for the cells written.

    Parameters
    ----------
    counts : sequence of int | None
        The extent of each storage index dimension, outer first; only the
        outer one may be None (it grows).
    """

    __slots__ = ("_limit", "_outer", "_pages")

    def __init__(self, counts: Sequence[int | None]) -> None:
        inner = [int(c or 1) for c in counts[1:]]
        #: rows the outer dimension may reach (None: unbounded, or no dimension)
        self._limit = int(counts[0]) if counts and counts[0] is not None else None
        rows = [] if not counts else [min(self._limit or _FIRST_ROWS, _FIRST_ROWS)]
        self._pages = np.full([*rows, *inner], _NONE, dtype=np.int32)
        self._outer = 0  # 1 + the highest outer index written

    def __setitem__(self, index: tuple[int, ...], page: int) -> None:
        if index and index[0] >= len(self._pages):
            self._pages = _grown(self._pages, index[0], self._limit)
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
        return int(np.count_nonzero(self._pages != _NONE))

    def outer_extent(self) -> int:
        """1 + the highest outer index written (1 when none is)."""
        return max(self._outer, 1)


class StripLocations:
    """IFD number -> (offset, bytes) of its strip in one file, for the pages
    written."""

    __slots__ = ("_strips",)

    def __init__(self) -> None:
        self._strips = np.full((_FIRST_ROWS, 2), _NONE, dtype=np.int64)

    def __setitem__(self, ifd: int, location: tuple[int, int]) -> None:
        if ifd >= len(self._strips):
            self._strips = _grown(self._strips, ifd)
        self._strips[ifd] = location

    def get(self, ifd: int) -> tuple[int, int] | None:
        """The strip of page `ifd`, or None when it is not known."""
        if ifd >= len(self._strips):
            return None
        offset, nbytes = self._strips[ifd].tolist()
        return None if offset == _NONE else (offset, nbytes)

    def __len__(self) -> int:
        """Pages whose strip is known."""
        return int(np.count_nonzero(self._strips[:, 0] != _NONE))

    def clear(self) -> None:
        """Forget every location (reads parse the file instead)."""
        self._strips[:] = _NONE
