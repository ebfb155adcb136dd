"""Pyramid levels 1..N fed from level-0 frames on one background thread.

The caller's thread only copies each frame into a free buffer of a fixed
pool (a `FramePool`, made resident ahead of use; blocking while every buffer
is in flight: memory stays bounded) and queues it; the thread reduces it
level by level (`PlaneReducer`) and hands each reduced plane to that level's
writer (a `LevelSink`), in arrival order.

Z reduction: the planes of one block (a z pair, per index of the other
axes) are held until the block is complete, then reduced together, so at
most one incomplete block per level, position and combination of the axes
that vary faster than z is held. A skipped frame counts as a zero plane; a
block with no frame at all is skipped at the next level too, so a level never
holds data its base does not have. At close, incomplete blocks are reduced
with zeros for their missing planes (the base reads zeros there), except
along a first axis cut at close, where planes beyond its final extent do not
exist.

An error on the thread is raised from the next `take`/`skip`, `settle` and
`close`.
"""

from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ome_writers._io._frame_pool import FramePool
from ome_writers.backends.pyramid._reduce import PlaneReducer

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

POOL_BYTES = 32 * 1024**2  # frames queued for reduction


class LevelSink(Protocol):
    """Where one level's planes go (storage index of that level)."""

    def write(self, position: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        """Store one plane; `frame` may be reused after this returns."""

    def skip(self, position: int, index: tuple[int, ...]) -> None:
        """Leave one plane unwritten."""


@dataclass
class _Block:
    """Planes of one incomplete z block of a level (None: not arrived or skipped)."""

    planes: list[np.ndarray | None]
    counts: list[int]  # planes along each reduced axis (2, or 1 at an edge)
    received: int = 0
    arrived: set[int] = field(default_factory=set)


class LevelPipeline:
    """Reduces level-0 frames into levels 1..N on a background thread.

    Parameters
    ----------
    frame_shape : tuple[int, int]
        Y, X of level 0.
    dtype : numpy dtype
    method : str
        "mean", "decimate", "min" or "max".
    index_shape : sequence of int | None
        Level 0's index (non-frame) dimensions in storage order; None = unbounded.
    reduced : sequence of bool
        Per index dimension: whether levels halve it (z).
    sinks : sequence of LevelSink
        Writers of levels 1..N, in order.
    setup : callable, optional
        Run first on the thread (e.g. creating the level arrays).

    The thread runs from `start`.
    """

    def __init__(
        self,
        frame_shape: tuple[int, int],
        dtype: np.dtype,
        method: str,
        index_shape: Sequence[int | None],
        reduced: Sequence[bool],
        sinks: Sequence[LevelSink],
        setup: Callable[[], None] | None = None,
    ) -> None:
        self.sinks = list(sinks)
        self.reduced = tuple(reduced)
        self.z_axes = [i for i, r in enumerate(self.reduced) if r]
        self.reducers: list[PlaneReducer] = []
        self.shapes: list[list[int | None]] = [list(index_shape)]
        shape = frame_shape
        for _ in self.sinks:
            reducer = PlaneReducer(shape, dtype, method)
            self.reducers.append(reducer)
            shape = reducer.out_shape
            self.shapes.append(
                [
                    math.ceil(n / 2) if r and n is not None else n
                    for n, r in zip(self.shapes[-1], self.reduced, strict=True)
                ]
            )
        self.outputs = [r.new_output() for r in self.reducers]
        self.blocks: dict[tuple[int, int, tuple[int, ...]], _Block] = {}
        frame_bytes = max(1, math.prod(frame_shape) * np.dtype(dtype).itemsize)
        n_buffers = min(16, max(3, POOL_BYTES // frame_bytes))
        self.frames = FramePool(n_buffers, frame_shape, dtype)
        self._holders = [0] * n_buffers
        self._lock = threading.Lock()
        self.work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._setup = setup
        self._thread = threading.Thread(
            target=self._run, name="ome-writers-levels", daemon=True
        )

    def start(self) -> None:
        """Start the thread (`setup` first, then the queued frames)."""
        self._thread.start()
        self.frames.start()

    # -------------------------------------------------- caller's thread

    def take(self, frame: np.ndarray, holders: int) -> tuple[int, np.ndarray]:
        """Copy `frame` into a free buffer held by `holders` users.

        Returns the buffer's slot and the buffer; each holder calls
        `release(slot)` once (`queue` counts as one holder). Blocks while
        every buffer is in flight.
        """
        if self.error is not None:
            raise self.error
        frames = self.frames
        slot = frames.take()
        frames.fill(slot, frame)
        self._holders[slot] = holders
        return slot, frames.buffers[slot]

    def queue(self, position: int, index: tuple[int, ...], slot: int) -> None:
        """Reduce the frame in `slot` (from `take`) on the thread, then release it."""
        self.work.put((position, index, slot))

    def release(self, slot: int) -> None:
        """One holder of `slot` is done with it (thread-safe)."""
        with self._lock:
            self._holders[slot] -= 1
            done = self._holders[slot] == 0
        if done:
            self.frames.release(slot)

    def skip(self, position: int, index: tuple[int, ...]) -> None:
        """Queue a skipped level-0 frame."""
        if self.error is not None:
            raise self.error
        self.work.put((position, index, None))

    def settle(self) -> None:
        """Wait until every frame queued so far went to the level writers."""
        if self._thread.is_alive():
            barrier = threading.Event()
            self.work.put(barrier)
            barrier.wait()
        if self.error is not None:
            raise self.error

    def close(self, extents: Sequence[int] | None = None) -> None:
        """Process everything queued, complete open blocks, stop the thread.

        `extents`: per position, level 0's final extent along an unbounded
        first dimension (planes beyond it do not exist).
        """
        if self._thread.is_alive():
            self.work.put(None)
            self._thread.join()
        self.frames.close()
        if self.error is not None:
            raise self.error
        self._complete_blocks(extents)

    # -------------------------------------------------- the thread

    def _run(self) -> None:
        try:
            if self._setup is not None:
                self._setup()
        except BaseException as e:
            self.error = e
        while True:
            item = self.work.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            position, index, slot = item
            try:
                if self.error is None:
                    plane = None if slot is None else self.frames.buffers[slot]
                    self._feed(1, position, index, plane)
            except BaseException as e:
                self.error = e
            finally:
                if slot is not None:
                    self.release(slot)

    def _feed(
        self, level: int, position: int, index: tuple[int, ...], plane: Any
    ) -> None:
        """Make `level`'s planes from `plane` at `index` of level - 1."""
        if level > len(self.sinks):
            return
        if not self.z_axes:
            self._emit(level, position, index, None if plane is None else [plane])
            return
        below = self.shapes[level - 1]
        target = tuple(
            i // 2 if r else i for i, r in zip(index, self.reduced, strict=True)
        )
        key = (level, position, target)
        block = self.blocks.get(key)
        if block is None:
            counts = [
                2 if below[a] is None or 2 * target[a] + 1 < (below[a] or 0) else 1
                for a in self.z_axes
            ]
            block = self.blocks[key] = _Block([None] * math.prod(counts), counts)
        slot = 0
        for a, n in zip(self.z_axes, block.counts, strict=True):
            slot = slot * n + index[a] % 2
        if plane is not None:
            block.planes[slot] = plane.copy()
            block.arrived.add(slot)
        block.received += 1
        if block.received >= len(block.planes):
            del self.blocks[key]
            self._reduce_block(level, position, target, block)

    def _reduce_block(
        self, level: int, position: int, target: tuple[int, ...], block: _Block
    ) -> None:
        if not block.arrived:
            self._emit(level, position, target, None)
            return
        zeros = None
        planes = []
        for plane in block.planes:
            if plane is None:
                if zeros is None:
                    shape = self.reducers[level - 1].shape
                    zeros = np.zeros(shape, dtype=self.frames.buffers.dtype)
                plane = zeros
            planes.append(plane)
        self._emit(level, position, target, planes)

    def _emit(
        self,
        level: int,
        position: int,
        index: tuple[int, ...],
        planes: list[np.ndarray] | None,
    ) -> None:
        sink = self.sinks[level - 1]
        if planes is None:
            sink.skip(position, index)
            self._feed(level + 1, position, index, None)
            return
        out = self.reducers[level - 1].reduce(planes, self.outputs[level - 1])
        sink.write(position, index, out)
        self._feed(level + 1, position, index, out)

    def _complete_blocks(self, extents: Sequence[int] | None) -> None:
        """Reduce every incomplete block, level by level (lower levels first)."""
        for level in range(1, len(self.sinks) + 1):
            for key in sorted(k for k in self.blocks if k[0] == level):
                block = self.blocks.pop(key)
                _, position, target = key
                if extents is not None:
                    self._trim_cut(level, position, target, block, extents)
                self._reduce_block(level, position, target, block)

    def _trim_cut(
        self,
        level: int,
        position: int,
        target: tuple[int, ...],
        block: _Block,
        extents: Sequence[int],
    ) -> None:
        """Drop planes of `block` beyond the final extent of the first axis."""
        if 0 not in self.z_axes:  # the first axis is not reduced
            return
        below = math.ceil(extents[position] / 2 ** (level - 1))
        if 2 * target[0] + 1 < below:
            return
        counts = block.counts
        kept = [
            plane
            for slot, plane in enumerate(block.planes)
            if _offsets(slot, counts)[0] == 0
        ]
        block.planes = kept
        block.counts = [1, *counts[1:]]
        block.arrived = {i for i, p in enumerate(kept) if p is not None}


def _offsets(slot: int, counts: list[int]) -> tuple[int, ...]:
    """Offsets along each reduced axis of a block's `slot`."""
    out = []
    for n in reversed(counts):
        out.append(slot % n)
        slot //= n
    return tuple(reversed(out))
