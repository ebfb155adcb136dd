"""Runs of consecutive OME-TIFF pages, written to the disk as one block.

In a file set of one file, pages follow one another and a direct write that
extends the file holds the file's lock until it completes, so one direct
write per page of a small frame (a few hundred KiB) waits for the device's
latency alone at every page. Through the page cache instead, each frame is
copied by the kernel and written back later, which costs the acquisition's
process more CPU time than the frame's own copy. A `PageRun` lays out a run of
pages (IFD, padding, strip; each page ends on a block boundary) in an aligned
block of a few MiB and has it written with one direct write; the pages of the
run are linked to one another inside the block, and the run is linked into
the file's chain once the whole block is on the disk, so the chain only ever
reaches complete pages. Runs and their links are written in order by one
thread (`OrderedStrips`): the link rewrites the last run's final IFD, kept
from its block when the run was handed over.

Larger frames (a few MiB and up) are not copied: each page is a run of its
own, its IFD in the block and its strip written from the frame's buffer in
the same write, so the disk goes from one page to the next while the writer
thread lays out the one after.

Runs of small pages go one at a time, so they pay only where the device takes a
direct write fast. Where it does not (a hard disk, a SATA SSD, a virtual disk
whose host holds writes until a flush), the disk and not the copy limits, and
the page cache's write-back, which keeps many writes in flight, gets more out
of it: the first runs' writes are timed, and when they were slow, the file's
later pages are written buffered.
"""

from __future__ import annotations

import os
import statistics
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers._io._direct import DIRECT_ALIGN
from ome_writers._io._frame_pool import anonymous_map, whole_huge_pages
from ome_writers.backends.tiff._direct_strips import Link, OrderedStrips, Strip

if TYPE_CHECKING:
    import mmap
    from collections.abc import Callable

    from ome_writers.backends.tiff._page_stamp import PageStamp

#: bytes of a run's block (the most a run holds): like a shard of frame
#: chunks, large enough that the disk's latency is small against one write
RUN_BYTES = 4 * 1024 * 1024
#: blocks of runs: two written (one in flight, one queued) and one filling
RUN_BLOCKS = 3
#: the most bytes kept of a run's last page, up to its strip (a stamped IFD
#: is at most 64 KiB, `PageStamp.read`)
TAIL_BYTES = 72 * 1024
#: runs whose direct writes are timed before the choice of the file's later pages ...
TIMED_RUNS = 8
#: ... and the median rate (GB/s) below which later pages go buffered: above
#: it a device keeps up with pages of 256 KiB at thousands a second
SLOW_DIRECT_GBPS = 0.6


@dataclass(frozen=True)
class RunPage:
    """A page of a run: its cell, IFD and strip offsets in the file."""

    position: int
    index: tuple[int, ...]
    ifd_offset: int
    data_offset: int
    nbytes: int


@dataclass
class RunTail:
    """The last page's IFD of a run, kept to link the next run: the bytes
    from the block boundary before the page up to its strip, and where they
    go in the file."""

    offset: int
    data: np.ndarray  # aligned, whole blocks
    memory: np.ndarray  # where `data` is kept, taken back once linked

    def covers(self, at: int, size: int = 8) -> bool:
        return self.offset <= at and at + size <= self.offset + self.data.nbytes


class PageRun:
    """The blocks of a file's page runs, and the run being laid out.

    Parameters
    ----------
    page_bytes : int
        The largest page (IFD, padding and strip) a run holds.
    byteorder : str
        The file's byte order (``"<"`` or ``">"``), for the links.
    own_strips : bool
        Whether each page's strip stays in its frame's buffer: a run is then
        one page, whose block holds its IFD (`page_bytes`: the IFD, padded).
    """

    def __init__(self, page_bytes: int, byteorder: str, own_strips: bool) -> None:
        self._field = byteorder + "Q"  # a next-IFD field
        self.own_strips = own_strips
        if own_strips:
            self.block_bytes = _whole_blocks(page_bytes) + DIRECT_ALIGN
        else:  # two pages at least, and a block's head from before the run
            # (its first page may begin mid-block); of huge pages
            nbytes = max(RUN_BYTES, 2 * page_bytes + DIRECT_ALIGN)
            self.block_bytes = whole_huge_pages(_whole_blocks(nbytes))
        self._memory: mmap.mmap = anonymous_map(
            self.block_bytes * RUN_BLOCKS, self.block_bytes
        )
        whole = np.frombuffer(self._memory, np.uint8)
        self._free = [
            whole[i * self.block_bytes : (i + 1) * self.block_bytes]
            for i in range(RUN_BLOCKS)
        ]
        self.block: np.ndarray | None = None
        self.start = 0  # the block's offset in the file (aligned)
        self.fill = 0  # bytes of the block laid out
        self.pages: list[RunPage] = []
        self.strip: np.ndarray | None = None  # the page's, when `own_strips`
        # the next-IFD field before the run's first page (outside the block)
        self.link_from = 0
        self.tail: RunTail | None = None  # of the last run handed over
        # a run's link holds the tail of the run before until it is written:
        # one per run handed over, and the last run's own
        tails = np.frombuffer(
            anonymous_map(TAIL_BYTES * (RUN_BLOCKS + 1), DIRECT_ALIGN), np.uint8
        )
        self._free_tails = [
            tails[i * TAIL_BYTES : (i + 1) * TAIL_BYTES] for i in range(RUN_BLOCKS + 1)
        ]

    @property
    def free(self) -> int:
        """Blocks not in use."""
        return len(self._free)

    def fits(self, start: int, nbytes: int) -> bool:
        """Whether a page from `start` (in the file) of `nbytes` continues the
        run."""
        return (
            self.block is not None
            and not self.own_strips
            and start == self.start + self.fill
            and self.fill + nbytes <= self.block_bytes
        )

    def begin(self, start: int, before: bytes) -> None:
        """Start a run whose first page begins at `start`; `before`: the
        file's bytes from the block boundary before it (rewritten unchanged)."""
        self.block = self._free.pop()
        self.start = start - len(before)
        self.block[: len(before)] = np.frombuffer(before, np.uint8)
        self.fill = len(before)
        self.pages = []

    def add(
        self,
        page: RunPage,
        head: bytes,
        data: np.ndarray,
        previous: int,
    ) -> None:
        """Lay out `page`: `head` (its bytes up to the strip) and `data` (the
        strip: copied, or kept when `own_strips`); `previous`: the next-IFD
        field that is to point at it."""
        block = self.block
        assert block is not None
        at = self.fill
        block[at : at + len(head)] = np.frombuffer(head, np.uint8)
        at += len(head)
        if self.own_strips:
            self.strip = data
            self.fill = at
        else:
            block[at : at + data.nbytes] = data.reshape(-1).view(np.uint8)
            self.fill = at + data.nbytes
        if self.pages:  # linked to the run's page before, in the block
            struct.pack_into(
                self._field, block.data, previous - self.start, page.ifd_offset
            )
        else:
            self.link_from = previous
        self.pages.append(page)

    def take(
        self, direct_link: bool
    ) -> tuple[
        np.ndarray, int, int, list[RunPage], Link, RunTail | None, np.ndarray | None
    ]:
        """The run laid out: (its block, bytes used, their offset in the
        file, its pages, its link into the file, the last run's tail that
        link holds: to take back once written, the page's own strip: to
        write after the block); a new run begins with `begin`. The run's
        own last IFD is kept for the next.

        `direct_link`: the link may rewrite the last run's tail directly."""
        block = self.block
        assert block is not None
        assert self.pages
        pages, start = self.pages, self.start
        first = pages[0].ifd_offset
        link = Link(struct.pack(self._field, first), self.link_from)
        tail = self._linked_tail(self.link_from, first) if direct_link else None
        if tail is not None:
            link = Link(link.field, link.at, tail.data, tail.offset)
        elif self.tail is not None:
            self.release_tail(self.tail)
        last = pages[-1]
        head = max(start, last.ifd_offset - last.ifd_offset % DIRECT_ALIGN)
        size = last.data_offset - head
        self.tail = None
        if size <= TAIL_BYTES:  # else the next link is written as it is
            memory = self._free_tails.pop()
            memory[:size] = block[head - start : last.data_offset - start]
            self.tail = RunTail(head, memory[:size], memory)
        taken = (block, self.fill, start, pages, link, tail, self.strip)
        self.block = None
        self.pages = []
        self.strip = None
        return taken

    def release(self, block: np.ndarray) -> None:
        """Take `block` back (its run written, or failed)."""
        self._free.append(block)

    def release_tail(self, tail: RunTail) -> None:
        """Take back the memory of `tail` (its link written, or not needed)."""
        self._free_tails.append(tail.memory)

    def _linked_tail(self, previous: int, ifd_offset: int) -> RunTail | None:
        """The last run's tail with `previous` pointing at `ifd_offset`, when
        `previous` is in it (None: the field is elsewhere)."""
        tail = self.tail
        if tail is None or not tail.covers(previous):
            return None
        struct.pack_into(
            self._field, tail.data.data, previous - tail.offset, ifd_offset
        )
        return tail


def _whole_blocks(nbytes: int) -> int:
    return -(-nbytes // DIRECT_ALIGN) * DIRECT_ALIGN


def _block_before(target: RunTarget, start: int) -> bytes:
    """The file's bytes from the block boundary before `start` (a page
    tifffile wrote ends there), rewritten unchanged by a run from `start`."""
    if not start % DIRECT_ALIGN:
        return b""
    target.writer.filehandle.flush()
    block_start = start - start % DIRECT_ALIGN
    before = os.pread(target.linker.fd, start - block_start, block_start)
    if len(before) != start - block_start:
        raise OSError(f"{target.writer.filehandle.path}: shorter than written")
    return before


@dataclass(frozen=True)
class RunTarget:
    """The file a run goes into: its number in the set, its tifffile writer,
    its linker (`Linker`: the file open for buffered reads and writes) and
    the file opened for direct I/O."""

    file: int
    writer: Any
    linker: Any
    direct_fd: int


class RunWriter:
    """Lays out the pages of a single file in runs and has `strips` write
    them in order, each run followed by its link into the file; once a run
    is on the disk and linked, `record(file, pages)` counts its pages.
    `strip_written(file, strip)` says whether a written run is still wanted
    (not after a failed one) and raises a failed run's error. `buffered`
    turns true when pages are to be written through the page cache from
    then on."""

    def __init__(
        self,
        strip_written: Callable[[int, Strip], bool],
        record: Callable[[int, list[RunPage]], None],
    ) -> None:
        self.strips = OrderedStrips()
        self._strip_written = strip_written
        self._record = record
        self.run: PageRun | None = None
        self.target: RunTarget | None = None  # of the run laid out
        # the filesystem refused a direct write, or the first were slow
        self.buffered = False
        self._rates: list[float] = []  # of the timed runs' writes, GB/s
        # what hands back the strip of the page laid out (`add`'s `release`)
        self._release: Callable[[], object] | None = None

    def finish_written(self, wait: bool = False) -> None:
        """Finish the runs written so far (not the one laid out); with
        `wait`, first the oldest, once written."""
        self.strips.finish_written(wait)

    def drain(self) -> None:
        """Write the run laid out (if any) and finish every run."""
        try:
            self.submit()
        finally:
            self.strips.drain()

    def close(self) -> None:
        """`drain`, then stop the writing thread."""
        try:
            self.submit()
        finally:
            self.strips.close()

    def add(
        self,
        target: RunTarget,
        stamp: PageStamp,
        position: int,
        index: tuple[int, ...],
        data: np.ndarray,
        previous: int,
        release: Callable[[], object] | None = None,
    ) -> None:
        """Lay out a stamped page of `data` in the run (copying `data`), to be
        linked at `previous`; a full run is submitted.

        With `release`, `data` (aligned, whole blocks) is not copied: the page
        is a run of its own, written from `data`, and `release` is called
        once it is finished (or when this raises).
        """
        self._release = release
        own = release is not None
        try:
            run = self.run
            if run is None:
                page_bytes = len(stamp.ifd) + (DIRECT_ALIGN if own else data.nbytes)
                run = PageRun(page_bytes, target.linker.byteorder, own)
                self.run = run
            writer = target.writer
            start, head, ifd_offset, data_offset = stamp.lay_out(
                writer, data.nbytes, True
            )
            size = len(head) + data.nbytes
            if run.block is not None and not run.fits(start, size):
                self.submit()
            if run.block is None:
                if not run.free:
                    self.strips.finish_oldest()
                run.begin(start, _block_before(target, start))
                self.target = target
            page = RunPage(position, index, ifd_offset, data_offset, data.nbytes)
            run.add(page, head, data, previous)
            if not own and not run.fits(run.start + run.fill, size):  # nor the next
                self.submit()
        except BaseException:
            if release is not None and self._release is release:
                self._release = None
                release()
            raise
        if own:
            self.submit()

    def submit(self) -> None:
        """Hand the run laid out (if any) to `strips`."""
        run, target = self.run, self.target
        if run is None or run.block is None or target is None:
            return
        block, fill, offset, pages, link, tail, own = run.take(not self.buffered)
        release, self._release = self._release, None
        if link.blocks is None:  # the field is rewritten through the page cache
            target.writer.filehandle.flush()
        f = target.file

        def finish(strip: Strip) -> None:
            try:
                if not self._strip_written(f, strip):
                    return
                if strip.refused:  # buffered from now on
                    self.buffered = True
                elif strip.seconds and own is None:
                    self._timed(fill, strip.seconds)
                self._record(f, pages)
            finally:
                run.release(block)
                if tail is not None:
                    run.release_tail(tail)
                if release is not None:
                    release()

        fd = target.direct_fd
        strip = Strip(fd, target.linker.fd, block[:fill], offset, link, own)
        self.strips.submit(strip, finish)

    def _timed(self, nbytes: int, seconds: float) -> None:
        """Note a run's direct write; after `TIMED_RUNS`, go buffered when
        their median rate is below `SLOW_DIRECT_GBPS`."""
        rates = self._rates
        if self.buffered or len(rates) >= TIMED_RUNS:
            return
        rates.append(nbytes / seconds / 1e9)
        if len(rates) == TIMED_RUNS and statistics.median(rates) < SLOW_DIRECT_GBPS:
            self.buffered = True
