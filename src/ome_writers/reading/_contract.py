"""Reading a dataset's progress record (the writer's side: metadata/_progress.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ome_writers.metadata._progress import STATUSES


@dataclass(frozen=True)
class Progress:
    """A progress record as read (see docs/reading.md)."""

    status: str
    updated: datetime | None
    frames: int
    total: int | None
    order: tuple[str, ...]
    extent: dict[str, int]
    images: int
    image_paths: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_progress(record: Any, where: str) -> Progress:
    """The `Progress` of a record; ValueError naming `where` if malformed."""
    try:
        if not isinstance(record, dict):
            raise TypeError("not a mapping")
        status = record["status"]
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        updated = record.get("updated")
        when = None
        if isinstance(updated, str):
            when = datetime.fromisoformat(updated.replace("Z", "+00:00"))
        total = record.get("total")
        paths = record.get("image_paths")
        return Progress(
            status=str(status),
            updated=when,
            frames=int(record["frames"]),
            total=None if total is None else int(total),
            order=tuple(str(n) for n in record.get("order", ())),
            extent={str(k): int(v) for k, v in dict(record["extent"]).items()},
            images=int(record.get("images", 0)),
            image_paths=None if paths is None else tuple(str(p) for p in paths),
            extra={k: v for k, v in record.items() if k not in _COMMON},
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"{where}: the ome_writers progress record is malformed ({e!r})"
        ) from e


_COMMON = {
    "status",
    "updated",
    "frames",
    "total",
    "order",
    "extent",
    "images",
    "image_paths",
}
