"""Exceptions raised by ome-writers, and its warning (all catchable as built-in
types)."""

from __future__ import annotations

__all__ = [
    "BackendError",
    "DiskSpaceWarning",
    "FrameDtypeError",
    "FrameShapeError",
    "FrameValueError",
    "StreamClosedError",
]


class FrameShapeError(ValueError):
    """A frame's shape differs from the acquisition's frame shape."""


class FrameDtypeError(TypeError):
    """A frame's dtype differs from the acquisition's dtype."""


class FrameValueError(ValueError):
    """A float frame holds NaN or infinite values (see ``finite_only``)."""


class StreamClosedError(RuntimeError):
    """The stream is closed (or failed) and accepts no more frames."""


class BackendError(RuntimeError):
    """Writing failed inside a backend (for example in a background thread)."""


class DiskSpaceWarning(UserWarning):
    """The output's filesystem may be too small for the acquisition.

    Given by `create_stream` when the free space holds the estimate with
    compression but not the uncompressed bound, or an unbounded acquisition
    for less than an hour (see `AcquisitionSettings.estimated_size`).
    """


for _cls in (
    FrameShapeError,
    FrameDtypeError,
    FrameValueError,
    StreamClosedError,
    BackendError,
    DiskSpaceWarning,
):
    _cls.__module__ = "ome_writers.errors"
