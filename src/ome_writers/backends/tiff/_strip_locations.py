"""Where each page's strip is in one TIFF file.

Live reads (`stream.view()`) find a page's pixels here without parsing the
file. A file of a long acquisition holds hundreds of thousands of pages; a
dict of tuples would hold several Python objects per page for as long as
the stream is open, so the locations are kept in two integer arrays
indexed by IFD, grown by doubling.
"""

from __future__ import annotations

import numpy as np

_UNKNOWN = -1
_FIRST_ROOM = 1024


class StripLocations:
    """IFD number -> (offset, bytes) of its strip, for the pages written."""

    __slots__ = ("_bytes", "_count", "_offsets")

    def __init__(self) -> None:
        self._offsets = np.full(_FIRST_ROOM, _UNKNOWN, dtype=np.int64)
        self._bytes = np.zeros(_FIRST_ROOM, dtype=np.int64)
        self._count = 0  # IFDs with a location

    def __setitem__(self, ifd: int, location: tuple[int, int]) -> None:
        if ifd >= len(self._offsets):
            room = max(ifd + 1, 2 * len(self._offsets))
            offsets = np.full(room, _UNKNOWN, dtype=np.int64)
            offsets[: len(self._offsets)] = self._offsets
            sizes = np.zeros(room, dtype=np.int64)
            sizes[: len(self._bytes)] = self._bytes
            self._offsets, self._bytes = offsets, sizes
        if self._offsets[ifd] == _UNKNOWN:
            self._count += 1
        self._offsets[ifd] = location[0]
        self._bytes[ifd] = location[1]

    def get(self, ifd: int) -> tuple[int, int] | None:
        """The strip of page `ifd`, or None when it is not known."""
        if ifd >= len(self._offsets):
            return None
        offset = int(self._offsets[ifd])
        return None if offset == _UNKNOWN else (offset, int(self._bytes[ifd]))

    def __len__(self) -> int:
        """Pages whose strip is known."""
        return self._count

    def clear(self) -> None:
        """Forget every location (reads parse the file instead)."""
        self._offsets[:] = _UNKNOWN
        self._count = 0
