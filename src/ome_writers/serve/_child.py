"""The server process that `start` runs (``python -m ome_writers.serve._child``).

Reads its settings as one JSON line on stdin, prints one JSON line on stdout
(``{"port": N}`` once listening, or ``{"error": "..."}``), and stops when
stdin closes (the parent stopped it, or exited) or on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from typing import Any


def _stop_when_stdin_closes(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()

    def wait() -> None:
        # the descriptor, not sys.stdin: a thread blocked holding the buffered
        # reader's lock would abort the interpreter's exit
        while os.read(fd, 1 << 12):
            pass
        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait, name="stdin-watch", daemon=True).start()


def _reply(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


async def _main(config: dict[str, Any]) -> None:
    from ome_writers.serve._run import run_until, stop_on_signals
    from ome_writers.serve._viewer import make_viewer_app

    app = make_viewer_app(
        config["path"],
        cors=config["cors"],
        token=config["token"],
        rate_limit=config.get("rate_limit"),
    )
    stop = asyncio.Event()
    stop_on_signals(stop, (signal.SIGTERM,))
    _stop_when_stdin_closes(stop)

    def ready(port: int) -> None:
        _reply({"port": port})
        # nothing reads stdout from now on: a later print must not block
        sys.stdout = sys.stderr

    await run_until(app, config["host"], config["port"], ready, stop)


def main() -> int:
    """Run the server described on stdin; 0 after a requested stop."""
    # Ctrl-C in a terminal reaches the whole process group: the parent decides
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = json.loads(sys.stdin.buffer.readline())
    try:
        from ome_writers.serve._run import lower_priority

        lower_priority(config.get("nice", 0))
        asyncio.run(_main(config))
    except Exception as e:
        if sys.stdout is not sys.__stdout__:
            raise  # after the port was announced: the traceback is the report
        _reply({"error": f"{type(e).__name__}: {e}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
