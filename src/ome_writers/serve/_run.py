"""Running the application in this process until asked to stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import warnings
from typing import TYPE_CHECKING

from aiohttp import web

from ome_writers.serve._links import is_loopback

if TYPE_CHECKING:
    from collections.abc import Callable

# in-flight responses get this long to finish when the server stops
SHUTDOWN_TIMEOUT = 2.0
#: the default niceness of a server: when the writer and the server both want
#: a core, the writer gets about nine tenths of it
DEFAULT_NICE = 10


def check_nice(nice: int) -> None:
    """Raise ValueError for a niceness outside 0..19."""
    if isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= 19:
        raise ValueError(f"nice must be an integer from 0 to 19, got {nice!r}")


def lower_priority(nice: int) -> None:
    """Run this process at niceness `nice` or lower priority (Unix) and, for
    any `nice` above 0, read the disk at the idle I/O priority; 0 keeps both.

    Linux sets both per thread: threads started afterwards inherit them.
    """
    check_nice(nice)
    if not nice:
        return
    if hasattr(os, "getpriority"):
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if current < nice:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
    idle_io_priority()


def idle_io_priority() -> None:
    """Read the disk at the idle I/O priority (Linux's idle class, Windows'
    very low), where psutil is installed.

    A disk scheduler that honours I/O priorities (Linux's mq-deadline and BFQ)
    then sends an acquisition's writes before a viewer's reads of what the
    page cache lacks, and bounds how long such a read waits.
    """
    try:
        import psutil
    except ImportError:
        return
    idle = getattr(psutil, "IOPRIO_CLASS_IDLE", None)
    if idle is None:
        idle = getattr(psutil, "IOPRIO_VERYLOW", None)
    if idle is not None:
        with contextlib.suppress(psutil.Error, OSError):
            psutil.Process().ionice(idle)


def check_bind(host: str, port: int) -> None:
    """Raise for a port out of range; warn when `host` is not loopback."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer from 0 to 65535, got {port!r}")
    if not is_loopback(host):
        warnings.warn(
            f"serving on {host!r}, not a loopback address: other machines on "
            "the network can read the dataset (consider a token)",
            UserWarning,
            stacklevel=3,
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on the first address `host` resolves to.

    One socket, not one per address of a name like ``localhost``: with port
    0 each would get a different free port.
    """
    family, _, _, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return socket.create_server(address, family=family)


async def run_until(
    app: web.Application,
    host: str,
    port: int,
    on_ready: Callable[[int], None],
    stop: asyncio.Event,
) -> None:
    """Serve `app` on `host`:`port` until `stop` is set; `on_ready(port)` once
    the socket listens (the port actually bound, which `port` 0 leaves to the
    system)."""
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    try:
        sock = bind(host, port)
        site = web.SockSite(runner, sock)
        await site.start()
        on_ready(sock.getsockname()[1])
        await stop.wait()
    finally:
        await runner.cleanup()


def stop_on_signals(stop: asyncio.Event, signals: tuple[int, ...]) -> None:
    """Set `stop` on each of `signals` (where the loop can watch signals)."""
    loop = asyncio.get_running_loop()
    for sig in signals:
        # not on Windows, nor off the main thread: Ctrl-C raises there instead
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)


TERMINATING = (signal.SIGINT, signal.SIGTERM)
