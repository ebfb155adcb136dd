"""One file's reply: whole, a byte range, 416, or 304 (Not Modified)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import stat
from typing import TYPE_CHECKING, TypeVar

from aiohttp import hdrs, web

_Response = TypeVar("_Response", bound=web.StreamResponse)

if TYPE_CHECKING:
    from multidict import CIMultiDict

    from ome_writers.serve._budget import SendBudget

_JSON_NAMES = {"zarr.json", ".zattrs", ".zgroup", ".zarray", ".zmetadata"}
_CHUNK = 1 << 20
# bodies up to this size are read at once and sent with their headers in one
# write
_SMALL = 1 << 16
# a read that takes only what the page cache holds (Linux); elsewhere every
# read happens on the event loop
_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None) if hasattr(os, "preadv") else None
# what a file system without such reads answers: its reads go to a thread
_NOWAIT_UNSUPPORTED = {errno.EOPNOTSUPP, errno.EINVAL}
# "bytes=-0" asks for no bytes (unsatisfiable); aiohttp reads it as "bytes=0-"
_EMPTY_SUFFIX = re.compile(r"bytes=-0+", re.ASCII | re.IGNORECASE)
# O_NONBLOCK: opening a FIFO placed in the root must not wait for a writer
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
)


def content_type(name: str) -> str:
    """The media type of a file served under `name`."""
    lower = name.lower()
    if lower in _JSON_NAMES or lower.endswith(".json"):
        return "application/json"
    if lower.endswith(".xml"):
        return "application/xml"
    if lower.endswith((".tif", ".tiff")):
        return "image/tiff"
    return "application/octet-stream"


def _open_regular(path: str) -> tuple[int, os.stat_result] | None:
    """The open descriptor and its status, None when it is not a regular file."""
    fd = os.open(path, _OPEN_FLAGS)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return fd, st


def _read_only_what_is_asked(fd: int) -> None:
    """No read-ahead beyond a range. A viewer's range of a file being written
    (the newest page of an OME-TIFF) lies just before what the writer still
    writes with direct I/O (the next pages' IFDs, rewritten as they are
    linked): pages read ahead into the cache there, it would first have to
    drop."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        with contextlib.suppress(OSError):  # advice only
            advise(fd, 0, 0, os.POSIX_FADV_RANDOM)


def _not_modified(request: web.Request, etag: str) -> bool:
    tags = request.if_none_match
    return tags is not None and any(t.value in (etag, "*") for t in tags)


def _range_applies(request: web.Request, etag: str, mtime: float) -> bool:
    """Whether an ``If-Range`` validator (if any) still matches the file."""
    validator = request.headers.get(hdrs.IF_RANGE)
    if validator is None:
        return True
    if validator.startswith('"'):
        return validator == f'"{etag}"'
    if validator.startswith("W/"):
        return False  # a weak validator never matches (RFC 9110 13.1.5)
    date = request.if_range
    return date is not None and mtime <= date.timestamp()


def _byte_range(request: web.Request, size: int) -> tuple[int, int] | None:
    """(start, count) of the requested range; None: unsatisfiable or malformed."""
    header = request.headers[hdrs.RANGE]
    if _EMPTY_SUFFIX.fullmatch(header):
        return None
    try:
        rng = request.http_range
    except ValueError:  # malformed or several ranges: answered like aiohttp's files
        return None
    start: int = rng.start
    if start < 0:  # a suffix: the last -start bytes
        start = max(size + start, 0)
        stop = size
    else:
        stop = size if rng.stop is None else min(rng.stop, size)
    if start >= size:
        return None
    return start, stop - start


def _seek_and_read(fd: int, count: int, start: int) -> bytes:
    # the descriptor is this reply's own, so moving its offset is safe
    os.lseek(fd, start, os.SEEK_SET)
    return os.read(fd, count)


_pread = getattr(os, "pread", _seek_and_read)


def _read_and_close(fd: int, count: int, start: int) -> bytes:
    try:
        return os.pread(fd, count, start)
    finally:
        os.close(fd)


async def _read(fd: int, start: int, count: int) -> bytes | bytearray:
    """`count` bytes of `fd` from `start` (fewer at its end).

    Bytes the page cache holds are read on the event loop, which takes
    microseconds; the rest in a thread. Chunks written with direct I/O are
    not cached, and a read of them from a disk the writer keeps busy would
    otherwise hold every other client's reply meanwhile.
    """
    if _NOWAIT is None:
        return _pread(fd, count, start)
    buffer = bytearray(count)
    try:
        done = os.preadv(fd, [buffer], start, _NOWAIT)
    except (BlockingIOError, InterruptedError):
        done = 0  # none of it cached
    except OSError as e:
        if e.errno not in _NOWAIT_UNSUPPORTED:
            raise
        done = 0
    if done == count:
        return buffer
    # the thread reads through a descriptor of its own, which stays open
    # should this reply end first
    loop = asyncio.get_running_loop()
    own = os.dup(fd)
    rest = await loop.run_in_executor(
        None, _read_and_close, own, count - done, start + done
    )
    return buffer[:done] + rest if done else rest


async def _send(
    response: web.StreamResponse,
    fd: int,
    start: int,
    count: int,
    budget: SendBudget | None,
) -> None:
    """Send `count` bytes of `fd` from `start`, piece by piece within `budget`."""
    offset, end = start, start + count
    while offset < end:
        size = min(_CHUNK, end - offset)
        if budget is not None:
            await budget.take(size)
        piece = await _read(fd, offset, size)
        if not piece:
            break
        await response.write(piece)
        offset += len(piece)


def _validated(response: _Response, etag: str, st: os.stat_result) -> _Response:
    """`response` with the file's ETag and Last-Modified (aiohttp rounds the
    time up, so that an ``If-Range`` date from it matches `_range_applies`)."""
    response.etag = etag
    response.last_modified = st.st_mtime
    return response


async def file_response(
    request: web.Request,
    path: str,
    name: str,
    headers: CIMultiDict[str],
    budget: SendBudget | None = None,
) -> web.StreamResponse:
    """Reply to GET or HEAD with the regular file at `path`, served as `name`.

    The file is opened once and read through that descriptor, so a file
    replaced while it is sent (the writer replaces documents whole) is sent
    as it was when opened. The bytes sent are paced by `budget`.
    """
    try:
        # opening is a metadata lookup the kernel has cached for a dataset
        # being read; a thread hop would cost more than it
        opened = _open_regular(path)
    except OSError:
        opened = None
    if opened is None:
        raise web.HTTPNotFound()
    fd, st = opened
    try:
        size = st.st_size
        etag = f"{st.st_mtime_ns:x}-{size:x}"
        headers[hdrs.ACCEPT_RANGES] = "bytes"
        headers[hdrs.CACHE_CONTROL] = "no-cache"
        if _not_modified(request, etag):
            return _validated(web.Response(status=304, headers=headers), etag, st)
        status, start, count = 200, 0, size
        if hdrs.RANGE in request.headers and _range_applies(request, etag, st.st_mtime):
            byte_range = _byte_range(request, size)
            if byte_range is None:
                headers[hdrs.CONTENT_RANGE] = f"bytes */{size}"
                headers[hdrs.CONTENT_LENGTH] = "0"  # also for HEAD
                return _validated(web.Response(status=416, headers=headers), etag, st)
            status, (start, count) = 206, byte_range
            headers[hdrs.CONTENT_RANGE] = f"bytes {start}-{start + count - 1}/{size}"
            _read_only_what_is_asked(fd)
        headers[hdrs.CONTENT_TYPE] = content_type(name)
        sends = request.method != hdrs.METH_HEAD and count > 0
        if count <= _SMALL:
            body: bytes | bytearray = b""
            if sends:
                if budget is not None:
                    await budget.take(count)
                body = await _read(fd, start, count)
            headers[hdrs.CONTENT_LENGTH] = str(count)  # also for HEAD
            reply = web.Response(status=status, body=body, headers=headers)
            return _validated(reply, etag, st)
        response = _validated(
            web.StreamResponse(status=status, headers=headers), etag, st
        )
        response.content_length = count
        await response.prepare(request)
        if sends:
            await _send(response, fd, start, count, budget)
        await response.write_eof()
        return response
    finally:
        os.close(fd)
