"""Per-frame metadata: collected in O(1) per frame, resolved once when written."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator

    from ome_writers._io._object_store import DatasetPath
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


_PLAIN = (str, int, bool, type(None))


def _json_metadata(meta: Mapping[str, Any]) -> Any:
    """`to_json_value` of one frame's metadata; the mapping itself when it is
    a dict of str keys and plain values (the usual case: no copy)."""
    if meta.__class__ is dict:
        for key, value in meta.items():
            kind = value.__class__
            if kind is float:
                if not math.isfinite(value):
                    break
            elif kind not in _PLAIN or key.__class__ is not str:
                break
        else:
            return meta
    return to_json_value(meta)


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
    """Frame metadata in arrival order: two list appends per frame.

    Entries are numbered from 0 in arrival order. Once a backend has written
    them (`Backend.make_readable`), the stream `forget`s them, so memory holds
    only what arrived since (about one loss window of entries).
    """

    __slots__ = ("_forgotten", "_frames", "_router", "_values")

    def __init__(self, router: FrameRouter) -> None:
        self._router = router
        self._frames: list[int] = []
        self._values: list[Mapping[str, Any]] = []
        self._forgotten = 0  # entries dropped from the front

    def add(self, frame_number: int, metadata: Mapping[str, Any]) -> None:
        """Record `metadata` for a frame (the mapping is kept, not copied)."""
        self._frames.append(frame_number)
        self._values.append(metadata)

    def __len__(self) -> int:
        """Entries ever added (forgotten ones included)."""
        # `add` appends the metadata last: an entry counts once it is whole
        # (readers outside the stream's lock may look at any moment)
        return self._forgotten + len(self._values)

    @property
    def forgotten(self) -> int:
        """Entries dropped from memory (numbers below it are gone)."""
        return self._forgotten

    def forget(self, end: int) -> None:
        """Drop the entries numbered below `end` (they were written)."""
        drop = end - self._forgotten
        if drop > 0:
            del self._frames[:drop]
            del self._values[:drop]
            self._forgotten = end

    def records(
        self, position: int | None = None, start: int = 0, stop: int | None = None
    ) -> list[tuple[int, tuple[int, ...], dict[str, Any]]]:
        """(position, storage index, JSON-safe metadata) per frame with metadata.

        `start` is the number of the first entry wanted (``len(log)`` is the
        next), `stop` the number after the last (default: ``len(log)``);
        entries already forgotten are not returned.
        """
        return [
            (pos, index, meta)
            for _, pos, index, meta in self.numbered(start, stop)
            if position is None or pos == position
        ]

    def numbered(
        self, start: int = 0, stop: int | None = None
    ) -> list[tuple[int, int, tuple[int, ...], dict[str, Any]]]:
        """`records` of every position with their frame numbers: (frame,
        position, storage index, JSON-safe metadata), in arrival order."""
        out = []
        route = self._router.route
        first = max(0, start - self._forgotten)
        end = len(self) if stop is None else min(stop, len(self))
        last = max(first, end - self._forgotten)
        frames, values = self._frames[first:last], self._values[first:last]
        for n, meta in zip(frames, values, strict=True):
            out.append((n, *route(n), _json_metadata(meta)))
        return out


class FrameMetadataJournal:
    """Appends the per-frame metadata that arrived since the last call to files.

    One JSON object per line, by default the metadata plus ``storage_index``
    (`entry` makes another), in the file `path_of` gives for the frame's
    position; `observe` sees every record as it is written. Each call writes
    only the new records, so a checkpoint costs the same after a million
    frames as after ten; the final metadata is consolidated once, at close.
    """

    def __init__(
        self,
        log: FrameMetadataLog,
        path_of: Callable[[int], DatasetPath],
        entry: Callable[[int, tuple[int, ...], dict[str, Any]], dict[str, Any]]
        | None = None,
        observe: Callable[[int, tuple[int, ...], dict[str, Any]], None] | None = None,
    ) -> None:
        self._log = log
        self._path_of = path_of
        self._entry = entry or _storage_entry
        self._observe = observe  # called with every record written
        self._written = 0  # log entries already in the files
        self._lock = threading.Lock()
        self.paths: set[DatasetPath] = set()  # files (and part objects) written
        self._parts: dict[DatasetPath, int] = {}  # object journal -> parts
        self._counts: dict[DatasetPath, int] = {}  # journal -> records in it

    def append_new(self) -> int:
        """Append the records added since the last call; how many there were.

        Safe to call from two threads (the loss window's, a checkpoint's)."""
        with self._lock:
            return self._append_new()

    def _append_new(self) -> int:
        end = len(self._log)
        if end == self._written:
            return 0
        # per file, in arrival order (positions may share a file)
        lines: dict[DatasetPath, list[str]] = {}
        batches: dict[int, list[str]] = {}  # position -> its file's lines
        # to `end` only: entries arriving meanwhile are the next call's
        records = self._log.records(start=self._written, stop=end)
        entry, dumps, observe = self._entry, json.dumps, self._observe
        for position, index, meta in records:
            if observe is not None:
                observe(position, index, meta)
            batch = batches.get(position)
            if batch is None:
                batch = lines.setdefault(self._path_of(position), [])
                batches[position] = batch
            batch.append(dumps(entry(position, index, meta)))
        for path, batch in lines.items():
            self._counts[path] = self._counts.get(path, 0) + len(batch)
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

    def count(self, path: DatasetPath) -> int:
        """Records written to the journal `path`."""
        return self._counts.get(path, 0)

    def read(self, path: DatasetPath) -> list[dict[str, Any]]:
        """The records of the journal `path` (its parts, in a bucket)."""
        if isinstance(path, Path):
            return list(read_journal(path)) if path in self.paths else []
        out: list[dict[str, Any]] = []
        for n in range(self._parts.get(path, 0)):
            part = path.parent / f"{path.name}.{n:06d}"
            out.extend(_records(part.read_text().splitlines()))
        return out

    def remove(self, keep: Collection[DatasetPath] = ()) -> None:
        """Delete the files (their records are in the final metadata), but
        those in `keep` (which the final metadata refers to)."""
        for path in self.paths - set(keep):
            path.unlink(missing_ok=True)
        self.paths.clear()
        self._parts.clear()
        self._counts.clear()


def _storage_entry(
    position: int, index: tuple[int, ...], meta: dict[str, Any]
) -> dict[str, Any]:
    return {**meta, "storage_index": list(index)}


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a journal file; a torn last line (a crash) is skipped."""
    with open(path, encoding="utf-8") as f:
        yield from _records(f)


def _records(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            return
        if isinstance(record, dict):
            yield record


def stored_records(
    image_dir: Path, own: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], str | None]:
    """The per-frame metadata records of an OME-Zarr image, and their source.

    `own` is the image's ``attributes.ome_writers``. The records are there
    (``frame_metadata``), in the file it names (``frame_metadata_file``), or,
    after an acquisition that did not close, in the journal beside its
    ``zarr.json`` (``journal``); none: ``([], None)``.
    """
    records = own.get("frame_metadata")
    kept = own.get("frame_metadata_file")
    if records is not None:
        source = "frame_metadata"
    elif isinstance(kept, dict) and (image_dir / str(kept.get("path"))).is_file():
        records = list(read_journal(image_dir / str(kept["path"])))
        source = "frame_metadata_file"
    elif (image_dir / JOURNAL_NAME).is_file():
        records = list(read_journal(image_dir / JOURNAL_NAME))
        source = "journal"
    else:
        return [], None
    if not isinstance(records, list):
        records = []
    return [r for r in records if isinstance(r, dict)], source
