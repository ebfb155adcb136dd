"""``--readers N``: a run's dataset served over HTTP and polled by N processes.

The server (`ome_writers.serve.start`) and the readers (`_http_reader`, each
a process of its own) start before the timed run and are idle until
``create_stream`` returned (`HttpReaders.go`); the writer publishes how many
appends returned (`HttpReaders.appended`) so that the readers request only
frames that should be readable; `HttpReaders.stop` ends them after the run's
sync and sums what they did.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

import numpy as np

#: the reader script, run by path (see `_http_reader`)
READER_SCRIPT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "_http_reader.py"
)


class HttpReaders:
    """`n` reader processes polling `dataset` under `folder`, served over HTTP.

    `kind` is ``"zarr"`` or ``"tiff"``; `window` the stream's loss window (a
    frame is read once its append returned that long ago); `interval` the
    seconds between one reader's polls; `frame_bytes` the size of one frame;
    `nice` the readers' niceness (0: the writer's priority).
    """

    def __init__(
        self,
        folder: Path,
        dataset: str,
        kind: str,
        n: int,
        interval: float,
        window: float | None,
        frame_bytes: int,
        nice: int = 0,
    ) -> None:
        from ome_writers.serve import start

        self._scratch = Path(tempfile.mkdtemp(prefix="ome-writers-bench-readers-"))
        self._procs: list[subprocess.Popen[str]] = []
        self._server: Any = None
        self._server_cpu: float | None = None
        counter = self._scratch / "appended"
        counter.write_bytes(bytes(8))
        with open(counter, "r+b") as f:
            self._map = mmap.mmap(f.fileno(), 8)
        #: how many appends returned; the writer sets element 0 after each
        self.appended = np.frombuffer(self._map, dtype=np.int64)
        try:
            self._server = start(folder)
            settings = {
                "host": "127.0.0.1",
                "port": self._server.port,
                "dataset": dataset,
                "kind": kind,
                "counter": str(counter),
                "window": window,
                "interval": interval,
                "frame_bytes": frame_bytes,
                "nice": nice,
            }
            for _ in range(n):
                proc = subprocess.Popen(
                    [sys.executable, READER_SCRIPT],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                self._procs.append(proc)
                _stdin(proc).write(json.dumps(settings) + "\n")
                _stdin(proc).flush()
            for proc in self._procs:  # started and imported before the run
                if _stdout(proc).readline().strip() != "ready":
                    raise RuntimeError(f"HTTP reader {proc.pid} did not start")
        except BaseException:
            self._end()
            raise

    def go(self) -> None:
        """Start polling (the dataset's documents exist)."""
        self._server_cpu = server_cpu_seconds(self._server.pid)
        for proc in self._procs:
            _stdin(proc).write("go\n")
            _stdin(proc).flush()

    def stop(self) -> dict[str, Any]:
        """Stop the readers and the server; what the readers did, summed."""
        counts = []
        try:
            for proc in self._procs:
                _stdin(proc).close()
            for proc in self._procs:
                line = _stdout(proc).readline()
                if proc.wait(60) or not line:
                    raise RuntimeError(f"HTTP reader {proc.pid} failed")
                counts.append(json.loads(line))
            server = server_cpu_seconds(self._server.pid)
        finally:
            self._end()
        row = summed(counts)
        if server is not None and self._server_cpu is not None:
            row["server_cpu_s"] = server - self._server_cpu
            seconds = max(c["seconds"] for c in counts)
            row["reader_cores"] = (row["reader_cpu_s"] + row["server_cpu_s"]) / seconds
        return row

    def _end(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None and not pipe.closed:
                    pipe.close()
        self._procs = []
        if self._server is not None:
            self._server.stop()
            self._server = None
        if not self._map.closed:
            del self.appended  # the map cannot close while a view holds it
            self._map.close()
        shutil.rmtree(self._scratch, ignore_errors=True)


def summed(counts: list[dict[str, Any]]) -> dict[str, Any]:
    """The readers' counts as figures of the row (rates summed over readers)."""
    return {
        "readers": len(counts),
        "reader_requests": sum(c["requests"] for c in counts),
        "reader_data_requests": sum(c["data_requests"] for c in counts),
        "reader_not_yet": sum(c["not_yet"] for c in counts),
        "reader_errors": sum(c["errors"] for c in counts),
        "reader_bytes": sum(c["bytes"] for c in counts),
        "reader_cpu_s": sum(c["cpu_seconds"] for c in counts),
        "reader_rps": sum(c["requests"] / c["seconds"] for c in counts if c["seconds"]),
        "reader_mbps": sum(c["bytes"] / c["seconds"] for c in counts if c["seconds"])
        / 1e6,
        "reader_error_sample": [m for c in counts for m in c["error_sample"]][:5],
    }


def server_cpu_seconds(pid: int) -> float | None:
    """CPU seconds process `pid` used so far (None where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # utime and stime: fields 14 and 15 of stat(5), after the command's ")"
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stdin(proc: subprocess.Popen[str]) -> IO[str]:
    assert proc.stdin is not None
    return proc.stdin


def _stdout(proc: subprocess.Popen[str]) -> IO[str]:
    assert proc.stdout is not None
    return proc.stdout
