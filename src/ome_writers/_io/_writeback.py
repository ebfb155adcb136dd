"""Background write-back: keep the disk busy while frames arrive.

Without per-chunk fsync, written data waits in the page cache until the kernel
decides to write it back (for a few GB, often only at close), so the final sync
costs as long as the whole disk write. A `Flusher` starts write-back on its own
thread every `every_bytes` written, which overlaps disk writes with acquisition
and keeps close short. The caller never waits for it.

A backend that can name the files it writes passes `locate`: each write then
records a cheap *unit* (a hashable, e.g. ``(position, index)``), and the thread
turns the units of the batch before last into file paths and starts their
write-back (`start_writeback`: asynchronous, per file). The lag of one batch
lets writes still in flight on a library's threads land first (``lag=False``
when `add` is called after the bytes reached the file); a file not yet there is
left to the final sync. With ``commit=True`` each batch is also committed on
the thread (``fdatasync`` of its newest file), as our own writers do: a
write (also a direct one) is done once the device has the bytes, which may
still sit in its volatile cache (a drive's, or a virtual disk's host's), and
the sync of a checkpoint or close would empty everything cached since the
last one while every write waits, up to a second for a fast acquisition.
Committed batch by batch, that cache never holds more than a batch or two,
and the sync has little left. Without `locate`, the whole filesystem is
synced instead, which stalls other writers of the filesystem while it runs.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from ome_writers._io._durable import commit_file, start_writeback, sync_filesystem

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable
    from pathlib import Path

FLUSH_EVERY_BYTES = 64 * 1024**2
FLUSH_EVERY_UNITS = 4096
# the smallest batch: a library that keeps little in flight starts write-back
# this often, which leaves less to sync at close; more often, the write-back
# competes with fast appends
MIN_FLUSH_BYTES = 16 * 1024**2
#: write-back interval of the writers that write their own files from a
#: `FramePool` (OME-TIFF, frame-sized chunk files; no lag: a file is complete
#: when counted): below `FLUSH_EVERY_BYTES`, as a large burst of disk I/O
#: delays the appends made meanwhile and leaves more to sync at close
WRITEBACK_EVERY_BYTES = 8 * 1024**2


def flush_every(in_flight_bytes: int) -> int:
    """Bytes per write-back batch for a library with at most `in_flight_bytes`
    of writes pending.

    A batch is written back one batch later; as large as the writes in flight,
    its files are complete by then (a file still being written is skipped and
    left to the final sync). Between `MIN_FLUSH_BYTES` and
    `FLUSH_EVERY_BYTES`.
    """
    return min(FLUSH_EVERY_BYTES, max(MIN_FLUSH_BYTES, in_flight_bytes))


class Flusher:
    """Start write-back of what was written below `path` every `every_bytes`."""

    def __init__(
        self,
        path: Path | None,
        every_bytes: int,
        *,
        locate: Callable[[Any], Iterable[str | Path]] | None = None,
        lag: bool = True,
        commit: bool = False,
    ) -> None:
        self.path = path
        self.every_bytes = every_bytes
        self.error: OSError | None = None
        self._locate = locate
        self._lag = lag
        self._commit = commit
        self._units: deque[Hashable] = deque()
        self._unflushed = 0
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None

    def add(self, nbytes: int, unit: Hashable = None) -> None:
        """Count bytes handed to the library (`unit`: what `locate` resolves)."""
        if self.path is None:  # nothing local to write back (object storage)
            return
        self._unflushed += nbytes
        if self._locate is not None:
            self._units.append(unit)
            if len(self._units) >= FLUSH_EVERY_UNITS:
                self._unflushed = self.every_bytes
        if self._unflushed >= self.every_bytes:
            self._unflushed = 0
            self.start()
            self._wake.set()

    def start(self) -> None:
        """Start the write-back thread (when the stream is created: a start
        waits for the new thread to run, which an append should not)."""
        if self._thread is None and self.path is not None and not self._stop:
            self._thread = threading.Thread(
                target=self._run, name="ome-writers-flush", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        lagged: list[Hashable] = []
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            try:
                if self._locate is None and self.path is not None:
                    sync_filesystem(self.path)
                    continue
                batch = [self._units.popleft() for _ in range(len(self._units))]
                if not self._lag:
                    lagged, batch = batch, []
                self._write_back(lagged)
                lagged = batch
            except OSError as e:  # the blocking sync at close raises it again
                self.error = e

    def _write_back(self, units: list[Hashable]) -> None:
        assert self._locate is not None
        paths = list(
            dict.fromkeys(
                p for unit in dict.fromkeys(units) for p in self._locate(unit)
            )
        )
        if not self._commit:
            for path in paths:
                start_writeback(path)
            return
        # one commit a batch, of its newest file: that commits the journal
        # with the others' metadata and empties the device's cache, without a
        # journal commit per small file; the others' write-back starts first
        for path in paths[:-1]:
            start_writeback(path)
        for path in reversed(paths):
            if self._stop or commit_file(path):
                return

    def close(self) -> None:
        """Stop the thread (the caller makes the final, blocking sync)."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self._units.clear()
