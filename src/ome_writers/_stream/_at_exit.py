"""Closing the streams still open when the interpreter exits.

A stream does part of its work on daemon threads (group documents, arrays made
ahead, the loss window). Once the interpreter starts finalizing, daemon threads
stop for good, so a stream left to its finalizer then (a script that raised, or
ended without `close`) waited for threads that never finish: the process hung,
or ended with the dataset's metadata unwritten. Open streams are instead closed
as the interpreter begins to exit, while those threads still run.

The hook is one of `threading`'s exit hooks, which run (last-registered first)
before the interpreter joins its non-daemon threads, and so before Python's
thread pools stop taking work (their hook is registered when
`concurrent.futures.thread` is imported, here at the latest). It first waits for
the non-daemon threads that are not pool workers, exactly as the interpreter
would next: one may still be appending to a stream it then closes itself.
During finalization a stream is not closed (`OMEStream._close_unclosed`), nor
in a forked child process: the dataset is its parent's.
"""

from __future__ import annotations

import atexit
import concurrent.futures.thread as pool_threads
import os
import threading
import weakref
from typing import Protocol


class _Closable(Protocol):
    def _close_unclosed(self) -> None: ...


_open: weakref.WeakSet[_Closable] = weakref.WeakSet()
_lock = threading.Lock()
_registered = False


def close_at_exit(stream: _Closable) -> None:
    """Have `stream` closed when the interpreter exits, unless it is closed first."""
    global _registered
    with _lock:
        if not _registered:
            # not in typeshed; where it is missing, `atexit` (after the joins)
            register = getattr(threading, "_register_atexit", atexit.register)
            try:
                register(_close_open)
            except RuntimeError:  # the interpreter is exiting already
                return
            _registered = True
        _open.add(stream)


def _forget_all() -> None:
    """In a forked child: its copies of the parent's streams are not its own."""
    global _lock
    _lock = threading.Lock()  # the parent's may have been held at the fork
    _open.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_all)


def forget(stream: _Closable) -> None:
    """`stream` was closed: nothing to do for it at exit."""
    with _lock:
        _open.discard(stream)


def _close_open() -> None:
    if not _open:  # nothing to close: the interpreter's own order, untouched
        return
    # pool workers end only after this hook: waiting for them would never end
    workers = getattr(pool_threads, "_threads_queues", None)
    if workers is not None:
        here = threading.current_thread()
        for thread in threading.enumerate():
            if thread is not here and not thread.daemon and thread not in workers:
                thread.join()
    with _lock:
        streams = list(_open)
    for stream in streams:
        stream._close_unclosed()  # noqa: SLF001
