"""Creating a dataset's arrays ahead of the frames, on a background thread.

A plate of 384 fields has 384 arrays; creating them all before `create_stream`
returns costs a quarter to a whole second, depending on the library. Only the
array of the first frame is needed then: that one is created at once, the
others on a background thread in the order frames will need them (the
router's), in small batches the library may create concurrently. A write to a
position whose array is not there yet waits for it (a list lookup when it is);
a creation error is raised by that wait, and by `wait_all`, which checkpoints,
reads of a whole dataset and close call first.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ome_writers._router import FrameRouter

BATCH = 16  # arrays handed to the library at once
# frames routed to find the order positions are first needed in (plenty for
# any real layout; positions not reached by then follow in index order)
FIRST_USE_LIMIT = 200_000


class ArraysAhead:
    """Creates arrays with `create(positions)` in `order`, the first one at once.

    Parameters
    ----------
    order : sequence of int
        Every position, in the order frames first reach them.
    create : callable
        Creates the arrays of the given positions (called on one thread at a
        time: first on the caller's, then on the background thread).
    """

    def __init__(
        self, order: Sequence[int], create: Callable[[list[int]], None]
    ) -> None:
        self.ready = [False] * len(order)
        self._order = list(order)
        self._create = create
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Create the first array now and the others in the background."""
        first, rest = self._order[:1], self._order[1:]
        self._create(first)
        self._mark(first)
        if rest:
            self._thread = threading.Thread(
                target=self._run, args=(rest,), name="ome-writers-arrays", daemon=True
            )
            self._thread.start()

    def _run(self, rest: list[int]) -> None:
        try:
            for i in range(0, len(rest), BATCH):
                batch = rest[i : i + BATCH]
                self._create(batch)
                self._mark(batch)
        except BaseException as e:
            with self._changed:
                self._error = e
                self._changed.notify_all()

    def _mark(self, positions: list[int]) -> None:
        with self._changed:
            for p in positions:
                self.ready[p] = True
            self._changed.notify_all()

    def wait(self, position: int) -> None:
        """Return once `position`'s array exists; raise if creating it failed."""
        with self._changed:
            while not self.ready[position] and self._error is None:
                self._changed.wait()
            if not self.ready[position] and self._error is not None:
                raise self._error

    def wait_all(self) -> None:
        """Return once every array exists; raise a creation error."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error


def made_at_once(n_positions: int) -> ArraysAhead:
    """Arrays made by their owner before any frame (nothing made ahead)."""
    ahead = ArraysAhead(range(n_positions), lambda positions: None)
    ahead.ready[:] = [True] * n_positions
    return ahead


def first_use_order(
    n_positions: int, route: Callable[[int], tuple[int, tuple[int, ...]]], total: int
) -> list[int]:
    """Positions in the order frames `0..total-1` first reach them, then the rest."""
    seen: dict[int, None] = {}
    for n in range(total):
        seen.setdefault(route(n)[0])
        if len(seen) == n_positions:
            break
    seen.update(dict.fromkeys(range(n_positions)))
    return list(seen)


def make_arrays(
    n_positions: int, router: FrameRouter, create: Callable[[list[int]], None]
) -> ArraysAhead:
    """Make the first position's array now and, with several positions, the
    others in the background, in the order frames first reach them."""
    order = [0]
    if n_positions > 1:
        total = router.total
        limit = min(total if total is not None else FIRST_USE_LIMIT, FIRST_USE_LIMIT)
        order = first_use_order(n_positions, router.route, limit)
    ahead = ArraysAhead(order, create)
    ahead.start()
    return ahead
