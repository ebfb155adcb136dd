"""A checkpoint serialises only the per-frame metadata that arrived since the
last one: its cost does not grow with the frames written before it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._registry import BACKENDS
from ome_writers.metadata import _frame_metadata as _frames

JOURNALING = [
    pytest.param(r.name, marks=pytest.mark.skipif(not r.available, reason="absent"))
    for r in BACKENDS
    if r.format == "ome-zarr" or r.format == "scratch"
]
BATCH = 25  # frames between checkpoints


def _settings(root: Path, backend: str) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(root),
        format=backend,
        dimensions=[
            Dimension(name="t", count=None, chunk_size=1),
            Dimension(name="y", count=8),
            Dimension(name="x", count=8),
        ],
        dtype="uint16",
        loss_window=None,  # only the explicit checkpoints journal
    )


@pytest.mark.parametrize("backend", JOURNALING)
def test_checkpoint_cost_is_flat(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    serialised = 0
    original = _frames._json_metadata

    def counting(value: object) -> object:
        nonlocal serialised
        serialised += 1
        return original(value)

    monkeypatch.setattr(_frames, "_json_metadata", counting)
    suffix = "" if backend == "scratch" else ".ome.zarr"
    root = tmp_path / f"run{suffix}"
    frame = np.zeros((8, 8), dtype="uint16")
    per_checkpoint = []
    with create_stream(_settings(root, backend), checkpoint_seconds=None) as stream:
        n = 0
        for _ in range(6):
            for _ in range(BATCH):
                stream.append(frame, frame_metadata={"n": n, "delta_t": n * 0.1})
                n += 1
            serialised = 0
            stream.checkpoint()
            per_checkpoint.append(serialised)
    # each checkpoint resolves the batch since the one before (one call per
    # frame's metadata; OME-Zarr: for the journal and for OME-XML's Planes),
    # not every frame so far
    readers = 1 if backend == "scratch" else 2
    assert per_checkpoint == [readers * BATCH] * 6
    # at close everything is consolidated once, and the journal is gone
    journals = list(root.rglob("frame_metadata.jsonl"))
    if backend == "scratch":  # the scratch directory keeps its record file
        (journal,) = journals
        lines = journal.read_text().splitlines()
        assert [json.loads(line)["n"] for line in lines] == list(range(n))
    else:
        assert journals == []
        attrs = json.loads((root / "zarr.json").read_text())["attributes"]
        records = attrs["ome_writers"]["frame_metadata"]
        assert [r["n"] for r in records] == list(range(n))


def test_journal_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "frame_metadata.jsonl"
    path.write_text('{"n": 0}\n{"n": 1}\n{"n": ')
    assert list(_frames.read_journal(path)) == [{"n": 0}, {"n": 1}]


@pytest.mark.parametrize("backend", ["tensorstore", "tifffile"])
def test_periodic_checkpoint_syncs_off_the_acquisition_thread(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a loss window, the checkpoint `append` finds due runs on the
    window's thread, its sync without the stream's lock: the acquisition
    thread never waits for the disk there. The data is still synced while
    the acquisition runs."""
    pytest.importorskip(backend)
    import threading
    import time

    from ome_writers.backends.tiff import _writer as tiff_writer
    from ome_writers.backends.zarr import _dataset

    synced: list[tuple[str, bool]] = []

    def record(*_: object) -> None:
        # owned by the syncing thread: the acquisition thread holding it
        # meanwhile (it appends throughout) is not a sync under the lock
        held = stream._lock._is_owned()
        synced.append((threading.current_thread().name, held))

    monkeypatch.setattr(_dataset, "sync_filesystem", record)
    monkeypatch.setattr(tiff_writer, "fsync_files", record)
    suffix = ".ome.tiff" if backend == "tifffile" else ".ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(tmp_path / f"run{suffix}"),
        format=backend,
        dimensions=[
            Dimension(name="t", count=None),
            Dimension(name="y", count=64),
            Dimension(name="x", count=64),
        ],
        dtype="uint16",
        loss_window=0.1,
    )
    frame = np.ones((64, 64), dtype="uint16")
    stream = create_stream(settings, checkpoint_seconds=0.05)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline or not synced:
        stream.append(frame)
        time.sleep(0.005)
        assert time.monotonic() < deadline + 10, "no checkpoint synced"
    during = list(synced)
    stream.close()
    assert during, "nothing synced while frames were appended"
    assert all(name != "MainThread" for name, _ in during), during
    assert not any(held for _, held in during), "synced under the stream's lock"
