"""Frame-sized chunk files written by a thread of ours (`_chunk_files`)."""

from __future__ import annotations

import errno
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

import ome_writers as ow
from ome_writers.backends.zarr import _chunk_file_writer as _chunk_files
from ome_writers.backends.zarr._chunk_file_writer import (
    ChunkFiles,
    ChunkFileWriter,
    frame_chunk_files,
)
from tests.backends.zarr.internals import blocked_writes

if TYPE_CHECKING:
    from pathlib import Path

SHAPE = (4, 6)
DTYPE = np.dtype("uint16")


def _writer(root: Path, **kwargs: Any) -> ChunkFiles:
    files = ChunkFiles(
        SHAPE, DTYPE, lambda unit: str(root / "c" / str(unit) / "0" / "0"), root
    )
    for name, value in kwargs.items():
        setattr(files, name, value)
    files.start()
    return files


def _chunk(root: Path, unit: int) -> Path:
    return root / "c" / str(unit) / "0" / "0"


def _frame(value: int) -> np.ndarray:
    return np.arange(24, dtype=DTYPE).reshape(SHAPE) + value


def test_each_frame_becomes_its_chunk_file(tmp_path: Path) -> None:
    files = _writer(tmp_path)
    frame = np.empty(SHAPE, DTYPE)
    for unit in range(5):
        frame[...] = _frame(unit)
        files.write(unit, frame)  # the caller reuses its buffer at once
    files.close()
    for unit in range(5):
        data = _chunk(tmp_path, unit).read_bytes()
        assert data == _frame(unit).astype("<u2").tobytes()
    assert not list(tmp_path.rglob("*.partial"))


def test_write_waits_while_every_buffer_is_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_chunk_files, "POOL_FRAMES", 2)
    go, _ = blocked_writes(monkeypatch)
    files = _writer(tmp_path)
    assert len(files.pool.buffers) == 2
    files.write(0, _frame(0))
    files.write(1, _frame(1))
    assert files.stalls == 0
    third = threading.Thread(target=files.write, args=(2, _frame(2)))
    third.start()
    third.join(0.2)
    assert third.is_alive()  # backpressure: no buffer free, nothing dropped
    go.set()
    third.join()
    files.close()
    assert files.stalls == 1
    assert [_chunk(tmp_path, u).exists() for u in range(3)] == [True] * 3


def test_a_chunk_is_never_seen_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed write (here a full disk) leaves neither the chunk nor its
    temporary file; the chunks written before stay, and the error is raised
    from the next write, from waiting and from close."""
    if not sys.platform.startswith("linux"):
        pytest.skip("names open files through /proc")
    write = os.write

    def full_disk(fd: int, data: Any) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("/c/2/0/0.partial"):
            write(fd, bytes(data)[:10])  # part of the chunk reached the file
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    files = _writer(tmp_path)
    for unit in range(3):
        files.write(unit, _frame(unit))
    with pytest.raises(OSError, match="No space left"):
        files.drain()
    with pytest.raises(OSError, match="No space left"):
        files.write(3, _frame(3))
    with pytest.raises(OSError, match="No space left"):
        files.close()
    monkeypatch.undo()
    assert _chunk(tmp_path, 1).read_bytes() == _frame(1).tobytes()
    assert not _chunk(tmp_path, 2).exists()
    assert not list(tmp_path.rglob("*.partial"))
    assert not _chunk(tmp_path, 3).exists()


def test_drain_waits_for_the_slowest_writer_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go = threading.Event()
    writers: set[str] = set()
    write = _chunk_files.write_file

    def unit_1_waits(path: str, *parts: memoryview) -> None:
        writers.add(threading.current_thread().name + str(threading.get_ident()))
        if path == str(_chunk(tmp_path, 1)):
            go.wait()
        write(path, *parts)

    monkeypatch.setattr(_chunk_files, "write_file", unit_1_waits)
    files = _writer(tmp_path, _spread_after=-1)  # every thread from the start
    assert len(files._threads) == _chunk_files.WRITER_THREADS == 2
    for unit in range(4):
        files.write(unit, _frame(unit))
    drained = threading.Event()
    drainer = threading.Thread(target=lambda: (files.drain(), drained.set()))
    drainer.start()
    assert not drained.wait(0.3)  # unit 1 is still being written
    assert _chunk(tmp_path, 0).exists()
    assert not _chunk(tmp_path, 1).exists()
    go.set()
    assert drained.wait(10)
    drainer.join()
    files.close()
    for unit in range(4):
        assert _chunk(tmp_path, unit).read_bytes() == _frame(unit).tobytes()
    assert len(writers) == 2  # frames dealt to both threads


def test_owned_frames_are_released_once_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go, _ = blocked_writes(monkeypatch)
    files = _writer(tmp_path)
    released: list[int] = []
    frames = [_frame(u) for u in range(3)]
    for unit, frame in enumerate(frames):
        files.write_owned(unit, frame, lambda unit=unit: released.append(unit))
    assert released == []  # still to be written from the caller's buffers
    go.set()
    files.drain()
    assert sorted(released) == [0, 1, 2]  # in any order: two writer threads
    # a frame of another layout is copied, and released at once
    odd = np.asfortranarray(_frame(3))
    files.write_owned(3, odd, lambda: released.append(3))
    assert released[-1] == 3
    files.close()
    assert _chunk(tmp_path, 3).read_bytes() == _frame(3).tobytes()
    assert sorted(released) == [0, 1, 2, 3]  # exactly once each


def test_owned_frames_are_released_after_a_failure(tmp_path: Path) -> None:
    (tmp_path / "c").write_text("not a directory")  # no chunk can be made
    files = _writer(tmp_path)
    released: list[int] = []
    files.write_owned(0, _frame(0), lambda: released.append(0))
    with pytest.raises(NotADirectoryError):
        files.drain()
    with pytest.raises(NotADirectoryError):
        files.write_owned(1, _frame(1), lambda: released.append(1))
    with pytest.raises(NotADirectoryError):
        files.close()
    assert released == [0, 1]


def test_frames_queued_before_a_failure_still_land(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer thread that fails while later frames wait in its queue still
    writes them: their appends returned, so the dataset declares them."""
    go, _ = blocked_writes(monkeypatch)
    files = _writer(tmp_path, _active=1)  # one thread: the queue keeps order
    count = files.flusher.add
    calls = [0]

    def add(nbytes: int, path: str) -> None:
        count(nbytes, path)
        calls[0] += 1
        if calls[0] == 1:  # the first file lands, then is reported failed
            raise OSError(errno.EIO, "injected I/O error")

    files.flusher.add = add  # type: ignore[method-assign]
    for unit in range(4):  # accepted: the failure is not known yet
        files.write(unit, _frame(unit))
    go.set()
    with pytest.raises(OSError, match="injected"):
        files.drain()
    with pytest.raises(OSError, match="injected"):
        files.close()
    for unit in range(4):
        stored = np.fromfile(_chunk(tmp_path, unit), DTYPE).reshape(SHAPE)
        np.testing.assert_array_equal(stored, _frame(unit))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ({}, True),
        ({"local": False}, False),
        ({"compression": "blosc-zstd"}, True),  # encoded by threads of ours
        ({"compression": "lzw"}, False),  # no such Zarr codec here
        ({"sharded": True}, False),
        ({"chunks": (2, 1, 64, 32)}, False),  # two frames per chunk
        ({"chunks": (1, 1, 32, 32)}, False),  # two chunks per frame
        ({"dtype": np.dtype(">u2")}, False),  # the bytes codec says little
        ({"dtype": np.dtype("uint8")}, True),
        ({"dtype": np.dtype("<f4")}, True),
        ({"chunks": (1, 512, 1024), "frame_shape": (512, 1024)}, True),  # 1 MiB
        ({"chunks": (1, 2048, 2048), "frame_shape": (2048, 2048)}, True),  # 8 MiB
        ({"chunks": (1, 1024, 2048), "frame_shape": (2048, 2048)}, False),
    ],
)
def test_applies_to_frame_sized_little_endian_chunks(
    case: dict[str, Any], expected: bool
) -> None:
    arguments: dict[str, Any] = {
        "local": True,
        "compression": "none",
        "sharded": False,
        "chunks": (1, 1, 64, 32),
        "frame_shape": (64, 32),
        "dtype": np.dtype("uint16"),
        **case,
    }
    assert frame_chunk_files(**arguments) is expected


def _settings(tmp_path: Path, **kwargs: Any) -> ow.AcquisitionSettings:
    return ow.AcquisitionSettings(
        root_path=str(tmp_path / "out.ome.zarr"),
        dimensions=[  # frame-sized chunks, not the grouping of small frames
            ow.Dimension(name="t", count=None, chunk_size=1),
            ow.Dimension(name="c", count=2),
            ow.Dimension(name="y", count=64, chunk_size=kwargs.pop("chunk", None)),
            ow.Dimension(name="x", count=32),
        ],
        dtype="uint16",
        format="tensorstore",
        **kwargs,
    )


@pytest.mark.parametrize(
    ("options", "ours"),
    [({}, True), ({"compression": "blosc-zstd"}, True), ({"chunk": 32}, False)],
)
def test_tensorstore_backend_writes_frame_chunks_itself(
    tmp_path: Path, options: dict[str, Any], ours: bool
) -> None:
    import tensorstore as ts
    import zarr

    settings = _settings(tmp_path, **options)
    stream = ow.create_stream(settings)
    writer = stream._backend.arrays.writer
    assert isinstance(writer, ChunkFileWriter) is ours
    frames = [np.full((64, 32), i + 1, "uint16") for i in range(9)]
    for i, frame in enumerate(frames):
        stream.append(frame)
        # read back at once: every frame appended is seen
        assert stream.view()[i // 2, i % 2, 0, 0] == i + 1
    stream.close()
    path = tmp_path / "out.ome.zarr" / "0"
    expected = np.zeros((5, 2, 64, 32), "uint16")
    expected.reshape(10, 64, 32)[:9] = frames
    np.testing.assert_array_equal(zarr.open_array(path)[:], expected)
    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}}
    np.testing.assert_array_equal(ts.open(spec).result().read().result(), expected)
    assert not list(path.rglob("*.partial"))


def test_a_left_partial_chunk_is_ignored_by_readers_and_removed_by_repair(
    tmp_path: Path,
) -> None:
    """What a process killed mid-chunk leaves: the chunks before are read as
    written, the torn one as the fill value, and `repair` removes it."""
    import zarr

    from ome_writers.tools.repair import repair

    settings = _settings(tmp_path)
    with ow.create_stream(settings) as stream:
        for i in range(3):
            stream.append(np.full((64, 32), i + 1, "uint16"))
    root = tmp_path / "out.ome.zarr"
    torn = root / "0" / "c" / "1" / "1" / "0" / "0.partial"
    torn.parent.mkdir(parents=True, exist_ok=True)
    torn.write_bytes(b"\1" * 100)  # part of a chunk that never got its name
    data = zarr.open_array(root / "0")[:]
    assert [int(data[i // 2, i % 2, 0, 0]) for i in range(4)] == [1, 2, 3, 0]
    message = repair(root)
    assert "removed 1 partly written chunk file(s)" in message, message
    assert not torn.exists()
    assert "removed" not in repair(root)  # nothing left to remove


def _writers_by_unit(monkeypatch: pytest.MonkeyPatch) -> dict[int, int]:
    """Unit -> the identity of the thread that wrote its chunk file."""
    by_unit: dict[int, int] = {}
    write = _chunk_files.write_file

    def record(path: str, *parts: memoryview) -> None:
        by_unit[int(path.split("/c/")[1].split("/")[0])] = threading.get_ident()
        write(path, *parts)

    monkeypatch.setattr(_chunk_files, "write_file", record)
    return by_unit


def test_one_writer_thread_while_it_keeps_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_unit = _writers_by_unit(monkeypatch)
    files = _writer(tmp_path, _spread_after=2)
    for unit in range(6):
        files.write(unit, _frame(unit))
        files.drain()  # never more than one frame waits
    files.close()
    assert len(by_unit) == 6 and len(set(by_unit.values())) == 1


def test_frames_go_to_every_writer_thread_once_one_fell_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_unit = _writers_by_unit(monkeypatch)
    files = ChunkFiles(SHAPE, DTYPE, lambda unit: str(_chunk(tmp_path, unit)), tmp_path)
    files._spread_after = 2
    for unit in range(6):  # the threads start later: every frame waits
        files.write(unit, _frame(unit))
    files.start()
    files.close()
    # units 0-2 wait for the first thread; the third waiting one spreads
    first, second = by_unit[0], by_unit[3]
    assert first != second
    assert [by_unit[u] for u in range(6)] == [
        first,
        first,
        first,
        second,
        first,
        second,
    ]
    for unit in range(6):
        assert _chunk(tmp_path, unit).read_bytes() == _frame(unit).tobytes()


def test_directories_are_made_once_each_top_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No failed open or ``mkdir`` first: one ``mkdir`` per new directory."""
    made: list[str] = []
    mkdir, open_ = os.mkdir, os.open

    def counted_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        made.append(os.path.relpath(path, tmp_path))
        mkdir(path, *args, **kwargs)

    failed_opens: list[str] = []

    def counted_open(path: Any, *args: Any, **kwargs: Any) -> int:
        try:
            return open_(path, *args, **kwargs)
        except FileNotFoundError:
            failed_opens.append(str(path))
            raise

    monkeypatch.setattr(os, "mkdir", counted_mkdir)
    monkeypatch.setattr(os, "open", counted_open)
    files = _writer(tmp_path, _active=1)  # one thread: one order
    for unit in range(3):
        files.write(unit, _frame(unit))
    files.close()
    monkeypatch.undo()
    assert made == ["c", "c/0", "c/0/0", "c/1", "c/1/0", "c/2", "c/2/0"]
    assert failed_opens == []
    for unit in range(3):
        assert _chunk(tmp_path, unit).read_bytes() == _frame(unit).tobytes()


def test_a_directory_removed_meanwhile_is_made_again(tmp_path: Path) -> None:
    files = _writer(tmp_path)
    files.write(0, _frame(0))
    files.drain()
    _chunk(tmp_path, 0).unlink()
    _chunk(tmp_path, 0).parent.rmdir()  # known to the writer, gone
    files.write(0, _frame(5))
    files.close()
    assert _chunk(tmp_path, 0).read_bytes() == _frame(5).tobytes()


def test_the_stream_makes_no_directories_ahead_of_its_writer_threads(
    tmp_path: Path,
) -> None:
    """The writer threads make each directory once; a thread making them
    ahead would only compete with them for the cores."""
    with ow.create_stream(_settings(tmp_path)) as stream:
        arrays = stream._backend.arrays
        assert isinstance(arrays.writer, ChunkFileWriter)
        arrays.writer.falling_behind = lambda: True  # as if an append had waited
        for i in range(80):
            stream.append(np.full((64, 32), i, "uint16"))
        assert arrays.preparer is None
    import zarr

    data = zarr.open_array(tmp_path / "out.ome.zarr" / "0")[:]
    assert [int(data[i // 2, i % 2, 0, 0]) for i in range(80)] == list(range(80))
