"""The ceilings of a scenario: what the disk and the codec allow.

The disk ceiling writes the scenario's frames (as many, as large) with direct
I/O from page-aligned buffers (of transparent huge pages where the system
has them, as the writers' own buffers are), `IN_FLIGHT` writes at a time,
two ways: into
one preallocated file, and one file per frame as chunk-per-frame writers do.
Each way is durable once every file is fsynced and ``os.sync()`` returned;
the ceiling is the faster. A filesystem that refuses direct I/O (tmpfs) gets
buffered writes and fsync instead, and the row says so (``direct_io``).

The CPU ceiling of a compressed scenario is the codec's rate on one core,
compressing the scenario's frames chunk by chunk with the parameters our
OME-Zarr backends use, times the cores this process may run on.
"""

from __future__ import annotations

import contextlib
import errno
import math
import mmap
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from ._measure import peak_rss_mb
from ._scenarios import make_frames

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import numpy as np

#: writes in flight at once, each from a thread of its own
IN_FLIGHT = 4
#: the alignment used when the filesystem's block size is not a usable one
DEFAULT_ALIGN = 4096
#: the codec is timed for at least this long (or over every frame of the run)
CPU_SECONDS = 1.0

#: blosc's name and level per compression, and its block size, as the
#: OME-Zarr backends configure it (byte shuffle): `codec_configs` in
#: ``ome_writers.backends.zarr._array_writer``
BLOSC = {"blosc-zstd": ("zstd", 3), "blosc-lz4": ("lz4", 5)}
BLOSC_BLOCK_BYTES = 512 * 1024
#: the level of plain zstd, as the OME-Zarr backends configure it
ZSTD_LEVEL = 3


def alignment(path: Path) -> int:
    """Offsets, lengths and buffers of direct I/O under `path` align to this.

    The filesystem's block size when it is a power of two from 512 to 64 KiB
    (a multiple of the device's logical block), else `DEFAULT_ALIGN`.
    """
    size = os.statvfs(path).f_bsize
    if 512 <= size <= 65536 and size & (size - 1) == 0:
        return max(size, DEFAULT_ALIGN)
    return DEFAULT_ALIGN


def direct_io_supported(path: Path, align: int) -> bool:
    """Whether a file under `path` takes an aligned direct write."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return False
    probe = path / ".direct-io-probe"
    buffer = mmap.mmap(-1, align)
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | flag, 0o644)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return False
        raise
    try:
        os.pwrite(fd, buffer, 0)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return False
        raise
    finally:
        os.close(fd)
        probe.unlink()
        buffer.close()
    return True


def aligned_copies(
    frames: list[np.ndarray], align: int
) -> tuple[mmap.mmap, list[memoryview]]:
    """Each frame's bytes in a page-aligned buffer, zero-padded to `align`:
    (the memory, the buffers), one after another in memory of huge pages
    (a direct write from them reaches the device in fewer segments)."""
    size = padded(frames[0].nbytes, align)
    memory = _huge_page_memory(size * len(frames))
    buffers = []
    for i, frame in enumerate(frames):
        buffer = memoryview(memory)[i * size : (i + 1) * size]
        buffer[: frame.nbytes] = frame.tobytes()
        buffers.append(buffer)
    return memory, buffers


def _huge_page_memory(nbytes: int) -> mmap.mmap:
    """Private anonymous memory of at least `nbytes`, advised to come in
    transparent huge pages where the system has them (this package runs
    under older ome-writers too, so it cannot borrow the writers' helper)."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size") as f:
            huge = int(f.read())
    except (OSError, ValueError):
        huge = 0
    if huge:
        nbytes = padded(nbytes, huge)
    if not hasattr(mmap, "MAP_PRIVATE"):
        return mmap.mmap(-1, nbytes)
    memory = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if huge and hasattr(mmap, "MADV_HUGEPAGE"):
        with contextlib.suppress(OSError):  # advice only
            memory.madvise(mmap.MADV_HUGEPAGE)
    return memory


def padded(nbytes: int, align: int) -> int:
    """`nbytes` rounded up to a multiple of `align`."""
    return math.ceil(nbytes / align) * align


def _pwrite_all(fd: int, buffer: memoryview, offset: int) -> None:
    done = 0
    while done < len(buffer):
        done += os.pwrite(fd, buffer[done:], offset + done)


def _in_flight(n: int, write: Callable[[int], None]) -> None:
    """`write(i)` for i in range(n), `IN_FLIGHT` threads taking turns."""
    failures: list[BaseException] = []

    def worker(first: int) -> None:
        try:
            for i in range(first, n, IN_FLIGHT):
                write(i)
        except BaseException as exc:  # raised again in the caller's thread
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(IN_FLIGHT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def _write_flags(direct: bool) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    return (flags | getattr(os, "O_DIRECT", 0)) if direct else flags


def write_preallocated(
    buffers: list[memoryview], n: int, path: Path, direct: bool
) -> float:
    """Seconds to write `n` frames into one preallocated file, durably."""
    size = len(buffers[0])
    flags = _write_flags(direct)
    os.sync()
    start = time.perf_counter()
    fd = os.open(path, flags, 0o644)
    try:
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, n * size)
        else:
            os.ftruncate(fd, n * size)
        _in_flight(n, lambda i: _pwrite_all(fd, buffers[i % len(buffers)], i * size))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.sync()
    return time.perf_counter() - start


def write_file_per_frame(
    buffers: list[memoryview], n: int, folder: Path, direct: bool
) -> float:
    """Seconds to write `n` frames as one file each, durably."""
    flags = _write_flags(direct)
    folder.mkdir()

    def write(i: int) -> None:
        fd = os.open(folder / str(i), flags, 0o644)
        try:
            _pwrite_all(fd, buffers[i % len(buffers)], 0)
            os.fsync(fd)
        finally:
            os.close(fd)

    os.sync()
    start = time.perf_counter()
    _in_flight(n, write)
    os.sync()
    return time.perf_counter() - start


def chunks_of(frame: np.ndarray, chunk: tuple[int, int]) -> list[np.ndarray]:
    """The frame cut into contiguous chunks of `chunk` (y, x), as stored."""
    (ny, nx), (cy, cx) = frame.shape, chunk
    return [
        frame[y : y + cy, x : x + cx].copy()
        for y in range(0, ny, cy)
        for x in range(0, nx, cx)
    ]


def compressor(compression: str) -> tuple[str, Callable[[np.ndarray], Any]]:
    """A description and a single-threaded encoder of `compression`.

    imagecodecs when it is installed, encoding into one reused buffer as the
    writer threads do, else numcodecs; blosc's own threads are kept to one,
    so the rate is that of one core.
    """
    if compression not in BLOSC and compression != "zstd":
        raise ValueError(f"no CPU ceiling for compression {compression!r}")
    try:
        return _imagecodecs_compressor(compression)
    except ImportError:
        pass
    import numcodecs
    from numcodecs import blosc

    if compression == "zstd":
        zstd = numcodecs.Zstd(level=ZSTD_LEVEL)
        return f"numcodecs zstd level {ZSTD_LEVEL}", zstd.encode
    cname, clevel = BLOSC[compression]
    blosc.use_threads = False  # blosc's contextual API with one thread
    blosc.set_nthreads(1)
    codec = numcodecs.Blosc(
        cname, clevel, numcodecs.Blosc.SHUFFLE, blocksize=BLOSC_BLOCK_BYTES
    )
    return f"numcodecs blosc {cname} level {clevel} shuffle, 1 thread", codec.encode


def _imagecodecs_compressor(
    compression: str,
) -> tuple[str, Callable[[np.ndarray], Any]]:
    import imagecodecs
    import numpy as np

    out = np.empty(0, np.uint8)

    def room(a: np.ndarray) -> np.ndarray:
        # the writer threads' bound (`encoded_bound`): incompressible chunks fit
        nonlocal out
        needed = a.nbytes + a.nbytes // 128 + 65536
        if out.nbytes < needed:
            out = np.empty(needed, np.uint8)
        return out

    # any buffer is taken as input and output; the stubs name fewer types
    if compression == "zstd":
        return (
            f"imagecodecs zstd level {ZSTD_LEVEL}",
            lambda a: imagecodecs.zstd_encode(
                a,  # type: ignore[arg-type]
                level=ZSTD_LEVEL,
                out=room(a),  # type: ignore[arg-type]
            ),
        )
    cname, clevel = BLOSC[compression]

    def encode(a: np.ndarray) -> Any:
        return imagecodecs.blosc_encode(
            a,  # type: ignore[arg-type]
            level=clevel,
            compressor=cname,
            shuffle=imagecodecs.BLOSC.SHUFFLE.SHUFFLE,
            typesize=a.itemsize,
            blocksize=BLOSC_BLOCK_BYTES,
            numthreads=1,
            out=room(a),  # type: ignore[arg-type]
        )

    return f"imagecodecs blosc {cname} level {clevel} shuffle, 1 thread", encode


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_ceiling(spec: dict[str, Any], frames: list[np.ndarray]) -> dict[str, Any]:
    """The codec's single-core rate over the scenario's frames, times the cores.

    Frames are compressed in the order the run appends them, chunk by chunk,
    for `CPU_SECONDS` or over every frame of the run, whichever ends first
    (but over each distinct frame at least once).
    """
    name, encode = compressor(spec["compression"])
    ny, nx = spec["frame_shape"]
    y, x = spec["dims"][-2:]
    chunk = (int(y.get("chunk_size") or ny), int(x.get("chunk_size") or nx))
    pieces = [chunks_of(frame, chunk) for frame in frames]
    done = stored = 0
    start = time.perf_counter()
    for i in range(spec["frames"]):
        for piece in pieces[i % len(pieces)]:
            stored += len(encode(piece))
        done += 1
        if done >= len(pieces) and time.perf_counter() - start >= CPU_SECONDS:
            break
    elapsed = time.perf_counter() - start
    per_core = done * frames[0].nbytes / 1e9 / elapsed
    n = cores()
    return {
        "cpu_codec": name,
        "cpu_core_gbps": per_core,
        "cpu_cores": n,
        "cpu_gbps": per_core * n,
        "compression_ratio": done * frames[0].nbytes / stored,
    }


def run_ceiling(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """The scenario's disk ceiling (and CPU ceiling when it compresses)."""
    frames = make_frames(spec["frame_shape"])
    n = spec["frames"]
    align = alignment(out)
    direct = direct_io_supported(out, align)
    memory, buffers = aligned_copies(frames, align)
    try:
        one_file = write_preallocated(buffers, n, out / "ceiling.raw", direct)
        per_frame = write_file_per_frame(buffers, n, out / "frames", direct)
    finally:
        for buffer in buffers:
            buffer.release()
        memory.close()
    gb = n * frames[0].nbytes / 1e9
    best = min(one_file, per_frame)
    row: dict[str, Any] = {
        "frames": n,
        "gb": gb,
        "fps": n / best,
        "gbps_sync": gb / best,
        "ceiling_prealloc_gbps": gb / one_file,
        "ceiling_per_file_gbps": gb / per_frame,
        "direct_io": direct,
        "aligned_to": align,
        "padded": padded(frames[0].nbytes, align) != frames[0].nbytes,
        "in_flight": IN_FLIGHT,
    }
    if spec.get("compression"):
        row.update(cpu_ceiling(spec, frames))
    row["peak_rss_mb"] = peak_rss_mb()
    return row
