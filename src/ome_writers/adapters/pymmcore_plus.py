"""pymmcore-plus integration: an MDA output handler and camera-buffer streaming.

`OMEWriterHandler` is passed as ``core.mda.run(seq, output=handler)`` (or connected
to ``core.mda.events``) for users who want explicit settings or per-frame camera
metadata. `stream_sequence_acquisition` drains a running camera sequence straight
from the camera's ring buffer into a stream.

pymmcore-plus and useq are imported lazily; nothing here is needed by the core.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers._schema import AcquisitionSettings, Dimension, Position
from ome_writers._stream._ome_stream import create_stream

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ome_writers._stream._ome_stream import OMEStream
    from ome_writers._stream._view import StreamView

logger = logging.getLogger("ome_writers")

NAMESPACE = "pymmcore_plus"


def settings_for_sequence(
    base: AcquisitionSettings,
    sequence: Any,
    summary: Mapping[str, Any],
    dimension_overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> AcquisitionSettings:
    """Complete `base` for an MDA sequence, given pymmcore-plus summary metadata.

    Falls back to an unbounded (t, y, x) layout when the sequence cannot be a
    regular array (the useq adapter raises `NotImplementedError`).
    """
    from ome_writers.adapters._useq import useq_to_acquisition_settings

    info = summary["image_infos"][0]
    width, height = int(info["width"]), int(info["height"])
    pixel_size = info.get("pixel_size_um") or None
    fields: dict[str, Any]
    try:
        fields = useq_to_acquisition_settings(
            sequence, image_width=width, image_height=height, pixel_size_um=pixel_size
        )
    except NotImplementedError as e:
        logger.warning("Writing an unbounded t-y-x stream: %s", e)
        fields = {
            "dimensions": _fallback_dims(width, height, pixel_size),
            "plate": None,
        }
    dims = list(fields["dimensions"])
    for i, dim in enumerate(dims):
        if dimension_overrides and dim.name in dimension_overrides:
            dims[i] = dim.model_copy(update=dict(dimension_overrides[dim.name]))
    n_cameras = int(info.get("num_camera_adapter_channels", 1))
    if n_cameras > 1:
        dims.insert(len(dims) - 2, _camera_dimension(summary, n_cameras, dims))
    data = {**base.model_dump(), **fields, "dimensions": dims, "dtype": info["dtype"]}
    if base.significant_bits is None:  # the camera's, unless given
        infos = list(summary["image_infos"])[: max(n_cameras, 1)]
        data["significant_bits"] = camera_bits(infos)
    return AcquisitionSettings.model_validate(data)


def camera_bits(infos: list[Mapping[str, Any]]) -> int | None:
    """The bits the cameras fill (their pixel format, e.g. ``Mono12``, as
    pymmcore-plus reports ``core.getImageBitDepth()``); None when they
    differ or do not fit their pixel type."""
    found = set()
    for info in infos:
        fmt = str(info.get("pixel_format") or "")
        width = 8 * np.dtype(str(info.get("dtype") or "uint8")).itemsize
        if not (fmt.startswith("Mono") and fmt[4:].isdigit()):
            return None
        bits = int(fmt[4:])
        if not 1 <= bits <= width:
            return None
        found.add(bits)
    return found.pop() if len(found) == 1 else None


def _camera_dimension(
    summary: Mapping[str, Any], n_cameras: int, dims: list[Dimension]
) -> Dimension:
    """The camera axis: a series axis, or positions of their own frame shape and
    dtype when the cameras' images differ (and no stage positions are used)."""
    infos = list(summary["image_infos"])[:n_cameras]
    kinds = {(int(i["height"]), int(i["width"]), str(i["dtype"])) for i in infos}
    if (
        len(infos) < n_cameras
        or len(kinds) == 1
        or any(d.type == "position" or d.count is None for d in dims)
    ):
        return Dimension(name="cam", count=n_cameras, type="other")
    y, x = dims[-2:]
    cameras = [
        Position(
            name=str(i.get("camera_label") or f"cam{k}"),
            dimensions=[
                y.model_copy(update={"count": int(i["height"])}),
                x.model_copy(update={"count": int(i["width"])}),
            ],
            dtype=str(i["dtype"]),
        )
        for k, i in enumerate(infos)
    ]
    return Dimension(name="cam", type="position", coords=cameras)


def _fallback_dims(
    width: int, height: int, pixel_size: float | None
) -> list[Dimension]:
    return [
        Dimension(name="t", count=None, chunk_size=1, type="time"),
        Dimension(
            name="y", count=height, chunk_size=height, scale=pixel_size, unit="um"
        ),
        Dimension(name="x", count=width, chunk_size=width, scale=pixel_size, unit="um"),
    ]


def summary_to_json(summary: Mapping[str, Any]) -> dict[str, Any]:
    """pymmcore-plus summary metadata as a JSON-compatible dict."""
    out = dict(summary)
    seq: Any = out.get("mda_sequence")
    if hasattr(seq, "model_dump"):
        out["mda_sequence"] = seq.model_dump(mode="json", exclude_unset=True)
    result: dict[str, Any] = json.loads(json.dumps(out, default=str))
    return result


def frame_metadata(meta: Mapping[str, Any], event: Any = None) -> dict[str, Any]:
    """Per-frame values for `OMEStream.append` from pymmcore-plus frame metadata."""
    out: dict[str, Any] = {}
    if "runner_time_ms" in meta:
        out["delta_t"] = meta["runner_time_ms"] / 1000
    if "exposure_ms" in meta:
        out["exposure_time"] = meta["exposure_ms"] / 1000
    for axis, value in (meta.get("position") or {}).items():
        if axis in ("x", "y", "z") and value is not None:
            out[f"position_{axis}"] = float(value)
    if "camera_device" in meta:
        out["camera"] = meta["camera_device"]
    props = meta.get("property_values") or ()
    if props:
        out["properties"] = {
            f"{p['dev']}-{p['prop']}": p["val"] for p in props if isinstance(p, dict)
        }
    index = getattr(event, "index", None)
    if index:
        out["event_index"] = dict(index)
    return out


class OMEWriterHandler:
    """Write an MDA run through ome-writers, with per-frame camera metadata.

    Parameters
    ----------
    output : str | Path | AcquisitionSettings
        A path (its suffix picks OME-Zarr or OME-TIFF), ``"memory"``, or settings
        whose dimensions/dtype are filled in when the sequence starts (explicit
        dimensions are kept as given).
    overwrite : bool
        Replace an existing dataset (only for path outputs).
    dimension_overrides : Mapping, optional
        Per-dimension field updates, e.g. ``{"z": {"chunk_size": 16}}``.
    format : OmeZarrFormat | OmeTiffFormat | str | Mapping
        The output format of a path output, as `AcquisitionSettings.format`
        takes it, e.g. ``{"ngff_version": "0.4"}`` for OME-Zarr 0.4. Default:
        from the path's suffix.
    check_space : bool
        Compare what each sequence will write with the free space before its
        first frame (as `create_stream` does); False skips the check.

    Examples
    --------
    >>> handler = OMEWriterHandler("run.ome.zarr")  # doctest: +SKIP
    >>> core.mda.run(sequence, output=handler)  # doctest: +SKIP
    """

    def __init__(
        self,
        output: str | Path | AcquisitionSettings,
        *,
        overwrite: bool = False,
        dimension_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        format: Any = "auto",
        check_space: bool = True,
    ) -> None:
        self._check_space = check_space
        if isinstance(output, AcquisitionSettings):
            if format != "auto":
                raise ValueError(
                    "format= applies to a path output; settings carry their own "
                    "(AcquisitionSettings(format=...))"
                )
            self._base = output
        elif str(output).rstrip("/:").lower() in ("memory", "scratch"):
            self._base = AcquisitionSettings(format="scratch", overwrite=overwrite)
        else:
            self._base = AcquisitionSettings(
                root_path=str(output), overwrite=overwrite, format=format
            )
        self._overrides = dimension_overrides
        self._stream: OMEStream | None = None
        self.settings: AcquisitionSettings | None = None
        self._frames = _EventFrames()
        # writes (rows, label planes) of events whose frames are not appended
        # yet, by event key
        self._waiting: dict[
            tuple[tuple[str, int], ...], list[Callable[[OMEStream, int], None]]
        ] = {}
        self._lock = threading.Lock()
        # pymmcore-plus's relay thread can end without delivering
        # sequenceFinished (its stop flag is set before the event is queued),
        # so a stream also closes when the thread that started it ends.
        self._thread_end = threading.local()
        self._close_at_thread_end: (
            weakref.finalize[[OMEStream], _ThreadEndToken] | None
        ) = None

    @property
    def stream(self) -> OMEStream | None:
        """The stream of the current (or last) sequence."""
        return self._stream

    def view(self) -> StreamView | None:
        """A live view of the current (or last) sequence's data."""
        return None if self._stream is None else self._stream.view()

    def sequenceStarted(
        self, sequence: Any, meta: Mapping[str, Any] | None = None
    ) -> None:
        """Create the stream (pymmcore-plus calls this when the MDA starts)."""
        if not meta:
            raise ValueError("pymmcore-plus summary metadata is required")
        if self._base.dimensions and self._base.dtype:
            settings = self._base
        else:
            settings = settings_for_sequence(
                self._base, sequence, meta, self._overrides
            )
        self.settings = settings
        with self._lock:  # writes waiting for this sequence's frames stay
            self._frames = _EventFrames()
        unfinished = self._close_at_thread_end
        if unfinished is not None and unfinished.detach() and self._stream is not None:
            self._stream.close()  # the last sequence's end never arrived
        self._stream = create_stream(settings, check_space=self._check_space)
        self._stream.set_global_metadata(
            NAMESPACE, {"summary_metadata": summary_to_json(meta)}
        )
        self._thread_end.token = token = _ThreadEndToken()
        self._close_at_thread_end = weakref.finalize(token, self._finish, self._stream)
        self._close_at_thread_end.atexit = False  # the stream has its own

    def frameReady(self, img: np.ndarray, event: Any, meta: Mapping[str, Any]) -> None:
        """Append one frame with its metadata."""
        if self._stream is None:
            raise RuntimeError("frameReady before sequenceStarted")
        stream = self._stream
        stream.append(img, frame_metadata=frame_metadata(meta, event))
        with self._lock:
            frame = self._frames.add(event)
            waiting = self._waiting.pop(_event_key(event), []) if self._waiting else []
        for write in waiting:
            try:
                write(stream, frame)
            except (ValueError, TypeError, KeyError):  # the frame must still go on
                logger.exception("A write held for frame %d failed", frame)

    def frame_of(self, event: Any) -> int:
        """The frame number `event` was appended as (its acquisition order).

        `event` is a useq ``MDAEvent`` or its ``index`` mapping (e.g.
        ``{"t": 2, "c": 0}``; axes left out are 0).

        Raises
        ------
        KeyError
            No frame of that event has been appended in this sequence.
        """
        with self._lock:
            return self._frames.frame_of(event)

    def write_label(self, name: str, data: Any, event: Any) -> None:
        """Write the label plane of `event`'s frame (`OMEStream.write_label`).

        Call it from an analysis connected to ``core.mda.events.frameReady``,
        at that frame or any later one. pymmcore-plus may call this handler
        after the analysis (on its own thread): a plane whose frame is not
        appended yet is kept (copied) and written as soon as it is.

        Raises
        ------
        KeyError
            No label image `name`.
        ValueError, TypeError
            The plane does not fit (planes kept for later are checked when
            they are written: the error is then logged).
        """
        plane = np.asarray(data)

        def later() -> Callable[[OMEStream, int], None]:
            kept = plane.copy()  # the caller may reuse its buffer meanwhile
            return lambda stream, frame: stream.write_label(name, kept, frame=frame)

        self._at_frame(
            event,
            lambda stream, frame: stream.write_label(name, plane, frame=frame),
            later,
        )

    def write_row(self, table: str, row: Mapping[str, Any], *, event: Any) -> None:
        """Add a row of per-frame results for the frame of `event` (a
        ``useq.MDAEvent``) to table `table` (see `OMEStream.write_row`).

        Call it from a ``frameReady`` callback. pymmcore-plus may call this
        handler after the callback (on its own thread): a row whose frame
        is not appended yet is kept and written as soon as the frame is.

        Raises
        ------
        ValueError
            A bad table name or row (rows kept for later are checked when
            they are written: the error is then logged).
        """
        values = dict(row)
        self._at_frame(
            event, lambda stream, frame: stream.write_row(table, values, frame=frame)
        )

    def _at_frame(
        self,
        event: Any,
        write: Callable[[OMEStream, int], None],
        later: Callable[[], Callable[[OMEStream, int], None]] | None = None,
    ) -> None:
        """`write(stream, frame)` for `event`'s frame now if it was appended,
        else (what `later()` returns) once it is."""
        with self._lock:
            stream = self._stream
            frame = self._frames.find(event)
            if frame is None or stream is None:
                kept = write if later is None else later()
                self._waiting.setdefault(_event_key(event), []).append(kept)
                return
        write(stream, frame)

    def sequenceFinished(self, sequence: Any) -> None:
        """Close the stream (also after a cancelled run).

        A stream whose sequenceFinished never arrives is closed when the
        thread that called `sequenceStarted` ends.
        """
        if self._close_at_thread_end is not None:
            self._close_at_thread_end.detach()
        if self._stream is not None:
            self._finish(self._stream)

    def _finish(self, stream: OMEStream) -> None:
        """Drop writes whose frames never came, then close `stream`."""
        with self._lock:
            lost = sum(len(writes) for writes in self._waiting.values())
            self._waiting.clear()
        if lost:
            logger.warning(
                "%d table row(s) or label plane(s) not written: their events' "
                "frames never arrived",
                lost,
            )
        stream.close()


class _ThreadEndToken:
    """Held in a thread-local: released when that thread ends."""


class _EventFrames:
    """Event index -> frame number of the frames appended in one sequence.

    A key is the event's index values in the order its axes were first seen,
    trailing zeros dropped (so an axis that appears later keeps the earlier
    keys valid): a tuple of small ints per frame.
    """

    def __init__(self) -> None:
        self._axes: dict[str, int] = {}
        self._numbers: dict[tuple[int, ...], int] = {}
        self._count = 0

    def _key(self, index: Mapping[str, int], *, learn: bool) -> tuple[int, ...] | None:
        values = [0] * len(self._axes)
        for axis, value in index.items():
            slot = self._axes.get(axis)
            if slot is None:
                if not value:
                    continue
                if not learn:
                    return None  # an axis no appended frame had
                slot = self._axes[axis] = len(self._axes)
                values.append(0)
            values[slot] = int(value)
        while values and not values[-1]:
            values.pop()
        return tuple(values)

    def add(self, event: Any) -> int:
        """Record `event`'s frame as the next one; its number."""
        number = self._count
        index = getattr(event, "index", None)
        if index is not None:
            key = self._key(index, learn=True)
            assert key is not None
            self._numbers[key] = number
        self._count += 1
        return number

    def find(self, event: Any) -> int | None:
        """The frame number of `event`, or None if none was appended."""
        try:
            return self.frame_of(event)
        except KeyError:
            return None

    def frame_of(self, event: Any) -> int:
        index = getattr(event, "index", event)
        if not isinstance(index, Mapping):
            raise TypeError(
                f"frame_of takes a useq MDAEvent or its index mapping, not "
                f"{type(event).__name__}"
            )
        key = self._key(index, learn=False)
        number = None if key is None else self._numbers.get(key)
        if number is None:
            raise KeyError(
                f"no frame of the event with index {dict(index)} has been appended "
                f"in this sequence ({self._count} frames so far)"
            )
        return number


def _event_key(event: Any) -> tuple[tuple[str, int], ...]:
    """What identifies an event's frame: its index along every axis (axes
    at 0 left out, as `_EventFrames` does)."""
    index = getattr(event, "index", event)
    if not isinstance(index, Mapping):
        return ()
    return tuple(sorted((str(k), int(v)) for k, v in index.items() if v))


# --------------------------------------------------------------- camera buffer


@dataclass
class SequenceStats:
    """What happened while draining a camera sequence."""

    frames: int
    seconds: float
    max_frames_buffered: int
    zero_copy: bool

    @property
    def fps(self) -> float:
        """Frames per second drained."""
        return self.frames / self.seconds if self.seconds else float("nan")


def stream_sequence_acquisition(
    core: Any,
    stream: OMEStream,
    n_frames: int,
    *,
    interval_ms: float = 0,
    timeout: float = 60.0,
) -> SequenceStats:
    """Run a camera sequence of `n_frames` and append each frame to `stream`.

    With pymmcore-plus's pure-Python camera layer (``UniMMCore``), frames are
    appended as read-only views of the camera's ring buffer — no copy in this
    layer — and each slot is released only after `append` returned (the stream
    has then copied or written the bytes). The sequence runs with
    stop-on-overflow, so the camera can never overwrite a slot still being
    read; an overflow raises `BufferError`. With other cores, frames are popped
    with ``popNextImage`` (a copy made by the core).
    """
    buffer = _python_ring_buffer(core)
    core.startSequenceAcquisition(n_frames, interval_ms, True)
    start = time.perf_counter()
    deadline = start + timeout
    done = 0
    max_buffered = 0
    try:
        while done < n_frames:
            pending = core.getRemainingImageCount()
            if not pending:
                if getattr(buffer, "overflow_occurred", False):
                    raise BufferError(f"camera buffer overflowed after {done} frames")
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"only {done}/{n_frames} frames arrived")
                if not core.isSequenceRunning() and not core.getRemainingImageCount():
                    raise RuntimeError(f"sequence stopped after {done} frames")
                time.sleep(0.0005)
                continue
            max_buffered = max(max_buffered, pending)
            if buffer is not None:
                _append_oldest_slot(buffer, stream)
            else:
                stream.append(core.popNextImage())
            done += 1
    finally:
        if core.isSequenceRunning():
            core.stopSequenceAcquisition()
    return SequenceStats(
        done, time.perf_counter() - start, max_buffered, buffer is not None
    )


def _python_ring_buffer(core: Any) -> Any:
    """pymmcore-plus's Python ring buffer, if this core streams through it."""
    buffer = getattr(core, "_seq_buffer", None)
    py_camera = getattr(core, "_py_camera", None)
    if buffer is None or py_camera is None or py_camera() is None:
        return None
    required = ("_lock", "_slots", "_evict_slot")
    return buffer if all(hasattr(buffer, name) for name in required) else None


# pymmcore-plus 0.18 has no public way to read a ring-buffer slot without copying
# it; these helpers use its SequenceBuffer internals, checked by
# _python_ring_buffer before use.
def _append_oldest_slot(buffer: Any, stream: OMEStream) -> None:
    with buffer._lock:
        slot = buffer._slots[0]
    view = slot.array.view()
    view.flags.writeable = False
    stream.append(view)
    with buffer._lock:
        released = buffer._slots.popleft()
        buffer._evict_slot(released)
