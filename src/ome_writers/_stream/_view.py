"""`StreamView`: live, read-only, array-like access to a stream's data."""

from __future__ import annotations

import itertools
import weakref
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from psygnal import Signal

from ome_writers._indexing import normalise_key
from ome_writers._schema import Dimension
from ome_writers._schema._pyramid import level_dimensions, reduced_axes
from ome_writers._stream._coords import PositionExtents

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Mapping, Sequence

    from ome_writers._router import FrameRouter
    from ome_writers._schema import AcquisitionSettings
    from ome_writers._stream._coords import CoordNotifier, ExtentTracker
    from ome_writers.backends._base import Backend
    from ome_writers.labels._writer import LabelSet

    #: ``(level, position, storage key) -> array``: what a view reads from
    LevelReader = Callable[[int, int, Any], np.ndarray]


class LiveExtents(Protocol):
    """Live extents of the view's dimensions after `n` frames."""

    def extents(self, n: int) -> tuple[int, ...]: ...


class ViewedStream(Protocol):
    """What a view reads of the stream it shows (`OMEStream` provides it).

    A protocol rather than the stream class, so the view does not import the
    stream module (which creates views).
    """

    _settings: AcquisitionSettings
    _backend: Backend
    _router: FrameRouter
    _tracker: ExtentTracker
    _lock: threading.RLock
    _n: int

    @property
    def closed(self) -> bool: ...

    def _get_notifier(self) -> CoordNotifier: ...

    def _label_set(self) -> LabelSet: ...


class StreamView:
    """Array-like window over a stream, in the declared dimension order.

    Dimensions are exactly ``settings.dimensions`` (acquisition order, the
    position dimension where that list puts it), whatever the storage order on
    disk: ``view[t, p, c]`` is that frame. Where the storage order differs, a
    read returns a transposed numpy view of what the backend read (no copy).
    In dynamic mode `shape` is the live extent (0 before the first frame) and
    indices and slices resolve against it; unwritten regions read as zeros.

    Signals
    -------
    coords_changed()
        Emitted (from a worker thread, without arguments) when the live shape grows.
    """

    coords_changed = Signal()

    _stream: ViewedStream
    _backend: Backend
    _read_level: LevelReader  # the frames' backend, or a label image's arrays
    _tracker: LiveExtents
    _dynamic: bool
    _strict: bool
    _dims: tuple[str, ...]
    _storage_take: tuple[int, ...]
    _storage_names: tuple[str, ...]
    _full: tuple[int | None, ...]
    _labels: list[list[Any] | None]
    _pos_axis: int | None
    _series_axes: tuple[int, ...]  # axes whose indices pick the image read
    _series_strides: tuple[int, ...]
    _position: int  # the position read when there is no position axis
    _level: int  # the pyramid level read (0: full resolution)
    _extents: Callable[[int], tuple[int, ...]]  # live extents after n frames
    _dtype: np.dtype

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("Use stream.view() to create a StreamView.")

    @classmethod
    def from_stream(
        cls,
        stream: ViewedStream,
        *,
        dynamic_shape: bool = True,
        strict: bool = False,
        position: int | None = None,
        level: int = 0,
        label: str | None = None,
    ) -> StreamView:
        """Create a view of `stream` (same as ``stream.view(...)``)."""
        return cls._from_stream(
            stream,
            dynamic_shape=dynamic_shape,
            strict=strict,
            position=position,
            level=level,
            label=label,
        )

    @classmethod
    def _from_stream(
        cls,
        stream: ViewedStream,
        *,
        dynamic_shape: bool,
        strict: bool,
        position: int | None = None,
        level: int = 0,
        label: str | None = None,
    ) -> StreamView:
        settings = stream._settings
        tracker: LiveExtents = stream._tracker
        read_level: LevelReader = stream._backend.read_level
        if label is not None:
            settings, tracker, read_level = _label_source(stream, label)
        geometry = settings.geometry
        n_positions = len(geometry.positions)
        if position is not None and not 0 <= position < n_positions:
            raise IndexError(
                f"Position index {position} is out of bounds for size {n_positions}"
            )
        n_levels = geometry.pyramid_levels
        if not 0 <= level < n_levels:
            raise IndexError(
                f"Pyramid level {level} does not exist: the stream writes "
                f"{n_levels} level{'s' if n_levels > 1 else ''} (0..{n_levels - 1})"
            )
        if level:
            self = object.__new__(StreamView)
            view_dims, storage_dims, extents = _level_geometry(
                settings, level, position, tracker
            )
            series = () if position is not None else geometry.series_dimension_indices
            self._describe(view_dims, storage_dims, extents, series)
        elif position is not None and geometry.is_ragged:
            self = object.__new__(StreamView)
            own = geometry.position_index_dimensions(position)
            names = {d.name for d in own}
            storage = [d for d in geometry.storage_index_dimensions if d.name in names]
            extents = PositionExtents(stream._router, settings, position)
            frame_dims = geometry.position_frame_dimensions(position)
            frame_shape = tuple(int(d.count or 0) for d in frame_dims)
            self._describe(
                (*own, *frame_dims),
                (*storage, *frame_dims),
                lambda n: (*extents(n), *frame_shape),
            )
        elif position is not None:  # one image of a regular acquisition
            self = object.__new__(StreamView)
            series = geometry.series_dimension_indices
            self._describe(
                geometry.array_dimensions,
                geometry.array_storage_dimensions,
                lambda n: _without(tracker.extents(n), series),
            )
        elif geometry.is_ragged:  # positions of several shapes: a list of frames
            frames_view = object.__new__(FramesView)
            frames = Dimension(name="frame", count=geometry.num_frames, type="other")
            frame_dims = geometry.frame_dimensions
            frames_view._frame_shapes = None
            if geometry.mixed_frames:  # cameras of several sizes: the largest
                shapes = [
                    tuple(
                        int(d.count or 0) for d in geometry.position_frame_dimensions(p)
                    )
                    for p in range(n_positions)
                ]
                frames_view._frame_shapes = shapes
                frame_dims = tuple(
                    d.model_copy(update={"count": max(s[i] for s in shapes)})
                    for i, d in enumerate(frame_dims)
                )
            frames_view._describe((frames, *frame_dims), (), _no_extents)
            self = frames_view
        else:
            self = object.__new__(cls)
            self._describe(
                settings.dimensions,
                geometry.array_storage_dimensions,
                tracker.extents,
                geometry.series_dimension_indices,
            )
        self._position = position or 0
        self._level = level
        self._stream = stream
        self._backend = stream._backend
        self._backend.enable_live_reads()
        self._read_level = read_level
        self._tracker = tracker
        self._dynamic = dynamic_shape
        self._strict = strict
        self._dtype = np.dtype(settings.dtype)
        if geometry.mixed_frames:
            kinds = [geometry.position_dtype(p) for p in range(n_positions)]
            if position is not None:
                self._dtype = np.dtype(kinds[position])
            else:  # the frame list holds every camera's frames
                self._dtype = np.result_type(*kinds)
        if dynamic_shape and not stream.closed:
            ref = weakref.ref(self)

            def _emit() -> None:
                view = ref()
                if view is not None:
                    view.coords_changed.emit()

            stream._get_notifier().shape_callbacks.append(_emit)
        return self

    def _describe(
        self,
        view_dims: Sequence[Dimension],
        storage_dims: Sequence[Dimension],
        extents: Callable[[int], tuple[int, ...]],
        series: Sequence[int] = (),
    ) -> None:
        self._dims = tuple(d.name for d in view_dims)
        self._series_axes = tuple(series)
        strides: list[int] = []
        stride = 1
        for i in reversed(self._series_axes):
            strides.insert(0, stride)
            stride *= view_dims[i].count or 1
        self._series_strides = tuple(strides)
        array_names = [
            d.name for i, d in enumerate(view_dims) if i not in self._series_axes
        ]
        self._storage_names = tuple(d.name for d in storage_dims)
        # storage key item i = array-order key item _storage_take[i]
        self._storage_take = tuple(array_names.index(n) for n in self._storage_names)
        self._full = tuple(d.count for d in view_dims)
        self._labels = [d.coord_names for d in view_dims]
        self._pos_axis = next(
            (i for i, d in enumerate(view_dims) if d.type == "position"), None
        )
        self._extents = extents

    # ------------------------------------------------------------ array facts

    @property
    def dims(self) -> tuple[str, ...]:
        """Dimension names, in view order."""
        return self._dims

    @property
    def dtype(self) -> np.dtype:
        """Pixel data type."""
        return self._dtype

    @property
    def shape(self) -> tuple[int, ...]:
        """Live extent (dynamic mode) or expected extent of every dimension."""
        live = self._extents(self._stream._n)
        if self._dynamic:
            return live
        return tuple(
            size if full is None else full
            for size, full in zip(live, self._full, strict=True)
        )

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self._dims)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def coords(self) -> Mapping[str, Sequence[Any]]:
        """Coordinates per dimension: channel/position names, else ``range(n)``."""
        out: dict[str, Sequence[Any]] = {}
        for name, labels, size in zip(
            self._dims, self._labels, self.shape, strict=True
        ):
            out[name] = list(labels[:size]) if labels is not None else range(size)
        return out

    def __repr__(self) -> str:
        n_pos = 1 if self._pos_axis is None else self.shape[self._pos_axis]
        return (
            f"StreamView(dims={self._dims}, n_positions={n_pos}, "
            f"shape={self.shape}, dtype={self._dtype})"
        )

    # --------------------------------------------------------------- reading

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:
            raise ValueError("Zero-copy array conversion is not supported.")
        data = self[...]
        return data if dtype is None else data.astype(dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        items = self._normalise(key)
        shape = self.shape
        full = self._full
        resolved: list[int | slice] = []
        flip: list[int] = []  # output axes read forwards, to be reversed
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
            limit = full[axis]
            if i < 0 or (self._strict and i >= size):
                raise IndexError(
                    f"Index {item} is out of bounds for live dimension "
                    f"{self._dims[axis]!r} with size {size}"
                )
            if limit is not None and i >= limit:
                raise IndexError(
                    f"Index {item} is out of bounds for dimension "
                    f"{self._dims[axis]!r} with size {limit}"
                )
            resolved.append(i)

        data = self._read(resolved)
        for axis in flip:
            data = np.flip(data, axis)
        return data

    def _normalise(self, key: Any) -> list[int | slice]:
        return normalise_key(key, self.ndim)

    def _read(self, resolved: list[int | slice]) -> np.ndarray:
        series = self._series_axes
        array_key = [k for i, k in enumerate(resolved) if i not in series]
        storage_key = tuple(array_key[i] for i in self._storage_take)
        # names of the axes the backend returns, in storage order
        axes = [
            n
            for n, k in zip(self._storage_names, storage_key, strict=True)
            if isinstance(k, slice)
        ]
        with self._stream._lock:
            if not series:
                data = self._read_level(self._level, self._position, storage_key)
            else:  # one read per image (position, series combination)
                picks = [resolved[i] for i in series]
                ranges = [
                    [k] if isinstance(k, int) else range(k.start, k.stop, k.step)
                    for k in picks
                ]
                parts = [
                    self._read_level(
                        self._level,
                        sum(
                            i * s
                            for i, s in zip(combo, self._series_strides, strict=True)
                        ),
                        storage_key,
                    )
                    for combo in itertools.product(*ranges)
                ]
                kept = [
                    (self._dims[i], len(r))
                    for i, r, k in zip(series, ranges, picks, strict=True)
                    if isinstance(k, slice)
                ]
                axes = [name for name, _ in kept] + axes
                lengths = [n for _, n in kept]
                if parts:
                    data = np.stack(parts).reshape((*lengths, *parts[0].shape))
                else:
                    shape = [
                        len(range(k.start, k.stop, k.step))
                        for k in storage_key
                        if isinstance(k, slice)
                    ]
                    data = np.zeros([*lengths, *shape], dtype=self._dtype)
        wanted = [
            n for n, k in zip(self._dims, resolved, strict=True) if isinstance(k, slice)
        ]
        if axes == wanted:  # storage order agrees: no transpose
            return data
        return data.transpose([axes.index(n) for n in wanted])


class FramesView(StreamView):
    """The frames of an acquisition whose positions differ in shape, in order.

    ``dims == ("frame", Y, X)``: frame *n* is the *n*-th frame appended, read
    from its position's own array; ``stream.view(position=k)`` gives one
    position's N-D view.
    """

    _frame_shapes: list[tuple[int, ...]] | None  # per position, when they differ

    @property
    def shape(self) -> tuple[int, ...]:
        """Frames written so far (dynamic mode) or expected, then Y, X."""
        n = self._stream._n if self._dynamic else self._full[0] or 0
        return (n, *(int(c or 0) for c in self._full[1:]))

    def _frame(
        self, pos: int, index: tuple[int, ...], key: list[int | slice]
    ) -> np.ndarray:
        shapes = self._frame_shapes
        if shapes is None:
            return self._backend.read(pos, (*index, *key)).astype(
                self._dtype, copy=False
            )
        # a camera of another size: its whole frame, in the largest frame's place
        h, w = shapes[pos]
        full = self._backend.read(pos, (*index, slice(0, h, 1), slice(0, w, 1)))
        out = np.zeros(tuple(int(c or 0) for c in self._full[1:]), dtype=self._dtype)
        out[:h, :w] = full
        return out[tuple(key)]

    def _read(self, resolved: list[int | slice]) -> np.ndarray:
        sel, *frame_key = resolved
        route = self._stream._router.route
        frames = [sel] if isinstance(sel, int) else range(sel.start, sel.stop, sel.step)
        written = self._stream._n
        parts = []
        with self._stream._lock:
            for n in frames:
                pos, index = route(n)
                if n < written:
                    parts.append(self._frame(pos, index, frame_key))
                else:
                    shape = tuple(int(c or 0) for c in self._full[1:])
                    parts.append(np.zeros(shape, dtype=self._dtype)[tuple(frame_key)])
        if isinstance(sel, int):
            return parts[0]
        if parts:
            return np.stack(parts)
        sizes = [
            len(range(k.start, k.stop, k.step))
            for k in resolved
            if isinstance(k, slice)
        ]
        return np.zeros(sizes, dtype=self._dtype)


class _CappedExtents:
    """The image's live extents, each at most a label image's size (its
    channel axis has one index unless the label image is per channel)."""

    def __init__(self, tracker: ExtentTracker, caps: Sequence[int | None]) -> None:
        self._tracker = tracker
        self._caps = tuple(caps)

    def extents(self, n: int) -> tuple[int, ...]:
        return tuple(
            e if cap is None else min(e, cap)
            for e, cap in zip(self._tracker.extents(n), self._caps, strict=True)
        )


def _label_source(
    stream: ViewedStream, name: str
) -> tuple[AcquisitionSettings, LiveExtents, LevelReader]:
    """A label image's settings, live extents and reader, for its view."""
    labels = stream._label_set()
    image = labels.image(name)
    settings = image.settings
    caps = [
        None if mine.count == theirs.count else mine.count
        for mine, theirs in zip(
            settings.dimensions, stream._settings.dimensions, strict=True
        )
    ]

    def read(level: int, position: int, key: Any) -> np.ndarray:
        return labels.read(name, position, key, level)

    return settings, _CappedExtents(stream._tracker, caps), read


def _level_geometry(
    settings: AcquisitionSettings,
    level: int,
    position: int | None,
    tracker: LiveExtents,
) -> tuple[
    tuple[Dimension, ...], tuple[Dimension, ...], Callable[[int], tuple[int, ...]]
]:
    """View dimensions, storage dimensions and live extents of pyramid `level`."""
    pyramid = settings.pyramid
    assert pyramid is not None
    geometry = settings.geometry
    series = geometry.series_dimension_indices
    view_dims = settings.dimensions if position is None else geometry.array_dimensions
    reduced = reduced_axes(pyramid, view_dims)
    factor = 2**level

    def extents(n: int) -> tuple[int, ...]:
        live = tracker.extents(n)
        if position is not None:
            live = _without(live, series)
        return tuple(
            -(-e // factor) if r else e for e, r in zip(live, reduced, strict=True)
        )

    return (
        level_dimensions(pyramid, view_dims, level),
        level_dimensions(pyramid, geometry.array_storage_dimensions, level),
        extents,
    )


def _without(extents: tuple[int, ...], axes: Sequence[int]) -> tuple[int, ...]:
    return tuple(e for i, e in enumerate(extents) if i not in axes)


def _no_extents(n: int) -> tuple[int, ...]:
    return ()
