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
from ome_writers.backends.tiff._direct_strips import OrderedStrips, Strip

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


def _run(offset: int) -> Strip:
    """A run at `offset` whose link goes at `offset + 1` (distinct offsets)."""
    block = np.zeros(16, np.uint8)
    return Strip(DIRECT, BUFFERED, block, offset, (block[:8], offset + 1))


def _submit_all(offsets: list[int]) -> tuple[list[Strip], list[Strip]]:
    """Submit runs at `offsets`, drain; (the strips, those finished in order)."""
    strips = OrderedStrips()
    finished: list[Strip] = []
    runs = [_run(o) for o in offsets]
    try:
        for run in runs:
            strips.submit(run, finished.append)
        strips.drain()
    finally:
        strips.close()
    return runs, finished


def test_each_run_is_followed_by_its_link(monkeypatch: pytest.MonkeyPatch) -> None:
    writes = _record(monkeypatch)
    runs, finished = _submit_all([10, 20, 30, 40])
    assert writes == [("direct", o + k) for o in (10, 20, 30, 40) for k in (0, 1)]
    assert finished == runs  # in the order submitted
    assert all(run.linked and run.error is None for run in runs)


def test_after_a_refusal_later_runs_go_buffered_and_leave_their_links(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused direct write goes buffered; so do the later ones, without
    trying direct I/O again, and their links are left to the finishers."""
    writes = _record(
        monkeypatch,
        lambda fd, at: errno.EINVAL if fd == DIRECT and at == 20 else None,
    )
    runs, _ = _submit_all([10, 20, 30])
    linked_first = [("direct", 10), ("direct", 11)]
    assert writes == [*linked_first, ("buffered", 20), ("buffered", 30)]
    assert [run.linked for run in runs] == [True, False, False]
    assert [run.refused for run in runs] == [False, True, True]


def test_after_a_failure_nothing_more_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failed run is not linked, and neither it nor any later run is
    linked (nor written): the chain ends before the failed run."""
    writes = _record(monkeypatch, lambda fd, at: errno.ENOSPC if at == 20 else None)
    runs, finished = _submit_all([10, 20, 30])
    assert writes == [("direct", 10), ("direct", 11)]
    assert isinstance(runs[1].error, OSError)
    assert runs[1].error.errno == errno.ENOSPC
    assert not runs[1].linked and not runs[2].linked
    assert finished == runs  # every run is still finished, in order


def test_a_failed_link_is_the_runs_error(monkeypatch: pytest.MonkeyPatch) -> None:
    writes = _record(monkeypatch, lambda fd, at: errno.EIO if at == 21 else None)
    runs, _ = _submit_all([10, 20, 30])
    assert writes == [("direct", 10), ("direct", 11), ("direct", 20)]
    assert isinstance(runs[1].error, OSError) and not runs[1].linked
