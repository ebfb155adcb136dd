"""``serve``: a dataset over HTTP in this process, until interrupted."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from ome_writers.serve._budget import DEFAULT_RATE_LIMIT, check_rate_limit
from ome_writers.serve._links import (
    banner,
    base_url,
    dataset_kind,
    dataset_url,
    page_url,
)
from ome_writers.serve._run import (
    DEFAULT_NICE,
    TERMINATING,
    check_bind,
    lower_priority,
    run_until,
    stop_on_signals,
)
from ome_writers.serve._viewer import make_viewer_app

if TYPE_CHECKING:
    import os


def serve(
    path: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    cors: bool = True,
    token: str | None = None,
    nice: int = DEFAULT_NICE,
    rate_limit: float | None = DEFAULT_RATE_LIMIT,
) -> None:
    """Serve a dataset's files over HTTP, read-only, until Ctrl-C or SIGTERM.

    The server's root (``/``) is a viewer page that follows the dataset as
    it is written. Prints the dataset's URL, the page's and, for OME-Zarr,
    links that open it in neuroglancer, vizarr and the OME-NGFF validator.

    Parameters
    ----------
    path
        An OME-Zarr directory or single-file OME-Zarr (``.ozx``), an OME-TIFF
        file or a directory of OME-TIFF files.
    host
        Address to listen on; the default is reachable from this machine only.
        Any other address warns (`UserWarning`): the network can read the files.
    port
        TCP port; 0 picks a free one (printed).
    cors
        Send ``Access-Control-Allow-Origin: *`` so web viewers may read the data.
    token
        Require ``Authorization: Bearer TOKEN`` or ``?token=TOKEN`` on requests
        (401 otherwise); the printed links carry it.
    nice
        Lower this process's CPU priority to this niceness (Unix, 0 to 19; 0
        keeps it), so that a writer on the same machine gets the cores first
        and viewers slow down before the acquisition does; above 0 the
        process also reads the disk at the idle I/O priority.
    rate_limit
        MB/s of file data sent at most, all clients together (None: no
        limit), a bound on the disk and memory bandwidth viewers take.
    """
    check_bind(host, port)
    check_rate_limit(rate_limit)
    lower_priority(nice)
    app = make_viewer_app(path, cors=cors, token=token, rate_limit=rate_limit)
    kind = dataset_kind(path)

    def announce(bound: int) -> None:
        base = base_url(host, bound)
        url = dataset_url(base, path)
        page = page_url(base, kind, token)
        for line in [
            *banner(path, url, kind, token, host, page),
            "Press Ctrl-C to stop",
        ]:
            print(line, flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop, TERMINATING)
        await run_until(app, host, port, announce, stop)

    # where signals cannot be watched, Ctrl-C ends the server here
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
