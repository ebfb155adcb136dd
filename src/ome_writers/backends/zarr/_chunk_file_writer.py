"""Frame-sized chunk files of a local Zarr array, written by threads of ours.

An unsharded array whose chunks each hold exactly one frame keeps every frame
as one file (``c/<index...>/0/0``) of its raw bytes, or of those compressed
as the array's codec declares (`frame_encoder`; the writer threads then
compress, one frame each, `ENCODER_THREADS` of them).
Through tensorstore's file store each such chunk also costs a lock file, a
temporary file and a rename on threads that compete with the acquisition
thread for the cores (zarr-python's stores cost Python objects and an event
loop's turns besides), so that at high frame rates appends fall behind the
camera. Every Zarr library's arrays of such chunks are written here
(`with_own_files`). Instead the acquisition thread copies each frame into a resident
pool buffer (`FramePool`, as OME-TIFF's writer does) and a thread of ours
writes each to a temporary name beside its chunk key and renames it into
place, so that no reader, also after a crash, sees part of a chunk. The
directories a chunk needs are made on the way, from the deepest one known to
exist down (no failed open or ``mkdir`` first), so that a frame in a new time
point costs one ``mkdir`` per new directory and one open. Once that thread
falls behind,
`WRITER_THREADS` threads take frames in turn. The files written are
committed every `WRITEBACK_EVERY_BYTES` (`Flusher`, without lag: a file is
complete when it is counted), also those written directly.

Large frames whose size and buffer suit direct I/O (``O_DIRECT``: a multiple
of the block at an aligned address, as the pool's buffers of such frames
are; `ome_writers._io._direct`) bypass the page cache: no copy into it and
no write-back to start; the device has the data when the write returns. As
each such write waits for the disk, `DIRECT_WRITER_THREADS` threads take
frames in turn from the first frame on, to keep several writes in flight. A
filesystem that refuses direct I/O gets buffered writes from then on.

When every buffer is in flight, `write` waits (backpressure). A failed write
is raised from the next `write`, from the waiters and from `close`; frames
queued before it was reported are still written, and what was written
before stays in place.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ome_writers._io._direct import (
    DIRECT_ALIGN,
    DIRECT_MIN_BYTES,
    O_DIRECT,
    aligned,
    direct_io_suits,
    pwrite_all,
    refused,
)
from ome_writers._io._frame_pool import (
    POOL_BYTES,
    POOL_FRAMES,
    FramePool,
    anonymous_map,
)
from ome_writers._io._threads import available_cores
from ome_writers._io._writeback import WRITEBACK_EVERY_BYTES, Flusher
from ome_writers.backends.zarr._delegating_writer import DelegatingWriter
from ome_writers.backends.zarr._frame_encoder import encoded_bound, frame_encoder

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

    from ome_writers.backends.zarr._array_writer import ArrayGrid, ArrayWriter
    from ome_writers.backends.zarr._frame_encoder import FrameEncoder

#: making a chunk file (its directories, inode and bytes) keeps a thread in
#: the kernel long enough that one cannot keep up with a fast camera; a third
#: thread competes with the acquisition thread more than it helps
WRITER_THREADS = 2
#: frames go to one writer thread until more than this many bytes wait for
#: it, then to all `WRITER_THREADS`: at a steady rate a single writer's copies
#: compete less with the acquisition thread's, and once a backlog builds the
#: second thread clears it
SPREAD_AFTER_BYTES = 16 * 1024**2
#: writer threads of direct writes: each waits for the disk, so more of them
#: keep more writes in flight without taking CPU from the acquisition thread;
#: between two writes a thread makes the file (directories, open, rename),
#: so twice the device's useful depth keeps about that many writes in flight
DIRECT_WRITER_THREADS = 8
#: writer threads of compressed frames: compressing keeps a core busy, so
#: one per core, and one more, whose compressing fills a core while another
#: thread waits for its write
ENCODER_THREADS = max(2, min(8, available_cores())) + 1
#: directories the writer threads remember having made or seen (the newest)
KNOWN_DIRECTORIES = 1024
PARTIAL_SUFFIX = ".partial"  # a chunk file being written (`repair` removes it)
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


def frame_chunk_files(
    *,
    local: bool,
    compression: str,
    sharded: bool,
    chunks: tuple[int, ...],
    frame_shape: tuple[int, int],
    dtype: np.dtype,
) -> bool:
    """Whether each chunk of an array is one frame's bytes in a local file:
    unsharded, one frame per chunk, little-endian, and raw or compressed as
    `frame_encoder` can."""
    return (
        local
        and (compression == "none" or frame_encoder(compression) is not None)
        and not sharded
        and all(c == 1 for c in chunks[:-2])
        and tuple(chunks[-2:]) == tuple(frame_shape)
        and dtype.newbyteorder("<") == dtype
    )


class _Barrier:
    """Done once each writer thread reached it, i.e. wrote every frame queued
    to it before."""

    def __init__(self, threads: int) -> None:
        self.done = threading.Event()
        self._left = threads
        self._lock = threading.Lock()

    def reached(self) -> None:
        with self._lock:
            self._left -= 1
            if self._left == 0:
                self.done.set()


class ChunkFiles:
    """Writes frames, each to the chunk file `locate(unit)` names, compressed
    by `encode` when given."""

    def __init__(
        self,
        frame_shape: tuple[int, int],
        dtype: np.dtype,
        locate: Callable[[Hashable], str],
        root: Path,
        explain: Callable[[BaseException], BaseException] = lambda e: e,
        encode: FrameEncoder | None = None,
    ) -> None:
        self.pool = FramePool.within(POOL_BYTES, POOL_FRAMES, frame_shape, dtype)
        self.dtype = dtype
        self.encode = encode
        #: frames are written with direct I/O (until the filesystem refuses it)
        self.direct = encode is None and direct_io_suits(self.pool.frame_bytes)
        #: encoded frames too, the whole blocks of those large enough
        self.direct_encoded = encode is not None and bool(O_DIRECT)
        self.frame_shape = frame_shape
        self.error: BaseException | None = None
        self._locate = locate
        self._explain = explain
        # files are made durable as they go, not all at a checkpoint or close
        self.flusher = Flusher(
            root,
            WRITEBACK_EVERY_BYTES,
            locate=lambda path: (path,),
            lag=False,
            commit=True,
        )
        # one queue per writer thread, frames dealt to them in turn:
        # (unit, slot, owned frame or None, release or None), barriers, None
        if encode is not None:
            threads = ENCODER_THREADS
        else:
            threads = DIRECT_WRITER_THREADS if self.direct else WRITER_THREADS
        self._queues: list[queue.SimpleQueue[Any]] = [
            queue.SimpleQueue() for _ in range(threads)
        ]
        self._next = 0  # the queue of the next frame
        # queues frames are dealt to (`_queue`): direct writes and frames to
        # compress, all at once
        self._active = threads if self.direct or encode is not None else 1
        self._spread_after = max(2, SPREAD_AFTER_BYTES // self.pool.frame_bytes)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # the flusher's count
        # directories that exist, oldest first (`_make_directories`)
        self._known: dict[str, None] = {str(root): None}
        self._known_lock = threading.Lock()

    def start(self) -> None:
        """Start the writer threads (before the first `write`)."""
        if not self._threads:
            self._threads = [
                threading.Thread(
                    target=self._run,
                    args=(work,),
                    name="ome-writers-chunks",
                    daemon=True,
                )
                for work in self._queues
            ]
            for thread in self._threads:
                thread.start()
            self.pool.start()  # buffers made resident ahead of use
            self.flusher.start()

    @property
    def stalls(self) -> int:
        """Times `write` waited for a free buffer."""
        return self.pool.stalls

    def _slot(self) -> int:
        if self.error is not None:
            raise self.error
        return self.pool.take()  # every buffer in flight: wait for the writers

    def _queue(self, item: tuple[Any, int, np.ndarray | None, Any]) -> None:
        work = self._queues[self._next]
        work.put(item)
        if self._active < len(self._queues) and work.qsize() > self._spread_after:
            self._active = len(self._queues)  # one thread fell behind: all
        self._next = (self._next + 1) % self._active

    def write(self, unit: Hashable, frame: np.ndarray) -> None:
        """Copy `frame` and queue it (the caller may reuse it on return)."""
        if self.error is not None:
            raise self.error
        pool = self.pool
        slot = pool.take()  # every buffer in flight: wait for the writers
        pool.fill(slot, frame)
        self._queue((unit, slot, None, None))

    def write_owned(
        self, unit: Hashable, frame: np.ndarray, release: Callable[[], None]
    ) -> None:
        """Queue `frame` itself; `release()` once it is written (or failed).

        Counts against the pool like a copy, so that owned frames in flight
        stay bounded too.
        """
        if (
            frame.dtype != self.dtype
            or frame.shape != self.frame_shape
            or not frame.flags.c_contiguous
        ):
            try:
                self.write(unit, frame)
            finally:
                release()
            return
        try:
            slot = self._slot()
        except BaseException:
            release()
            raise
        self._queue((unit, slot, frame, release))

    def waiter(self) -> Callable[[], None]:
        """What waits (from any thread) until every frame queued so far is
        written, and raises a failure."""
        barrier = _Barrier(len(self._queues))
        if not self._threads:
            barrier.done.set()
        else:
            for work in self._queues:
                work.put(barrier)

        def wait() -> None:
            barrier.done.wait()
            if self.error is not None:
                raise self.error

        return wait

    def drain(self) -> None:
        """Wait until every frame queued so far is written; raise a failure."""
        self.waiter()()

    def close(self) -> None:
        """Write what is queued, stop the threads and the write-back (the
        caller syncs); raise a failure."""
        if self._threads:
            for work in self._queues:
                work.put(None)
            for thread in self._threads:
                thread.join()
            self._threads = []
        self.pool.close()
        self.flusher.close()
        if self.error is not None:
            raise self.error

    # --------------------------------------------------------- writer threads

    def _run(self, work: queue.SimpleQueue[Any]) -> None:
        # this thread's encoded frames, page-aligned for direct writes (freed
        # with the last reference: a failure's traceback may hold one)
        out = None
        if self.encode is not None:
            size = -(-encoded_bound(self.pool.frame_bytes) // DIRECT_ALIGN)
            memory = anonymous_map(size * DIRECT_ALIGN, self.pool.slot_bytes)
            out = np.frombuffer(memory, np.uint8)
        while True:
            item = work.get()
            if item is None:
                return
            if isinstance(item, _Barrier):
                item.reached()
            else:
                self._write(item, out)

    def _write(
        self,
        item: tuple[Any, int, np.ndarray | None, Any],
        out: np.ndarray | None = None,
    ) -> None:
        pool = self.pool
        unit, slot, owned, release = item
        held = True  # the frame's buffer
        try:
            # also after a failure: frames queued before it was reported were
            # accepted by `write`, and a frame lost here would read as zeros
            data = pool.buffers[slot] if owned is None else owned
            path = self._locate(unit)
            if self.encode is not None:
                assert out is not None
                nbytes = self.encode(data, out)
                held = False  # free for the next frame while this one is written
                _release(pool, slot, release)
                self._make_directories(os.path.dirname(path))
                self._write_encoded(path, out, nbytes)
            else:
                self._make_directories(os.path.dirname(path))
                self._write_raw(path, data)
                nbytes = data.nbytes
            with self._lock:
                self.flusher.add(nbytes, path)
        except BaseException as e:
            if self.error is None:
                self.error = self._explain(e)
        finally:
            if held:
                _release(pool, slot, release)

    def _write_encoded(self, path: str, out: np.ndarray, nbytes: int) -> None:
        """The first `nbytes` of `out` into `path`: their whole blocks
        directly while the filesystem allows it, the rest buffered."""
        whole = nbytes - nbytes % DIRECT_ALIGN
        if self.direct_encoded and whole >= DIRECT_MIN_BYTES:
            try:
                write_file_direct(path, out[:whole], tail=out[whole:nbytes].tobytes())
                return
            except DirectIORefused:
                self.direct_encoded = False  # this filesystem: buffered from now on
        write_file(path, out[:nbytes].data)

    def _write_raw(self, path: str, data: np.ndarray) -> None:
        """`data` into `path`, directly while the filesystem allows it."""
        if self.direct and aligned(data):
            try:
                write_file_direct(path, data)
                return
            except DirectIORefused:
                self.direct = False  # this filesystem: buffered from now on
        write_file(path, np.ascontiguousarray(data).data.cast("B"))

    def _make_directories(self, directory: str) -> None:
        """Make `directory` and the parents of it not known to exist, top down.

        Known: made or found here before (another writer thread may make the
        same one at the same time). A directory removed meanwhile is made
        again when the chunk's open finds it missing (`_open_partial`).
        """
        known = self._known
        if directory in known:
            return
        missing = [directory]
        parent = os.path.dirname(directory)
        while parent and parent not in known and parent != missing[-1]:
            missing.append(parent)
            parent = os.path.dirname(parent)
        for path in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(path)
        with self._known_lock:  # writer threads add and forget at once
            # the ancestor found is in use: it moves behind the newest
            known.pop(parent, None)
            known[parent] = None
            known.update(dict.fromkeys(reversed(missing)))
            while len(known) > KNOWN_DIRECTORIES:  # the oldest: behind the writes
                del known[next(iter(known))]


def _release(pool: FramePool, slot: int, release: Callable[[], None] | None) -> None:
    """Hand a frame's buffer back (and an owned frame to its owner)."""
    try:
        if release is not None:
            release()
    finally:
        pool.release(slot)


class DirectIORefused(Exception):
    """The filesystem refused a direct write (nothing was left behind)."""


def _open_partial(partial: str, flags: int) -> int:
    try:
        return os.open(partial, flags, 0o644)
    except FileNotFoundError:  # the chunk's directories do not exist yet
        Path(partial).parent.mkdir(parents=True, exist_ok=True)
        return os.open(partial, flags, 0o644)


def _write_partial(path: str, flags: int, write: Callable[[int], None]) -> None:
    """`write` into a temporary name beside `path` opened with `flags`, then
    renamed into place (also after a crash, never part of a file); on a
    failure nothing is left behind."""
    partial = path + PARTIAL_SUFFIX
    fd = _open_partial(partial, flags)
    try:
        write(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    os.close(fd)
    os.replace(partial, path)


def write_file_direct(path: str, data: np.ndarray, tail: bytes = b"") -> None:
    """`write_file` of `data` with direct I/O (`data` is `aligned`), then `tail`
    (any size) buffered; raises `DirectIORefused` when the filesystem does
    not take direct I/O."""

    def write(fd: int) -> None:
        pwrite_all(fd, data, 0)
        if tail:
            import fcntl  # POSIX only, as O_DIRECT is (0 elsewhere: never here)

            # a tail of any size is written through the page cache
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~O_DIRECT)
            pwrite_all(fd, tail, data.nbytes)

    try:
        _write_partial(path, _FLAGS | O_DIRECT, write)
    except OSError as e:
        if refused(e):
            raise DirectIORefused from e
        raise


def write_file(path: str, *parts: memoryview) -> None:
    """The bytes of `parts`, one after another, into `path`, through a
    temporary name and a rename (also after a crash, never part of a file)."""

    def write(fd: int) -> None:
        for part in parts:
            done = 0
            while done < len(part):
                done += os.write(fd, part[done:])

    _write_partial(path, _FLAGS, write)


class ChunkFileWriter(DelegatingWriter):
    """Frames written as chunk files by threads of ours (`ChunkFiles`);
    `inner`, the library's writer, makes, resizes and reads the arrays."""

    def __init__(
        self,
        inner: ArrayWriter,
        grid: ArrayGrid,
        explain: Callable[[BaseException], BaseException],
    ) -> None:
        assert isinstance(grid.root, Path)  # chunk files are local
        # each array's ``c`` directory: below it a frame's chunk key is its
        # indices (one index per chunk), then 0/0 (one chunk per frame)
        self._bases = [grid.chunk_prefixes(p, ())[0] for p in range(len(grid.paths))]
        self.files = ChunkFiles(
            grid.frame_shape,
            grid.dtype,
            self._locate,
            grid.root,
            explain,
            frame_encoder(grid.compression),  # None: raw
        )
        super().__init__(inner, grid, explain, self.files)

    def _locate(self, unit: Hashable) -> str:
        """The one chunk file of the frame at `unit` (position, index)."""
        position, index = cast("tuple[int, tuple[int, ...]]", unit)
        return "/".join([self._bases[position], *map(str, index), "0", "0"])

    @property
    def writes_back(self) -> bool:
        return True  # `ChunkFiles` starts write-back of each file it wrote

    @property
    def makes_directories(self) -> bool:
        return True  # `ChunkFiles` makes each directory once, on its threads

    def write_frame(
        self, position: int, index: tuple[int, ...], frame: np.ndarray
    ) -> None:
        self.files.write((position, index), frame)

    def write_frame_owned(
        self,
        position: int,
        index: tuple[int, ...],
        frame: np.ndarray,
        release: Callable[[], None],
    ) -> None:
        self.files.write_owned((position, index), frame, release)

    def _start_own(self) -> None:
        self.files.start()

    def _wait_own(self) -> None:
        with contextlib.suppress(Exception):  # raised by writes and close
            self.files.drain()

    def _close_own(self) -> None:
        self.files.close()
