"""`start`: a server process that reports its port, stops, and fails clearly."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

import pytest

from ome_writers.serve import start
from tests.serve.conftest import raw_request

if TYPE_CHECKING:
    from pathlib import Path

    from tests.serve.conftest import Written


def _refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


def test_stop_closes_the_port_and_is_idempotent(zarr_dataset: Written) -> None:
    served = start(zarr_dataset.path)
    assert raw_request(served.port, "/zarr.json").status == 200
    served.stop()
    assert not served.running
    assert served._process.returncode == 0
    assert _refuses(served.port)
    served.stop()
    assert "stopped" in repr(served)


def test_sigterm_stops_the_server_cleanly(zarr_dataset: Written) -> None:
    served = start(zarr_dataset.path)
    served._process.send_signal(signal.SIGTERM)
    assert served._process.wait(10) == 0
    served.stop()


def test_the_server_ends_with_the_process_that_started_it(
    zarr_dataset: Written,
) -> None:
    code = textwrap.dedent(
        f"""
        from ome_writers.serve import start
        served = start({str(zarr_dataset.path)!r})
        print(served.port, flush=True)
        """
    )  # exits without stop()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    port = int(out.stdout)
    deadline = time.monotonic() + 10
    while not _refuses(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _refuses(port)


def test_a_port_in_use_is_reported(zarr_dataset: Written) -> None:
    with start(zarr_dataset.path) as first:
        with pytest.raises(RuntimeError, match="did not start: OSError"):
            start(zarr_dataset.path, port=first.port)
        assert raw_request(first.port, "/zarr.json").status == 200


def test_bad_arguments_raise_before_a_process_starts(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.ome\.zarr"):
        start(tmp_path / "missing.ome.zarr")
    with pytest.raises(ValueError, match="port must be an integer"):
        start(tmp_path, port=70000)
    with pytest.raises(ValueError, match="port must be an integer"):
        start(tmp_path, port="80")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="printable ASCII"):
        start(tmp_path, token="has space")
    with pytest.raises(ValueError, match="non-empty"):
        start(tmp_path, token="")


def test_a_network_address_warns(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: nothing listens
    with (
        pytest.warns(UserWarning, match="not a loopback address"),
        pytest.raises(RuntimeError, match="did not start"),
    ):
        start(tmp_path, host="192.0.2.1")


def test_loopback_does_not_warn(tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with start(tmp_path, host="localhost") as served:
            assert served.url.startswith("http://localhost:")


def test_start_serves_the_viewer_page_over_the_dataset(
    zarr_dataset: Written, tiff_dataset: Written
) -> None:
    """Zarr (t, c, y, x) and TIFF (t, y, x): the page, the description, a plane."""
    import json

    for written in (zarr_dataset, tiff_dataset):
        with start(written.path, token="t0k") as served:
            assert served.page == f"http://127.0.0.1:{served.port}/?token=t0k"
            auth = {"Authorization": "Bearer t0k"}
            reply = raw_request(served.port, "/", headers=auth)
            assert reply.status == 200
            assert reply.headers["content-type"].startswith("text/html")
            described = raw_request(served.port, "/_viewer/info", headers=auth)
            info = json.loads(described.body)
            sizes = dict(zip(info["dims"], info["shape"], strict=True))
            assert sizes["t"] == written.data.shape[0]
            assert (sizes["y"], sizes["x"]) == written.data.shape[-2:]
            plane = raw_request(served.port, "/_viewer/plane?t=1", headers=auth)
            first = written.data[1].reshape(-1, *written.data.shape[-2:])[0]
            assert plane.body == first.astype("<u2").tobytes()
