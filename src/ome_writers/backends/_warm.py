"""Importing what only close needs, while the acquisition leaves time for it.

Some modules are needed only when a stream closes (ome-types, ~0.4 s of
interpreter time to import, builds the OME-XML). Imported at
`create_stream`, it would delay the first frame; imported on a thread while
frames arrive, it holds the interpreter the acquisition thread needs, which
then waits up to a switch interval (5 ms) at every turn (512² frames offered
at ~1,900 fps right after `create_stream`: p99 append 7.4-8.4 ms, 126-171 of
500 late). `ImportWhenIdle` imports it on a daemon thread once a polling
interval passes without an append (before the first frame, between bursts,
or at a slow frame rate), and otherwise when close starts (`now`), while
close waits for the frames still queued; what needs the module waits for the
import in progress under Python's import lock.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

#: no append for this long (s): the acquisition leaves time for the import
IDLE_INTERVAL = 0.02


class ImportWhenIdle:
    """Import `module` once `appended()` stays the same for `interval`
    seconds, or at `now()`.

    `appended` counts the appends so far (read from the polling thread; a
    plain attribute read). A module that cannot be imported is left for its
    user to report.
    """

    def __init__(
        self,
        module: str,
        appended: Callable[[], int],
        interval: float | None = None,
    ) -> None:
        self._now = threading.Event()
        self.thread: threading.Thread | None = None
        if module in sys.modules:
            return
        self.thread = threading.Thread(
            target=self._run,
            args=(module, appended, interval or IDLE_INTERVAL),
            name="ome-writers-import",
            daemon=True,
        )
        self.thread.start()

    def _run(self, module: str, appended: Callable[[], int], interval: float) -> None:
        seen = appended()
        while not self._now.wait(interval):
            count = appended()
            if count == seen:
                break
            seen = count
        with contextlib.suppress(ImportError):
            importlib.import_module(module)

    def now(self) -> None:
        """Import without waiting for a pause any longer."""
        self._now.set()
