"""``start``: a server in a process of its own, and the handle to stop it."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ome_writers._stream._ome_stream import OMEStream
from ome_writers.serve._app import check_token
from ome_writers.serve._budget import DEFAULT_RATE_LIMIT, check_rate_limit
from ome_writers.serve._links import (
    base_url,
    connect_host,
    dataset_kind,
    dataset_url,
    page_url,
    viewer_links,
)
from ome_writers.serve._paths import ServedRoot
from ome_writers.serve._run import DEFAULT_NICE, check_bind, check_nice

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from ome_writers.serve._links import DatasetKind


class ServedDataset:
    """A dataset served over HTTP by a background process (see `start`).

    Attributes
    ----------
    url
        The dataset's URL: ``http://HOST:PORT/`` for a directory,
        ``http://HOST:PORT/NAME`` for a single file.
    port
        The port listened on (the one the system picked, for port 0).
    kind
        ``"zarr3"``, ``"zarr2"``, ``"ozx"``, ``"tiff"`` or ``"files"``.
    links
        Neuroglancer, vizarr and OME-NGFF validator links (OME-Zarr only),
        carrying the token if one is set.
    page
        The viewer page, ``http://HOST:PORT/`` (with the token if one is set);
        None when the path is neither OME-Zarr nor OME-TIFF.
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        url: str,
        port: int,
        kind: DatasetKind,
        links: dict[str, str],
        page: str | None = None,
    ) -> None:
        self._process = process
        self.url = url
        self.port = port
        self.kind = kind
        self.links = links
        self.page = page

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process.poll() is None

    @property
    def pid(self) -> int:
        """The server process's id."""
        return self._process.pid

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (in-flight responses get a moment to finish).

        Waits up to `timeout` seconds, then terminates the process. Calling
        it again does nothing.
        """
        _stop_process(self._process, timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<ServedDataset {self.url} ({state})>"


def _stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Close the server's stdin (it stops then); terminate it if it lingers."""
    if process.stdin is not None and not process.stdin.closed:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _first_line(stream: Any, timeout: float) -> bytes | None:
    """The first line of `stream` within `timeout` seconds (None: none came)."""
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(
        target=lambda: lines.put(stream.readline()), name="serve-ready", daemon=True
    ).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


def _child_env() -> dict[str, str]:
    """This environment, with this ome_writers importable in the child."""
    env = dict(os.environ)
    source = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    return env


def stream_dataset(stream: OMEStream) -> str:
    """The path to serve for a stream: its OME-Zarr directory, its OME-TIFF
    file, or the directory of its per-position OME-TIFF files."""
    fmt = stream.settings.format.name
    paths = stream.output_paths
    if fmt not in ("ome-zarr", "ome-tiff"):
        raise ValueError(
            f"a {fmt!r} stream has no dataset on disk that viewers read; "
            "serve an OME-Zarr or OME-TIFF stream"
        )
    if any("://" in p for p in paths):
        raise ValueError(
            f"the stream writes to {paths[0]!r}, not to this machine's disk: "
            "readers can read the bucket directly"
        )
    if len(paths) == 1:
        return paths[0]
    return os.path.commonpath(paths)


def start(
    path: str | os.PathLike[str] | OMEStream,
    host: str = "127.0.0.1",
    port: int = 0,
    cors: bool = True,
    token: str | None = None,
    timeout: float = 30.0,
    nice: int = DEFAULT_NICE,
    rate_limit: float | None = DEFAULT_RATE_LIMIT,
) -> ServedDataset:
    """Serve a dataset over HTTP from a separate process; return once it listens.

    The server runs outside this process, so its reads never hold this
    interpreter (an acquisition appending frames here), at a lower CPU
    priority (`nice`) and within a rate (`rate_limit`), so that readers slow
    down before the writer does. It
    stops with `ServedDataset.stop`, at the end of a ``with`` block, or when
    this process exits; serving a stream, it goes on after the stream closed.
    The arguments are those of `serve`, except `port`, whose default 0 picks a
    free port (`ServedDataset.port`).

    Parameters
    ----------
    path
        An OME-Zarr directory or single-file OME-Zarr (``.ozx``), an OME-TIFF
        file or a directory of OME-TIFF files; or a stream (`create_stream`)
        being written to one of them.
    host, port, cors, token, nice, rate_limit
        As for `serve`.
    timeout
        Seconds to wait for the server to listen before giving up.

    Raises
    ------
    FileNotFoundError
        `path` does not exist.
    ValueError
        An invalid port, token, niceness or rate limit; a stream writing to memory, a
        scratch directory or a bucket.
    RuntimeError
        The server did not start (the port was taken, aiohttp is missing, ...).
    """
    if isinstance(path, OMEStream):
        path = stream_dataset(path)
    ServedRoot(path)
    check_bind(host, port)
    check_token(token)
    check_nice(nice)
    check_rate_limit(rate_limit)
    config = {
        "path": os.fspath(Path(path).absolute()),
        "host": host,
        "port": port,
        "cors": cors,
        "token": token,
        "nice": nice,
        "rate_limit": rate_limit,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ome_writers.serve._child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=_child_env(),
    )
    assert process.stdin is not None
    assert process.stdout is not None
    # the settings (token included) go through a pipe, not the command line
    # that other users of the machine can list
    with contextlib.suppress(OSError):  # a child that died at once: read why
        process.stdin.write(json.dumps(config).encode() + b"\n")
        process.stdin.flush()
    line = _first_line(process.stdout, timeout)
    reply = json.loads(line) if line else {}
    reason = reply.get("error") or (
        f"no answer within {timeout} s" if line is None else "the process ended"
    )
    bound: int | None = reply.get("port")
    if bound is not None:
        try:
            address = (connect_host(host).strip("[]"), bound)
            socket.create_connection(address, timeout).close()
        except OSError as e:
            bound, reason = None, f"port {bound} refuses connections ({e})"
    if bound is None:
        # stopped first: its end also ends a read still waiting on stdout
        _stop_process(process, 5.0)
        process.stdout.close()
        raise RuntimeError(
            f"the HTTP server for {os.fspath(path)!r} did not start: {reason}"
        )
    process.stdout.close()
    kind = dataset_kind(path)
    base = base_url(host, bound)
    url = dataset_url(base, path)
    links = viewer_links(url, kind, token)
    return ServedDataset(process, url, bound, kind, links, page_url(base, kind, token))
