"""Writes in flight on a library's own threads: bounded, in order, recycled.

Both tensorstore (futures) and the threaded zarr-python path hand work to
background threads. `PendingWrites` keeps their futures in submission order,
waits for the oldest when a bound is reached (backpressure), recycles the
buffers frames were copied into, and keeps the first error so that it is raised
from the next call.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ome_writers._io._frame_pool import copy_frame, make_resident, slotted

if TYPE_CHECKING:
    from collections.abc import Callable


class _Future(Protocol):
    def done(self) -> bool: ...
    def result(self) -> Any: ...


class PendingWrites:
    """Futures of writes in flight, with a bound on their bytes and/or count."""

    def __init__(
        self,
        *,
        max_bytes: int | None = None,
        max_items: int | None = None,
        explain: Callable[[BaseException], BaseException] = lambda e: e,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_items = max_items
        self.nbytes = 0
        self.stalls = 0  # times `add` waited because a bound was reached
        self.error: BaseException | None = None
        self._explain = explain
        # (future, bytes, buffer to recycle or None, buffer to keep alive or None)
        self._queue: deque[tuple[_Future, int, np.ndarray | None, Any]] = deque()
        self._free: dict[tuple[int, ...], list[np.ndarray]] = {}
        # the shapes buffers are asked for (`reserve`, `copy`, `reuse`): only
        # those are recycled, as a partly filled chunk's block, trimmed to its
        # frames, takes a shape no later request may match and would stay pooled
        self._wanted: set[tuple[int, ...]] = set()
        # buffers reserved per shape: the most a shape keeps pooled (others
        # keep what the bounds let be in flight at once, see `_keeps`)
        self._reserved: dict[tuple[int, ...], int] = {}
        # buffers handed out by `reuse`, by address: a write of the start of
        # one (a partly filled chunk, trimmed) gives the whole one back
        self._lent: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def pooled(self) -> int:
        """Buffers waiting for reuse."""
        return sum(len(buffers) for buffers in self._free.values())

    def reserve(
        self,
        shape: tuple[int, ...],
        dtype: np.dtype,
        count: int,
        *,
        resident: bool = False,
    ) -> None:
        """Allocate `count` buffers at once (memory is committed as they are
        used, or, if `resident`, by a thread of its own from now on), each at a
        page-aligned address when its size is whole pages (so that it can be
        written with direct I/O)."""
        _, block = slotted(count, shape, dtype)  # zeros, committed as written
        if resident:
            # not on the caller's thread: committing every buffer at once held
            # up the append that asked for the first one
            threading.Thread(
                target=make_resident,
                args=(block,),
                name="ome-writers-commit",
                daemon=True,
            ).start()
        key = tuple(shape)
        self._wanted.add(key)
        self._reserved[key] = self._reserved.get(key, 0) + count
        self._free.setdefault(key, []).extend(block)

    def _keeps(self, buffer: np.ndarray) -> bool:
        """Whether a written buffer goes back to the pool: of a shape asked
        for, and while the pool holds fewer of that shape than can be in flight
        at once (a partly filled chunk's copy, written at every loss-window
        visit in the shape of a whole one, would otherwise pile up there)."""
        shape = buffer.shape
        if shape not in self._wanted:
            return False
        reserved = self._reserved.get(shape)
        cap: float = math.inf if reserved is None else reserved
        if reserved is None and self.max_items is not None:
            cap = self.max_items + 1
        if reserved is None and self.max_bytes is not None:
            cap = min(cap, self.max_bytes // max(1, buffer.nbytes) + 1)
        return len(self._free.get(shape, ())) < cap

    def copy(self, data: np.ndarray) -> np.ndarray:
        """`data` copied into a recycled buffer (allocated only when none is free)."""
        self._wanted.add(data.shape)
        free = self._free.get(data.shape)
        buffer = free.pop() if free else np.empty(data.shape, dtype=data.dtype)
        copy_frame(buffer, data)
        return buffer

    def reuse(self, shape: tuple[int, ...]) -> np.ndarray | None:
        """A recycled buffer of `shape`, or None."""
        self._wanted.add(shape)
        free = self._free.get(shape)
        if not free:
            return None
        buffer = free.pop()
        self._lent[_address(buffer)] = buffer
        return buffer

    def check(self) -> None:
        """Raise a kept error; settle the writes that are already done."""
        if self.error is not None:
            raise self.error
        while self._queue and self._queue[0][0].done():
            self.settle()

    def add_releasing(
        self, start: Callable[[], Any], nbytes: int, release: Callable[[], None]
    ) -> None:
        """`add` the future `start()` returns; call `release` once it is done.

        `release` is called exactly once: when the write is done (or failed), or
        at once when `start` (or the check before it) raises.
        """
        try:
            self.check()
            future = start()
        except BaseException:
            release()
            raise
        future.add_done_callback(lambda _: release())
        self.add(future, nbytes)

    def add(
        self,
        future: _Future,
        nbytes: int,
        buffer: np.ndarray | None = None,
        *,
        keep: Any = None,
    ) -> None:
        """Track one write; wait for the oldest while over a bound.

        `buffer` (from `copy`) is recycled when the write is done; `keep` is
        only kept alive until then.
        """
        self._queue.append((future, nbytes, buffer, keep))
        self.nbytes += nbytes
        while self._queue and (
            (self.max_bytes is not None and self.nbytes > self.max_bytes)
            or (self.max_items is not None and len(self._queue) > self.max_items)
        ):
            if not self._queue[0][0].done():
                self.stalls += 1
            self.settle()

    def settle(self) -> None:
        """Wait for the oldest write; recycle its buffer; raise the first error."""
        future, nbytes, buffer, _ = self._queue.popleft()
        self.nbytes -= nbytes
        if buffer is not None:
            if self._lent:  # only streams that assemble blocks lend any
                buffer = self._lent.pop(_address(buffer), buffer)
            if self._keeps(buffer):
                self._free.setdefault(buffer.shape, []).append(buffer)
        try:
            future.result()
        except BaseException as e:
            # the first failure is the one reported, however many writes fail
            if self.error is None:
                self.error = self._explain(e)
            if self.error is e:
                raise
            raise self.error from e

    def waiter(self) -> Callable[[], None]:
        """What waits for the writes in flight now and raises the first
        failure among them (to call from another thread: it settles nothing,
        and `check` and `drain` still report the failure)."""
        futures = [entry[0] for entry in self._queue]
        explain = self._explain

        def wait() -> None:
            first: BaseException | None = None
            for future in futures:
                try:
                    future.result()
                except BaseException as e:
                    first = first or e
            if first is not None:
                # what a visit or checkpoint waited for never declares it landed
                raise explain(first) from first

        return wait

    def wait(self) -> None:
        """Wait for every write, also past a failed one; keep the first error."""
        while self._queue:
            try:
                self.settle()
            except Exception:  # kept in `error`; `check` and `drain` raise it
                continue

    def drain(self) -> None:
        """Wait for every write; raise the first error."""
        self.wait()
        if self.error is not None:
            raise self.error

    def release(self) -> None:
        """Drop the recycled buffers."""
        self._free.clear()
        self._lent.clear()


def _address(buffer: np.ndarray) -> int:
    return int(buffer.__array_interface__["data"][0])
