"""The loss window: what a stream wrote becomes readable within a bound.

One daemon thread per stream wakes on a fixed clock, every half window, and
when frames or per-frame metadata arrived since its last visit, asks the stream
to make them readable (`OMEStream._make_readable`). A frame appended at time
*a* is visited by the first tick after *a* (at most half a window later), and
that visit finishes within the other half unless the disk is slower than the
acquisition, so it is readable by *a* + window. A visit that overruns its tick
is followed by the next one at once. Nothing is synced here: data the
operating system holds survives the death of the process; checkpoints and
close make it durable on disk.

The thread holds the stream only weakly, so an abandoned stream is still
collected (and closed by its finalizer); it ends when the stream closes.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable


class _Visited(Protocol):
    def _make_readable(self) -> bool: ...


class LossWindow:
    """Calls ``stream._make_readable()`` every ``seconds / 2`` until it is False."""

    def __init__(self, stream: _Visited, seconds: float) -> None:
        self.seconds = seconds
        self._stop = threading.Event()
        ref = weakref.ref(stream)
        self._thread = threading.Thread(
            target=_run,
            args=(ref, seconds / 2, self._stop),
            name="ome-writers-loss-window",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """End the thread (it finishes a visit in progress first)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


def _run(
    ref: Callable[[], _Visited | None], period: float, stop: threading.Event
) -> None:
    # visits on a fixed clock (every `period` from the start), not a period
    # after the last visit ended: a slow visit does not push the next one back;
    # a visit that overran its tick is followed by the next one at once
    tick = time.monotonic() + period
    while not stop.wait(max(0.0, tick - time.monotonic())):
        stream = ref()
        if stream is None or not stream._make_readable():  # noqa: SLF001
            return
        del stream
        tick = max(tick + period, time.monotonic())
