"""Many small file-system calls, overlapped on a few threads.

Making a directory, a link or a small file waits for the filesystem, not for
Python, so a few threads overlap those waits: a plate's hundreds of group
documents, or the directories, links and documents of its hundreds of
arrays. Threads pay off while the disk is busy and each call waits; on an
idle disk the calls return at once and the threads can cost more than they
save.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

_T = TypeVar("_T")


def overlapped(
    work: Callable[[_T], object],
    items: Sequence[_T],
    *,
    threads: int,
    serial_up_to: int = 1,
) -> None:
    """`work(item)` for every item: on the caller's thread for up to
    `serial_up_to` items, else on `threads` threads. The first failure is
    raised once every item was attempted."""
    if len(items) <= serial_up_to:
        for item in items:
            work(item)
        return
    with ThreadPoolExecutor(min(threads, len(items))) as pool:
        for future in [pool.submit(work, item) for item in items]:
            future.result()
