"""Data written beside the frames (label images, tables): `Companion`.

A companion is written by index or by row at any time while the stream is
open, from any thread, under the stream's lock. It follows the stream's
guarantees: what it wrote becomes readable at the next loss-window visit,
durable at the next checkpoint, complete at close, in that order before the
frames' own metadata (whose progress record is written last).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


class Companion(Protocol):
    """What the stream asks of data written beside its frames."""

    @property
    def version(self) -> int:
        """Changes so far (a loss-window visit is due when it grows)."""
        ...

    def start_readable(self) -> Callable[[], None] | None:
        """Under the stream's lock: start making the changes readable; what
        is returned (called without the lock) finishes it."""
        ...

    def checkpoint(self) -> None:
        """Every change lands and is described (the stream syncs after)."""
        ...

    def finalize(self) -> None:
        """Write what is pending and the final description; release resources."""
        ...


class Companions:
    """The companions of one stream, by name, in the order they were added."""

    def __init__(self) -> None:
        self._items: dict[str, Companion] = {}
        #: how to make a companion the stream can have, on first use
        self.factories: dict[str, Callable[[], Companion]] = {}

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self) -> Iterator[Companion]:
        return iter(list(self._items.values()))

    def get(self, key: str) -> Companion | None:
        return self._items.get(key)

    def add(self, key: str, companion: Companion) -> None:
        self._items[key] = companion

    def obtain(self, key: str) -> Companion | None:
        """The companion `key`, made by its factory on first use; None when
        the stream cannot have one."""
        companion = self._items.get(key)
        if companion is None:
            factory = self.factories.get(key)
            if factory is None:
                return None
            companion = self._items[key] = factory()
        return companion

    @property
    def version(self) -> int:
        return sum(c.version for c in self._items.values())

    def start_readable(self) -> list[Callable[[], object]]:
        """Each companion's `start_readable`; the finishers to call."""
        finishers: list[Callable[[], object]] = []
        for companion in self:
            finish = companion.start_readable()
            if finish is not None:
                finishers.append(finish)
        return finishers

    def checkpoint(self) -> None:
        for companion in self:
            companion.checkpoint()

    def finalize(self) -> list[Exception]:
        """Finalize every companion, also after one failed; the failures."""
        errors: list[Exception] = []
        for companion in self:
            try:
                companion.finalize()
            except Exception as e:
                errors.append(e)
        return errors
