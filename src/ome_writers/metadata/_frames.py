"""Per-frame metadata: collected in O(1) per frame, resolved once when written."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ome_writers._router import FrameRouter

SPECIAL_KEYS = ("delta_t", "exposure_time", "position_x", "position_y", "position_z")


def to_json_value(value: Any) -> Any:
    """Coerce numpy scalars/arrays and non-finite floats into JSON-safe values."""
    if isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class FrameMetadataLog:
    """Frame metadata in arrival order: two list appends per frame."""

    __slots__ = ("_frames", "_router", "_values")

    def __init__(self, router: FrameRouter) -> None:
        self._router = router
        self._frames: list[int] = []
        self._values: list[Mapping[str, Any]] = []

    def add(self, frame_number: int, metadata: Mapping[str, Any]) -> None:
        """Record `metadata` for a frame (the mapping is kept, not copied)."""
        self._frames.append(frame_number)
        self._values.append(metadata)

    def __len__(self) -> int:
        return len(self._frames)

    def records(
        self, position: int | None = None
    ) -> list[tuple[int, tuple[int, ...], dict[str, Any]]]:
        """(position, storage index, JSON-safe metadata) per frame with metadata."""
        out = []
        route = self._router.route
        for n, meta in zip(self._frames, self._values, strict=True):
            pos, index = route(n)
            if position is None or pos == position:
                out.append((pos, index, to_json_value(meta)))
        return out
