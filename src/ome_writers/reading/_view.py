"""`DatasetView`: a dataset on disk as an array, valid as far as it states."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal

from ome_writers._indexing import normalise_key
from ome_writers.reading._source import reduced_extent

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime
    from types import TracebackType

    from typing_extensions import Self

    from ome_writers._io._object_store import DatasetPath
    from ome_writers.reading._channels import ChannelDisplay
    from ome_writers.reading._source import Snapshot, Source
    from ome_writers.tables import Tables


class _Shared:
    """What the views of one opened dataset share: the source, and the
    thread following it (`live`)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.views: weakref.WeakSet[DatasetView] = weakref.WeakSet()
        self.emitted = source.snapshot  # what the views' listeners last saw
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.poll_interval: float | None = None  # while followed
        self.closed = False
        #: the label images' views opened from this dataset's views
        self.label_views: list[_Shared] = []
        #: where the dataset's tables are (`ome_writers.tables`), if anywhere
        self.tables_root: DatasetPath | None = None

    def follow(self, poll_interval: float) -> None:
        self.poll_interval = poll_interval
        ref = weakref.ref(self)
        self.thread = threading.Thread(
            target=_follow,
            args=(ref, poll_interval, self.stop),
            name="ome-writers-follow",
            daemon=True,
        )
        self.thread.start()

    def notify(self) -> bool:
        """Emit `coords_changed` on every view if the extent grew or the run
        ended since the last emission; whether it emitted."""
        snapshot = self.source.snapshot
        with self.lock:
            last = self.emitted
            grew = any(n > m for n, m in zip(snapshot.extent, last.extent, strict=True))
            ended = snapshot.final and not last.final
            if not (grew or ended):
                return False
            self.emitted = snapshot
        for view in list(self.views):
            view.coords_changed.emit()
        return True

    def close(self) -> None:
        for shared in self.label_views:
            shared.close()
        self.closed = True
        self.stop.set()
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.source.close()


def _follow(
    ref: weakref.ReferenceType[_Shared], period: float, stop: threading.Event
) -> None:
    """Poll the dataset's progress until it is final, or the views are closed
    or gone."""
    import logging

    logger = logging.getLogger("ome_writers")
    while not stop.wait(period):
        shared = ref()
        if shared is None or shared.closed:
            return
        try:
            snapshot = shared.source.refresh()
        except Exception:  # a bucket that did not answer: ask again next time
            logger.warning("Reading the dataset's progress failed", exc_info=True)
            del shared
            continue
        shared.notify()
        if snapshot.final:
            return
        del shared


class DatasetView:
    """A dataset on disk, read as one array, valid as far as its metadata says.

    Made by `ome_writers.open`. Dimensions are the dataset's own (NGFF axes,
    or OME-TIFF's five in its DimensionOrder), led by ``p`` when it holds
    several images. `shape` is the extent that is valid now: for a dataset
    being written, what its progress record states (every frame counted is on
    disk); otherwise the arrays' shape. Reading within `shape` returns what is
    there (regions not written yet read as zeros); an index beyond it reads
    zeros while the dataset is written, and raises once it is final.

    Signals
    -------
    coords_changed()
        Emitted (from a background thread, without arguments) when, following
        the dataset (``live=True``), its valid extent grows; and once when the
        writer closes it.
    """

    coords_changed = Signal()

    _shared: _Shared
    _level: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("Use ome_writers.open(path) to open a dataset.")

    @classmethod
    def _create(cls, shared: _Shared, level: int = 0) -> DatasetView:
        self = object.__new__(cls)
        self._shared = shared
        self._level = level
        shared.views.add(self)
        return self

    # ---------------------------------------------------------- what it is

    @property
    def dims(self) -> tuple[str, ...]:
        """Dimension names."""
        return self._shared.source.dims

    @property
    def dtype(self) -> np.dtype:
        """Pixel data type."""
        return self._shared.source.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        """The extent valid now, per dimension (at this view's level)."""
        return self._extent(self._shared.source.snapshot)

    def _extent(self, snapshot: Snapshot) -> tuple[int, ...]:
        source = self._shared.source
        level = self._level
        if level == 0:
            return snapshot.extent
        return reduced_extent(
            snapshot.extent, source.factors[level], source.shapes[level]
        )

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.dims)

    def __len__(self) -> int:
        return self.shape[0] if self.ndim else 0

    @property
    def coords(self) -> Mapping[str, Sequence[Any]]:
        """Coordinates per dimension, as far as valid: image names for ``p``,
        channel names for the channel dimension, ``range(n)`` otherwise."""
        labels = self._shared.source.labels
        out: dict[str, Sequence[Any]] = {}
        for name, size in zip(self.dims, self.shape, strict=True):
            named = labels.get(name)
            out[name] = list(named[:size]) if named is not None else range(size)
        return out

    @property
    def channels(self) -> list[ChannelDisplay]:
        """How each channel is meant to be shown (empty without a channel
        axis, unless the metadata describe the image's one channel)."""
        return list(self._shared.source.channels)

    @property
    def tables(self) -> Tables:
        """The per-frame tables written beside the dataset, by name
        (``view.tables.names``; ``view.tables["cells"]``: a
        `pyarrow.Table`). Read from disk at every access: while the dataset
        is written, rows appear as the writer adds them."""
        from ome_writers.tables import Tables

        return Tables(self._shared.tables_root)

    @property
    def levels(self) -> int:
        """Resolution levels available (1: no pyramid)."""
        return len(self._shared.source.shapes)

    @property
    def level_shapes(self) -> list[tuple[int, ...]]:
        """The valid extent (`shape`) of every level."""
        source = self._shared.source
        snapshot = source.snapshot
        return [
            reduced_extent(snapshot.extent, source.factors[k], source.shapes[k])
            for k in range(len(source.shapes))
        ]

    @property
    def level(self) -> int:
        """The resolution level this view reads (0: full resolution)."""
        return self._level

    @property
    def labels(self) -> list[str]:
        """Names of the image's label images (NGFF ``labels``; of every
        image along ``p``), as listed now: empty outside OME-Zarr."""
        return self._shared.source.label_names()

    def label(self, name: str) -> DatasetView:
        """The label image `name` as a view, at this view's level: the
        image's dimensions (a channel axis of size 1 unless it has one plane
        per channel), the frames' valid extent (planes not written read as
        0); it follows the dataset with this view, and closes with it.

        Raises
        ------
        KeyError
            The image has no label image `name`.
        IndexError
            The label image has fewer resolution levels than this view's.
        """
        shared = self._shared
        if shared.closed:
            raise ValueError("the dataset view is closed")
        source = shared.source.label_source(name)
        labels = _Shared(source)
        try:
            view = _view_of(labels, self._level)
        except BaseException:
            source.close()
            raise
        shared.label_views = [s for s in shared.label_views if not s.closed]
        shared.label_views.append(labels)
        if shared.poll_interval is not None and not source.snapshot.final:
            labels.follow(shared.poll_interval)
        return view

    def at_level(self, level: int) -> DatasetView:
        """The same dataset at resolution `level` (same dimensions, reduced
        axes smaller); it follows the dataset with this view."""
        if not 0 <= level < self.levels:
            raise IndexError(
                f"Resolution level {level} does not exist: the dataset has "
                f"{self.levels} level{'s' if self.levels > 1 else ''}"
            )
        return DatasetView._create(self._shared, level)

    @property
    def complete(self) -> bool:
        """Whether the writer closed the dataset normally (or it states no
        progress: written by other software, or before this record existed)."""
        return self._shared.source.snapshot.complete

    @property
    def status(self) -> str:
        """``"writing"``, ``"complete"`` or ``"failed"`` (the writer stopped
        after an error: what it counted stays valid)."""
        return self._shared.source.snapshot.status

    @property
    def updated(self) -> datetime | None:
        """When the writer last stated its progress (UTC), if it does."""
        return self._shared.source.snapshot.updated

    @property
    def frames(self) -> int | None:
        """Frames on disk, counted from the first in acquisition order, as
        the writer states (None when it states none)."""
        return self._shared.source.snapshot.frames

    def refresh(self) -> bool:
        """Read the dataset's progress now; whether the valid extent grew."""
        before = self.shape
        self._shared.source.refresh()
        after = self.shape
        return any(a > b for a, b in zip(after, before, strict=True))

    def close(self) -> None:
        """Stop following the dataset and release its files (every view of it)."""
        self._shared.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"DatasetView(dims={self.dims}, shape={self.shape}, dtype={self.dtype}, "
            f"status={self.status!r})"
        )

    # ------------------------------------------------------------ reading

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:
            raise ValueError("Zero-copy array conversion is not supported.")
        data = self[...]
        return data if dtype is None else data.astype(dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        snapshot = self._shared.source.snapshot
        shape = self._extent(snapshot)
        items = self._normalise(key)
        resolved: list[int | slice] = []
        flip: list[int] = []
        beyond = False
        kept = 0
        for axis, (item, size) in enumerate(zip(items, shape, strict=True)):
            if isinstance(item, slice):
                r = range(*item.indices(size))
                if r.step < 0 and len(r):
                    flip.append(kept)
                    r = r[::-1]
                resolved.append(
                    slice(r.start, r.start + len(r) * r.step, r.step)
                    if len(r)
                    else slice(0, 0, 1)
                )
                kept += 1
                continue
            i = item + size if item < 0 else item
            if i < 0 or (i >= size and snapshot.final):
                raise IndexError(
                    f"Index {item} is out of bounds for dimension "
                    f"{self.dims[axis]!r} with size {size}"
                )
            beyond |= i >= size
            resolved.append(i)
        sizes = [
            len(range(k.start, k.stop, k.step))
            for k in resolved
            if isinstance(k, slice)
        ]
        if beyond or 0 in sizes:  # nothing valid there yet
            return np.zeros(sizes, dtype=self.dtype)
        data = self._shared.source.read(self._level, tuple(resolved))
        for axis in flip:
            data = np.flip(data, axis)
        return data

    def _normalise(self, key: Any) -> list[int | slice]:
        return normalise_key(key, self.ndim)


def make_view(
    source: Source,
    *,
    live: bool,
    level: int,
    poll_interval: float,
    tables: DatasetPath | None = None,
) -> DatasetView:
    """A view of `source` at `level`, following it when `live` (`tables`:
    where the dataset's tables are)."""
    shared = _Shared(source)
    shared.tables_root = tables
    try:
        view = _view_of(shared, level)
    except IndexError:
        source.close()
        raise
    if live and not source.snapshot.final:
        shared.follow(poll_interval)
    return view


def _view_of(shared: _Shared, level: int) -> DatasetView:
    """A view of `shared`'s source at `level`."""
    view = DatasetView._create(shared, 0)  # noqa: SLF001  # its factory
    return view.at_level(level) if level else view
