"""Many small file-system calls overlapped on a few threads."""

from __future__ import annotations

import threading

import pytest

from ome_writers._io._overlap import overlapped


def test_few_items_run_on_the_callers_thread() -> None:
    seen: list[tuple[int, str]] = []
    overlapped(
        lambda i: seen.append((i, threading.current_thread().name)),
        [1, 2],
        threads=4,
        serial_up_to=2,
    )
    me = threading.current_thread().name
    assert seen == [(1, me), (2, me)]


def test_many_items_run_on_threads_and_every_one_is_attempted() -> None:
    done: set[int] = set()
    threads: set[str] = set()
    lock = threading.Lock()

    def work(i: int) -> None:
        with lock:
            threads.add(threading.current_thread().name)
            done.add(i)
        if i == 3:
            raise OSError(f"item {i} failed")

    with pytest.raises(OSError, match="item 3 failed"):
        overlapped(work, range(40), threads=4)
    assert done == set(range(40))
    assert threading.current_thread().name not in threads
