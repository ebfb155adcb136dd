"""Per-frame metadata: collected in O(1) per frame, resolved once when written."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ome_writers._object_store import DatasetPath
    from ome_writers._router import FrameRouter

#: name of the append-only per-frame metadata file of an image (JSON lines)
JOURNAL_NAME = "frame_metadata.jsonl"

#: per-frame keys every format stores as such (OME-XML Plane attributes), with
#: their unit; any other key is kept as a name/value annotation
SPECIAL_KEYS = {
    "delta_t": "s",
    "exposure_time": "s",
    "position_x": "um",
    "position_y": "um",
    "position_z": "um",
}


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
        self, position: int | None = None, start: int = 0
    ) -> list[tuple[int, tuple[int, ...], dict[str, Any]]]:
        """(position, storage index, JSON-safe metadata) per frame with metadata.

        `start` skips the first entries of the log (``len(log)`` is the next).
        """
        out = []
        route = self._router.route
        entries = zip(self._frames[start:], self._values[start:], strict=True)
        for n, meta in entries:
            pos, index = route(n)
            if position is None or pos == position:
                out.append((pos, index, to_json_value(meta)))
        return out


class FrameMetadataJournal:
    """Appends the per-frame metadata that arrived since the last call to files.

    One JSON object per line, by default the metadata plus ``storage_index``
    (`entry` makes another), in the file `path_of` gives for the frame's
    position. Each call writes only the new records, so a checkpoint costs the
    same after a million frames as after ten; the final metadata is
    consolidated once, at close.
    """

    def __init__(
        self,
        log: FrameMetadataLog,
        path_of: Callable[[int], DatasetPath],
        entry: Callable[[int, tuple[int, ...], dict[str, Any]], dict[str, Any]]
        | None = None,
    ) -> None:
        self._log = log
        self._path_of = path_of
        self._entry = entry or _storage_entry
        self._written = 0  # log entries already in the files
        self.paths: set[DatasetPath] = set()  # files (and part objects) written
        self._parts: dict[DatasetPath, int] = {}  # object journal -> parts

    def append_new(self) -> int:
        """Append the records added since the last call; how many there were."""
        end = len(self._log)
        if end == self._written:
            return 0
        lines: dict[DatasetPath, list[str]] = {}  # arrival order within each file
        records = self._log.records(start=self._written)
        for position, index, meta in records:
            line = json.dumps(self._entry(position, index, meta))
            lines.setdefault(self._path_of(position), []).append(line)
        for path, batch in lines.items():
            text = "\n".join(batch) + "\n"
            if not isinstance(path, Path):  # an object cannot grow: a new part
                n = self._parts.get(path, 0)
                self._parts[path] = n + 1
                part = path.parent / f"{path.name}.{n:06d}"
                part.write_text(text)
                self.paths.add(part)
                continue
            if path not in self.paths:
                path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as f:
                f.write(text)
            self.paths.add(path)
        self._written = end
        return len(records)

    def remove(self) -> None:
        """Delete the files (their records are in the final metadata)."""
        for path in self.paths:
            path.unlink(missing_ok=True)
        self.paths.clear()
        self._parts.clear()


def _storage_entry(
    position: int, index: tuple[int, ...], meta: dict[str, Any]
) -> dict[str, Any]:
    return {**meta, "storage_index": list(index)}


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a journal file; a torn last line (a crash) is skipped."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                return
            if isinstance(record, dict):
                yield record
