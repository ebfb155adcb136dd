"""`ome-writers serve`: prints the URL and links, serves, stops on a signal."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.tools.cli import build_parser

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


def _write(root: Path) -> None:
    dims = [
        Dimension(name="t", count=2, type="time"),
        Dimension(name="y", count=8, type="space"),
        Dimension(name="x", count=8, type="space"),
    ]
    settings = AcquisitionSettings(root_path=str(root), dimensions=dims, dtype="uint8")
    with create_stream(settings) as stream:
        for i in range(2):
            stream.append(np.full((8, 8), i, "uint8"))


class Served:
    """`ome-writers serve ...` running, its printed lines read as they come."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "ome_writers.tools.cli", "serve", *args]
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self._lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,)).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put("")  # end of output

    def lines_until(self, marker: str, timeout: float = 60) -> list[str]:
        out = []
        while True:
            line = self._lines.get(timeout=timeout)
            out.append(line)
            if marker in line or line == "":
                return out

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=30)

    def stop(self, sig: int) -> tuple[int, str]:
        self.process.send_signal(sig)
        _, err = self.process.communicate(timeout=30)
        return self.process.returncode, err


@pytest.fixture
def run_serve() -> Iterator[Callable[..., Served]]:
    """Start `ome-writers serve` processes; any left running is killed."""
    started: list[Served] = []

    def run(*args: str) -> Served:
        started.append(Served(*args))
        return started[-1]

    yield run
    for served in started:
        served.kill()


def _url(lines: list[str]) -> str:
    found = re.search(r" at (http://\S+)$", lines[0])
    assert found, lines
    return found.group(1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_serve_prints_links_answers_and_stops_on_a_signal(
    tmp_path: Path, sig: int, run_serve: Callable[..., Served]
) -> None:
    root = tmp_path / "run.ome.zarr"
    _write(root)
    served = run_serve(str(root), "--port", "0")
    lines = served.lines_until("Ctrl-C")
    url = _url(lines)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
    assert url.rstrip("/").rsplit(":", 1)[1] != "0"
    text = "\n".join(lines)
    quoted = urllib.request.quote(url, safe="")
    assert f"  vizarr: https://hms-dbmi.github.io/vizarr/?source={quoted}" in text
    assert (
        f"  validator: https://ome.github.io/ome-ngff-validator/?source={quoted}"
        in text
    )
    assert "  neuroglancer: https://neuroglancer-demo.appspot.com/#!" in text
    assert urllib.request.quote(f"zarr3://{url}", safe="") in text
    assert f"  viewer page: {url}" in lines
    with urllib.request.urlopen(url) as reply:
        assert reply.headers["Content-Type"].startswith("text/html")
        assert b"window.omeViewer" in reply.read()
    with urllib.request.urlopen(url + "zarr.json") as reply:
        assert reply.headers["Access-Control-Allow-Origin"] == "*"
        assert json.loads(reply.read()) == json.loads((root / "zarr.json").read_text())
    code, err = served.stop(sig)
    assert code == 0, err
    assert "Traceback" not in err


def test_serve_with_token_and_no_cors(
    tmp_path: Path, run_serve: Callable[..., Served]
) -> None:
    root = tmp_path / "run.ome.zarr"
    _write(root)
    served = run_serve(str(root), "--port", "0", "--token", "abc123", "--no-cors")
    lines = served.lines_until("Ctrl-C")
    url = _url(lines)
    text = "\n".join(lines)
    assert "Bearer" in text
    assert urllib.request.quote(f"{url}?token=abc123", safe="") in text
    assert f"  viewer page: {url}?token=abc123" in lines
    with pytest.raises(urllib.error.HTTPError, match="401"):
        urllib.request.urlopen(url + "zarr.json")
    request = urllib.request.Request(
        url + "zarr.json", headers={"Authorization": "Bearer abc123"}
    )
    with urllib.request.urlopen(request) as reply:
        assert reply.status == 200
        assert "Access-Control-Allow-Origin" not in reply.headers
    assert served.stop(signal.SIGTERM)[0] == 0


def test_serve_an_ome_tiff_offers_the_page_and_says_there_are_no_links(
    tmp_path: Path, run_serve: Callable[..., Served]
) -> None:
    path = tmp_path / "run.ome.tiff"
    _write(path)
    served = run_serve(str(path), "--port", "0")
    lines = served.lines_until("Ctrl-C")
    url = _url(lines)
    assert url.endswith("/run.ome.tiff")
    assert not any("https://" in line for line in lines)
    assert any("they read Zarr only" in line for line in lines)
    page = url.removesuffix("run.ome.tiff")
    assert f"  viewer page: {page}" in lines
    with urllib.request.urlopen(url) as reply:
        assert reply.read() == path.read_bytes()
    with urllib.request.urlopen(page + "_viewer/info") as reply:
        assert json.loads(reply.read())["dims"][-2:] == ["y", "x"]
    assert served.stop(signal.SIGINT)[0] == 0


def test_serve_a_missing_path_fails_clearly(
    tmp_path: Path, run_serve: Callable[..., Served]
) -> None:
    served = run_serve(str(tmp_path / "missing.ome.zarr"), "--port", "0")
    _, err = served.process.communicate(timeout=60)
    assert served.process.returncode == 1
    assert "ome-writers serve: error: nothing to serve at" in err
    assert "Traceback" not in err


def test_serve_options_parse() -> None:
    args = build_parser().parse_args(
        ["serve", "x.ome.zarr", "--host", "::1", "--port", "9000", "--no-cors"]
    )
    assert (args.path, args.host, args.port, args.no_cors, args.token) == (
        "x.ome.zarr",
        "::1",
        9000,
        True,
        None,
    )
    defaults = build_parser().parse_args(["serve", "x"])
    assert (defaults.host, defaults.port) == ("127.0.0.1", 8000)
    assert not defaults.no_cors
