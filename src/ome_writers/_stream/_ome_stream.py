"""`OMEStream` and `create_stream`: frame checks, dispatch and lifecycle."""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import operator
import os
import sys
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ome_writers._io._free_space import check_free_space
from ome_writers._stream._at_exit import close_at_exit, forget
from ome_writers._stream._companions import Companions
from ome_writers._stream._coords import CoordNotifier, CoordUpdate, ExtentTracker
from ome_writers._stream._loss_window import LossWindow
from ome_writers.backends._base import BackendContext
from ome_writers.backends._select import select_backend
from ome_writers.errors import (
    BackendError,
    FrameDtypeError,
    FrameShapeError,
    FrameValueError,
    StreamClosedError,
)
from ome_writers.metadata._progress import HEARTBEAT

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType

    from typing_extensions import Self

    from ome_writers._router import FrameRouter
    from ome_writers._schema import AcquisitionSettings, LabelImage
    from ome_writers._stream._view import StreamView
    from ome_writers.backends._base import Backend
    from ome_writers.labels._writer import LabelSet
    from ome_writers.metadata._display import DisplaySettings
    from ome_writers.metadata._display_ranges import DisplayRanges
    from ome_writers.metadata._frame_metadata import FrameMetadataLog

logger = logging.getLogger("ome_writers")

_RESERVED_NAMESPACES = ("ome", "ome_writers")
# an opening's log line names at most this many files, else the first and last
_NAMED_FILES = 4
#: per-frame metadata entries appended but not yet made readable beyond which
#: `append` waits for the loss window's visit: when metadata arrives faster
#: than it is written (tens of thousands of small frames a second), memory
#: stays bounded instead of holding the backlog
MAX_PENDING_METADATA = 1 << 16


def create_stream(
    settings: AcquisitionSettings,
    *,
    checkpoint_seconds: float | None = 10.0,
    finite_only: bool = True,
    check_space: bool = True,
) -> OMEStream:
    """Create the output described by `settings` and return an open stream.

    Parameters
    ----------
    settings : AcquisitionSettings
        Must have `dimensions` and `dtype`. It is copied: later changes to the
        caller's object do not affect the stream.
    checkpoint_seconds : float | None
        How often (at the first append after this many seconds) the stream
        makes what it wrote so far durable on disk, safe from a power loss (see
        `OMEStream.checkpoint`); with a loss window, the window's thread does
        it at its next visit, so that no append waits for the disk. None: only
        at close and explicit checkpoints.
        Readable after the death of the process is sooner: within
        `settings.loss_window`.
    finite_only : bool
        For float dtypes: refuse frames holding NaN or infinite values (a camera
        never produces them). False stores them as given.
    check_space : bool
        Compare `settings.estimated_size` with the free space of the output's
        filesystem before anything is written (see Raises; a warning,
        `ome_writers.errors.DiskSpaceWarning`, when only the uncompressed size
        does not fit, or an unbounded acquisition fills it within an hour).
        False: skip the check (data known to compress far better, say).

    Raises
    ------
    ValueError
        Missing dimensions/dtype/root_path, or no backend can write `settings`.
    NotImplementedError
        The explicitly requested backend cannot write `settings`.
    FileExistsError
        The output exists and ``overwrite`` is False (or it is not ours to replace).
    OSError
        With errno ``ENOSPC``: even the size estimated with compression does
        not fit in the free space (nothing is created).
    """
    settings.validate_stream_ready()
    settings = settings.model_copy(deep=True)
    fmt = settings.format
    if fmt.name != "scratch" and not settings.root_path:
        raise ValueError(f"root_path is required for {fmt.name} format.")
    backend_cls = select_backend(settings)
    if check_space:
        check_free_space(settings)
    tracker = ExtentTracker(settings)
    # the progress record a dataset states counts frames as the view does
    context = BackendContext.for_settings(settings, tracker.extents)
    router, frame_log = context.router, context.frame_metadata
    backend: Backend
    if settings.is_ragged:  # positions of different shapes: one backend each
        from ome_writers.backends._ragged import RaggedBackend

        reason = RaggedBackend.problem(settings, backend_cls)
        if reason:
            raise NotImplementedError(
                f"Backend {backend_cls.name!r} cannot write {reason}"
            )
        backend = RaggedBackend(context, backend_cls)
    elif (
        settings.pyramid_levels > 1 and backend_cls.record().pyramids == "level-arrays"
    ):
        from ome_writers.backends.zarr._pyramid_levels import LeveledZarrBackend

        backend = LeveledZarrBackend(context, backend_cls)
    else:
        backend = backend_cls(context)
    backend.prepare()
    stream = OMEStream._create(settings, backend, router, frame_log, tracker)
    if settings.format.name == "ome-zarr" and not settings.is_ragged:
        stream._companions.factories["labels"] = _label_set(
            settings, backend_cls, backend, router
        )
        try:
            for label in settings.labels:
                stream.add_labels(label)
        except BaseException:
            stream._close_quietly()  # the frames' dataset stays valid
            raise
    stream._output_paths = paths = backend.output_paths()
    if settings.overwrite and settings.format.name == "ome-tiff":
        from ome_writers.tables._writer import remove_earlier_tables

        remove_earlier_tables(settings, paths)
    logger.info("%s", _opening_line(settings, backend.label, paths))
    stream._ranges = context.display_ranges
    stream._check_finite = finite_only and stream._dtype.kind == "f"
    stream._checkpoint_every = checkpoint_seconds
    stream._next_checkpoint = (
        time.monotonic() + checkpoint_seconds if checkpoint_seconds else math.inf
    )
    stream._checkpoint_due = False
    if settings.loss_window is not None:
        stream._window = LossWindow(stream, settings.loss_window)
    close_at_exit(stream)
    # the objects made above (settings, backend, arrays, threads) sit in the
    # collector's young generations; collected now, the survivors move to the
    # old one, rather than during an early append, where the collection (on
    # whichever thread allocated) can outlast a fast camera's frame period.
    # The young generations hold at most a few thousand objects; with the
    # collector disabled, no append pays for one either.
    if gc.isenabled():
        gc.collect(1)
    return stream


class OMEStream:
    """An open acquisition: append frames in acquisition order, then close.

    Create with `create_stream`. Thread-safe: one thread may append while
    others read views or close.
    """

    __slots__ = (
        "__weakref__",
        "_backend",
        "_check_finite",
        "_checkpoint_due",
        "_checkpoint_every",
        "_closed",
        "_companions",
        "_display",
        "_dtype",
        "_failure",
        "_failure_reported",
        "_frame_log",
        "_frame_shape",
        "_frame_specs",
        "_is_hwm",
        "_lock",
        "_n",
        "_next_checkpoint",
        "_notifier",
        "_output_paths",
        "_pid",
        "_ranges",
        "_readable",
        "_restate_at",
        "_route",
        "_router",
        "_routes",
        "_settings",
        "_total",
        "_tracker",
        "_visited",
        "_window",
        "_write",
    )

    _backend: Backend
    _check_finite: bool
    _checkpoint_every: float | None
    _closed: bool
    _companions: Companions
    _display: DisplaySettings
    _dtype: np.dtype
    _failure: BaseException | None
    _failure_reported: bool
    _frame_log: FrameMetadataLog
    _frame_shape: tuple[int, ...]
    _frame_specs: list[tuple[tuple[int, ...], np.dtype]] | None
    _is_hwm: Callable[[int], bool]
    _lock: threading.RLock
    _n: int
    _next_checkpoint: float
    _checkpoint_due: bool
    _notifier: CoordNotifier | None
    _output_paths: tuple[str, ...]
    _pid: int
    _ranges: DisplayRanges | None
    _readable: tuple[int, int, int, int]
    _route: Callable[[int], tuple[int, tuple[int, ...]]]
    _routes: list[tuple[int, tuple[int, ...]]] | None
    _router: FrameRouter
    _settings: AcquisitionSettings
    _total: int | None
    _tracker: ExtentTracker
    _visited: threading.Condition
    _window: LossWindow | None
    _write: Callable[[int, tuple[int, ...], np.ndarray], None]

    def __init__(self) -> None:
        raise TypeError("Use ome_writers.create_stream(settings) to create a stream.")

    @classmethod
    def _create(
        cls,
        settings: AcquisitionSettings,
        backend: Backend,
        router: FrameRouter,
        frame_log: FrameMetadataLog,
        tracker: ExtentTracker | None = None,
    ) -> OMEStream:
        self = object.__new__(cls)
        self._settings = settings
        self._pid = os.getpid()  # a forked child never closes it (`_close_unclosed`)
        self._backend = backend
        self._router = router
        self._frame_log = frame_log
        self._tracker = tracker or ExtentTracker(settings)
        self._is_hwm = self._tracker.is_high_water_mark
        # everything the hot path needs, resolved once
        self._frame_shape = tuple(int(d.count or 0) for d in settings.frame_dimensions)
        self._dtype = np.dtype(settings.dtype)
        # positions whose frames differ in shape or dtype (several cameras)
        self._frame_specs = None
        if settings.mixed_frames:
            self._frame_specs = [
                (
                    tuple(
                        int(d.count or 0) for d in settings.position_frame_dimensions(p)
                    ),
                    np.dtype(settings.position_dtype(p)),
                )
                for p in range(len(settings.positions))
            ]
        self._total = router.total
        self._route = router.route
        self._routes = router.table  # a list lookup per frame, when listed
        self._write = backend.frame_writer()
        self._n = 0
        self._check_finite = False
        self._checkpoint_every = None
        self._next_checkpoint = math.inf
        self._lock = threading.RLock()
        self._visited = threading.Condition(self._lock)  # `_made_readable` ran
        self._closed = False
        self._failure = None
        self._failure_reported = False
        self._notifier = None
        self._output_paths = ()
        self._ranges = None
        self._display = backend.display
        self._window = None
        # frames, metadata entries, display settings' and companions'
        # versions: made readable
        self._companions = Companions()
        self._readable = (0, 0, 0, 0)
        self._restate_at = time.monotonic() + HEARTBEAT  # the next heartbeat
        return self

    # ------------------------------------------------------------------ writing

    def append(
        self,
        frame: Any,
        *,
        frame_metadata: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the next frame (acquisition order).

        Parameters
        ----------
        frame : array-like
            A 2D array (or any buffer-protocol object) of the acquisition's frame
            shape and dtype. Its memory may be reused as soon as this returns.
        frame_metadata : Mapping, optional
            Per-frame values. ``delta_t`` (s), ``exposure_time`` (s) and
            ``position_x/y/z`` (µm) have format-specific homes; other keys are
            stored as-is (JSON-compatible values).
        metadata : Mapping, optional
            Another name for `frame_metadata` (passing both is an error).

        Raises
        ------
        FrameShapeError, FrameDtypeError
            The frame does not match; nothing is written and no slot is used.
        IndexError
            The acquisition already holds all its frames.
        StreamClosedError
            The stream is closed.
        """
        if metadata is not None:
            if frame_metadata is not None:
                raise TypeError(
                    "append() takes frame_metadata= or its alias metadata=, not both"
                )
            frame_metadata = metadata
        arr = frame if type(frame) is np.ndarray else _as_array(frame)
        specs = self._frame_specs
        if specs is None and (
            arr.shape != self._frame_shape or arr.dtype != self._dtype
        ):
            _check_frame(arr, self._frame_shape, self._dtype)
        if self._check_finite and not _all_finite(arr):
            raise FrameValueError(
                f"Frame holds NaN or infinite values ({arr.dtype}); pass "
                "create_stream(..., finite_only=False) to store them."
            )
        with self._lock:
            if frame_metadata is not None and (
                len(self._frame_log) - self._readable[1] >= MAX_PENDING_METADATA
            ):
                self._wait_for_visit()
            if self._closed or self._failure is not None:
                self._raise_unusable("append")
            n = self._n
            if n == self._total:
                raise IndexError(
                    f"Cannot append frame: would exceed total of {self._total} "
                    "frames. Check your AcquisitionSettings.dimensions. If you need "
                    "to write an unbounded number of frames, set the count of your "
                    "first dimension to None."
                )
            routes = self._routes
            pos, index = routes[n] if routes is not None else self._route(n)
            if specs is not None:  # this position's camera: its shape and dtype
                _check_frame(arr, *specs[pos])
            try:
                self._write(pos, index, arr)
            except Exception as e:
                self._fail(e)
            ranges = self._ranges
            if ranges is not None:  # display windows: a sparse sample
                ranges.add(pos, index, arr)
            self._n = n + 1
            if frame_metadata is not None:
                self._frame_log.add(n, frame_metadata)
            notifier = self._notifier
            if notifier is not None and (notifier.wants_every_frame or self._is_hwm(n)):
                notifier.frame_done(n)
            if time.monotonic() >= self._next_checkpoint:
                if self._window is None:
                    self.checkpoint()
                else:  # the loss window's next visit: syncs hold up no append
                    self._checkpoint_due = True
                    self._next_checkpoint = math.inf

    def checkpoint(self) -> None:
        """Make every frame appended so far durable and readable after a crash.

        Zarr: pending writes finish, per-frame metadata is written, data is
        synced (frames of a chunk that is still being filled are written when it
        completes). OME-TIFF: queued pages are written, the provisional
        OME-XML updated, and the files synced. Scratch (on disk): arrays
        flushed and the manifest written. Also done at close.
        """
        with self._lock:
            if self._closed or self._failure is not None:
                self._raise_unusable("checkpoint")
            done = self._done()
            try:
                self._companions.checkpoint()  # before the backend's sync
                self._backend.checkpoint(self._n)
            except Exception as e:
                self._fail(e)
            self._made_readable(done)
            self._checkpointed()

    def _checkpointed(self) -> None:
        """A checkpoint ended: the next one is due `_checkpoint_every` later."""
        self._checkpoint_due = False
        if self._checkpoint_every:
            self._next_checkpoint = time.monotonic() + self._checkpoint_every

    def _done(self) -> tuple[int, int, int, int]:
        """Frames appended or skipped, per-frame metadata entries, the
        display settings' and the companions' versions, so far."""
        return (
            self._n,
            len(self._frame_log),
            self._display.version,
            self._companions.version,
        )

    def _made_readable(self, done: tuple[int, int, int, int]) -> None:
        """The backend made `done` readable: its metadata need not stay here."""
        self._readable = max(self._readable, done)
        self._restate_at = time.monotonic() + HEARTBEAT
        self._frame_log.forget(done[1])
        self._visited.notify_all()

    def _wait_for_visit(self) -> None:
        """Wait (the lock released meanwhile) until the loss window's visits
        made per-frame metadata readable below `MAX_PENDING_METADATA`, or the
        stream can take no more frames."""
        while (
            self._window is not None
            and not self._closed
            and self._failure is None
            and len(self._frame_log) - self._readable[1] >= MAX_PENDING_METADATA
        ):
            # the timeout: a visit that failed says so only by `_failure`
            self._visited.wait(0.1)

    def _make_readable(self) -> bool:
        """Make what arrived (or display settings changed) since the last
        call readable (`LossWindow`).

        The backend starts under the lock (`Backend.start_readable`); what it
        then waits for (its writer thread, say) is waited for without the lock,
        so appends go on meanwhile. A periodic checkpoint that `append` found
        due is done here the same way (`Backend.start_checkpoint`), its sync
        without the lock. False once the stream is closed or failed (the
        window's thread ends). A failure is reported by the next `append` (or
        by `close`).
        """
        with self._lock:
            if self._closed or self._failure is not None:
                return False
            done = self._done()
            durable = self._checkpoint_due
            # nothing new: a visit only to restate the progress (heartbeat)
            if (
                not durable
                and done == self._readable
                and time.monotonic() < self._restate_at
            ):
                return True
            try:
                # companions first: the backend's progress record comes last
                if durable:
                    self._companions.checkpoint()  # before the backend's sync
                    finishers: list[Callable[[], object]] = []
                    finish = self._backend.start_checkpoint(self._n)
                else:
                    finishers = self._companions.start_readable()
                    finish = self._backend.start_readable(self._n)
            except Exception as e:
                self._failure = e  # reported by the next call of the caller
                return False
            if finish is not None:
                finishers.append(finish)
            if not finishers:
                self._made_readable(done)
                if durable:
                    self._checkpointed()
                return True
        try:
            for finish in finishers:
                finish()
        except Exception as e:
            with self._lock:
                if self._failure is None and not self._closed:
                    self._failure = e
            return False
        with self._lock:
            if self._closed or self._failure is not None:
                return False
            self._made_readable(done)
            if durable:
                self._checkpointed()
            return True

    def skip(self, *, frames: int = 1) -> None:
        """Advance past `frames` frames without data (they read as zeros)."""
        if frames <= 0:
            raise ValueError(f"frames must be positive, got {frames}")
        with self._lock:
            if self._closed or self._failure is not None:
                self._raise_unusable("skip")
            n = self._n
            if self._total is not None and n + frames > self._total:
                raise IndexError(
                    f"Cannot skip frames: would exceed total of {self._total} frames "
                    f"(tried to skip {frames} with {self._total - n} left). Check "
                    "your AcquisitionSettings.dimensions."
                )
            try:
                for k in range(n, n + frames):
                    self._backend.skip(*self._route(k))
            except Exception as e:
                self._fail(e)
            self._n = n + frames
            notifier = self._notifier
            if notifier is not None:
                last = n + frames - 1
                if notifier.wants_every_frame or any(
                    self._is_hwm(k) for k in range(n, n + frames)
                ):
                    notifier.frame_done(last)

    def _fail(self, error: Exception) -> None:
        explained = self._backend.explain_failure(error)
        if explained is not error and isinstance(explained, Exception):
            raise self._fail_with(explained) from error
        raise self._fail_with(error)

    def _fail_with(self, error: Exception) -> Exception:
        """Record `error` as the stream's failure; what to raise."""
        self._failure = error
        self._failure_reported = True
        if isinstance(error, (OSError, BackendError)):
            return error
        wrapped = BackendError(f"Writing failed: {error}")
        wrapped.__cause__ = error
        return wrapped

    def _raise_unusable(self, action: str) -> None:
        failure = self._failure
        if failure is not None and not self._failure_reported:
            # found in the background (`_make_readable`): report it as it is
            assert isinstance(failure, Exception)
            explained = self._backend.explain_failure(failure)
            if explained is failure or not isinstance(explained, Exception):
                raise self._fail_with(failure)
            raise self._fail_with(explained) from failure
        if self._failure is not None:
            self._failure_reported = True
            raise StreamClosedError(
                f"Cannot {action}: an earlier write failed ({self._failure!r})."
            ) from self._failure
        raise StreamClosedError(f"Cannot {action}: the stream is closed.")

    # ---------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Flush everything and write final metadata. Safe to call again."""
        window = self._window
        if window is not None:  # before the lock: its visit takes the lock
            self._window = None
            self._backend.closing()  # a visit in progress may end early
            window.stop()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            forget(self)
            # before the backend's close, whose sync covers them
            companion_errors = self._companions.finalize()
            try:
                self._backend.finalize(self._n)
            except Exception as e:
                if e is self._failure or self._failure_reported:
                    # a write failure was reported: what follows from it (the
                    # other writes in flight failing too) is not news
                    pass
                elif isinstance(e, (OSError, BackendError)):
                    raise
                else:
                    raise BackendError(f"Closing failed: {e}") from e
            finally:
                if self._notifier is not None:
                    self._notifier.stop()
            if self._failure is not None and not self._failure_reported:
                self._failure_reported = True
                raise BackendError(
                    f"Writing failed: {self._failure}"
                ) from self._failure
            if companion_errors:
                error = companion_errors[0]
                if isinstance(error, (OSError, BackendError)):
                    raise error
                raise BackendError(f"Closing failed: {error}") from error

    @property
    def closed(self) -> bool:
        """Whether `close` has been called."""
        return self._closed

    @property
    def settings(self) -> AcquisitionSettings:
        """The settings the stream was created with."""
        return self._settings

    @property
    def output_paths(self) -> tuple[str, ...]:
        """Where the dataset is written: absolute paths (or ``s3://`` URLs).

        OME-Zarr: the root directory. OME-TIFF: the file, or one file per
        position (``x.ome.tiff`` with several positions: ``x/x_p000.ome.tiff``,
        ...) and then the companion file, if any. Scratch: its directory when
        it has a `root_path`; nothing in memory.
        """
        return self._output_paths

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        self._close_unclosed()

    def _close_unclosed(self) -> None:
        """Close a stream its user left open: when it is collected, or when the
        interpreter exits (`_at_exit`). Never raises.

        Collected on a thread other than the main thread, the stream is closed
        on a thread of its own: the collecting thread may be one that close
        waits for (a writer thread of this stream, in the middle of a write).
        """
        try:
            # while the interpreter finalizes, the stream's daemon threads are
            # stopped for good and closing would wait for them forever; open
            # streams were closed when it began to exit (`close_at_exit`)
            if getattr(self, "_closed", True) or sys.is_finalizing():
                return
            if self._pid != os.getpid():  # a forked child's copy: the parent's
                return
            try:
                if self._n:
                    warnings.warn(
                        "OMEStream was not closed before garbage collection. Please "
                        "use `with create_stream(...):` or call `stream.close()`.",
                        UserWarning,
                        stacklevel=3,
                    )
            finally:  # also when warnings are errors
                if threading.current_thread() is threading.main_thread():
                    self._close_quietly()
                else:  # not a daemon: the interpreter waits for it at exit
                    threading.Thread(
                        target=self._close_quietly, name="ome-writers-close"
                    ).start()
        except Exception:  # never raise from a finalizer
            pass

    def _close_quietly(self) -> None:
        with contextlib.suppress(Exception):  # nobody is left to report it to
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        total = "∞" if self._total is None else self._total
        return (
            f"<OMEStream {self._settings.format.name}/{self._backend.label} "
            f"{self._n}/{total} frames, {state}>"
        )

    # ----------------------------------------------------------------- metadata

    def set_global_metadata(self, namespace: str, metadata: Mapping[str, Any]) -> None:
        """Store `metadata` under `namespace` at the dataset level.

        Zarr: root group attributes; OME-TIFF: a MapAnnotation with that
        namespace. Allowed before, during and after acquisition.
        """
        if not isinstance(namespace, str) or not namespace:
            raise ValueError("namespace must be a non-empty string")
        if namespace in _RESERVED_NAMESPACES:
            raise ValueError(f"namespace {namespace!r} is reserved by ome-writers")
        with self._lock:
            self._backend.set_global_metadata(namespace, dict(metadata))

    def get_metadata(self) -> Any:
        """Format-specific metadata (Zarr: group path -> attributes; TIFF: OME)."""
        with self._lock:
            return self._backend.get_metadata()

    def update_metadata(self, metadata: Any) -> None:
        """Replace metadata previously obtained from `get_metadata`."""
        with self._lock:
            self._backend.update_metadata(metadata)

    def set_channel_display(
        self,
        channel: int | str,
        *,
        color: Any = None,
        contrast_limits: tuple[float, float] | None = None,
        visible: bool | None = None,
    ) -> None:
        """Record how a channel is to be displayed (what a viewer's user set).

        Allowed at any time before close, as often as wanted; only the values
        given change. Nothing is written here (appends never wait for it):
        the settings are written at the next loss-window visit (or checkpoint)
        and at close, replacing what was there. OME-Zarr: NGFF ``omero``
        ``color``, ``window.start``/``end`` and ``active``; OME-TIFF and
        OME-Zarr's ``OME/METADATA.ome.xml``: the Channel's ``Color`` and a
        MapAnnotation (namespace ``ome_writers.display``) with the contrast
        limits and visibility;
        ``ome_writers.open(...).channels`` reads them back. The scratch format
        writes no metadata: there, they are not kept.

        Parameters
        ----------
        channel : int | str
            Index along the channel dimension, or a channel's name (0: the
            one channel of an acquisition without a channel dimension).
        color : str | tuple, optional
            A colour name, ``"#RRGGBB"`` or ``(r, g, b)``.
        contrast_limits : tuple[float, float], optional
            The display window (low, high), in pixel values.
        visible : bool, optional
            Whether the channel is shown.

        Raises
        ------
        ValueError
            An unknown channel name, or a value that is not a colour, two
            finite numbers (low <= high), or a bool.
        IndexError
            A channel index outside the channel dimension.
        StreamClosedError
            The stream is closed.
        """
        from ome_writers.metadata._display import (
            channel_index,
            check_color,
            check_limits,
            check_visible,
        )

        index = channel_index(self._settings, channel)
        hexcolor = None if color is None else check_color(color)
        limits = None if contrast_limits is None else check_limits(contrast_limits)
        shown = None if visible is None else check_visible(visible)
        with self._lock:
            if self._closed or self._failure is not None:
                self._raise_unusable("set channel display")
            self._display.set(index, color=hexcolor, limits=limits, visible=shown)

    def write_row(
        self, table: str, row: Mapping[str, Any], *, frame: int | None = None
    ) -> None:
        """Add one row of per-frame results (analysis) to table `table`.

        Rows are kept in memory and written as Parquet part files at the next
        loss-window visit (or checkpoint) and at close: OME-Zarr
        ``<root>/tables/<table>/``, OME-TIFF ``<stem>.tables/<table>/`` beside
        the file(s), scratch ``<root_path>/tables/<table>/`` (in memory
        without a root path). Each row is stored after key columns: ``frame``,
        ``position`` and the frame's index along every other non-frame
        dimension, by name. Needs pyarrow (``ome-writers[tables]``).

        Parameters
        ----------
        table : str
            The table's name: letters, digits, ``_`` and ``-``.
        row : Mapping[str, Any]
            Column name -> value: int, float, bool, str, a list of numbers,
            or None (a missing value; not in a table's first row). The first
            row fixes the columns and their types.
        frame : int, optional
            The acquisition-order number of the frame the row belongs to
            (default: the last frame appended).

        Raises
        ------
        ValueError
            A bad table name, no frame appended yet, a column named like a key
            column, or a row whose columns or types differ from the first
            row's (nothing of it is kept).
        IndexError
            `frame` was not appended yet.
        ImportError
            pyarrow is not installed.
        StreamClosedError
            The stream is closed.
        """
        from ome_writers.tables._writer import write_row

        with self._lock:
            if self._closed or self._failure is not None:
                self._raise_unusable("write a table row")
            n = self._n - 1 if frame is None else operator.index(frame)
            if n < 0 and frame is None:
                raise ValueError("write_row: no frame appended yet (pass frame=)")
            if not 0 <= n < self._n:
                raise IndexError(
                    f"write_row: frame {n} was not appended yet ({self._n} so far)"
                )
            write_row(
                self._settings,
                self._output_paths,
                self._companions,
                self._router,
                table,
                row,
                n,
            )

    def read_table(self, table: str) -> Any:
        """Every row of table `table` written so far, as a `pyarrow.Table`.

        Raises
        ------
        KeyError
            No row was written to that table.
        """
        from ome_writers.tables._schema import check_table_name
        from ome_writers.tables._writer import TableWriter

        with self._lock:
            writer = self._companions.get(f"table:{check_table_name(table)}")
        if not isinstance(writer, TableWriter):
            raise KeyError(f"No table {table!r} in this stream")
        return writer.read()

    # ------------------------------------------------------------------- labels

    def add_labels(self, label: LabelImage | Mapping[str, Any]) -> None:
        """Add a label image to the running stream (OME-Zarr only).

        Its arrays and NGFF documents are created now; planes are then
        written with `write_label`. Label images given in
        `AcquisitionSettings.labels` are added at `create_stream`.

        Raises
        ------
        ValueError
            The format is not OME-Zarr, positions differ in shape, or a label
            image of that name exists.
        """
        from ome_writers._schema import LabelImage

        spec = label if isinstance(label, LabelImage) else LabelImage(**label)
        with self._lock:
            if self._closed or self._failure is not None:
                self._raise_unusable("add labels")
            labels = self._label_set()
            if spec.name in labels.images:
                raise ValueError(f"a label image named {spec.name!r} exists")
            try:
                labels.add(spec)
            except (ValueError, TypeError):
                raise
            except Exception as e:
                self._fail(e)

    def write_label(self, name: str, data: Any, *, frame: int | None = None) -> None:
        """Write the label plane of one frame of the label image `name`.

        Planes may be written in any order, later than their frame, more
        than once (the last one stays) or never (they read as 0). They follow
        the frames' guarantees: readable by other processes within the loss
        window, durable at checkpoints, complete at close. Lower resolution
        levels are reduced by `LabelImage.downsample`, never averaged.

        Parameters
        ----------
        name : str
            The label image (from `AcquisitionSettings.labels` or `add_labels`).
        data : array-like
            A 2D array of the frame shape: integers that fit the label dtype,
            or bools (1 where True).
        frame : int, optional
            The acquisition-order number of the frame the plane belongs to
            (default: the last frame appended). Unless the label image is
            `per_channel`, frames differing only in their channel share one
            plane.

        Raises
        ------
        KeyError
            No label image of that name.
        IndexError
            The frame has not been appended (or skipped) yet.
        ValueError, TypeError
            The plane's shape or values do not fit; nothing is written.
        """
        with self._lock:
            labels = self._label_set()
            image = labels.image(name)
        # checked and reduced without the lock: appends go on meanwhile
        planes = image.reduced(image.plane(data))
        with self._lock:
            if self._closed or self._failure is not None:
                self._raise_unusable("write a label")
            n = self._n - 1 if frame is None else operator.index(frame)
            if not 0 <= n < self._n:
                raise IndexError(
                    f"frame {frame if frame is not None else n} has not been "
                    f"appended yet ({self._n} frames so far)"
                )
            position, index = self._route(n)
            try:
                image.write(position, index, planes)
            except Exception as e:
                self._fail(e)
            labels.written()

    def set_label_properties(
        self, name: str, properties: Mapping[int, Mapping[str, Any]]
    ) -> None:
        """Replace the NGFF ``properties`` of label image `name`: label value
        -> JSON-compatible values (area, class, ...). Written at the next
        loss-window visit, checkpoint or close."""
        import json

        table = {operator.index(k): dict(v) for k, v in properties.items()}
        try:
            json.dumps(table, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"label properties must be JSON-compatible: {e}") from e
        with self._lock:
            if self._closed or self._failure is not None:
                self._raise_unusable("set label properties")
            self._label_set().set_properties(name, table)

    def _label_set(self) -> LabelSet:
        labels = self._companions.obtain("labels")
        if labels is None:
            raise ValueError(
                f"label images are written to OME-Zarr only (this stream writes "
                f"{self._settings.format.name}, or positions of different shapes)"
            )
        return labels  # type: ignore[return-value]

    # ------------------------------------------------------------------- events

    def on(
        self,
        event: Literal["coords_changed", "coords_expanded"],
        callback: Callable[[CoordUpdate], Any],
    ) -> Callable[[CoordUpdate], Any]:
        """Call `callback(CoordUpdate)` for every frame ("coords_changed") or when
        the visible extent grows ("coords_expanded"), on a worker thread."""
        notifier = self._get_notifier()
        if event == "coords_changed":
            notifier.changed.append(callback)
        elif event == "coords_expanded":
            notifier.expanded.append(callback)
        else:
            raise ValueError(f"Unknown event: {event!r}")
        return callback

    def _get_notifier(self) -> CoordNotifier:
        with self._lock:
            if self._notifier is None:
                self._notifier = CoordNotifier(
                    self._tracker, self._router.acquisition_index
                )
                if self._closed:
                    self._notifier.stop()
            return self._notifier

    # --------------------------------------------------------------------- view

    def view(
        self,
        *,
        dynamic_shape: bool = True,
        strict: bool = False,
        position: int | None = None,
        level: int = 0,
        label: str | None = None,
    ) -> StreamView:
        """A live, read-only array view over everything written so far.

        Dimensions are the declared `dimensions`, in that order. When positions
        have dimensions of their own (arrays of different shapes), the view is
        the list of frames in acquisition order, ``dims == ("frame", Y, X)``.

        Parameters
        ----------
        dynamic_shape : bool
            If True, `shape` grows as frames arrive (0 before the first frame);
            otherwise it is the full expected shape.
        strict : bool
            If True, integer indices beyond the live extent raise `IndexError`.
        position : int, optional
            One position's own N-D view (its dimensions, without the position
            dimension).
        level : int
            Pyramid level to read (0: full resolution; see
            `AcquisitionSettings.pyramid`): the same dimensions and order, with
            reduced axes ceil-divided by ``2**level``. A level shows a block
            once its level-0 frames have arrived.
        label : str, optional
            View the label image of that name instead of the frames: the same
            dimensions (the channel axis of size 1 without coordinates, unless
            the label image is per channel), the same extents as the frames
            acquired; a plane reads as written as soon as `write_label`
            returns, and as 0 until then.

        Raises
        ------
        KeyError
            No label image `label`.
        ValueError
            `label` given for a stream that cannot have label images.
        """
        from ome_writers._stream._view import StreamView

        return StreamView._from_stream(
            self,
            dynamic_shape=dynamic_shape,
            strict=strict,
            position=position,
            level=level,
            label=label,
        )


def _label_set(
    settings: AcquisitionSettings,
    backend_cls: type[Backend],
    backend: Backend,
    router: FrameRouter,
) -> Callable[[], LabelSet]:
    """What makes a stream's label images, on its first one."""

    def make() -> LabelSet:
        from ome_writers._io._paths import resolve_root
        from ome_writers.backends.zarr._pyramid_levels import level_writer_for
        from ome_writers.labels._writer import LabelSet

        extent = getattr(backend, "final_first_extent", None)
        return LabelSet(
            settings,
            resolve_root(settings.output_path, settings.s3),
            router,
            level_writer_for(backend_cls),
            backend.explain_failure,
            extent if extent is not None else lambda position: None,
        )

    return make


def _opening_line(
    settings: AcquisitionSettings, label: str, paths: tuple[str, ...]
) -> str:
    """The log line of a stream opening: the format, the library and the paths."""
    what = f"Writing {settings.format.name} ({label})"
    if not paths:
        return f"{what} in memory: no dataset is saved to disk"
    if len(paths) == 1:
        return f"{what} to {paths[0]}"
    if len(paths) <= _NAMED_FILES:
        return f"{what} to {len(paths)} files: {', '.join(paths)}"
    folder = os.path.dirname(paths[0])
    if all(os.path.dirname(p) == folder for p in paths):
        first, last = os.path.basename(paths[0]), os.path.basename(paths[-1])
        return f"{what} to {len(paths)} files in {folder}: {first} ... {last}"
    return f"{what} to {len(paths)} files: {paths[0]} ... {paths[-1]}"


def _check_frame(arr: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if arr.shape != shape:
        raise FrameShapeError(f"Frame has shape {arr.shape}, expected {shape}.")
    if arr.dtype != dtype:
        raise FrameDtypeError(
            f"Frame has dtype {arr.dtype}, expected {dtype} "
            "(convert it with frame.astype(...) if that is intended)."
        )


def _as_array(frame: Any) -> np.ndarray:
    try:
        return np.asarray(frame)
    except Exception as e:
        raise TypeError(
            f"Frame must be a numpy array or buffer, got {type(frame).__name__}"
        ) from e


def _all_finite(frame: np.ndarray) -> bool:
    """Whether a float frame has no NaN/inf, without a frame-sized temporary.

    A float64 sum propagates NaN and inf; only when it is not finite (which a
    huge but finite float64 frame can also cause) is the exact test run.
    """
    if math.isfinite(frame.sum(dtype=np.float64)):
        return True
    return bool(np.isfinite(frame).all())
