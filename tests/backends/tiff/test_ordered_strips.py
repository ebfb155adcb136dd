"""`OrderedStrips`: one file's runs written in order, each followed by its link.

The writes are recorded by a stand-in for ``pwrite_all`` that may fail or
refuse some of them, so the order and the choice of file descriptor (direct
or buffered) can be checked without a filesystem that refuses direct I/O.
"""

from __future__ import annotations

import errno
import threading
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ome_writers.backends.tiff import _direct_strips
from ome_writers.backends.tiff._direct_strips import Link, OrderedStrips, Strip

if TYPE_CHECKING:
    from collections.abc import Callable

DIRECT, BUFFERED = 101, 102  # stand-in descriptors: the file, opened two ways


def _record(
    monkeypatch: pytest.MonkeyPatch,
    fail: Callable[[int, int], int | None] = lambda fd, offset: None,
) -> list[tuple[str, int]]:
    """Record each write as (way, offset); `fail(fd, offset)` returns an
    errno to raise instead."""
    writes: list[tuple[str, int]] = []
    lock = threading.Lock()

    def pwrite_all(fd: int, data: object, offset: int) -> None:
        code = fail(fd, offset)
        if code is not None:
            raise OSError(code, "refused or failed")
        with lock:
            writes.append(("direct" if fd == DIRECT else "buffered", offset))

    monkeypatch.setattr(_direct_strips, "pwrite_all", pwrite_all)
    return writes


def _run(offset: int, blocks: bool = True) -> Strip:
    """A run at `offset`; its link's field goes at `offset + 1`, and its
    blocks (`blocks`: it has them) at `offset + 2` (distinct offsets)."""
    block = np.zeros(16, np.uint8)
    link = Link(bytes(8), offset + 1, block[:8] if blocks else None, offset + 2)
    return Strip(DIRECT, BUFFERED, block, offset, link)


def _submit_all(runs: list[Strip]) -> list[Strip]:
    """Submit `runs`, drain; those finished, in order."""
    strips = OrderedStrips()
    finished: list[Strip] = []
    try:
        for run in runs:
            strips.submit(run, finished.append)
        strips.drain()
    finally:
        strips.close()
    return finished


def test_each_run_is_followed_by_its_link(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs and links alternate on the disk, in the order submitted; a link
    rewrites its blocks directly, or (without them) its field buffered."""
    writes = _record(monkeypatch)
    runs = [_run(10), _run(20, blocks=False), _run(30)]
    assert _submit_all(runs) == runs
    assert writes == [
        ("direct", 10),
        ("direct", 12),
        ("direct", 20),
        ("buffered", 21),
        ("direct", 30),
        ("direct", 32),
    ]
    assert all(run.error is None and not run.refused for run in runs)


def test_after_a_refusal_later_runs_and_links_go_buffered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused direct write goes buffered, with its link's field; so do
    the later runs, without trying direct I/O again."""
    writes = _record(
        monkeypatch,
        lambda fd, at: errno.EINVAL if fd == DIRECT and at == 20 else None,
    )
    runs = [_run(10), _run(20), _run(30)]
    _submit_all(runs)
    assert writes == [
        ("direct", 10),
        ("direct", 12),
        ("buffered", 20),
        ("buffered", 21),
        ("buffered", 30),
        ("buffered", 31),
    ]
    assert [run.refused for run in runs] == [False, True, True]


def test_a_refused_link_goes_buffered(monkeypatch: pytest.MonkeyPatch) -> None:
    writes = _record(
        monkeypatch,
        lambda fd, at: errno.EINVAL if fd == DIRECT and at == 22 else None,
    )
    _submit_all([_run(10), _run(20), _run(30)])
    assert writes[2:] == [
        ("direct", 20),
        ("buffered", 21),
        ("direct", 30),
        ("direct", 32),
    ]


def test_after_a_failure_nothing_more_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failed run is not linked, and no later run is written: the chain
    ends before the failed run. Every run is still finished, in order."""
    writes = _record(monkeypatch, lambda fd, at: errno.ENOSPC if at == 20 else None)
    runs = [_run(10), _run(20), _run(30)]
    assert _submit_all(runs) == runs
    assert writes == [("direct", 10), ("direct", 12)]
    assert isinstance(runs[1].error, OSError)
    assert runs[1].error.errno == errno.ENOSPC
    assert runs[2].error is None and runs[2].seconds == 0.0  # never written


def test_a_failed_link_is_the_runs_error(monkeypatch: pytest.MonkeyPatch) -> None:
    writes = _record(monkeypatch, lambda fd, at: errno.EIO if at == 22 else None)
    runs = [_run(10), _run(20), _run(30)]
    _submit_all(runs)
    assert writes == [("direct", 10), ("direct", 12), ("direct", 20)]
    assert isinstance(runs[1].error, OSError) and runs[1].error.errno == errno.EIO


def test_finish_written_waits_only_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`finish_written` finishes the runs written so far, in order, and
    never waits for one still being written; with `wait` it first waits for
    the oldest (an append wants the buffer it holds)."""
    release = threading.Event()
    writes = _record(monkeypatch)
    real = _direct_strips.pwrite_all

    def held_at_30(fd: int, data: object, offset: int) -> None:
        if offset == 30:
            release.wait(10)  # the third run's write takes a while
        real(fd, data, offset)

    monkeypatch.setattr(_direct_strips, "pwrite_all", held_at_30)
    strips = OrderedStrips()
    finished: list[Strip] = []
    runs = [_run(10), _run(20), _run(30)]
    try:
        for run in runs:
            strips.submit(run, finished.append)
        assert runs[1].done.wait(10)
        strips.finish_written()  # returns at once: the third is still writing
        assert finished == runs[:2]
        threading.Timer(0.2, release.set).start()
        strips.finish_written(wait=True)
        assert finished == runs
    finally:
        release.set()
        strips.close()
    assert [offset for _, offset in writes] == [10, 12, 20, 22, 30, 32]
