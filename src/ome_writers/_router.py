"""Frame router: frame number -> (position index, storage index). Pure, no I/O."""

from __future__ import annotations

import itertools
import math
from operator import itemgetter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ._schema import AcquisitionSettings

Route = tuple[int, tuple[int, ...]]

# Bounded acquisitions up to this many frames get a precomputed route table.
TABLE_LIMIT = 1 << 17


def _taker(indices: tuple[int, ...]) -> Callable[[tuple[int, ...]], tuple[int, ...]]:
    if not indices:
        return lambda full: ()
    if len(indices) == 1:
        (i,) = indices
        return lambda full: (full[i],)
    return itemgetter(*indices)


class FrameRouter:
    """Map frame numbers (acquisition order) to positions and storage indices.

    Frames arrive in C order over the non-frame dimensions as listed in
    ``settings.dimensions`` (the position dimension included; the last listed
    varies fastest). The storage index is the tuple of non-position indices in
    storage order.
    """

    __slots__ = (
        "_inner",
        "_inner_total",
        "_pidx",
        "_storage_take",
        "_table",
        "counts",
        "names",
        "total",
    )

    def __init__(self, settings: AcquisitionSettings) -> None:
        dims = settings.dimensions[:-2]
        self.names: tuple[str, ...] = tuple(d.name for d in dims)
        self.counts: tuple[int | None, ...] = tuple(d.count for d in dims)
        self._pidx = settings.position_dimension_index
        storage = [d.name for d in settings.storage_index_dimensions]
        self._storage_take = _taker(tuple(self.names.index(n) for n in storage))
        self.total: int | None = settings.num_frames
        self._inner_total = math.prod(c or 1 for c in self.counts[1:])
        self._table: list[Route] | None = None
        # inner indices of one cycle of the first dimension, when small enough
        self._inner: list[tuple[int, ...]] | None = None
        if self.total is not None and self.total <= TABLE_LIMIT:
            self._table = [self._compute(n) for n in range(self.total)]
        elif self._inner_total <= TABLE_LIMIT:
            inner_ranges = (range(c or 1) for c in self.counts[1:])
            self._inner = list(itertools.product(*inner_ranges))

    def acquisition_index(self, n: int) -> tuple[int, ...]:
        """Index of frame `n` along every non-frame dimension, acquisition order."""
        if not self.counts:
            return ()
        outer, rem = divmod(n, self._inner_total)
        if self._inner is not None:
            return (outer, *self._inner[rem])
        inner = []
        for count in reversed(self.counts[1:]):
            rem, i = divmod(rem, count)  # type: ignore[operator]
            inner.append(i)
        return (outer, *reversed(inner))

    def _compute(self, n: int) -> Route:
        full = self.acquisition_index(n)
        pos = full[self._pidx] if self._pidx is not None else 0
        return pos, self._storage_take(full)

    def route(self, n: int) -> Route:
        """(position index, storage index) of frame `n` (no bounds check)."""
        table = self._table
        if table is not None:
            return table[n]
        return self._compute(n)

    def __iter__(self) -> Iterator[Route]:
        frames = itertools.count() if self.total is None else range(self.total)
        return (self.route(n) for n in frames)
