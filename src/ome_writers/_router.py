"""Frame router: frame number -> (position index, storage index). Pure, no I/O."""

from __future__ import annotations

import itertools
import math
from operator import itemgetter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ome_writers._schema import AcquisitionSettings

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


def explicit_order(settings: AcquisitionSettings) -> list[tuple[int, ...]] | None:
    """`settings.frame_order` with left-out trailing dimensions filled in (C order).

    One entry per frame (per cycle of an unbounded first dimension), one index
    per non-frame dimension; None when frames arrive in C order.
    """
    order = settings.frame_order
    if order is None:
        return None
    counts = [d.count or 1 for d in settings.dimensions[:-2]]
    trailing = counts[len(order[0]) :]
    if not trailing:
        return list(order)
    inner = list(itertools.product(*(range(c) for c in trailing)))
    return [(*entry, *rest) for entry in order for rest in inner]


def listed_cells(settings: AcquisitionSettings) -> list[tuple[int, ...]] | None:
    """Every frame's cell in arrival order, when that is not plain C order.

    The explicit `frame_order`, or for positions with their own dimensions
    the default order that skips cells outside them. None: C order.
    """
    order = explicit_order(settings)
    if order is None and settings.is_ragged:
        return settings.frame_cells()
    return order


def series_position(settings: AcquisitionSettings) -> Callable[[tuple[int, ...]], int]:
    """The image ("position") index of a cell: the series dims' mixed radix."""
    series = settings.series_dimension_indices
    if not series:
        return lambda cell: 0
    if len(series) == 1:
        (i,) = series
        return lambda cell: cell[i]
    strides = []
    stride = 1
    for i in reversed(series):
        strides.append((i, stride))
        stride *= settings.dimensions[i].count or 1
    return lambda cell: sum(cell[i] * s for i, s in strides)


def c_order_per_position(settings: AcquisitionSettings) -> bool:
    """Whether each position receives all its frames in C order of its own dims.

    True for the default order; an explicit `frame_order` may interleave
    positions (tiles of a grid inside the t/c/z loops) and still qualify, but
    not leave cells out (a jagged acquisition).
    """
    order = explicit_order(settings)
    if order is None:
        return True
    position_of = series_position(settings)
    names = [d.name for d in settings.dimensions[:-2]]
    span = 1 + max(e[0] for e in order) if order and names else 1
    # per position: (index into the cell, count) of each of its own dimensions
    own: list[list[tuple[int, int]]] = []
    for p in range(len(settings.positions)):
        dims = settings.position_index_dimensions(p)
        own.append([(names.index(d.name), d.count or span) for d in dims])
    next_flat: dict[int, int] = {}
    for entry in order:
        pos = position_of(entry)
        flat = 0
        for i, count in own[pos]:
            flat = flat * count + entry[i]
        if flat != next_flat.get(pos, 0):
            return False
        next_flat[pos] = flat + 1
    return all(
        next_flat.get(p, 0) == math.prod(count for _, count in dims)
        for p, dims in enumerate(own)
    )


class FrameRouter:
    """Map frame numbers (acquisition order) to positions and storage indices.

    Frames arrive in C order over the non-frame dimensions as listed in
    ``settings.dimensions`` (the position dimension included; the last listed
    varies fastest), or in the order ``settings.frame_order`` lists. The
    storage index is the tuple of non-position indices in storage order.
    """

    __slots__ = (
        "_block",
        "_block_routes",
        "_cycle_routes",
        "_inner",
        "_inner_total",
        "_outer_axis",
        "_pidx",
        "_planned",
        "_position_of",
        "_span",
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
        self._position_of = series_position(settings)
        storage = [d.name for d in settings.storage_index_dimensions]
        self._storage_take = _taker(tuple(self.names.index(n) for n in storage))
        self.total: int | None = settings.num_frames
        self._inner_total = math.prod(c or 1 for c in self.counts[1:])
        self._table: list[Route] | None = None
        # inner indices of one cycle of the first dimension, when small enough
        self._inner: list[tuple[int, ...]] | None = None
        # an explicit frame order: one cycle of acquisition indices and routes
        self._block = listed_cells(settings)
        self._block_routes: list[Route] = []
        # where the first (unbounded) dimension sits in the storage index
        first = self.names[0] if self.names else None
        self._outer_axis = storage.index(first) if first in storage else -1
        if settings.is_ragged:
            # each position keeps its own dimensions, in storage order
            takes = []
            for p in range(len(settings.positions)):
                own = {d.name for d in settings.position_index_dimensions(p)}
                takes.append(
                    _taker(tuple(self.names.index(n) for n in storage if n in own))
                )
            assert self._block is not None
            self._block_routes = []
            for cell in self._block:
                pos = self._position_of(cell)
                self._block_routes.append((pos, takes[pos](cell)))
            self._table = self._block_routes
        elif self._block is not None:
            self._block_routes = [self._split(e) for e in self._block]
            if self.total is not None:
                self._table = self._block_routes
        elif self.total is not None and self.total <= TABLE_LIMIT:
            self._table = [self._compute(n) for n in range(self.total)]
        elif self._inner_total <= TABLE_LIMIT:
            inner_ranges = (range(c or 1) for c in self.counts[1:])
            self._inner = list(itertools.product(*inner_ranges))
        # an unbounded listed order covers `span` indices of the first dimension
        self._span = 1 + max((e[0] for e in self._block or ()), default=0)
        # an unbounded acquisition repeats one cycle of routes, shifted along
        # the first dimension (`route`)
        self._cycle_routes: list[Route] | None = None
        if self.total is None and not settings.is_ragged and self._outer_axis >= 0:
            if self._block is not None:
                self._cycle_routes = self._block_routes
            elif self._inner is not None:
                self._cycle_routes = [self._split((0, *i)) for i in self._inner]
        # jagged orders leave cells out: the storage indices that are acquired
        self._planned: list[set[tuple[int, ...]]] | None = None
        if self._block is not None:
            if settings.is_ragged:
                cells = len(settings.frame_cells())
            elif self.total is None:  # one cycle of the unbounded first dim
                cells = self._span * self._inner_total
            else:
                cells = math.prod(c or 1 for c in self.counts)
            if len(self._block) < cells:
                self._planned = [set() for _ in settings.positions]
                for pos, index in self._block_routes:
                    self._planned[pos].add(index)

    def acquisition_index(self, n: int) -> tuple[int, ...]:
        """Index of frame `n` along every non-frame dimension, acquisition order."""
        if not self.counts:
            return ()
        block = self._block
        if block is not None:
            cycle, rem = divmod(n, len(block))
            entry = block[rem]
            return (entry[0] + cycle * self._span, *entry[1:]) if cycle else entry
        outer, rem = divmod(n, self._inner_total)
        if self._inner is not None:
            return (outer, *self._inner[rem])
        inner = []
        for count in reversed(self.counts[1:]):
            rem, i = divmod(rem, count)  # type: ignore[operator]
            inner.append(i)
        return (outer, *reversed(inner))

    def _split(self, full: tuple[int, ...]) -> Route:
        return self._position_of(full), self._storage_take(full)

    def _compute(self, n: int) -> Route:
        if self._block_routes:  # a later cycle of an unbounded explicit order
            cycle, rem = divmod(n, len(self._block_routes))
            pos, index = self._block_routes[rem]
            k = self._outer_axis
            shifted = index[k] + cycle * self._span
            return pos, (*index[:k], shifted, *index[k + 1 :])
        return self._split(self.acquisition_index(n))

    @property
    def jagged(self) -> bool:
        """Whether some cells of the arrays are never acquired."""
        return self._planned is not None

    def is_planned(self, position: int, index: tuple[int, ...]) -> bool:
        """Whether the storage cell `index` of `position` is ever acquired."""
        planned = self._planned
        if planned is None:
            return True
        k = self._outer_axis
        if self.total is None and k >= 0:  # fold later cycles onto the first
            index = (*index[:k], index[k] % self._span, *index[k + 1 :])
        return index in planned[position]

    @property
    def table(self) -> list[Route] | None:
        """Every frame's route, when the acquisition is bounded and small
        enough to list them (`route(n)` is then ``table[n]``)."""
        return self._table

    def route(self, n: int) -> Route:
        """(position index, storage index) of frame `n` (no bounds check)."""
        table = self._table
        if table is not None:
            return table[n]
        cycle_routes = self._cycle_routes
        if cycle_routes is not None:
            cycle, rem = divmod(n, len(cycle_routes))
            pos, index = cycle_routes[rem]
            if not cycle:
                return pos, index
            k = self._outer_axis
            return pos, (*index[:k], index[k] + cycle * self._span, *index[k + 1 :])
        return self._compute(n)

    def __iter__(self) -> Iterator[Route]:
        frames = itertools.count() if self.total is None else range(self.total)
        return (self.route(n) for n in frames)
