"""Bytes not in the page cache are read off the event loop.

Chunks written with direct I/O are not cached; reading them from a disk the
writer keeps busy must not hold the replies to other clients meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import TYPE_CHECKING

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ome_writers.serve import _file_response
from ome_writers.serve._app import make_app

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.skipif(
    _file_response._NOWAIT is None, reason="reads that skip the disk are Linux's"
)

BIG = 3 * (1 << 20) + 12345  # several pieces of a streamed reply, the last short


def _written(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def _evicted(path: Path) -> None:
    """Drop `path`'s pages from the page cache, as a direct write leaves them."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _uncached(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads of `path` find nothing in the page cache, as after a direct write
    (the kernel may read ahead what `_evicted` dropped at any time)."""
    inode = path.stat().st_ino
    preadv = os.preadv

    def missing(fd: int, buffers: list[bytearray], start: int, flags: int) -> int:
        if flags & os.RWF_NOWAIT and os.fstat(fd).st_ino == inode:
            raise BlockingIOError
        return preadv(fd, buffers, start, flags)

    monkeypatch.setattr(_file_response.os, "preadv", missing)


def _counting_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes read in a thread, recorded as they are read."""
    sizes: list[int] = []
    original = _file_response._read_and_close

    def read_and_close(fd: int, count: int, start: int) -> bytes:
        sizes.append(count)
        return original(fd, count, start)

    monkeypatch.setattr(_file_response, "_read_and_close", read_and_close)
    return sizes


def _read(path: Path, start: int, count: int) -> bytes | bytearray:
    async def read() -> bytes | bytearray:
        fd = os.open(path, os.O_RDONLY)
        try:
            return await _file_response._read(fd, start, count)
        finally:
            os.close(fd)

    return asyncio.run(read())


def test_cached_bytes_are_read_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _written(tmp_path / "c", 100_000)
    threads = _counting_threads(monkeypatch)
    assert _read(tmp_path / "c", 1000, 50_000) == data[1000:51_000]
    assert threads == []


def test_uncached_bytes_are_read_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _written(tmp_path / "c", 100_000)
    threads = _counting_threads(monkeypatch)
    # the kernel may read the dropped pages back before the read looks (read
    # ahead, another reader of the disk), so a few tries are allowed
    for _ in range(5):
        threads.clear()
        _evicted(tmp_path / "c")
        assert _read(tmp_path / "c", 1000, 50_000) == data[1000:51_000]
        if threads:
            break
    # what missed the cache was read in a thread, once
    assert len(threads) == 1
    assert 0 < threads[0] <= 50_000


@pytest.mark.parametrize("cached", [0, 1, 4095, 4096, 30_000])
def test_a_partly_cached_range_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cached: int
) -> None:
    data = _written(tmp_path / "c", 100_000)
    threads = _counting_threads(monkeypatch)

    def cached_head(fd: int, buffers: list[bytearray], start: int, flags: int) -> int:
        if cached == 0:
            raise BlockingIOError
        buffers[0][:cached] = os.pread(fd, cached, start)
        return cached

    monkeypatch.setattr(_file_response.os, "preadv", cached_head)
    assert _read(tmp_path / "c", 500, 40_000) == data[500:40_500]
    assert threads == [40_000 - cached]


def test_a_file_system_without_such_reads_is_read_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _written(tmp_path / "c", 10_000)
    threads = _counting_threads(monkeypatch)

    def unsupported(*args: object) -> int:
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(_file_response.os, "preadv", unsupported)
    assert _read(tmp_path / "c", 0, 10_000) == data
    assert threads == [10_000]


def test_other_read_errors_are_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _written(tmp_path / "c", 10_000)

    def failing(*args: object) -> int:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(_file_response.os, "preadv", failing)
    with pytest.raises(OSError, match="Input/output"):
        _read(tmp_path / "c", 0, 10_000)


def _held(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, list[int]]:
    """Thread reads wait for the returned event; started ones are recorded."""
    release = threading.Event()
    started: list[int] = []
    original = _file_response._read_and_close

    def read_and_close(fd: int, count: int, start: int) -> bytes:
        started.append(count)
        if not release.wait(30):
            raise TimeoutError("the test never released the read")
        return original(fd, count, start)

    monkeypatch.setattr(_file_response, "_read_and_close", read_and_close)
    return release, started


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


@pytest.mark.parametrize(
    ("size", "byte_range"),
    [(BIG, None), (BIG, "bytes=100-"), (40_000, None), (40_000, "bytes=-1000")],
    ids=["streamed", "streamed-range", "small", "small-suffix"],
)
def test_an_uncached_read_does_not_hold_other_replies(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    size: int,
    byte_range: str | None,
) -> None:
    (tmp_path / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    data = _written(tmp_path / "chunk", size)
    _uncached(tmp_path / "chunk", monkeypatch)
    release, started = _held(monkeypatch)
    expected = data[100:] if byte_range == "bytes=100-" else data
    if byte_range == "bytes=-1000":
        expected = data[-1000:]

    async def scenario() -> None:
        async with TestClient(TestServer(make_app(tmp_path))) as client:

            async def fetch_chunk() -> tuple[int, bytes]:
                headers = {"Range": byte_range} if byte_range else {}
                reply = await client.get("/chunk", headers=headers)
                return reply.status, await reply.read()

            chunk = asyncio.ensure_future(fetch_chunk())
            await _until(lambda: bool(started))
            # the chunk's read waits in its thread; the loop answers others
            for _ in range(3):
                reply = await client.get("/zarr.json")
                assert reply.status == 200
                assert (await reply.json())["zarr_format"] == 3
            assert not chunk.done()
            release.set()
            status, body = await chunk
            assert status == (206 if byte_range else 200)
            assert body == expected

    asyncio.run(scenario())


def test_where_no_read_skips_the_disk_reads_are_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as on a system without RWF_NOWAIT, and without pread (Windows)
    monkeypatch.setattr(_file_response, "_NOWAIT", None)
    monkeypatch.setattr(_file_response, "_pread", _file_response._seek_and_read)
    data = _written(tmp_path / "c", 100_000)
    threads = _counting_threads(monkeypatch)
    assert _read(tmp_path / "c", 70_000, 50_000) == data[70_000:]
    assert _read(tmp_path / "c", 10, 20) == data[10:30]
    assert threads == []


@pytest.mark.parametrize("byte_range", [None, "bytes=100-4195", "bytes=-1000"])
def test_a_range_is_read_without_read_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, byte_range: str | None
) -> None:
    """A range reply advises the kernel not to read ahead (what lies after a
    viewer's range of a file being written is still being written); a whole
    file is read with the kernel's read-ahead."""
    data = _written(tmp_path / "c", 100_000)
    advised: list[int] = []
    advise = os.posix_fadvise

    def recording(fd: int, offset: int, length: int, advice: int) -> None:
        advised.append(advice)
        advise(fd, offset, length, advice)

    monkeypatch.setattr(_file_response.os, "posix_fadvise", recording)

    async def scenario() -> bytes:
        async with TestClient(TestServer(make_app(tmp_path))) as client:
            headers = {"Range": byte_range} if byte_range else {}
            reply = await client.get("/c", headers=headers)
            assert reply.status == (206 if byte_range else 200)
            return await reply.read()

    body = asyncio.run(scenario())
    if byte_range is None:
        assert body == data and advised == []
    else:
        assert body == (data[100:4196] if "100-" in byte_range else data[-1000:])
        assert advised == [os.POSIX_FADV_RANDOM]
