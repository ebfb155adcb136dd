"""Append, live reads and close from three threads: no deadlock, no torn frames."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.errors import StreamClosedError
from tests.conftest import frame_for

SHAPE = (16, 16)


@pytest.mark.parametrize("close_after", [0, 50, 400])
def test_append_read_close_threads(close_after: int) -> None:
    s = AcquisitionSettings(
        dimensions=[
            Dimension(name="t", count=None),
            Dimension(name="c", count=2),
            Dimension(name="y", count=SHAPE[0]),
            Dimension(name="x", count=SHAPE[1]),
        ],
        dtype="uint16",
    )
    stream = create_stream(s)
    view = stream.view()
    appended = threading.Event()
    done = threading.Event()
    errors: list[BaseException] = []
    n_written = [0]

    def appender() -> None:
        try:
            for i in range(2000):
                stream.append(frame_for(i, SHAPE))
                n_written[0] = i + 1
                if i == close_after:
                    appended.set()
        except StreamClosedError:
            pass
        except BaseException as e:
            errors.append(e)
        finally:
            appended.set()

    # frame_for(n) is this pattern plus (n + 1) * 100, modulo 2**16
    pattern = frame_for(0, SHAPE).astype("int64") - 100

    def reader() -> None:
        try:
            while not done.is_set():
                t, c = view.shape[:2]
                if t:
                    frame = view[t - 1, c - 1]
                    if not frame.any():  # the last channel is not there yet
                        continue
                    offsets = np.unique((frame - pattern) % 2**16)
                    assert len(offsets) == 1, f"torn frame: offsets {offsets}"
        except BaseException as e:
            errors.append(e)

    def closer() -> None:
        appended.wait()
        stream.close()

    threads = [threading.Thread(target=f) for f in (appender, reader, closer)]
    for thread in threads:
        thread.start()
    threads[0].join(timeout=60)
    threads[2].join(timeout=60)
    done.set()
    threads[1].join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "deadlock"
    assert not errors, errors
    assert stream.closed
    n = n_written[0]
    assert n > close_after
    flat = np.asarray(view).reshape(-1, *SHAPE)
    for i in range(n):
        np.testing.assert_array_equal(flat[i], frame_for(i, SHAPE))
