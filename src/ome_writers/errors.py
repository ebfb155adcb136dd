"""Exceptions raised by ome-writers (all catchable as built-in types)."""

from __future__ import annotations

__all__ = [
    "BackendError",
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


for _cls in (
    FrameShapeError,
    FrameDtypeError,
    FrameValueError,
    StreamClosedError,
    BackendError,
):
    _cls.__module__ = "ome_writers.errors"
