"""The per-frame metadata log read outside the stream's lock.

Loss-window visits read the log (`FrameMetadataJournal.append_new`, the
OME-XML) while appends go on: whatever an append has half done, or adds while
a reader works, is read once and whole, by that reader or the next.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ome_writers import AcquisitionSettings, Dimension
from ome_writers._router import FrameRouter
from ome_writers.metadata._frame_metadata import FrameMetadataJournal, FrameMetadataLog


def _log() -> FrameMetadataLog:
    settings = AcquisitionSettings(
        root_path="unused.ome.zarr",
        dimensions=[
            Dimension(name="t", count=10, type="time"),
            Dimension(name="y", count=4),
            Dimension(name="x", count=4),
        ],
        dtype="uint8",
    )
    return FrameMetadataLog(FrameRouter(settings))


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_journal_skips_an_entry_being_added(tmp_path: Path) -> None:
    """An entry whose frame number is in but whose metadata is not yet (the
    middle of `add`) waits for the next call."""
    log = _log()
    path = tmp_path / "journal.jsonl"
    journal = FrameMetadataJournal(log, lambda position: path)
    log.add(0, {"k": 0})
    log._frames.append(1)  # `add` half done
    assert journal.append_new() == 1
    log._values.append({"k": 1})  # `add` done
    assert journal.append_new() == 1
    assert [r["k"] for r in _lines(path)] == [0, 1]


class _AppendingLog(FrameMetadataLog):
    """A log to which an entry is added while the first reader reads it."""

    __slots__ = ()

    def records(self, *args: Any, **kwargs: Any) -> Any:
        if len(self) == 1:
            self.add(1, {"k": 1})  # after the reader took len(log)
        return super().records(*args, **kwargs)


def test_journal_writes_an_entry_arriving_meanwhile_once(tmp_path: Path) -> None:
    """An entry added while the journal reads the log is written once."""
    log = _AppendingLog(_log()._router)
    path = tmp_path / "journal.jsonl"
    journal = FrameMetadataJournal(log, lambda position: path)
    log.add(0, {"k": 0})
    journal.append_new()
    journal.append_new()
    assert [r["k"] for r in _lines(path)] == [0, 1]


def test_numbered_entries() -> None:
    log = _log()
    for n in (0, 2, 5):
        log.add(n, {"n": n})
    assert log.numbered(1) == [(2, 0, (2,), {"n": 2}), (5, 0, (5,), {"n": 5})]
    assert log.numbered(0, 2) == [(0, 0, (0,), {"n": 0}), (2, 0, (2,), {"n": 2})]
    log.forget(2)
    assert log.numbered(0) == [(5, 0, (5,), {"n": 5})]
    assert log.records(stop=2) == []
