"""What a dataset view reads: one format's images, and how far they are valid."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    import numpy as np

    from ome_writers.reading._channels import ChannelDisplay

#: one item per dimension: an index, or a slice with start, stop, step >= 1
Key = tuple[int | slice, ...]


@dataclass(frozen=True)
class Snapshot:
    """How far a dataset's valid data reaches, as its metadata says now.

    Attributes
    ----------
    extent : tuple[int, ...]
        The valid extent of every dimension at full resolution.
    complete : bool
        The writer closed normally, or the dataset states no progress.
    status : str
        ``"writing"``, ``"complete"`` or ``"failed"`` (``"complete"`` when the
        dataset states none).
    updated : datetime | None
        When the writer last stated its progress.
    frames : int | None
        Frames on disk, counted from the first in acquisition order.
    """

    extent: tuple[int, ...]
    complete: bool
    status: str = "complete"
    updated: datetime | None = None
    frames: int | None = None

    @property
    def final(self) -> bool:
        """Whether nothing more will be written (complete or failed)."""
        return self.status != "writing"


class Source(ABC):
    """One dataset, in one format, read through an independent library.

    `dims`, `dtype`, `labels` and `channels` are fixed at opening; `shapes`
    (the declared shape of each level) and the snapshot change on `refresh`.
    """

    dims: tuple[str, ...]
    dtype: np.dtype
    #: coordinate labels of the dimensions that have names (p, c)
    labels: dict[str, list[Any]]
    channels: list[ChannelDisplay]

    @property
    @abstractmethod
    def shapes(self) -> list[tuple[int | None, ...]]:
        """The declared shape of every level (None: an axis still growing)."""

    @property
    @abstractmethod
    def factors(self) -> list[tuple[float, ...]]:
        """Per level, how much each dimension is reduced from level 0."""

    @property
    @abstractmethod
    def snapshot(self) -> Snapshot:
        """The progress last read."""

    @abstractmethod
    def refresh(self) -> Snapshot:
        """Read the dataset's progress again (and whatever it points to)."""

    @abstractmethod
    def read(self, level: int, key: Key) -> np.ndarray:
        """Read `key` of `level` (inside the valid extent); integer items
        drop their dimension."""

    def label_names(self) -> list[str]:
        """Names of the label images of the images read (none outside
        OME-Zarr)."""
        return []

    def label_source(self, name: str) -> Source:
        """The label image `name` of the images read, following the same
        progress; it shares this source's files."""
        raise KeyError(f"no label image {name!r}: label images are OME-Zarr's")

    def close(self) -> None:
        """Release files held open."""


def reduced_extent(
    extent: Sequence[int], factors: Sequence[float], shape: Sequence[int | None]
) -> tuple[int, ...]:
    """A level's valid extent: level 0's divided by the level's reduction,
    rounded up, within the level's shape."""
    out = []
    for e, f, size in zip(extent, factors, shape, strict=True):
        reduced = int(-(-e // f)) if f > 1 else e
        out.append(reduced if size is None else min(reduced, size))
    return tuple(out)


def read_inside(array: Any, shape: Sequence[int], key: Key, dtype: Any) -> np.ndarray:
    """`array[key]` where `array` has `shape`; what lies outside reads as zeros.

    An array a writer is still growing may be behind the extent its dataset
    states for another image (positions reach an index one after the other).
    """
    import numpy as np

    inside: list[int | slice] = []
    out_shape: list[int] = []
    out_slices: list[slice] = []
    for k, size in zip(key, shape, strict=True):
        if isinstance(k, int):
            if k >= size:
                return np.zeros(_sizes(key), dtype=dtype)
            inside.append(k)
            continue
        n = len(range(k.start, k.stop, k.step))
        n_in = len(range(k.start, min(k.stop, size), k.step)) if k.start < size else 0
        out_shape.append(n)
        out_slices.append(slice(0, n_in))
        if n_in == 0:
            return np.zeros(_sizes(key), dtype=dtype)
        inside.append(slice(k.start, k.start + (n_in - 1) * k.step + 1, k.step))
    data = np.asarray(array[tuple(inside)], dtype=dtype)
    if list(data.shape) == out_shape:
        return data
    out = np.zeros(out_shape, dtype=dtype)
    out[tuple(out_slices)] = data
    return out


def _sizes(key: Key) -> list[int]:
    return [len(range(k.start, k.stop, k.step)) for k in key if isinstance(k, slice)]
