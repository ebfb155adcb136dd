"""What the viewer page reads: a dataset's description and its 2D planes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime

# a page polls about twice a second; several pages share one re-read
REFRESH_INTERVAL = 0.25
# pixel types a browser reads as they are (typed arrays); others are converted
_BROWSER_DTYPES = {"uint8", "int8", "uint16", "int16", "uint32", "int32"}
_BROWSER_DTYPES |= {"float32", "float64"}


class ChannelLike(Protocol):
    """A channel's display settings, as the dataset's metadata states them."""

    @property
    def name(self) -> str: ...
    @property
    def color(self) -> str: ...
    @property
    def window(self) -> tuple[float, float] | None: ...
    @property
    def visible(self) -> bool: ...


class ViewedDataset(Protocol):
    """What the viewer reads of a dataset (`ome_writers.open` returns one)."""

    @property
    def dims(self) -> tuple[str, ...]: ...
    @property
    def coords(self) -> Mapping[str, Sequence[Any]]: ...
    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def dtype(self) -> np.dtype[Any]: ...
    @property
    def levels(self) -> int: ...
    @property
    def level_shapes(self) -> Sequence[tuple[int, ...]]: ...
    @property
    def channels(self) -> Sequence[ChannelLike]: ...
    @property
    def complete(self) -> bool: ...
    @property
    def updated(self) -> datetime | None: ...

    def __getitem__(self, key: Any) -> Any: ...
    def at_level(self, level: int) -> ViewedDataset: ...
    def refresh(self) -> bool: ...
    def close(self) -> None: ...


class ViewerRequestError(Exception):
    """A request the dataset cannot answer; `status` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _default_open(path: str) -> ViewedDataset:
    from ome_writers.reading import open as open_dataset

    return open_dataset(path)


def browser_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The little-endian type a plane of `dtype` is sent as."""
    if dtype.name in _BROWSER_DTYPES:
        return dtype.newbyteorder("<")
    if dtype.kind == "b":
        return np.dtype("uint8")
    if dtype.kind == "f" and dtype.itemsize < 4:
        return np.dtype("<f4")
    return np.dtype("<f8")  # 64-bit integers: JavaScript has no such typed array


def _labels(values: Sequence[Any]) -> list[str] | None:
    """Names of a dimension's indices; None for plain index ranges."""
    if isinstance(values, range):
        return None
    items = list(values)
    if all(isinstance(v, int | np.integer) for v in items) and items == list(
        range(len(items))
    ):
        return None
    return [str(v) for v in items]


def _window(window: tuple[float, float] | None) -> list[float | int] | None:
    """A display window for JSON (which has no NaN or infinity)."""
    if window is None or not all(np.isfinite(v) for v in window):
        return None
    return [int(v) if float(v).is_integer() else float(v) for v in window]


def _channel_dim(view: ViewedDataset) -> str | None:
    """The dimension whose indices are the channels (None: no such dimension)."""
    names = [c.name for c in view.channels]
    plane_dims = view.dims[:-2]
    for dim in plane_dims:
        if [str(v) for v in view.coords.get(dim, ())] == names and names:
            return dim
    return "c" if "c" in plane_dims else None


class ViewerDataset:
    """A dataset opened for the viewer on first use, re-read when asked about.

    One call at a time (a lock): a re-read never runs beside a read.

    Parameters
    ----------
    path
        The served dataset.
    opener
        Opens `path` (default: `ome_writers.open`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        opener: Callable[[str], ViewedDataset] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self._open = opener or _default_open
        self._view: ViewedDataset | None = None
        self._levels: dict[int, ViewedDataset] = {}
        self._refreshed = 0.0
        self._lock = threading.Lock()

    def _level(self, level: int) -> ViewedDataset:
        """The view of `level`; the dataset opened once, its progress re-read
        at most every `REFRESH_INTERVAL` (the levels follow level 0)."""
        if self._view is None:
            try:
                self._view = self._open(self.path)
            except Exception as e:  # not yet written, or not a dataset at all
                raise ViewerRequestError(
                    503, f"cannot open {Path(self.path).name} as a dataset: {e}"
                ) from None
            self._levels = {0: self._view}
            self._refreshed = time.monotonic()
        elif time.monotonic() - self._refreshed >= REFRESH_INTERVAL:
            self._view.refresh()
            self._refreshed = time.monotonic()
        if level not in self._levels:
            self._levels[level] = self._view.at_level(level)
        return self._levels[level]

    def info(self) -> dict[str, Any]:
        """The dataset as the page shows it (a JSON-ready document)."""
        with self._lock:
            view = self._level(0)
            status = getattr(view, "status", None)  # "failed": the writer stopped
            if status not in ("writing", "complete", "failed"):
                status = "complete" if view.complete else "writing"
            coords = view.coords
            labels = {d: _labels(coords[d]) for d in view.dims[:-2] if d in coords}
            return {
                "name": Path(self.path).name,
                "dims": list(view.dims),
                "shape": [int(n) for n in view.shape],
                "dtype": view.dtype.name,
                "sent_dtype": browser_dtype(view.dtype).name,
                "labels": {d: v for d, v in labels.items() if v is not None},
                "channel_dim": _channel_dim(view),
                "channels": [
                    {
                        "name": c.name,
                        "color": c.color,
                        "window": _window(c.window),
                        "visible": bool(c.visible),
                    }
                    for c in view.channels
                ],
                "levels": int(view.levels),
                "level_shapes": [[int(n) for n in s] for s in view.level_shapes],
                "complete": bool(view.complete),
                "status": status,
                "updated": None if view.updated is None else view.updated.isoformat(),
            }

    def plane(self, level: int, indices: Mapping[str, str]) -> np.ndarray:
        """The (y, x) plane at `indices` (dimension name -> index; 0 if absent).

        Raises `ViewerRequestError` for an unknown dimension or level, or an
        index outside what is written now.
        """
        with self._lock:
            base = self._level(0)
            if level >= base.levels:
                raise ViewerRequestError(
                    400, f"level {level} does not exist: the dataset has {base.levels}"
                )
            view = self._level(level)
            dims = view.dims
            unknown = sorted(set(indices) - set(dims[:-2]))
            if unknown:
                raise ViewerRequestError(
                    400,
                    f"unknown dimension {unknown[0]!r}: the dataset's are "
                    f"{', '.join(dims[:-2]) or 'y and x only'}",
                )
            key: list[int | slice] = []
            for dim, size in zip(dims[:-2], view.shape[:-2], strict=True):
                text = indices.get(dim, "0")
                try:
                    index = int(text)
                except ValueError:
                    raise ViewerRequestError(
                        400, f"{dim}={text!r} is not an integer index"
                    ) from None
                if not 0 <= index < size:
                    raise ViewerRequestError(
                        404, f"{dim}={index} is not written: {dim} has {size} now"
                    )
                key.append(index)
            key += [slice(None), slice(None)]
            plane = np.asarray(view[tuple(key)])
        return np.ascontiguousarray(plane, dtype=browser_dtype(plane.dtype))

    def close(self) -> None:
        """Stop reading the dataset (its level views with it)."""
        with self._lock:
            if self._view is not None:
                self._view.close()
            self._levels = {}
            self._view = None
