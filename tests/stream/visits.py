"""A loss-window visit held while it waits for a backend's writes in flight."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from ome_writers import OMEStream


def append_waits_for_visit(stream: OMEStream, pending: Any, frame: np.ndarray) -> bool:
    """Whether appending `frame` waits for a visit of `stream` that is held
    where it waits for the writes in flight of `pending` (`PendingWrites`)."""
    entered, release = threading.Event(), threading.Event()
    waiter = pending.waiter

    def slow_waiter() -> Callable[[], None]:
        wait = waiter()

        def blocked() -> None:
            entered.set()
            release.wait(10)
            wait()

        return blocked

    pending.waiter = slow_waiter
    appended = threading.Thread(target=stream.append, args=(frame,))
    visit = threading.Thread(target=stream._make_readable)
    try:
        visit.start()
        assert entered.wait(10), "the visit did not wait for the writes in flight"
        appended.start()
        appended.join(5)
        blocked = appended.is_alive()
    finally:
        release.set()
        pending.waiter = waiter
    visit.join(10)
    if appended.ident is not None:
        appended.join(10)
    return blocked
