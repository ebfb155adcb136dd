"""A TIFF file set read as written so far, then as complete once closed.

While the first page's description carries a progress record, the set is
read as that record says (`LiveTiffSource`); once the writer has closed it
(the complete OME-XML replaced the provisional one), through tifffile's
series (`TiffSeriesSource`). The dimensions stay the same across the switch.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ome_writers.reading._source import Key, Snapshot, Source
from ome_writers.reading._tiff import TiffSeriesSource
from ome_writers.reading._tiff_files import NotWrittenYet
from ome_writers.reading._tiff_live import LiveTiffSource, NoProgress

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np


def tiff_source(path: Path, image: int | str | None) -> Source:
    """The source of a TIFF file: followed while written, else as it is."""
    if path.stat().st_size == 0:
        raise NotWrittenYet(f"{path}: its first page is not written yet")
    try:
        live = LiveTiffSource(path, image)
    except NoProgress:
        return TiffSeriesSource(path, image)
    return FollowedTiff(live, path, image)


class FollowedTiff(Source):
    """A file set being written: live, until its writer closes it."""

    def __init__(
        self, live: LiveTiffSource, path: Path, image: int | str | None
    ) -> None:
        self._impl: Source = live
        self._path = path
        self._image = image
        self._lock = threading.Lock()
        self.dims = live.dims
        self.dtype = live.dtype
        self.labels = live.labels
        self.channels = live.channels

    @property
    def shapes(self) -> list[tuple[int | None, ...]]:
        return self._impl.shapes

    @property
    def factors(self) -> list[tuple[float, ...]]:
        return self._impl.factors

    @property
    def snapshot(self) -> Snapshot:
        return self._impl.snapshot

    def refresh(self) -> Snapshot:
        impl = self._impl
        if not isinstance(impl, LiveTiffSource):
            return impl.snapshot
        try:
            return impl.refresh()
        except NoProgress:  # closed: the complete OME-XML is in place
            pass
        complete = TiffSeriesSource(self._path, self._image)
        if complete.dims != self.dims:
            complete.close()
            raise ValueError(
                f"{self._path}: the complete file has dimensions {complete.dims}, "
                f"not {self.dims} as while it was written"
            )
        with self._lock:
            self._impl = complete
        impl.close()
        return complete.snapshot

    def read(self, level: int, key: Key) -> np.ndarray:
        return self._impl.read(level, key)

    def close(self) -> None:
        self._impl.close()
