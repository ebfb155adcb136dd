"""Thread pools that stay reachable while their writer is open.

A stream its user left open and dropped inside a reference cycle is closed
by its finalizer when the garbage collector frees the cycle. The collector
clears the weak references to the cycle's objects before it runs
finalizers, and a `concurrent.futures.ThreadPoolExecutor` whose weak
reference is cleared tells its threads to exit: writes still queued would
never run, and close would wait for them forever. A `WriterPool` is kept in
a module-level set until it is shut down, so it is never part of such a
cycle's garbage.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def available_cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class WriterPool(ThreadPoolExecutor):
    """A `ThreadPoolExecutor` kept reachable until `shutdown`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _OPEN.add(self)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        _OPEN.discard(self)
        super().shutdown(wait, cancel_futures=cancel_futures)


_OPEN: set[WriterPool] = set()
