"""An `ArrayWriter` that writes some files itself and leaves the rest to a library's.

`ChunkFileWriter` and `ShardFileWriter` write frames (or assembled shards) to
files on threads of their own, while `inner`, the library's writer, makes,
resizes, declares and reads the arrays. `DelegatingWriter` is what they share:
each call goes to `inner`, and those that must also see the writer's own
writes (start, read, waiting, draining, close) go to them too: to `own`, what
both kinds of own writes answer alike, and to hooks where they differ.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, Protocol

from ome_writers.backends.zarr._array_writer import ArrayWriter

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import numpy as np

    from ome_writers._io._object_store import DatasetPath
    from ome_writers.backends.zarr._array_writer import ArrayGrid


class OwnWrites(Protocol):
    """A writer's own writes in flight (`ChunkFiles`, `PendingWrites`)."""

    @property
    def stalls(self) -> int:
        """Times a write waited for room."""
        ...

    def waiter(self) -> Callable[[], None]:
        """What waits (from any thread) for the writes issued so far."""
        ...

    def drain(self) -> None:
        """Wait for every write issued; raise a failure."""
        ...


class DelegatingWriter(ArrayWriter):
    """Writes of its own (`own` and the hooks) in front of `inner`, the
    library's writer, which does every other part."""

    def __init__(
        self,
        inner: ArrayWriter,
        grid: ArrayGrid,
        explain: Callable[[BaseException], BaseException],
        own: OwnWrites,
    ) -> None:
        super().__init__(grid, explain)
        self.inner = inner
        self.grows_ahead = inner.grows_ahead
        self.own = own
        # room asked for and not yet given to `inner` (`make_room`), by position
        self._room: dict[int, tuple[int, ...]] = {}

    # ------------------------------------------------------ its own writes

    @abstractmethod
    def _start_own(self) -> None:
        """Start the threads of its own writes."""

    @abstractmethod
    def _wait_own(self) -> None:
        """Wait for its own writes, keeping a failure for later calls."""

    def _check_own(self) -> None:
        """Raise a failure of its own writes known already."""

    @abstractmethod
    def _close_own(self) -> None:
        """Stop the threads of its own writes."""

    # ------------------------------------------------------ the ArrayWriter

    @property
    def max_bytes_in_flight(self) -> int:
        return self.inner.max_bytes_in_flight

    def start(self) -> None:
        self.inner.start()
        self._start_own()

    def create(self, arrays: list[tuple[int, DatasetPath, list[int]]]) -> None:
        self.inner.create(arrays)

    def write_frame(
        self, position: int, index: tuple[int, ...], frame: np.ndarray
    ) -> None:
        self._give_room(position)
        self.inner.write_frame(position, index, frame)

    def write_block(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        self._give_room(position)
        self.inner.write_block(position, origin, block)

    def write_block_borrowed(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        self._give_room(position)
        self.inner.write_block_borrowed(position, origin, block)

    def reuse_block(self, shape: tuple[int, ...]) -> np.ndarray | None:
        return self.inner.reuse_block(shape)

    def reserve_blocks(self, shape: tuple[int, ...]) -> None:
        self.inner.reserve_blocks(shape)

    def make_room(self, position: int, shape: tuple[int, ...]) -> None:
        # own writes need no room in the library's handle: it gets the room
        # when a read or a write through it does, not inside the append that
        # crossed the mark (a new handle's opening holds the interpreter)
        self._room[position] = shape

    def _give_room(self, position: int) -> None:
        shape = self._room.pop(position, None)
        if shape is not None:
            self.inner.make_room(position, shape)

    def declare(self, shapes: Mapping[int, tuple[int, ...]]) -> None:
        self.inner.declare(shapes)

    def read(self, position: int, key: tuple[Any, ...]) -> np.ndarray:
        self._wait_own()  # a read sees the writes issued before it
        self._give_room(position)
        return self.inner.read(position, key)

    def falling_behind(self) -> bool:
        return self.own.stalls > 0 or self.inner.falling_behind()

    def writes_in_flight(self) -> Callable[[], None] | None:
        self._check_own()
        inner = self.inner.writes_in_flight()
        ours = self.own.waiter()

        def wait() -> None:
            if inner is not None:
                inner()
            ours()

        return wait

    def drain(self) -> None:
        self.own.drain()
        self.inner.drain()

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self._close_own()
