"""Chunk directories made ahead of the writes, on a background thread.

A Zarr v3 array with the default chunk key encoding keeps chunk ``(t, y, x)``
at ``c/t/y/x``, so the first chunk of every time point needs new directories.
Where making a directory is slow (a virtual disk), that is most of the cost
of writing a small chunk, paid on the library's I/O thread, which then
writes several times fewer chunk files a second. A `DirectoryPreparer`
makes the directories of the next `ahead` frames on its own thread; one it
has not reached yet is made by the library as usual (both tolerate the other
having made it). At close, the directories it made for frames that never came
are removed again.

The thread's own system calls compete with the acquisition for the cores
(appends get slower while it runs), so it starts only once the library
falls behind the camera.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

AHEAD_FRAMES = 256
WAKE_EVERY = 32


class DirectoryPreparer:
    """Make the directories frame ``n`` will need before frame ``n`` arrives.

    Parameters
    ----------
    directories : callable
        Frame number -> directories its chunk (or shard) files go into,
        parents first.
    total : int | None
        Frames in the acquisition (None: unbounded).
    start : int
        Frames already written (their directories exist).
    ahead : int
        How many frames beyond the last one written to prepare.
    """

    def __init__(
        self,
        directories: Callable[[int], Iterable[str]],
        total: int | None,
        start: int = 0,
        ahead: int = AHEAD_FRAMES,
    ) -> None:
        self._directories = directories
        self._total = total
        self._ahead = ahead
        self._written = start
        self._prepared = start  # frames whose directories exist
        self._made: deque[tuple[int, str]] = deque()  # (frame, directory made)
        self._known: dict[str, None] = {}  # recently made or seen, oldest first
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(
            target=self._run, name="ome-writers-mkdir", daemon=True
        )
        self._thread.start()
        self._wake.set()

    def advance(self, written: int) -> None:
        """`written` frames have been handed to the library."""
        self._written = written
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            target = self._written + self._ahead
            if self._total is not None:
                target = min(target, self._total)
            for n in range(self._prepared, target):
                if self._stop:
                    return
                self._prepare(n)
                self._prepared = n + 1
                time.sleep(0)  # hand the interpreter back to the acquisition
            # what was made for frames already written is no longer needed
            while self._made and self._made[0][0] < self._written - 1:
                self._made.popleft()

    def _prepare(self, n: int) -> None:
        for directory in self._directories(n):
            if directory in self._known:
                continue
            try:
                os.mkdir(directory)
                self._made.append((n, directory))
            except FileExistsError:
                pass
            except OSError:  # e.g. a full disk: the library reports it
                return
            self._known[directory] = None
        # forget what lies well behind the writes (it exists)
        while len(self._known) > 4 * self._ahead + 64:
            del self._known[next(iter(self._known))]

    def close(self, frames_done: int) -> None:
        """Stop; remove directories made for frames at or after `frames_done`."""
        self._stop = True
        self._wake.set()
        self._thread.join()
        # deepest first, and only those still empty
        for n, directory in reversed(self._made):
            if n < frames_done:
                break
            with contextlib.suppress(OSError):
                os.rmdir(directory)
        self._made.clear()
        self._known.clear()
