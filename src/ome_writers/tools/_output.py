"""What the command prints while it works: progress for a terminal or a log,
and a reader that went away (``ome-writers info X | head``)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import TextIO

#: seconds between progress lines in a log (on a terminal: between redraws)
LOG_INTERVAL = 5.0
TERMINAL_INTERVAL = 0.1


def silence_closed_output(*streams: TextIO) -> None:
    """Point `streams` (default: stdout and stderr) at /dev/null once their
    reader closed them.

    The interpreter flushes them at exit; into a closed pipe that would print
    another ``BrokenPipeError``.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in streams or (sys.stdout, sys.stderr):
            # not a file descriptor (captured output): nothing to redirect
            with contextlib.suppress(AttributeError, OSError, ValueError):
                os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)


def print_line(text: str, stream: TextIO | None = None) -> None:
    """Print `text` now; a reader that went away does not stop the work that
    follows (the output goes to /dev/null from then on)."""
    out = stream if stream is not None else sys.stdout
    try:
        out.write(f"{text}\n")
        out.flush()
    except BrokenPipeError:
        silence_closed_output(out)


class ProgressLine:
    """Progress of `total` `unit` on `stream` (default: stdout).

    On a terminal one line is redrawn in place (``\\r``); in a file or a pipe
    ordinary lines are printed, at most one every `LOG_INTERVAL` seconds and
    the last, so that a log stays readable. A closed output ends the progress
    but not the work it reports on.
    """

    def __init__(
        self, label: str, total: int, unit: str = "", stream: TextIO | None = None
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = bool(isatty and isatty())
        self.interval = TERMINAL_INTERVAL if self.terminal else LOG_INTERVAL
        self._last = time.monotonic()
        self._drawn = False
        self._closed = False

    def update(self, done: int) -> None:
        """`done` of `total` are done."""
        now = time.monotonic()
        if self._closed or (done < self.total and now - self._last < self.interval):
            return
        self._last = now
        text = f"  {self.label}: {done}/{self.total} {self.unit}".rstrip()
        if self.terminal:
            self._write(f"\r{text}")
            self._drawn = True
        else:
            self._write(f"{text}\n")

    def close(self) -> None:
        """End the redrawn line (a terminal)."""
        if self._drawn:
            self._write("\n")
            self._drawn = False

    def _write(self, text: str) -> None:
        if self._closed:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            self._closed = True
            silence_closed_output(self.stream)
