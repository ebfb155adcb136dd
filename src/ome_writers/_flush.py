"""Background write-back: keep the disk busy while frames arrive.

Without per-chunk fsync, written data waits in the page cache until the kernel
decides to write it back (for a few GB, often only at close), so the final sync
costs as long as the whole disk write. A `Flusher` syncs the dataset's
filesystem on its own thread every `every_bytes` written, which overlaps disk
writes with acquisition and keeps close short. The caller never waits for it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ._paths import sync_filesystem

if TYPE_CHECKING:
    from pathlib import Path

FLUSH_EVERY_BYTES = 256 * 1024**2


class Flusher:
    """Sync `path`'s filesystem in the background after every `every_bytes`."""

    def __init__(self, path: Path, every_bytes: int = FLUSH_EVERY_BYTES) -> None:
        self.path = path
        self.every_bytes = every_bytes
        self.error: OSError | None = None
        self._unflushed = 0
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None

    def add(self, nbytes: int) -> None:
        """Count bytes handed to the disk; wake the flusher past the threshold."""
        self._unflushed += nbytes
        if self._unflushed >= self.every_bytes:
            self._unflushed = 0
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ome-writers-flush", daemon=True
                )
                self._thread.start()
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            try:
                sync_filesystem(self.path)
            except OSError as e:  # the blocking sync at close raises it again
                self.error = e

    def close(self) -> None:
        """Stop the thread (the caller makes the final, blocking sync)."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
