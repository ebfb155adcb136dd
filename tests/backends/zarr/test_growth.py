"""Unbounded arrays: room for the first frames at once, declared as written."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import zarr

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.backends.zarr import _arrays
from ome_writers.backends.zarr._chunk_file_writer import ChunkFileWriter
from ome_writers.backends.zarr._delegating_writer import DelegatingWriter
from ome_writers.backends.zarr._shard_file_writer import ShardFileWriter
from tests.backends.params import backend_params
from tests.backends.zarr.internals import library_writer

# acquire-zarr sizes its arrays itself
GROWING = [
    p for p in backend_params(format="ome-zarr") if p.values[0] != "acquire-zarr"
]


def _settings(
    root: Path,
    backend: str,
    size: int,
    chunk: int = 1,
    compression: str | None = None,
) -> AcquisitionSettings:
    # one frame per chunk unless told (small frames are otherwise grouped
    # into shards of thousands of frames, and the growth is by shard)
    return AcquisitionSettings(
        root_path=str(root),
        format=backend,
        dtype="uint16",
        compression=compression,
        dimensions=[
            Dimension(name="t", count=None, type="time", chunk_size=chunk),
            Dimension(name="y", count=size),
            Dimension(name="x", count=size),
        ],
        loss_window=None,
    )


@pytest.mark.parametrize("backend", GROWING)
@pytest.mark.parametrize(
    ("size", "room"),
    [(512, 128), (2048, 8), (16, 128)],  # 64 MiB of frames, at most 128
)
# an unbounded run of 2048² frames warns on a disk with less than an hour's
# room at one frame a second, which says nothing about resizing
@pytest.mark.filterwarnings("ignore::ome_writers.errors.DiskSpaceWarning")
def test_first_frames_need_no_resize(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, size: int, room: int
) -> None:
    # each resize waited for the writes in flight; growing from one chunk
    # resized at frames 1, 2, 3, 5, 9, ...
    resizes: list[tuple[int, ...]] = []
    stream = create_stream(_settings(tmp_path / "g.ome.zarr", backend, size))
    arrays = stream._backend.arrays
    real = arrays.writer.make_room

    def counted(position: int, shape: tuple[int, ...]) -> None:
        resizes.append(shape)
        real(position, shape)

    monkeypatch.setattr(arrays.writer, "make_room", counted)
    assert arrays.allocated[0][0] == room
    frame = np.ones((size, size), "uint16")
    for _ in range(room // 2):
        stream.append(frame)
    assert resizes == []
    stream.close()
    doc = json.loads((tmp_path / "g.ome.zarr" / "0" / "zarr.json").read_text())
    assert doc["shape"][0] == room // 2  # the frames written, at close


def test_room_is_whole_chunks(tmp_path: Path) -> None:
    stream = create_stream(_settings(tmp_path / "c.ome.zarr", "tensorstore", 512, 48))
    assert stream._backend.arrays.allocated[0][0] == 96  # 128 frames, chunks of 48
    assert _arrays.INITIAL_GROWTH_INDICES == 128
    stream.close()


def test_tensorstore_grows_arrays_off_the_appending_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issuing a resize took 0.1-0.44 ms of the append that reached half the
    # room (frames 64, 128, 256 of 512² frames); a thread of its own issues it
    threads: list[tuple[str, int]] = []
    # compressed chunks of two frames: assembled, then written by tensorstore
    settings = _settings(tmp_path / "r.ome.zarr", "tensorstore", 16, 2, "zstd")
    before = set(threading.enumerate())  # another test's streams may be open
    stream = create_stream(settings)
    inner = stream._backend.arrays.writer
    assert not isinstance(inner, DelegatingWriter)
    real = inner._open_room

    def recorded(path: object, room: tuple[int, ...]) -> object:
        threads.append((threading.current_thread().name, room[0]))
        return real(path, room)

    monkeypatch.setattr(inner, "_open_room", recorded)
    monkeypatch.setattr(inner, "_keep_up", lambda: None)  # reopens handles too
    frames = [np.full((16, 16), i, "uint16") for i in range(300)]
    for frame in frames:
        stream.append(frame)
    stream.close()
    # grown at 64, 128 and 256 (room 256, 512, 1024); 300 declared at close
    assert [room for _, room in threads] == [256, 512, 1024]
    assert all(name.startswith("ome-writers-resize") for name, _ in threads)
    doc = json.loads((tmp_path / "r.ome.zarr" / "0" / "zarr.json").read_text())
    assert doc["shape"] == [300, 16, 16]
    data = zarr.open_array(tmp_path / "r.ome.zarr" / "0", mode="r")[:]
    np.testing.assert_array_equal(data, np.stack(frames))
    alive = [t.name for t in set(threading.enumerate()) - before]
    assert not [name for name in alive if name.startswith("ome-writers-resize")]


@pytest.mark.parametrize("backend", GROWING)
@pytest.mark.parametrize("shards", [False, True], ids=["chunk-files", "shards"])
def test_own_file_writes_leave_the_library_handle_alone_until_a_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, shards: bool
) -> None:
    # frames written as files of ours never go through the library's handle:
    # growing it inside the append that crossed half the room (a new
    # tensorstore handle, a new zarr-python array) made frames 64, 128 and 256
    # of a paced 512² run late; it grows when a read needs the room
    dims = _settings(tmp_path, backend, 16).dimensions
    if shards:  # two frames per shard, assembled
        dims = [
            Dimension(
                name="t", count=None, type="time", chunk_size=1, shard_size_chunks=2
            ),
            *dims[1:],
        ]
    settings = _settings(tmp_path / "o.ome.zarr", backend, 16).model_copy(
        update={"dimensions": dims}
    )
    stream = create_stream(settings)
    writer = stream._backend.arrays.writer
    assert isinstance(writer, ShardFileWriter if shards else ChunkFileWriter)
    rooms: list[tuple[int, ...]] = []
    real = writer.inner.make_room

    def recorded(position: int, shape: tuple[int, ...]) -> None:
        rooms.append(shape)
        real(position, shape)

    monkeypatch.setattr(writer.inner, "make_room", recorded)
    frames = [np.full((16, 16), i, "uint16") for i in range(300)]
    for frame in frames:
        stream.append(frame)
    assert rooms == []  # room asked for at half or all of it, not given yet
    view = stream.view()
    np.testing.assert_array_equal(np.asarray(view[299]), frames[299])
    assert rooms == [tuple(stream._backend.arrays.allocated[0])]  # the last asked
    np.testing.assert_array_equal(np.asarray(view[100:110]), np.stack(frames[100:110]))
    assert len(rooms) == 1
    stream.close()
    doc = json.loads((tmp_path / "o.ome.zarr" / "0" / "zarr.json").read_text())
    assert doc["shape"] == [300, 16, 16]
    data = zarr.open_array(tmp_path / "o.ome.zarr" / "0", mode="r")[:]
    np.testing.assert_array_equal(data, np.stack(frames))


def test_tensorstore_grows_arrays_once_its_resize_thread_stopped(
    tmp_path: Path,
) -> None:
    # at interpreter exit Python's thread pools stop taking work before a
    # stream left open is closed; the resizes are then issued from the caller
    stream = create_stream(_settings(tmp_path / "s.ome.zarr", "tensorstore", 16))
    resizer = library_writer(stream._backend)._resizer
    assert resizer is not None
    resizer.shutdown()
    frames = [np.full((16, 16), i, "uint16") for i in range(100)]
    for frame in frames:
        stream.append(frame)
    stream.close()
    data = zarr.open_array(tmp_path / "s.ome.zarr" / "0", mode="r")[:]
    assert data.shape == (100, 16, 16)
    np.testing.assert_array_equal(data, np.stack(frames))
