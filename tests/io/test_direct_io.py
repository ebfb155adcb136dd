"""Large frames written with direct I/O: chunk, shard and OME-TIFF strip files."""

from __future__ import annotations

import errno
import math
import os
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import tifffile

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._io import _direct
from ome_writers.backends.tiff import _page_runs
from ome_writers.backends.zarr import _chunk_file_writer as _chunk_files
from ome_writers.backends.zarr._chunk_file_writer import ChunkFiles

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.skipif(
    not _direct.O_DIRECT, reason="no O_DIRECT on this platform"
)

SHAPE = (256, 512)  # 256 KiB of uint16: large enough, whole blocks
TIFF_SHAPE = (1024, 1024)  # 2 MiB: large enough for a TIFF strip
DTYPE = np.dtype("uint16")


def _frames(n: int, shape: tuple[int, int] = SHAPE) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 65535, shape, dtype=DTYPE) for _ in range(n)]


def _spy_opens(monkeypatch: pytest.MonkeyPatch, *, refuse: bool) -> list[str]:
    """Paths opened with O_DIRECT (refused with EINVAL when `refuse`)."""
    opened: list[str] = []
    real_open = os.open

    def spy(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & _direct.O_DIRECT:
            opened.append(str(path))
            if refuse:
                raise OSError(errno.EINVAL, "Invalid argument", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    return opened


def _skip_without_direct_io(path: Path) -> None:
    probe = path / "probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | _direct.O_DIRECT, 0o644)
    except OSError as e:
        if e.errno == errno.EINVAL:
            pytest.skip("the filesystem of tmp_path refuses O_DIRECT")
        raise
    os.close(fd)
    probe.unlink()


def test_only_large_frames_of_whole_blocks_suit_direct_io() -> None:
    assert _direct.direct_io_suits(256 * 1024)
    assert _direct.direct_io_suits(2048 * 2048 * 2)
    assert not _direct.direct_io_suits(128 * 128 * 2)  # small: buffered
    assert not _direct.direct_io_suits(1000 * 1000 * 2)  # not whole blocks
    tiff = _direct.TIFF_DIRECT_MIN_BYTES
    assert not _direct.direct_io_suits(512 * 512 * 2, tiff)  # a strip: buffered
    assert _direct.direct_io_suits(1024 * 1024 * 2, tiff)


def test_large_chunk_files_bypass_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _skip_without_direct_io(tmp_path)
    opened = _spy_opens(monkeypatch, refuse=False)
    written_back: list[int] = []
    files = ChunkFiles(
        SHAPE, DTYPE, lambda unit: str(tmp_path / "c" / str(unit) / "0" / "0"), tmp_path
    )
    monkeypatch.setattr(files.flusher, "add", lambda n, p=None: written_back.append(n))
    files.start()
    frames = _frames(6)
    buffer = np.empty(SHAPE, DTYPE)
    for unit, frame in enumerate(frames):
        buffer[...] = frame
        files.write(unit, buffer)  # reused at once: copied into the pool
    files.close()
    # (a first attempt fails where the directories do not exist yet)
    assert len(set(opened)) == 6 and all(p.endswith(".partial") for p in opened)
    # nothing is left in the page cache, yet each file goes to the flusher,
    # which commits its metadata and what the device caches as frames arrive
    assert written_back == [SHAPE[0] * SHAPE[1] * DTYPE.itemsize] * 6
    assert files.flusher._commit
    for unit, frame in enumerate(frames):
        data = (tmp_path / "c" / str(unit) / "0" / "0").read_bytes()
        assert data == frame.tobytes()
    assert not list(tmp_path.rglob("*.partial"))


def test_chunk_files_fall_back_to_buffered_writes_when_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _spy_opens(monkeypatch, refuse=True)
    files = ChunkFiles(
        SHAPE, DTYPE, lambda unit: str(tmp_path / "c" / str(unit) / "0" / "0"), tmp_path
    )
    files.start()
    frames = _frames(5)
    for unit, frame in enumerate(frames):
        files.write(unit, frame)
    files.close()
    assert files.error is None and not files.direct
    assert 1 <= len(opened) <= _chunk_files.DIRECT_WRITER_THREADS  # then no more
    for unit, frame in enumerate(frames):
        data = (tmp_path / "c" / str(unit) / "0" / "0").read_bytes()
        assert data == frame.tobytes()
    assert not list(tmp_path.rglob("*.partial"))


@pytest.mark.parametrize("refuse", [False, True])
def test_encoded_chunk_files_go_directly_with_a_buffered_tail(
    refuse: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compressed frames of whole blocks and more are written directly, the
    last partial block through the page cache; refused, all buffered."""
    numcodecs = pytest.importorskip("numcodecs")
    from ome_writers.backends.zarr._frame_encoder import frame_encoder

    if not refuse:
        _skip_without_direct_io(tmp_path)
    opened = _spy_opens(monkeypatch, refuse=refuse)
    shape = (1024, 512)  # 1 MiB of noise: still ≥ 256 KiB compressed
    frames = _frames(5, shape)
    files = ChunkFiles(
        shape,
        DTYPE,
        lambda unit: str(tmp_path / "c" / str(unit) / "0" / "0"),
        tmp_path,
        encode=frame_encoder("blosc-zstd"),
    )
    files.start()
    for unit, frame in enumerate(frames):
        files.write(unit, frame)
    files.close()
    assert files.error is None and files.direct_encoded is not refuse
    if refuse:  # each thread may try once, then no more
        assert 1 <= len(opened) <= _chunk_files.ENCODER_THREADS
    else:
        assert len(set(opened)) == 5
    for unit, frame in enumerate(frames):
        data = (tmp_path / "c" / str(unit) / "0" / "0").read_bytes()
        assert len(data) % _direct.DIRECT_ALIGN  # a tail beyond the blocks
        decoded = np.frombuffer(numcodecs.blosc.decompress(data), DTYPE)
        np.testing.assert_array_equal(decoded.reshape(shape), frame)
    assert not list(tmp_path.rglob("*.partial"))


def _tiff(path: Path, frames: list[np.ndarray]) -> None:
    settings = AcquisitionSettings(
        root_path=str(path),
        format="tifffile",
        dimensions=[
            Dimension(name="t", count=len(frames)),
            Dimension(name="y", count=frames[0].shape[0]),
            Dimension(name="x", count=frames[0].shape[1]),
        ],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        buffer = np.empty_like(frames[0])
        for frame in frames:
            buffer[...] = frame
            stream.append(buffer)


def test_large_tiff_strips_are_written_directly_on_block_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _skip_without_direct_io(tmp_path)
    opened = _spy_opens(monkeypatch, refuse=False)
    path = tmp_path / "d.ome.tiff"
    frames = _frames(6, TIFF_SHAPE)
    _tiff(path, frames)
    assert opened == [str(path)]
    with tifffile.TiffFile(path) as tif:
        offsets = [page.dataoffsets[0] for page in tif.pages]
        np.testing.assert_array_equal(tif.asarray(), np.stack(frames))
    # the first pages are tifffile's own, the later ones copies of its IFD
    assert all(offset % _direct.DIRECT_ALIGN == 0 for offset in offsets[2:])


def test_large_tiff_pages_go_from_the_frames_buffer_with_their_ifd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a single file, each later page of a large frame is one direct
    write of its IFD's blocks and then the frame's own buffer (not a copy),
    and no page is in the file's chain before that write."""
    _skip_without_direct_io(tmp_path)
    real_pwritev = os.pwritev
    writes: list[tuple[int, list[int]]] = []
    linked_early: list[int] = []

    def pwritev(fd: int, buffers: Any, offset: int) -> int:
        if _is_direct(fd):
            sizes = [memoryview(b).nbytes for b in buffers]
            if _in_chain(fd, offset + sizes[0]):
                linked_early.append(offset)
            writes.append((offset, sizes))
        return real_pwritev(fd, buffers, offset)

    monkeypatch.setattr(os, "pwritev", pwritev)
    path = tmp_path / "own.ome.tiff"
    frames = _frames(8, TIFF_SHAPE)
    _tiff(path, frames)
    with tifffile.TiffFile(path) as tif:
        offsets = [page.dataoffsets[0] for page in tif.pages]
        np.testing.assert_array_equal(tif.asarray(), np.stack(frames))
    # the first two pages are tifffile's; each later one came in one write
    assert [o + sizes[0] for o, sizes in writes] == offsets[2:]
    frame_bytes = frames[0].nbytes
    for offset, sizes in writes:
        assert sizes[1:] == [frame_bytes]
        assert offset % _direct.DIRECT_ALIGN == 0
        assert sizes[0] % _direct.DIRECT_ALIGN == 0 and sizes[0] <= 16 * 1024
    assert not linked_early


@pytest.mark.parametrize("errno_", [errno.ENOSPC, errno.EINVAL])
def test_large_tiff_page_that_fails_or_is_refused(
    errno_: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single file's page whose direct write fails is raised by the
    stream, the pages before it kept; a refused one goes buffered, with
    every later page, and nothing is lost."""
    _skip_without_direct_io(tmp_path)
    calls = _fail_direct_calls(
        monkeypatch,
        "pwritev",
        errno_,
        lambda n: n == 3 or (errno_ == errno.ENOSPC and n > 3),
    )
    path = tmp_path / "f.ome.tiff"
    frames = _frames(8, TIFF_SHAPE)
    if errno_ == errno.EINVAL:
        _tiff(path, frames)
        assert calls[0] == 3  # refused once: not tried again
        with tifffile.TiffFile(path) as tif:
            np.testing.assert_array_equal(tif.asarray(), np.stack(frames))
        return
    pages = _pages_kept_when_full(path, frames)
    assert pages == 2 + 2  # tifffile's two, and the two written before


def test_tiff_strips_are_written_buffered_when_direct_io_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _spy_opens(monkeypatch, refuse=True)
    path = tmp_path / "b.ome.tiff"
    frames = _frames(5, TIFF_SHAPE)
    _tiff(path, frames)
    assert len(opened) == 1  # refused once: not asked again
    with tifffile.TiffFile(path) as tif:
        np.testing.assert_array_equal(tif.asarray(), np.stack(frames))


def test_small_tiff_frames_keep_tifffile_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _spy_opens(monkeypatch, refuse=False)
    path = tmp_path / "s.ome.tiff"
    frames = _frames(4, (64, 64))
    _tiff(path, frames)
    assert not opened
    with tifffile.TiffFile(path) as tif:
        assert all(page.dataoffsets[0] % 16 == 0 for page in tif.pages)
        np.testing.assert_array_equal(tif.asarray(), np.stack(frames))


RUN_SHAPE = (512, 512)  # 512 KiB: below a strip of its own, in runs of pages


def _spy_direct_writes(
    monkeypatch: pytest.MonkeyPatch,
    fail: Callable[[int, int, int], int | None] = lambda n, offset, nbytes: None,
) -> list[tuple[int, int, int]]:
    """(offset, bytes, pages linked meanwhile) of each direct write; the
    `n`-th (from 1), of `nbytes` at `offset`, fails with errno
    `fail(n, offset, nbytes)` when that is not None."""
    real_pwrite = os.pwrite
    writes: list[tuple[int, int, int]] = []
    lock = threading.Lock()  # runs are written from several threads

    def pwrite(fd: int, data: Any, offset: int) -> int:
        if not _is_direct(fd):
            return real_pwrite(fd, data, offset)
        nbytes = memoryview(data).nbytes
        path = os.readlink(f"/proc/self/fd/{fd}")
        with lock:
            with tifffile.TiffFile(path) as tif:  # the chain as a reader sees it
                linked = sum(
                    offset <= page.dataoffsets[0] < offset + nbytes
                    for page in tif.pages
                )
            writes.append((offset, nbytes, linked))
            error = fail(len(writes), offset, nbytes)
        if error is not None:
            raise OSError(error, os.strerror(error))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    return writes


def test_medium_tiff_frames_are_written_in_runs_of_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of a single file go to the disk several per direct write, on
    block boundaries, and are linked only once their run is written."""
    _skip_without_direct_io(tmp_path)
    writes = _spy_direct_writes(monkeypatch)
    path = tmp_path / "r.ome.tiff"
    frames = _frames(20, RUN_SHAPE)
    _tiff(path, frames)
    with tifffile.TiffFile(path) as tif:
        np.testing.assert_array_equal(tif.asarray(), np.stack(frames))
        strips = [page.dataoffsets[0] for page in tif.pages]
    assert all(linked == 0 for _, _, linked in writes)
    assert all(
        o % _direct.DIRECT_ALIGN == n % _direct.DIRECT_ALIGN == 0 for o, n, _ in writes
    )
    # tifffile writes the first two pages (the second is the later pages'
    # stamp); every later one is in a run of several pages, written directly
    runs = [(o, n) for o, n, _ in writes if n >= 3 * frames[0].nbytes]
    assert len(runs) >= 2
    assert all(any(o <= s < o + n for o, n in runs) for s in strips[2:])


@pytest.mark.parametrize("errno_", [errno.ENOSPC, errno.EINVAL])
def test_tiff_run_that_fails_or_is_refused(
    errno_: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed run is raised by the stream, the pages of the runs before it
    kept; a refused one is written buffered, and so is what follows."""
    _skip_without_direct_io(tmp_path)
    frames = _frames(40, RUN_SHAPE)  # 6 runs
    # two runs are in flight at once, so the second may reach the disk
    # first: the runs to fail are named by their place in the file (every
    # one after the first, whose offset a run without failures gives)
    with monkeypatch.context() as clean:
        laid_out = _spy_direct_writes(clean)
        (tmp_path / "clean").mkdir()
        _tiff(tmp_path / "clean" / "f.ome.tiff", frames)
    run_bytes = 3 * frames[0].nbytes
    first_run = min(o for o, n, _ in laid_out if n >= run_bytes)
    if errno_ == errno.EINVAL:
        writes = _spy_direct_writes(
            monkeypatch, lambda n, *_: errno_ if n == 2 else None
        )
    else:
        writes = _spy_direct_writes(
            monkeypatch,
            lambda _, at, n: errno_ if n >= run_bytes and at > first_run else None,
        )
    path = tmp_path / "f.ome.tiff"
    if errno_ == errno.EINVAL:
        _tiff(path, frames)
        # refused once: the runs laid out meanwhile try, the later ones not
        assert len(writes) <= 4
        with tifffile.TiffFile(path) as tif:
            np.testing.assert_array_equal(tif.asarray(), np.stack(frames))
        return
    pages = _pages_kept_when_full(path, frames)
    run_pages = min(writes)[1] // frames[0].nbytes  # the first's, less a little
    assert 2 + run_pages - 1 <= pages < len(frames)


@pytest.mark.parametrize("slow", [False, True])
def test_tiff_runs_go_buffered_after_slow_direct_writes(
    slow: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first runs' direct writes are timed: when their median rate is
    below `SLOW_DIRECT_GBPS`, the file's later pages are written buffered
    (a device the page cache's write-back serves better), else every run
    stays direct. The file reads back the same either way."""
    _skip_without_direct_io(tmp_path)
    monkeypatch.setattr(_page_runs, "TIMED_RUNS", 2)
    # no device is faster than infinity, every one faster than nothing
    monkeypatch.setattr(_page_runs, "SLOW_DIRECT_GBPS", math.inf if slow else 0.0)
    writes = _spy_direct_writes(monkeypatch)
    path = tmp_path / "s.ome.tiff"
    frames = _frames(64, RUN_SHAPE)  # about 8 runs
    _tiff(path, frames)
    with tifffile.TiffFile(path) as tif:
        np.testing.assert_array_equal(tif.asarray(), np.stack(frames))
        strips = [page.dataoffsets[0] for page in tif.pages]
    runs = [(o, n) for o, n, _ in writes if n >= 3 * frames[0].nbytes]
    in_runs = [s for s in strips[2:] if any(o <= s < o + n for o, n in runs)]
    if not slow:
        assert len(runs) >= 7
        assert len(in_runs) == len(strips) - 2
        return
    # the two timed, and those laid out before the second was finished (a
    # run is finished when its block is needed again)
    assert 2 <= len(runs) <= 2 + _page_runs.RUN_BLOCKS
    assert len(in_runs) < len(strips) - 2 - 16  # the later pages: buffered
    assert strips[-1] > max(o + n for o, n in runs)


def _positions_tiff(
    folder: Path, frames: list[np.ndarray], positions: int
) -> list[Path]:
    """`frames` (t-major) as one file per position; the files."""
    settings = AcquisitionSettings(
        root_path=str(folder / "p.ome.tiff"),
        format="tifffile",
        dimensions=[
            Dimension(name="t", count=len(frames) // positions),
            Dimension(name="p", count=positions, type="position"),
            Dimension(name="y", count=frames[0].shape[0]),
            Dimension(name="x", count=frames[0].shape[1]),
        ],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        for frame in frames:
            stream.append(frame)
    return sorted((folder / "p.ome.tiff").glob("*.ome.tiff"))


def _pages_kept_when_full(path: Path, frames: list[np.ndarray]) -> int:
    """Write `frames` into `path`, which fails with a full disk; the pages
    read back, each the frame appended for it."""
    with pytest.raises(OSError, match="No space"):
        _tiff(path, frames)
    with tifffile.TiffFile(path) as tif:
        pages = [page.asarray() for page in tif.pages]
    for t, page in enumerate(pages):
        np.testing.assert_array_equal(page, frames[t])
    return len(pages)


def _fail_direct_calls(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    errno_: int,
    fails: Callable[[int], bool],
) -> list[int]:
    """`os.<name>` (``pwrite`` or ``pwritev``) raising errno `errno_` at the
    `n`-th call (from 1) on a file opened for direct I/O where `fails(n)`;
    the count of those calls, in a one-item list."""
    real = getattr(os, name)
    calls = [0]

    def spy(fd: int, data: Any, offset: int) -> int:
        if _is_direct(fd):
            calls[0] += 1
            if fails(calls[0]):
                raise OSError(errno_, os.strerror(errno_))
        return int(real(fd, data, offset))

    monkeypatch.setattr(os, name, spy)
    return calls


def _in_chain(fd: int, strip_offset: int) -> bool:
    """Whether the file of `fd` has, as a reader sees it, a page whose strip
    is at `strip_offset`."""
    with tifffile.TiffFile(os.readlink(f"/proc/self/fd/{fd}")) as tif:
        return any(page.dataoffsets[0] == strip_offset for page in tif.pages)


def _is_direct(fd: int) -> bool:
    import fcntl

    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & _direct.O_DIRECT)


def test_tiff_strips_of_several_files_are_in_flight_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Strips of different files are written at once, and no page is in its
    file's chain before its strip is written."""
    _skip_without_direct_io(tmp_path)
    real_pwrite = os.pwrite
    lock = threading.Lock()
    active = [0]
    most = [0]
    second = threading.Event()
    linked_early: list[str] = []

    def pwrite(fd: int, data: Any, offset: int) -> int:
        if not _is_direct(fd):
            return real_pwrite(fd, data, offset)
        path = os.readlink(f"/proc/self/fd/{fd}")
        if _in_chain(fd, offset):
            linked_early.append(path)
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
            if active[0] >= 2:
                second.set()
        second.wait(1)  # let a second strip start meanwhile
        try:
            return real_pwrite(fd, data, offset)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(os, "pwrite", pwrite)
    positions = 4
    frames = _frames(3 * positions, TIFF_SHAPE)
    files = _positions_tiff(tmp_path, frames, positions)
    assert most[0] >= 2
    assert not linked_early
    for p, path in enumerate(files):
        with tifffile.TiffFile(path) as tif:
            pages = np.stack([page.asarray() for page in tif.pages])
        np.testing.assert_array_equal(pages, np.stack(frames[p::positions]))


@pytest.mark.parametrize("errno_", [errno.ENOSPC, errno.EINVAL])
def test_tiff_strip_written_in_the_background_fails_or_is_refused(
    errno_: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed direct write is raised by the stream (its buffer handed
    back, the pages before it kept); a refused one is written buffered."""
    _skip_without_direct_io(tmp_path)
    _fail_direct_calls(monkeypatch, "pwrite", errno_, lambda n: n >= 3)
    positions = 2
    frames = _frames(4 * positions, TIFF_SHAPE)
    if errno_ == errno.EINVAL:  # refused: buffered, nothing lost
        files = _positions_tiff(tmp_path, frames, positions)
        for p, path in enumerate(files):
            with tifffile.TiffFile(path) as tif:
                np.testing.assert_array_equal(
                    tif.asarray(), np.stack(frames[p::positions])
                )
        return
    with pytest.raises(OSError, match="No space"):
        _positions_tiff(tmp_path, frames, positions)
    for p, path in enumerate(sorted((tmp_path / "p.ome.tiff").glob("*.ome.tiff"))):
        with tifffile.TiffFile(path) as tif:
            pages = [page.asarray() for page in tif.pages]
        assert pages  # the pages written before the failure
        for t, page in enumerate(pages):
            np.testing.assert_array_equal(page, frames[t * positions + p])


SHARD_FRAME = (512, 512)  # 512 KiB of uint16: grouped by default, 8 a shard


def _shards(root: Path, **kwargs: Any) -> Any:
    """A tensorstore stream of unbounded time (default layout: shards)."""
    settings = AcquisitionSettings(
        **kwargs,
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=None, type="time"),
            Dimension(name="y", count=SHARD_FRAME[0]),
            Dimension(name="x", count=SHARD_FRAME[1]),
        ],
        dtype="uint16",
        format="tensorstore",
    )
    return create_stream(settings, checkpoint_seconds=None)


@pytest.mark.parametrize("refuse", [False, True])
def test_shard_files_are_written_directly_or_buffered_when_refused(
    refuse: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tensorstore")
    from ome_writers.backends.zarr._shard_file_writer import ShardFileWriter
    from tests.backends.readers import array_layout, read_zarr

    if not refuse:
        _skip_without_direct_io(tmp_path)
    root = tmp_path / "s.ome.zarr"
    frames = _frames(8 * 3 + 3, SHARD_FRAME)  # three whole shards and part of one
    stream = _shards(root)
    opened = _spy_opens(monkeypatch, refuse=refuse)
    with stream:
        writer = stream._backend.arrays.writer  # type: ignore[attr-defined]
        assert isinstance(writer, ShardFileWriter)
        buffer = np.empty(SHARD_FRAME, DTYPE)
        for frame in frames:
            buffer[...] = frame
            stream.append(buffer)  # reused at once: copied into the shard
    shard_files = sorted(p for p in (root / "0" / "c").rglob("*") if p.is_file())
    assert len(shard_files) == 4
    if refuse:  # refused once per writer thread at most, then buffered
        assert 1 <= len(opened) <= _chunk_files.DIRECT_WRITER_THREADS
    else:
        # every shard, the partly filled one too (a first attempt fails
        # where the directories do not exist yet)
        assert {os.path.basename(p) for p in opened} == {"0.partial"}
        assert len(set(opened)) == 4
    assert array_layout(root / "0").shards == [8, *SHARD_FRAME]
    stored = read_zarr(root / "0").data  # zarr-python checks each index's CRC
    np.testing.assert_array_equal(stored, np.stack(frames))
    assert not list(root.rglob("*.partial"))


def test_a_whole_shard_lands_after_its_partly_filled_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The partly filled copy of a shard (written at a loss-window visit)
    and then the whole shard go to the writer threads; the copy, written
    slowly, never lands over the whole one."""
    pytest.importorskip("tensorstore")
    from ome_writers.backends.zarr import _shard_file_writer as _shard_files

    real_write_shard = _shard_files.write_shard
    first = threading.Event()

    def write_shard(path: str, block: np.ndarray, *args: Any) -> bool:
        if not first.is_set():  # the partly filled copy
            first.set()
            threading.Event().wait(0.5)
        return real_write_shard(path, block, *args)

    monkeypatch.setattr(_shard_files, "write_shard", write_shard)
    root = tmp_path / "s.ome.zarr"
    frames = np.stack(_frames(8, SHARD_FRAME))
    # no loss window: the stream writes no copy of its own shard meanwhile
    with _shards(root, loss_window=None) as stream:
        stream.append(frames[0])  # makes the array
        writer = stream._backend.arrays.writer  # type: ignore[attr-defined]
        assert len(writer._threads) > 1
        writer.write_block(0, (0,), frames[:3].copy())
        assert first.wait(5)
        writer.write_block(0, (0,), frames.copy())  # while the copy is written
        writer.drain()
        shard = (root / "0" / "c" / "0" / "0" / "0").read_bytes()
    assert shard == frames.tobytes() + _shard_files.shard_index(frames, (8,))


def test_a_visit_waits_for_shard_writes_without_holding_up_appends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loss-window visit writes the partly filled shard and waits for the
    writes in flight outside the stream's lock: appends go on meanwhile
    (the writer lands each shard's writes in order)."""
    pytest.importorskip("tensorstore")
    from ome_writers.backends.zarr import _shard_file_writer as _shard_files
    from tests.backends.readers import read_zarr

    real_write_shard = _shard_files.write_shard
    go = threading.Event()
    started = threading.Event()

    def write_shard(path: str, block: np.ndarray, *args: Any) -> bool:
        started.set()
        assert go.wait(10)
        return real_write_shard(path, block, *args)

    monkeypatch.setattr(_shard_files, "write_shard", write_shard)
    root = tmp_path / "v.ome.zarr"
    frames = _frames(6, SHARD_FRAME)
    with _shards(root, loss_window=None) as stream:
        for frame in frames[:3]:
            stream.append(frame)
        visited: list[bool] = []
        visit = threading.Thread(target=lambda: visited.append(stream._make_readable()))
        visit.start()
        assert started.wait(5)  # the partly filled shard is being written
        appending = threading.Thread(
            target=lambda: [stream.append(f) for f in frames[3:5]]
        )
        appending.start()
        appending.join(5)
        done = not appending.is_alive()
        go.set()  # the shard writes land
        appending.join(10)
        visit.join(10)
        assert done  # the appends did not wait for the visit
        assert visited == [True]
        stream.append(frames[5])
    stored = read_zarr(root / "0").data
    np.testing.assert_array_equal(stored, np.stack(frames))
