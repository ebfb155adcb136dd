"""Object-storage faults: retried errors, a restarted server, a gone server.

Every fault goes through real HTTP on 127.0.0.1: `FaultProxy` answers 503 or
resets connections, and the moto server itself is stopped and restarted.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, S3Options, create_stream
from ome_writers._registry import BY_NAME
from ome_writers.errors import BackendError
from tests.backends.params import backend_params

from .readers import zarr_from_s3

Y, X = 32, 16
# backends whose libraries retry failed requests, and those that do not
RETRYING = backend_params(format="ome-zarr", retries_object_storage=True)
NOT_RETRYING = [
    p
    for p in backend_params(format="ome-zarr", retries_object_storage=False)
    if "s3" in BY_NAME[p.values[0]].url_schemes
]


def make(url: str, backend: str, retry_seconds: float) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=url,
        format=backend,
        dimensions=[
            Dimension(name="t", count=None, chunk_size=1),
            Dimension(name="c", count=2),
            Dimension(name="y", count=Y),
            Dimension(name="x", count=X),
        ],
        dtype="uint16",
        s3=S3Options(retry_seconds=retry_seconds),
    )


def frame(i: int) -> np.ndarray:
    return np.full((Y, X), i + 1, "uint16")


def assert_frames(url: str, n: int) -> None:
    """Frames 0..n-1, read by zarr-python straight from the server."""
    data = zarr_from_s3(f"{url}/0").reshape(-1, Y, X)
    assert data.shape[0] >= n
    got = [int(data[i, 0, 0]) for i in range(n)]
    assert got == [i + 1 for i in range(n)]
    for i in range(n):
        np.testing.assert_array_equal(data[i], frame(i))


@pytest.mark.parametrize("backend", RETRYING)
def test_transient_errors_lose_nothing(
    backend: str, fault_proxy, s3_prefix: str
) -> None:
    url = f"{s3_prefix}/{backend}.ome.zarr"
    with create_stream(make(url, backend, retry_seconds=30)) as stream:
        for i in range(20):
            if i == 6:
                fault_proxy.fail_next = 5  # 503 SlowDown
            if i == 12:
                fault_proxy.reset_next = 3  # connection reset, no reply
            stream.append(frame(i))
    assert fault_proxy.injected == 8
    assert_frames(url, 20)


@pytest.mark.parametrize("backend", RETRYING)
def test_server_restarted_mid_stream(
    backend: str, restartable_s3, fault_proxy, s3_prefix: str
) -> None:
    url = f"{s3_prefix}/{backend}.ome.zarr"
    with create_stream(make(url, backend, retry_seconds=30)) as stream:
        for i in range(10):
            stream.append(frame(i))
        restartable_s3.stop()  # requests now fail to connect: retried
        # down for longer than ten jittered retries usually last (1-3 s)
        restart = threading.Timer(4.0, restartable_s3.start)
        restart.start()
        for i in range(10, 20):
            stream.append(frame(i))
        restart.join()
    assert_frames(url, 20)


@pytest.mark.parametrize("backend", RETRYING)
def test_server_gone_raises_and_keeps_earlier_frames(
    backend: str, restartable_s3, fault_proxy, s3_prefix: str
) -> None:
    url = f"{s3_prefix}/{backend}.ome.zarr"
    stream = create_stream(make(url, backend, retry_seconds=1), checkpoint_seconds=None)
    for i in range(6):
        stream.append(frame(i))
    stream.checkpoint()  # acknowledged: these must survive
    fault_proxy.down = True
    started = time.monotonic()
    with pytest.raises((OSError, BackendError)) as info:
        for i in range(6, 400):
            stream.append(frame(i))
        stream.close()
    stream.close()  # after the failure: what can be written is; no second raise
    assert time.monotonic() - started < 60
    message = str(info.value)
    assert url.split("://")[1] in message or url in message, message
    fault_proxy.down = False
    assert_frames(url, 6)


@pytest.mark.parametrize("backend", NOT_RETRYING)
def test_backend_without_retries_reports_a_fault(
    backend: str, fault_proxy, s3_prefix: str
) -> None:
    """acquire-zarr does not retry: a 503 is an error naming the dataset,
    raised at an append or at close, never silence."""
    url = f"{s3_prefix}/{backend}.ome.zarr"
    stream = create_stream(make(url, backend, retry_seconds=30))
    with pytest.raises((OSError, BackendError)) as info:
        for i in range(20):
            if i == 6:
                fault_proxy.fail_next = 50
            stream.append(frame(i))
        stream.close()
    stream.close()
    assert url in str(info.value)
