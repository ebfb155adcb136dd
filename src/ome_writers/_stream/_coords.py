"""Live extents, high-water marks and coordinate-change notifications."""

from __future__ import annotations

import bisect
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ome_writers._router import listed_cells

if TYPE_CHECKING:
    from ome_writers._router import FrameRouter
    from ome_writers._schema import AcquisitionSettings

logger = logging.getLogger("ome_writers")

# Frames below this count get a precomputed high-water-mark table.
_HWM_TABLE_LIMIT = 1 << 20


@dataclass(frozen=True, slots=True)
class CoordUpdate:
    """What changed when a frame was appended or skipped.

    Attributes
    ----------
    max_coords : Mapping[str, Sequence]
        Visible coordinates per dimension (names for channel/position dims).
    current_indices : Mapping[str, int]
        Acquisition-order index of the frame per dimension (0 for Y/X).
    frame_number : int
        0-based frame number.
    is_high_water_mark : bool
        Whether `max_coords` grew with this frame.
    """

    max_coords: Mapping[str, Sequence[Any]]
    current_indices: Mapping[str, int]
    frame_number: int
    is_high_water_mark: bool


class ExtentTracker:
    """Live extents computed from the number of frames written so far.

    In C order, after `n` frames dimension `i` (stride ``s_i`` = product of the
    counts of the dimensions after it) has reached ``min(count_i, ceil(n / s_i))``.
    With an explicit frame order, the frames where some extent grows are found
    once, at creation; a lookup is a bisection. Nothing is tracked per frame.
    """

    def __init__(self, settings: AcquisitionSettings) -> None:
        dims = settings.dimensions
        self.settings = settings
        self.names = tuple(d.name for d in dims)
        self.index_counts = tuple(d.count for d in dims[:-2])
        self.frame_shape = tuple(int(d.count or 0) for d in dims[-2:])
        strides = []
        stride = 1
        for count in reversed(self.index_counts):
            strides.append(stride)
            stride *= count or 1
        self.strides = tuple(reversed(strides))
        self._outer_stride = self.strides[0] if self.strides else 1
        self._labels = [d.coord_names for d in dims]
        limit = min(self._outer_stride, _HWM_TABLE_LIMIT)
        marks = bytearray(limit)
        for count, s in zip(self.index_counts, self.strides, strict=True):
            for j in range(min(count or 1, math.ceil(limit / s))):
                if j * s < limit:
                    marks[j * s] = 1
        self._marks = bytes(marks)
        order = listed_cells(settings)
        self._order = _ExplicitOrder(order) if order else None

    def is_high_water_mark(self, n: int) -> bool:
        """Whether frame `n` extends some dimension's visible extent."""
        if not self.index_counts:
            return n == 0
        if self._order is not None:
            return self._order.is_high_water_mark(n)
        if n < len(self._marks):
            return bool(self._marks[n])
        if n % self._outer_stride == 0:
            return True
        return n < self._outer_stride and any(
            n % s == 0 and n // s < (c or 1)
            for c, s in zip(self.index_counts, self.strides, strict=True)
        )

    def extents(self, n_frames: int) -> tuple[int, ...]:
        """Visible extent of every dimension (frame dims full) after `n_frames`."""
        if n_frames <= 0:
            return (0,) * len(self.index_counts) + self.frame_shape
        if self._order is not None:
            return (*self._order.extents(n_frames), *self.frame_shape)
        out = []
        for count, s in zip(self.index_counts, self.strides, strict=True):
            reached = -(-n_frames // s)
            out.append(reached if count is None else min(count, reached))
        return (*out, *self.frame_shape)

    def coords(self, extents: Sequence[int]) -> dict[str, Sequence[Any]]:
        """Coordinates per dimension, cut to `extents`."""
        out: dict[str, Sequence[Any]] = {}
        for name, labels, size in zip(self.names, self._labels, extents, strict=True):
            out[name] = labels[:size] if labels is not None else range(size)
        return out

    def update(self, n: int, acquisition_index: Sequence[int]) -> CoordUpdate:
        """The `CoordUpdate` for frame `n`."""
        extents = self.extents(n + 1)
        indices = dict(zip(self.names, (*acquisition_index, 0, 0), strict=True))
        return CoordUpdate(
            max_coords=self.coords(extents),
            current_indices=indices,
            frame_number=n,
            is_high_water_mark=self.is_high_water_mark(n),
        )


class _ExplicitOrder:
    """High-water marks and extents of frames arriving in a listed order."""

    def __init__(self, order: Sequence[tuple[int, ...]]) -> None:
        self._length = len(order)
        self._marks = bytearray(self._length)
        self._mark_frames: list[int] = []
        self._mark_extents: list[tuple[int, ...]] = []
        reached = [0] * len(order[0])
        # along the first dimension: where a cycle reaches a new index, and
        # how far it has reached (an unbounded order repeats, shifted by span)
        self._first_grew = bytearray(self._length)
        self._first_reach: list[int] = []
        first = 0
        for n, entry in enumerate(order):
            if entry[0] >= first:
                self._first_grew[n] = 1
                first = entry[0] + 1
            self._first_reach.append(first)
            grew = False
            for i, value in enumerate(entry):
                if value >= reached[i]:
                    reached[i] = value + 1
                    grew = True
            if grew:
                self._marks[n] = 1
                self._mark_frames.append(n)
                self._mark_extents.append(tuple(reached))
        self._span = self._first_reach[-1]

    def is_high_water_mark(self, n: int) -> bool:
        if n < self._length:
            return bool(self._marks[n])
        return bool(self._first_grew[n % self._length])  # a later cycle

    def extents(self, n_frames: int) -> tuple[int, ...]:
        if n_frames <= self._length:
            k = bisect.bisect_right(self._mark_frames, n_frames - 1) - 1
            return self._mark_extents[k]
        cycle, last = divmod(n_frames - 1, self._length)
        full = self._mark_extents[-1]
        return (cycle * self._span + self._first_reach[last], *full[1:])


class PositionExtents:
    """Live extents of one position's own dimensions after `n` frames in all."""

    def __init__(
        self, router: FrameRouter, settings: AcquisitionSettings, position: int
    ) -> None:
        names = [d.name for d in settings.dimensions[:-2]]
        own_dims = settings.geometry.position_index_dimensions(position)
        take = [names.index(d.name) for d in own_dims]
        cells = listed_cells(settings) or []
        self._frames: list[int] = []
        own: list[tuple[int, ...]] = []
        for n, cell in enumerate(cells):
            if router.route(n)[0] == position:
                self._frames.append(n)
                own.append(tuple(cell[i] for i in take))
        self._order = _ExplicitOrder(own) if own and take else None
        self._n_dims = len(take)

    def __call__(self, n_frames: int) -> tuple[int, ...]:
        reached = bisect.bisect_left(self._frames, n_frames)
        if self._order is None or reached == 0:
            return (0,) * self._n_dims
        return self._order.extents(reached)


Listener = Callable[[CoordUpdate], Any]


class CoordNotifier:
    """Delivers coordinate updates on one worker thread, off the append path.

    `frame_done` is O(1): it records the frame number and wakes the worker,
    which builds `CoordUpdate`s, calls listeners and emits view signals
    (coalesced: one emission per batch of high-water marks).
    """

    def __init__(
        self,
        tracker: ExtentTracker,
        acquisition_index: Callable[[int], tuple[int, ...]],
    ) -> None:
        self._tracker = tracker
        self._acquisition_index = acquisition_index
        self.changed: list[Listener] = []
        self.expanded: list[Listener] = []
        self.shape_callbacks: list[Callable[[], Any]] = []
        self._pending: deque[int] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="ome-writers-coords", daemon=True
        )
        self._thread.start()

    @property
    def wants_every_frame(self) -> bool:
        """Whether some listener asked for an update on every frame."""
        return bool(self.changed)

    def frame_done(self, n: int) -> None:
        """Queue frame `n` for notification (called from the appending thread)."""
        self._pending.append(n)
        if not self._wake.is_set():  # setting takes a lock: skip when already awake
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            grew = False
            while self._pending:
                n = self._pending.popleft()
                hwm = self._tracker.is_high_water_mark(n)
                grew |= hwm
                if self.changed or (hwm and self.expanded):
                    update = self._tracker.update(n, self._acquisition_index(n))
                    for cb in list(self.changed):
                        _call(cb, update)
                    if hwm:
                        for cb in list(self.expanded):
                            _call(cb, update)
            if grew:
                for shape_cb in list(self.shape_callbacks):
                    _call(shape_cb)
            if self._stopping and not self._pending:
                return

    def stop(self) -> None:
        """Deliver what is pending, then end the worker thread."""
        self._stopping = True
        self._wake.set()
        if threading.current_thread() is not self._thread:
            self._thread.join()


def _call(cb: Callable[..., Any], *args: Any) -> None:
    try:
        cb(*args)
    except Exception:  # a listener's error must never stop acquisition
        logger.exception("Error in coordinate callback")
