"""Strips of OME-TIFF pages written with direct I/O, several at once.

A direct write returns once its bytes are on the disk, so strips written one
after another leave the disk idle while the writer thread lays out the next
page, and each waits for the device's latency alone. Frames of several
positions go round-robin to one file per position, so consecutive strips
belong to different files and can be in flight together: the writer thread
lays out each page (its IFD, not linked) and hands the strip to
`DirectStrips`, whose threads write it. A page is finished (linked into its
file's chain, its buffer handed back) on the writer thread once its strip is
on the disk, in the order the pages were laid out, so the chain of a file
only ever reaches complete pages. Strips of one file gain nothing: a write
that extends a file holds the file's lock until it completes.

The runs of pages of a single file (`_page_runs`) go to `OrderedStrips`
instead: one thread writes them in order, each followed at once by the write
that links it into the chain (`Link`), so the disk never waits for the
writer thread between runs.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ome_writers._io._direct import pwrite_all, pwritev_all, refused

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

#: strips in flight at once (one thread each): frames of several positions
#: come in runs of a few per file, and a file's strips are written in turn
STRIPS_IN_FLIGHT = 8
#: ... and of one file: its strips are finished together, and their buffers
#: handed back together, which a long run in one file would hold up
FILE_STRIPS_IN_FLIGHT = 2


@dataclass(frozen=True)
class Link:
    """What points the page before a strip at the strip's first page: the
    next-IFD `field` (its bytes) at `at` and, where the page before was
    written with direct I/O, `blocks`: the whole blocks around the field,
    already pointing, at `blocks_at` (rewritten directly, rather than read
    back into the page cache for a few bytes)."""

    field: bytes
    at: int
    blocks: np.ndarray | None = None
    blocks_at: int = 0


class Strip:
    """One strip to write: `data` at `offset` of `fd` (opened for direct
    I/O); `fallback` (the same file, buffered) when the write is refused."""

    __slots__ = (
        "after",
        "data",
        "done",
        "error",
        "fallback",
        "fd",
        "link",
        "offset",
        "refused",
        "seconds",
    )

    def __init__(
        self,
        fd: int,
        fallback: int,
        data: np.ndarray,
        offset: int,
        link: Link | None = None,
        after: np.ndarray | None = None,
    ) -> None:
        self.fd = fd
        self.fallback = fallback
        self.data = data
        self.offset = offset
        # written right after `data`, in the same write: a page's strip left
        # in its frame's buffer
        self.after = after
        self.link = link  # written after the strip (`OrderedStrips`)
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.refused = False  # written buffered: the filesystem refused it
        self.seconds = 0.0  # how long the direct write took

    def write(self, direct: bool = True) -> None:
        """Write the strip (buffered when not `direct`, or refused)."""
        if direct:
            try:
                start = time.perf_counter()
                self._write(self.fd)
                self.seconds = time.perf_counter() - start
                return
            except OSError as error:
                if not refused(error):
                    raise
        self.refused = True
        self._write(self.fallback)

    def _write(self, fd: int) -> None:
        if self.after is None:
            pwrite_all(fd, self.data, self.offset)
        else:
            pwritev_all(fd, [self.data, self.after], self.offset)


class DirectStrips:
    """Threads writing strips, at most `depth` submitted and not finished
    (`FILE_STRIPS_IN_FLIGHT` of one file).

    `submit` hands over a strip, what finishes its page and the page's file;
    the caller's thread runs the finishers when more than `depth` are
    pending, and at `drain`: those of the oldest strip's file, together, in
    the order they were submitted, once all of that file's strips are
    written (so that the finishers' own writes into the file never wait for
    a direct write in flight). A finisher receives its `Strip` (with the
    error of its write, if any) and raises that error itself.
    """

    def __init__(self, depth: int = STRIPS_IN_FLIGHT) -> None:
        self.depth = depth
        self._work: queue.SimpleQueue[Strip | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._pending: deque[tuple[Strip, Callable[[Strip], None], int]] = deque()

    def submit(self, strip: Strip, finish: Callable[[Strip], None], file: int) -> None:
        """Write `strip` (into file number `file`) on a thread; `finish(strip)`
        runs once it is written (from a later `submit` or `drain`, which raise
        what it raises)."""
        self.start()
        if sum(item[2] == file for item in self._pending) >= FILE_STRIPS_IN_FLIGHT:
            self._finish(file)
        self._pending.append((strip, finish, file))
        self._work.put(strip)
        if len(self._pending) > self.depth:
            self._finish(self._pending[0][2])

    def start(self) -> None:
        """Start the threads, if not yet: best before frames arrive, as each
        start waits for the interpreter, which a busy acquisition holds."""
        if not self._threads:
            for _ in range(self.depth):
                thread = threading.Thread(
                    target=self._run, name="ome-writers-tiff-strips", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def finish_written(self, wait: bool = False) -> None:
        """Finish the files whose submitted strips are all written, oldest
        first; with `wait`, first the oldest strip's file, once written."""
        if wait and self._pending:
            self._finish(self._pending[0][2])
        _finish_each(
            lambda: (
                bool(self._pending)
                and all(
                    strip.done.is_set()
                    for strip, _, file in self._pending
                    if file == self._pending[0][2]
                )
            ),
            lambda: self._finish(self._pending[0][2]),
        )

    def drain(self, file: int | None = None) -> None:
        """Finish every strip submitted (`file`: of that file); the first
        error raised by a finisher is raised once all are finished."""
        _finish_each(
            lambda: any(file in (None, item[2]) for item in self._pending),
            lambda: self._finish(self._pending[0][2] if file is None else file),
        )

    def close(self) -> None:
        """`drain`, then stop the threads."""
        try:
            self.drain()
        finally:
            for _ in self._threads:
                self._work.put(None)
            for thread in self._threads:
                thread.join()
            self._threads.clear()

    def _finish(self, file: int) -> None:
        """Finish the strips of `file` (raises the first error once every one
        of them is finished)."""
        group = [item for item in self._pending if item[2] == file]
        for strip, _, _ in group:
            strip.done.wait()
        self._pending = deque(item for item in self._pending if item[2] != file)
        first: BaseException | None = None
        for strip, finish, _ in group:
            try:
                finish(strip)
            except BaseException as error:
                first = first or error
        if first is not None:
            raise first

    def _run(self) -> None:
        while True:
            strip = self._work.get()
            if strip is None:
                return
            try:
                strip.write()
            except BaseException as error:
                strip.error = error
            finally:
                strip.done.set()


class OrderedStrips:
    """The strips of one file written in order by one thread, each followed
    by its `Strip.link`.

    A strip's link points a page written before it at the strip's first
    page; written right after the strip, on the same thread, it never waits
    behind another strip extending the file, and every page the chain
    reaches is complete. After a refused direct write the later strips and
    links go buffered; after a failed write nothing more goes to the disk.
    `submit` hands over a strip and what finishes it on the caller's thread
    (`finish_oldest`, `drain`, in the order submitted).
    """

    def __init__(self) -> None:
        self._work: queue.SimpleQueue[Strip | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pending: deque[tuple[Strip, Callable[[Strip], None]]] = deque()

    def start(self) -> None:
        """Start the thread, if not yet."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="ome-writers-tiff-runs", daemon=True
            )
            self._thread.start()

    def submit(self, strip: Strip, finish: Callable[[Strip], None]) -> None:
        """Write `strip` (then its link) on the thread; `finish(strip)` runs
        once it is written, from `finish_oldest` or `drain`."""
        self.start()
        self._pending.append((strip, finish))
        self._work.put(strip)

    def finish_oldest(self) -> None:
        """Wait for the oldest strip and finish it (raises what its
        finisher raises)."""
        strip, finish = self._pending.popleft()
        strip.done.wait()
        finish(strip)

    def finish_written(self, wait: bool = False) -> None:
        """Finish the strips written so far, in order; with `wait`, first
        the oldest, once written."""
        if wait and self._pending:
            self.finish_oldest()
        _finish_each(
            lambda: bool(self._pending) and self._pending[0][0].done.is_set(),
            self.finish_oldest,
        )

    def drain(self) -> None:
        """Finish every strip submitted; the first error raised by a
        finisher is raised once all are finished."""
        _finish_each(lambda: bool(self._pending), self.finish_oldest)

    def close(self) -> None:
        """`drain`, then stop the thread."""
        try:
            self.drain()
        finally:
            if self._thread is not None:
                self._work.put(None)
                self._thread.join()
                self._thread = None

    def _run(self) -> None:
        failed = direct_refused = False
        while True:
            strip = self._work.get()
            if strip is None:
                return
            try:
                if not failed:
                    strip.write(direct=not direct_refused)
                    direct_refused = strip.refused
                    if strip.link is not None:
                        _write_link(strip, strip.link)
            except BaseException as error:
                failed = True
                strip.error = error
            finally:
                strip.done.set()


def _finish_each(left: Callable[[], bool], finish: Callable[[], None]) -> None:
    """`finish()` while `left()`; the first error raised is raised at the
    end."""
    first: BaseException | None = None
    while left():
        try:
            finish()
        except BaseException as error:
            first = first or error
    if first is not None:
        raise first


def _write_link(strip: Strip, link: Link) -> None:
    """Write `link` after `strip`: its blocks directly where it has them and
    the strip went direct, else its field buffered."""
    if link.blocks is not None and not strip.refused:
        try:
            pwrite_all(strip.fd, link.blocks, link.blocks_at)
            return
        except OSError as error:
            if not refused(error):
                raise
    pwrite_all(strip.fallback, link.field, link.at)
