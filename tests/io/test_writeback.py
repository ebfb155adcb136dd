"""Background write-back: started past a byte threshold, never on the caller."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._io import _writeback as _flush
from ome_writers.backends.tiff import _writer as _tifffile
from ome_writers.backends.zarr import _chunk_file_writer as _chunk_files
from ome_writers.backends.zarr._shard_file_writer import (
    MAX_PENDING_BYTES as SHARD_BYTES_IN_FLIGHT,
)
from ome_writers.backends.zarr._shard_file_writer import ShardFileWriter
from tests.backends.readers import read_zarr


def test_flusher_syncs_in_background_after_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = threading.Event()
    callers: list[str] = []

    def fake_sync(path: Path) -> None:
        callers.append(threading.current_thread().name)
        synced.set()

    monkeypatch.setattr(_flush, "sync_filesystem", fake_sync)
    flusher = _flush.Flusher(tmp_path, every_bytes=100)
    flusher.add(60)
    assert flusher._thread is None  # below the threshold: no thread at all
    flusher.add(60)
    assert synced.wait(10)
    flusher.close()
    assert callers == ["ome-writers-flush"]
    assert flusher._thread is not None and not flusher._thread.is_alive()


def test_flusher_keeps_sync_errors_for_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    called = threading.Event()

    def failing(path: Path) -> None:
        called.set()
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(_flush, "sync_filesystem", failing)
    flusher = _flush.Flusher(tmp_path, every_bytes=1)
    flusher.add(1)
    assert called.wait(10)
    flusher.close()  # joins the thread, which recorded the error
    assert flusher.error is not None and flusher.error.errno == 5


def test_flusher_writes_back_located_files_one_batch_late(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []
    done = threading.Event()

    def fake_writeback(path: str) -> None:
        started.append(path)
        done.set()

    monkeypatch.setattr(_flush, "start_writeback", fake_writeback)
    monkeypatch.setattr(_flush, "sync_filesystem", lambda p: pytest.fail("syncfs"))
    flusher = _flush.Flusher(
        tmp_path, every_bytes=100, locate=lambda u: [f"{u}a", f"{u}b"]
    )
    flusher.add(60, 1)
    flusher.add(60, 1)  # first batch: {1}, kept back while its writes may land
    while flusher._units:  # the thread has taken the batch
        time.sleep(0.001)
    flusher.add(60, 2)
    assert not done.wait(0.2)
    flusher.add(60, 3)  # second batch: {2, 3}; now batch one is written back
    assert done.wait(10)
    flusher.close()
    assert started == ["1a", "1b"]  # each file once, in order


def test_flusher_wakes_after_many_small_units(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    woke = threading.Event()
    monkeypatch.setattr(_flush, "start_writeback", lambda path: None)
    flusher = _flush.Flusher(tmp_path, every_bytes=2**40, locate=lambda u: [])
    monkeypatch.setattr(flusher, "_write_back", lambda units: woke.set())
    for i in range(_flush.FLUSH_EVERY_UNITS):
        flusher.add(1, i)
    assert woke.wait(10)  # bytes far below the threshold, units are not
    flusher.close()
    assert len(flusher._units) == 0


@pytest.mark.parametrize(
    ("backend", "chunks"),
    [
        ("tensorstore", None),
        ("tensorstore", 64),
        ("zarr-python", None),
        ("zarrs-python", None),
        ("acquire-zarr", None),
        ("tifffile", None),
    ],
)
def test_streams_commit_their_files_while_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, chunks: int | None
) -> None:
    """Files are made durable batch by batch while frames arrive, so that a
    checkpoint's sync has little left (acquire-zarr, whose own threads write
    its files, has their write-back started)."""
    pytest.importorskip(backend.replace("-python", "").replace("-", "_"))
    handed: dict[str, list[Path]] = {"commit": [], "start": []}
    monkeypatch.setattr(
        _flush, "commit_file", lambda p: handed["commit"].append(Path(p))
    )
    monkeypatch.setattr(
        _flush, "start_writeback", lambda p: handed["start"].append(Path(p))
    )
    monkeypatch.setattr(_flush, "FLUSH_EVERY_BYTES", 64 * 1024)
    monkeypatch.setattr(_flush, "MIN_FLUSH_BYTES", 64 * 1024)
    monkeypatch.setattr(_tifffile, "WRITEBACK_EVERY_BYTES", 64 * 1024)
    monkeypatch.setattr(_chunk_files, "WRITEBACK_EVERY_BYTES", 64 * 1024)
    suffix = ".ome.tiff" if backend == "tifffile" else ".ome.zarr"
    out = tmp_path / f"f{suffix}"
    settings = AcquisitionSettings(
        root_path=str(out),
        format=backend,
        # one chunk file per frame (or four): committed as frames arrive
        dimensions=[
            Dimension(name="t", count=16, chunk_size=1),
            Dimension(name="y", count=128, chunk_size=chunks),
            Dimension(name="x", count=128, chunk_size=chunks),
        ],
        dtype="uint16",
    )
    with create_stream(settings, checkpoint_seconds=None) as stream:
        for n in range(16):  # 32 KiB frames: a batch every second frame
            stream.append(np.full((128, 128), n + 1, "uint16"))  # not fill value
            time.sleep(0.02)  # give the write-back thread its turn
    if backend == "acquire-zarr":
        assert not handed["commit"], handed
    else:
        assert handed["commit"], handed
    paths = handed["start"] + handed["commit"]
    assert paths, "no background write-back during 512 KiB of frames"
    # every path handed over is a data file the writer made
    assert all(p.is_file() for p in paths), paths
    assert all(out in p.parents or p == out for p in paths)
    if chunks:  # a frame in 2 x 2 chunk files: all four are committed
        assert {p.parent.name for p in paths} == {"0", "1"}


@pytest.mark.parametrize("layout", ["frame chunk files", "shards"])
def test_directly_written_files_are_committed_as_they_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    """A direct write returns once the device has the bytes, which may still
    be in its volatile cache (or a virtual disk's host's). Committed batch by
    batch, that cache never holds more than a batch, and the sync of a
    checkpoint does not keep every write waiting while it empties seconds of
    frames from it."""
    pytest.importorskip("tensorstore")
    committed: list[Path] = []
    monkeypatch.setattr(_flush, "commit_file", lambda p: committed.append(Path(p)))
    monkeypatch.setattr(_flush, "FLUSH_EVERY_BYTES", 1024 * 1024)
    monkeypatch.setattr(_flush, "MIN_FLUSH_BYTES", 1024 * 1024)
    monkeypatch.setattr(_chunk_files, "WRITEBACK_EVERY_BYTES", 1024 * 1024)
    out = tmp_path / "f.ome.zarr"
    # 512 KiB frames: whole blocks, written directly where the filesystem
    # lets them; in shards of 8 frames by default, else one file each
    t = Dimension(name="t", count=None, type="time")
    if layout == "frame chunk files":
        t = Dimension(name="t", count=None, type="time", chunk_size=1)
    settings = AcquisitionSettings(
        root_path=str(out),
        format="tensorstore",
        dimensions=[t, Dimension(name="y", count=512), Dimension(name="x", count=512)],
        dtype="uint16",
    )
    frames = [np.full((512, 512), n + 1, "uint16") for n in range(32)]
    with create_stream(settings, checkpoint_seconds=None) as stream:
        writer = stream._backend.arrays.writer
        expected = (
            ShardFileWriter if layout == "shards" else _chunk_files.ChunkFileWriter
        )
        assert isinstance(writer, expected)
        for frame in frames:
            stream.append(frame)
            time.sleep(0.01)  # give the write-back thread its turn
        before_close = list(committed)
    assert before_close, "nothing committed while 16 MiB of frames arrived"
    assert all(out / "0" in p.parents and p.is_file() for p in before_close)
    if layout == "shards":  # whole shards: 8 frames each
        assert all(p.stat().st_size > 8 * frames[0].nbytes for p in before_close)
    np.testing.assert_array_equal(read_zarr(out / "0").data, np.stack(frames))


def test_flusher_without_lag_writes_back_the_current_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []
    done = threading.Event()
    monkeypatch.setattr(
        _flush, "start_writeback", lambda p: (started.append(p), done.set())
    )
    flusher = _flush.Flusher(tmp_path, every_bytes=10, locate=lambda u: [u], lag=False)
    flusher.add(10, "file")
    assert done.wait(10)
    flusher.close()
    assert started == ["file"]


def test_a_committing_flusher_commits_each_batch_by_its_newest_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One fdatasync a batch (of its newest file that exists: it commits the
    journal and empties the device's cache for the whole batch), after the
    write-back of the others was started."""
    import os

    synced: list[str] = []
    done = threading.Event()
    fdatasync = getattr(os, "fdatasync", os.fsync)

    def recorded(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        fdatasync(fd)
        done.set()

    if not Path("/proc/self/fd").exists():
        pytest.skip("names open files through /proc")
    monkeypatch.setattr(
        os, "fdatasync" if hasattr(os, "fdatasync") else "fsync", recorded
    )
    started: list[str] = []
    monkeypatch.setattr(_flush, "start_writeback", started.append)
    files = [tmp_path / name for name in "abc"]
    for path in files:
        path.write_bytes(b"x" * 10)
    flusher = _flush.Flusher(
        tmp_path, every_bytes=40, locate=lambda u: [u], lag=False, commit=True
    )
    for path in files:
        flusher.add(10, str(path))
    flusher.add(10, str(tmp_path / "missing"))  # not there (yet): skipped
    assert done.wait(10)
    flusher.close()
    assert synced == [str(files[-1])]
    assert started == [str(p) for p in files]


@pytest.mark.parametrize("compression", ["zstd", None])
def test_frame_chunks_are_made_durable_as_they_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: str | None
) -> None:
    """Compressed or not, each batch of chunk files is committed on the
    write-back thread, not all at a checkpoint or close."""
    pytest.importorskip("numcodecs")
    calls: dict[str, list[Path]] = {"commit": [], "start": []}
    monkeypatch.setattr(
        _flush, "commit_file", lambda p: calls["commit"].append(Path(p))
    )
    monkeypatch.setattr(
        _flush, "start_writeback", lambda p: calls["start"].append(Path(p))
    )
    monkeypatch.setattr(_chunk_files, "WRITEBACK_EVERY_BYTES", 1)
    out = tmp_path / "f.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(out),
        format="tensorstore",
        dimensions=[
            Dimension(name="t", count=8, chunk_size=1),
            Dimension(name="y", count=64),
            Dimension(name="x", count=64),
        ],
        dtype="uint16",
        compression=compression,
    )
    rng = np.random.default_rng(0)
    with create_stream(settings, checkpoint_seconds=None) as stream:
        assert isinstance(stream._backend.arrays.writer, _chunk_files.ChunkFileWriter)
        for _ in range(8):
            stream.append(rng.integers(1, 9, (64, 64), dtype="uint16"))
            time.sleep(0.02)  # give the write-back thread its turn
    assert calls["commit"], calls
    assert all(out in p.parents and p.is_file() for p in calls["commit"])


def test_batches_are_as_large_as_the_writes_in_flight_within_bounds() -> None:
    low, high = _flush.MIN_FLUSH_BYTES, _flush.FLUSH_EVERY_BYTES
    assert _flush.flush_every(1) == low
    assert _flush.flush_every(low + 1) == low + 1
    assert _flush.flush_every(10 * high) == high


@pytest.mark.parametrize(
    ("backend", "size", "z_chunk"),
    [
        ("zarr-python", 64, None),
        ("zarr-python", 2048, None),
        ("zarrs-python", 1024, None),
        ("zarr-python", 1024, 16),  # assembled blocks of 16 frames
        ("tensorstore", 64, None),
        ("tensorstore", 2048, None),
    ],
)
def test_zarr_write_back_batches_follow_the_library_in_flight(
    tmp_path: Path, backend: str, size: int, z_chunk: int | None
) -> None:
    """Little in flight: write-back starts often, and less is left for close."""
    pytest.importorskip(backend.replace("-python", "").replace("-", "_"))
    if backend == "tensorstore":  # at most `MAX_PENDING_BYTES`, whatever the frames
        from ome_writers.backends.zarr._tensorstore import MAX_PENDING_BYTES

        in_flight = MAX_PENDING_BYTES
    else:  # `MAX_IN_FLIGHT` writes, each a frame or an assembled block
        from ome_writers.backends.zarr._zarr_python import MAX_IN_FLIGHT

        in_flight = MAX_IN_FLIGHT * size * size * 2 * (z_chunk or 1)
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "f.ome.zarr"),
        format=backend,
        dimensions=[
            Dimension(name="z", count=16, chunk_size=z_chunk, type="space"),
            Dimension(name="y", count=size),
            Dimension(name="x", count=size),
        ],
        dtype="uint16",
    )
    with create_stream(settings, checkpoint_seconds=None) as stream:
        every = stream._backend.arrays.flusher.every_bytes
        writer = stream._backend.arrays.writer
    if isinstance(writer, ShardFileWriter):  # small frames: shards of ours
        in_flight = SHARD_BYTES_IN_FLIGHT
    assert every == _flush.flush_every(in_flight)
    if in_flight < _flush.MIN_FLUSH_BYTES:
        assert every == _flush.MIN_FLUSH_BYTES < _flush.FLUSH_EVERY_BYTES


def test_tensorstore_pyramid_levels_write_back_their_smaller_batches(
    tmp_path: Path,
) -> None:
    """Level k keeps 4**-k of level 0's bytes in flight (`share_with`), so its
    write-back batch follows that bound, not the one it was created with."""
    pytest.importorskip("tensorstore")
    from ome_writers.backends.zarr._tensorstore import MAX_PENDING_BYTES

    settings = AcquisitionSettings(
        root_path=str(tmp_path / "p.ome.zarr"),
        format="tensorstore",
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="y", count=64),
            Dimension(name="x", count=64),
        ],
        dtype="uint16",
        pyramid=3,
    )
    with create_stream(settings, checkpoint_seconds=None) as stream:
        backend = stream._backend
        batches = [backend.base.arrays.flusher.every_bytes]
        batches += [level.flusher.every_bytes for level in backend.levels]
        for _ in range(2):
            stream.append(np.ones((64, 64), "uint16"))
    assert batches == [
        _flush.flush_every(MAX_PENDING_BYTES),
        _flush.flush_every(MAX_PENDING_BYTES // 4),
        _flush.flush_every(MAX_PENDING_BYTES // 16),
    ]
    assert batches[1] < batches[0]


@pytest.mark.parametrize(
    ("backend", "frame"),
    [
        ("tensorstore", 64),  # small frames: assembled shards
        ("tensorstore", 512),  # frame-sized chunk files of ours
        ("acquire-zarr", 64),
        ("tifffile", 64),
    ],
)
def test_write_back_thread_runs_before_the_first_frame(
    tmp_path: Path, backend: str, frame: int
) -> None:
    """Its start waits for the new thread to run: that belongs to
    `create_stream`, not to the append that first passes the threshold."""
    pytest.importorskip(backend.replace("-python", "").replace("-", "_"))
    suffix = ".ome.tiff" if backend == "tifffile" else ".ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(tmp_path / f"w{suffix}"),
        format=backend,
        dimensions=[
            Dimension(name="t", count=None, type="time"),
            Dimension(name="y", count=frame),
            Dimension(name="x", count=frame),
        ],
        dtype="uint16",
    )

    def flushers() -> int:
        return sum(t.name == "ome-writers-flush" for t in threading.enumerate())

    before = flushers()
    with create_stream(settings) as stream:
        assert flushers() > before
        stream.append(np.ones((frame, frame), "uint16"))
    assert flushers() == before
