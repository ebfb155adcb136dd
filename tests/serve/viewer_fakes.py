"""A dataset view held in memory, for testing the viewer's API alone."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Channel:
    name: str
    color: str = "#FFFFFF"
    window: tuple[float, float] | None = None
    visible: bool = True


@dataclass
class FakeView:
    """`levels_data[k]` is level k's whole array; `shape` what is written now."""

    levels_data: list[np.ndarray]
    dims: tuple[str, ...]
    channels: list[Channel] = field(default_factory=list)
    labels: dict[str, list[str]] = field(default_factory=dict)
    written: tuple[int, ...] | None = None
    complete: bool = True
    updated: datetime | None = None
    level: int = 0
    refreshes: int = 0
    closed: bool = False
    gate: threading.Event | None = None  # reads wait for it when set
    parent: FakeView | None = None

    @property
    def _root(self) -> FakeView:
        return self.parent or self

    @property
    def shape(self) -> tuple[int, ...]:
        full = self.levels_data[self.level].shape
        written = self._root.written or self.levels_data[0].shape
        return (*written[:-2], *full[-2:])

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.levels_data[0].dtype

    @property
    def coords(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for dim, size in zip(self.dims, self.shape, strict=True):
            labels = self.labels.get(dim)
            out[dim] = labels[:size] if labels else range(size)
        return out

    @property
    def levels(self) -> int:
        return len(self.levels_data)

    @property
    def level_shapes(self) -> list[tuple[int, ...]]:
        written = self._root.written or self.levels_data[0].shape
        return [(*written[:-2], *a.shape[-2:]) for a in self.levels_data]

    def __getitem__(self, key: Any) -> np.ndarray:
        if self._root.gate is not None:
            self._root.gate.wait(30)
        for axis, (k, size) in enumerate(zip(key, self.shape, strict=False)):
            if isinstance(k, int) and not 0 <= k < size:
                raise IndexError(f"index {k} out of bounds for axis {axis}")
        return np.asarray(self.levels_data[self.level][key])

    def at_level(self, level: int) -> FakeView:
        return FakeView(
            self.levels_data,
            self.dims,
            self.channels,
            self.labels,
            level=level,
            parent=self,
        )

    def refresh(self) -> bool:
        self.refreshes += 1
        return False

    def close(self) -> None:
        self.closed = True

    def touch(self, written: tuple[int, ...]) -> None:
        self.written = written
        self.updated = datetime.now(timezone.utc)
