"""Frame copies that keep the interpreter lock (`_copy`)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from ome_writers._io._frame_pool import copy_frame

if TYPE_CHECKING:
    from collections.abc import Callable


def test_copies_like_numpy() -> None:
    src = np.arange(6 * 8, dtype="uint16").reshape(6, 8)
    dst = np.zeros_like(src)
    copy_frame(dst, src)
    np.testing.assert_array_equal(dst, src)
    # what a byte copy cannot do falls back to numpy's converting copy
    copy_frame(dst, src.astype(">u2"))  # other byte order
    np.testing.assert_array_equal(dst, src)
    copy_frame(dst, np.asfortranarray(src) + 1)  # other memory order
    np.testing.assert_array_equal(dst, src + 1)
    copy_frame(dst, (src + 2).astype("int32"))  # other dtype
    np.testing.assert_array_equal(dst, src + 2)
    copy_frame(dst, 7)  # type: ignore[arg-type]  # broadcast
    assert (dst == 7).all()


def _other_thread_turns_during(copy: Callable[[], None]) -> int:
    """Turns a thread that needs the lock every ~0.1 ms gets during `copy`."""
    turns = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            turns[0] += 1
            time.sleep(0.0001)  # without the lock

    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.01)
    try:
        before = turns[0]
        copy()
        return turns[0] - before
    finally:
        stop.set()
        thread.join()


def test_the_copy_keeps_the_interpreter_lock() -> None:
    src = np.ones(64 * 1024**2 // 2, "uint16")  # tens of ms to copy
    dst = np.empty_like(src)
    dst[...] = 0  # resident, like a pool buffer
    # numpy lets the other thread run while it copies (the control) ...
    assert _other_thread_turns_during(lambda: dst.__setitem__(..., src)) >= 3
    # ... ours does not: no appending thread waits to get the lock back
    assert _other_thread_turns_during(lambda: copy_frame(dst, src)) <= 2
    np.testing.assert_array_equal(dst, src)
