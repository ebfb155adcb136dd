"""The progress record: how far the valid data of a dataset being written reaches.

A dataset being written states in its own metadata, refreshed at every
loss-window visit, checkpoint and close, which frames are on disk (see
docs/reading.md): OME-Zarr in the root group's ``zarr.json``
(``attributes.ome_writers.progress``), OME-TIFF in the provisional OME-XML (a
MapAnnotation of namespace `PROGRESS_NAMESPACE`). The record is written only
after the frames it counts have landed, and every document holding it is
replaced whole, so a reader in another process never sees a frame counted
whose bytes are not there.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ome_writers._schema import AcquisitionSettings

#: the key of the record in ``attributes.ome_writers`` of a Zarr root group
PROGRESS_KEY = "progress"
#: the namespace of the MapAnnotation holding the record in OME-XML
PROGRESS_NAMESPACE = "ome_writers.progress"

Status = Literal["writing", "complete", "failed"]
WRITING: Status = "writing"
COMPLETE: Status = "complete"
FAILED: Status = "failed"
STATUSES: tuple[str, ...] = (WRITING, COMPLETE, FAILED)
#: seconds: while writing, the record is restated at least this often, new
#: frames or not, so that a reader can tell a waiting writer from a dead one
HEARTBEAT = 5.0


def utc_now() -> str:
    """The current time, ISO 8601 in UTC to the millisecond (``...Z``)."""
    now = datetime.now(timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ProgressRecord:
    """Builds a dataset's progress record from a count of frames.

    Parameters
    ----------
    settings : AcquisitionSettings
        The acquisition.
    extents : callable, optional
        Frames -> the extent every dimension has reached (acquisition order,
        frame dimensions included); C order over the dimensions by default.
    """

    def __init__(
        self,
        settings: AcquisitionSettings,
        extents: Callable[[int], Sequence[int]] | None = None,
    ) -> None:
        geometry = settings.geometry
        index_dims = settings.dimensions[:-2]
        self._names = [d.name for d in index_dims]
        self._counts = [d.count for d in index_dims]
        self._series = geometry.series_dimension_indices
        self._total = geometry.num_frames
        self._extents = extents or self._c_order_extents
        self.last: dict[str, Any] | None = None

    def _c_order_extents(self, frames: int) -> tuple[int, ...]:
        out: list[int] = []
        stride = math.prod(c or 1 for c in self._counts)
        for count in self._counts:
            stride //= count or 1
            reached = -(-frames // max(stride, 1)) if frames > 0 else 0
            out.append(reached if count is None else min(count, reached))
        return tuple(out)

    def record(
        self,
        frames: int,
        status: Status = WRITING,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The record of a dataset whose first `frames` frames are on disk
        (with a format's `extra` entries)."""
        reached = list(self._extents(frames))[: len(self._names)]
        if frames <= 0:
            reached = [0] * len(self._names)
        extent = {
            name: int(e)
            for i, (name, e) in enumerate(zip(self._names, reached, strict=True))
            if i not in self._series
        }
        images = 0
        if frames > 0:  # the highest image index reached, plus one
            images = 1
            stride = 1
            for i in reversed(self._series):
                images += (max(reached[i], 1) - 1) * stride
                stride *= self._counts[i] or 1
        record: dict[str, Any] = {
            "status": status,
            "updated": utc_now(),
            "heartbeat": HEARTBEAT,
            "frames": int(frames),
            "total": self._total,
            "order": list(self._names),
            "extent": extent,
            "images": images,
        }
        if extra:
            record.update(extra)
        self.last = record
        return record

    def final(
        self, frames: int, *, failed: bool = False, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The record at close: complete, or failed (then the frames last
        counted stay counted, as nothing newer is known to be on disk)."""
        if failed:
            counted = int(self.last["frames"]) if self.last else 0
            return self.record(counted, FAILED, extra)
        return self.record(frames, COMPLETE, extra)
