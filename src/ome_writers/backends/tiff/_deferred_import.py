"""Importing what only close needs, while the acquisition leaves time for it.

Some modules are needed only when a stream closes (ome-types, which builds
the OME-XML, is slow to import). Imported at `create_stream`, it would delay
the first frame; imported on a thread while frames arrive, it holds the
interpreter the acquisition thread needs, which then waits up to a switch
interval at every turn and falls behind a fast camera. `ImportWhenIdle`
imports it on a daemon thread once a polling interval passes without an
append (before the first frame, between bursts, or at a slow frame rate), and
otherwise when close starts (`now`), while close waits for the frames still
queued; what needs the module waits for the import in progress under
Python's import lock.

At a slow frame rate the import still overlaps appends, each of which then
waits a switch interval for the interpreter whenever it needs it back, long
enough to make a large frame's append late. While the import runs, the
switch interval is lowered to `IMPORT_SWITCH_INTERVAL` (never raised), and
restored afterwards unless someone else changed it meanwhile.
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
#: the interpreter's switch interval (s) while an import runs
IMPORT_SWITCH_INTERVAL = 0.0005


class _ShortSwitchInterval:
    """Lower `sys.setswitchinterval` while any holder is inside; restore it
    when the last one leaves, unless it was changed by someone else."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._saved = 0.0
        self._set = 0.0

    def __enter__(self) -> None:
        with self._lock:
            if self._inside == 0:
                self._saved = self._set = sys.getswitchinterval()
                if self._saved > IMPORT_SWITCH_INTERVAL:
                    sys.setswitchinterval(IMPORT_SWITCH_INTERVAL)
                    self._set = sys.getswitchinterval()  # as stored (whole µs)
            self._inside += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._inside -= 1
            if (
                self._inside == 0
                and self._set != self._saved
                and sys.getswitchinterval() == self._set
            ):
                sys.setswitchinterval(self._saved)


_short_switch_interval = _ShortSwitchInterval()


class ImportWhenIdle:
    """Import `module` once `appended()` stays the same for `interval`
    seconds, or at `now()`; then, unless `now()` came first, call its
    function named `then` (if given: work worth doing ahead, not at close).

    `appended` counts the appends so far (read from the polling thread; a
    plain attribute read). A module that cannot be imported is left for its
    user to report.
    """

    def __init__(
        self,
        module: str,
        appended: Callable[[], int],
        interval: float | None = None,
        then: str | None = None,
    ) -> None:
        self._now = threading.Event()
        self.thread: threading.Thread | None = None
        if module in sys.modules:
            return
        self.thread = threading.Thread(
            target=self._run,
            args=(module, appended, interval or IDLE_INTERVAL, then),
            name="ome-writers-import",
            daemon=True,
        )
        self.thread.start()

    def _run(
        self,
        module: str,
        appended: Callable[[], int],
        interval: float,
        then: str | None,
    ) -> None:
        seen = appended()
        while not self._now.wait(interval):
            count = appended()
            if count == seen:
                break
            seen = count
        with contextlib.suppress(ImportError), _short_switch_interval:
            imported = importlib.import_module(module)
            if then is not None and not self._now.is_set():
                # only ahead of need: what fails here is redone, and reported,
                # where it is needed
                with contextlib.suppress(Exception):
                    getattr(imported, then)()

    def now(self) -> None:
        """Import without waiting for a pause any longer."""
        self._now.set()
