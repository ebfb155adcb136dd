"""The loss window: what was appended becomes readable on disk while the stream
is open, read by zarr-python and tensorstore without our code."""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest
import tensorstore as ts
import zarr

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._stream import _ome_stream
from ome_writers.backends.zarr import _hierarchy
from ome_writers.metadata._frame_metadata import JOURNAL_NAME
from tests.backends.zarr.internals import library_writer
from tests.stream.visits import append_waits_for_visit

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

ZARR_BACKENDS = ["tensorstore", "zarr-python", "zarrs-python"]
SHAPE = (6, 5)


def _frame(n: int) -> np.ndarray:
    return (np.arange(30, dtype="uint16").reshape(SHAPE) + 100 * (n + 1)).astype(
        "uint16"
    )


def _settings(root: Path, backend: str, **kwargs: object) -> AcquisitionSettings:
    t = kwargs.pop("t", 3)
    z_chunk = kwargs.pop("z_chunk", None)
    return AcquisitionSettings(
        root_path=str(root),
        format=backend,
        dimensions=[
            Dimension(name="t", count=t, type="time"),  # type: ignore[arg-type]
            Dimension(name="z", count=4, type="space", chunk_size=z_chunk),  # type: ignore[arg-type]
            Dimension(name="y", count=SHAPE[0]),
            Dimension(name="x", count=SHAPE[1]),
        ],
        dtype="uint16",
        overwrite=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _on_disk(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """The array as zarr-python and tensorstore read it from disk."""
    by_zarr = np.asarray(zarr.open_array(root / "0", mode="r")[:])
    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(root / "0")}}
    by_ts = ts.open(spec, open=True, read=True).result().read().result()
    return by_zarr, np.asarray(by_ts)


@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_partial_chunk_is_written_provisionally(tmp_path: Path, backend: str) -> None:
    root = tmp_path / "x.ome.zarr"
    stream = create_stream(_settings(root, backend, z_chunk=4, loss_window=None))
    for n in range(2):  # half of the first z chunk
        stream.append(_frame(n))
    assert stream._make_readable()
    for data in _on_disk(root):
        np.testing.assert_array_equal(data[0, 0], _frame(0))
        np.testing.assert_array_equal(data[0, 1], _frame(1))
        assert not data[0, 2:].any()  # frames still to come read as zeros
    for n in range(2, 5):  # completes the chunk, opens the next
        stream.append(_frame(n))
    assert stream._make_readable()
    for data in _on_disk(root):
        for n in range(4):
            np.testing.assert_array_equal(data[0, n], _frame(n))
        np.testing.assert_array_equal(data[1, 0], _frame(4))
        assert not data[1, 1:].any()
    stream.close()
    for data in _on_disk(root):
        for n in range(5):
            np.testing.assert_array_equal(data[n // 4, n % 4], _frame(n))


@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_unbounded_array_declares_the_frames_written(
    tmp_path: Path, backend: str
) -> None:
    root = tmp_path / "x.ome.zarr"
    stream = create_stream(_settings(root, backend, t=None, loss_window=None))
    # before any visit, zarr.json declares no time point, not the room
    assert json.loads((root / "0" / "zarr.json").read_text())["shape"][0] == 0
    for n in range(9):  # t = 0, 1 and one plane of t = 2
        stream.append(_frame(n))
    assert stream._make_readable()  # the frames written, not the room
    shape = json.loads((root / "0" / "zarr.json").read_text())["shape"]
    assert shape[0] == 3
    for data in _on_disk(root):
        assert data.shape[0] == 3
        for n in range(9):
            np.testing.assert_array_equal(data[n // 4, n % 4], _frame(n))
        assert not data[2, 1:].any()  # t = 2 is in progress
    for n in range(9, 14):  # written past the declared extent
        stream.append(_frame(n))
    assert json.loads((root / "0" / "zarr.json").read_text())["shape"][0] == 3
    stream.close()
    for data in _on_disk(root):
        assert data.shape[0] == 4
        np.testing.assert_array_equal(data[3, 1], _frame(13))


@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_chunk_completed_past_the_declared_extent(tmp_path: Path, backend: str) -> None:
    """Unbounded t in chunks of 4 frames: a visit declares the frames of a
    chunk being filled (written provisionally); the frame completing the
    chunk is written past the declared extent, within the room."""
    root = tmp_path / "x.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        format=backend,
        dimensions=[
            Dimension(name="t", count=None, type="time", chunk_size=4),
            Dimension(name="y", count=SHAPE[0]),
            Dimension(name="x", count=SHAPE[1]),
        ],
        dtype="uint16",
        loss_window=None,
    )
    stream = create_stream(settings)
    frames = 0
    for _ in range(20):
        for _ in range(3):
            stream.append(_frame(frames))
            frames += 1
        assert stream._make_readable()
        shape = json.loads((root / "0" / "zarr.json").read_text())["shape"]
        assert shape[0] == frames
        assert stream._make_readable()  # nothing new: nothing written
        assert json.loads((root / "0" / "zarr.json").read_text())["shape"] == shape
    stream.close()
    for data in _on_disk(root):
        assert data.shape[0] == frames
        for n in range(frames):
            np.testing.assert_array_equal(data[n], _frame(n))


@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_steady_acquisition_declares_each_visit_and_keeps_its_room(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two positions, unbounded t: every visit declares each array's frames
    (one zarr.json write per array that got frames, none for one that did
    not), and the room grown ahead stays in the writer's handles."""
    root = tmp_path / "x.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        format=backend,
        dimensions=[
            Dimension(name="t", count=None, type="time", chunk_size=1),
            Dimension(name="p", count=2, type="position"),
            Dimension(name="y", count=SHAPE[0]),
            Dimension(name="x", count=SHAPE[1]),
        ],
        dtype="uint16",
        loss_window=None,
    )
    stream = create_stream(settings)
    arrays = stream._backend.arrays  # type: ignore[attr-defined]
    writer = arrays.writer
    rooms: list[tuple[int, int]] = []
    declared: list[dict[int, int]] = []
    make_room, declare = writer.make_room, writer.declare

    def counted_room(position: int, shape: tuple[int, ...]) -> None:
        rooms.append((position, shape[0]))
        make_room(position, shape)

    def counted_declare(shapes: dict[int, tuple[int, ...]]) -> None:
        declared.append({p: shape[0] for p, shape in shapes.items()})
        declare(shapes)

    monkeypatch.setattr(writer, "make_room", counted_room)
    monkeypatch.setattr(writer, "declare", counted_declare)
    room = arrays.allocated[0][0]

    def on_disk(position: int) -> int:
        doc = root / str(position) / "0" / "zarr.json"
        return int(json.loads(doc.read_text())["shape"][0])

    for t in range(20):  # both positions, a visit after every time point
        stream.append(_frame(2 * t))
        stream.append(_frame(2 * t + 1))
        assert stream._make_readable()
        assert declared[-1] == {0: t + 1, 1: t + 1}
        assert on_disk(0) == on_disk(1) == t + 1
    assert len(declared) == 20
    assert rooms == []  # within the room the arrays started with
    for t in range(20, 23):  # only position 0 gets frames (skips position 1)
        stream.append(_frame(2 * t))
        stream.skip()
        assert stream._make_readable()
    assert declared[-1] == {0: 23, 1: 23}  # skipped cells read as zeros
    assert stream._make_readable()  # nothing new: nothing written
    assert len(declared) == 23
    stream.append(_frame(46))  # t = 23, position 0 only
    assert stream._make_readable()
    assert declared[-1] == {0: 24}
    assert (on_disk(0), on_disk(1)) == (24, 23)
    for n in range(47, 2 * room + 2):  # past half the room: grown ahead
        stream.append(_frame(n))
    assert {p for p, _ in rooms} == {0, 1}
    assert all(size > room for _, size in rooms)
    assert (on_disk(0), on_disk(1)) == (24, 23)  # the room is never declared
    assert stream._make_readable()
    assert (on_disk(0), on_disk(1)) == (room + 1, room + 1)
    stream.close()
    for position in range(2):
        array = root / str(position) / "0"
        by_zarr = np.asarray(zarr.open_array(array, mode="r")[:])
        assert by_zarr.shape[0] == room + 1
        np.testing.assert_array_equal(by_zarr[23], _frame(46 + position))


@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_window_thread_declares_the_frames_written(
    tmp_path: Path, backend: str
) -> None:
    """The window's thread declares the frames written, never the room."""
    root = tmp_path / "x.ome.zarr"
    stream = create_stream(_settings(root, backend, t=None, loss_window=0.2))
    for n in range(9):
        stream.append(_frame(n))
    deadline = time.monotonic() + 10
    shapes = set()
    while time.monotonic() < deadline:
        shape = json.loads((root / "0" / "zarr.json").read_text())["shape"]
        shapes.add(shape[0])
        if shape[0] == 3:
            break
        time.sleep(0.05)
    assert shapes <= {0, 3}
    assert 3 in shapes
    stream.close()


@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_window_thread_makes_frames_readable(tmp_path: Path, backend: str) -> None:
    root = tmp_path / "x.ome.zarr"
    stream = create_stream(_settings(root, backend, z_chunk=4, loss_window=0.2))
    for n in range(3):
        stream.append(_frame(n), frame_metadata={"n": n})
    deadline = time.monotonic() + 10
    journal = root / JOURNAL_NAME
    while time.monotonic() < deadline:
        if journal.is_file() and len(journal.read_text().splitlines()) == 3:
            break
        time.sleep(0.05)
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [r["n"] for r in records] == [0, 1, 2]
    for data in _on_disk(root):
        for n in range(3):
            np.testing.assert_array_equal(data[0, n], _frame(n))
    assert len(stream._frame_log._frames) == 0  # written: forgotten
    stream.close()
    assert not any(
        t.name == "ome-writers-loss-window" and t.is_alive()
        for t in threading.enumerate()
    )
    attrs = json.loads((root / "zarr.json").read_text())["attributes"]
    assert [r["n"] for r in attrs["ome_writers"]["frame_metadata"]] == [0, 1, 2]
    assert not journal.exists()


def test_frame_metadata_memory_stays_flat(tmp_path: Path) -> None:
    root = tmp_path / "x.ome.zarr"
    stream = create_stream(_settings(root, "tensorstore", t=None, loss_window=None))
    peak = 0
    for n in range(2000):
        stream.append(_frame(0), frame_metadata={"n": n, "delta_t": n * 0.1})
        if n % 100 == 99:
            assert stream._make_readable()
        peak = max(peak, len(stream._frame_log._frames))
    stream.close()
    assert 0 < peak <= 100  # at most the entries since the last visit
    attrs = json.loads((root / "zarr.json").read_text())["attributes"]
    records = attrs["ome_writers"]["frame_metadata"]
    assert [r["n"] for r in records] == list(range(2000))
    assert records[5]["storage_index"] == [1, 1]


def _hold_visits(stream: object, release: threading.Event, fail: bool = False) -> None:
    """Make every loss-window visit of `stream` wait for `release` (then
    raise an OSError, with `fail`) where it works without the stream's lock."""
    backend = stream._backend  # type: ignore[attr-defined]
    start = backend.start_readable

    def held(frames_done: int) -> Callable[[], None]:
        finish = start(frames_done)

        def blocked() -> None:
            release.wait(10)
            if fail:
                raise OSError(28, "No space left on device")
            if finish is not None:
                finish()

        return blocked

    backend.start_readable = held


def _append_in_thread(
    stream: object, frames: int
) -> tuple[threading.Thread, list[int], list[BaseException]]:
    """Append `frames` frames with metadata in a thread: the thread, the
    frames appended so far, and what the appends raised."""
    appended: list[int] = []
    raised: list[BaseException] = []

    def acquire() -> None:
        try:
            for n in range(frames):
                stream.append(_frame(n), frame_metadata={"n": n})  # type: ignore[attr-defined]
                appended.append(n)
        except BaseException as e:
            raised.append(e)

    thread = threading.Thread(target=acquire)
    thread.start()
    return thread, appended, raised


def test_append_waits_while_frame_metadata_is_far_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Metadata arriving faster than visits write it: append waits at the
    bound (memory stays bounded), goes on when a visit ends, loses nothing."""
    monkeypatch.setattr(_ome_stream, "MAX_PENDING_METADATA", 4)
    root = tmp_path / "x.ome.zarr"
    stream = create_stream(_settings(root, "tensorstore", t=None, loss_window=0.05))
    release = threading.Event()
    _hold_visits(stream, release)
    thread, appended, raised = _append_in_thread(stream, 12)
    thread.join(0.5)
    assert thread.is_alive() and appended == [0, 1, 2, 3]
    assert len(stream._frame_log._frames) == 4  # held in memory: the bound
    release.set()
    thread.join(10)
    assert not thread.is_alive() and not raised and appended == list(range(12))
    stream.close()
    attrs = json.loads((root / "zarr.json").read_text())["attributes"]
    records = attrs["ome_writers"]["frame_metadata"]
    assert [r["n"] for r in records] == list(range(12))
    for data in _on_disk(root):
        for n in range(12):
            np.testing.assert_array_equal(data[n // 4, n % 4], _frame(n))


def test_a_visit_failing_while_append_waits_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_ome_stream, "MAX_PENDING_METADATA", 4)
    root = tmp_path / "x.ome.zarr"
    stream = create_stream(_settings(root, "tensorstore", t=None, loss_window=0.05))
    release = threading.Event()
    _hold_visits(stream, release, fail=True)
    thread, appended, raised = _append_in_thread(stream, 12)
    thread.join(0.5)
    assert thread.is_alive() and appended == [0, 1, 2, 3]
    release.set()
    thread.join(10)
    assert not thread.is_alive() and appended == [0, 1, 2, 3]
    assert len(raised) == 1 and isinstance(raised[0], OSError)
    assert "No space left" in str(raised[0])
    stream.close()
    for data in _on_disk(root):  # what was appended before stays readable
        for n in range(4):
            np.testing.assert_array_equal(data[0, n], _frame(n))


def test_many_records_stay_in_the_journal_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_hierarchy, "INLINE_FRAME_RECORDS", 10)
    root = tmp_path / "x.ome.zarr"
    stream = create_stream(_settings(root, "zarr-python", t=None, loss_window=None))
    for n in range(25):
        stream.append(_frame(n), frame_metadata={"n": n})
        if n == 12:
            stream._make_readable()
    stream.close()
    own = json.loads((root / "zarr.json").read_text())["attributes"]["ome_writers"]
    assert "frame_metadata" not in own
    assert own["frame_metadata_file"] == {"path": JOURNAL_NAME, "records": 25}
    lines = (root / JOURNAL_NAME).read_text().splitlines()
    assert [json.loads(line)["n"] for line in lines] == list(range(25))
    from ome_writers.tools.info import inspect_dataset
    from ome_writers.tools.repair import repair

    image = inspect_dataset(root).images[0]
    assert image.frames_with_metadata == 25
    assert "nothing to repair" in repair(root)  # the file is the final record


@pytest.mark.parametrize("part", ["under the lock", "after it"])
def test_a_failure_in_the_background_is_raised_by_the_next_append(
    tmp_path: Path, part: str
) -> None:
    root = tmp_path / "x.ome.zarr"
    stream = create_stream(_settings(root, "tensorstore", loss_window=None))
    stream.append(_frame(0))

    def full() -> None:
        raise OSError(28, "No space left on device")

    def broken(frames_done: int) -> Callable[[], None]:
        if part == "under the lock":
            full()
        return full

    stream._backend.start_readable = broken  # type: ignore[method-assign]
    assert stream._make_readable() is False  # the window's thread ends
    with pytest.raises(OSError, match="No space left"):
        stream.append(_frame(1))
    stream.close()  # reported once: close does not raise it again
    np.testing.assert_array_equal(_on_disk(root)[0][0, 0], _frame(0))


def test_loss_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="loss_window"):
        AcquisitionSettings(loss_window=0)


@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_visit_waits_for_writes_without_the_stream_lock(
    tmp_path: Path, backend: str
) -> None:
    """One frame per chunk, bounded: a visit waits for the writes in flight
    without the stream's lock, so appends go on meanwhile."""
    root = tmp_path / "x.ome.zarr"
    stream = create_stream(_settings(root, backend, loss_window=None, z_chunk=1))
    stream.append(_frame(0))
    pending = library_writer(stream._backend)._pending
    blocked = append_waits_for_visit(stream, pending, _frame(1))
    assert not blocked, "append waited for the visit"
    for n in range(2, 12):
        stream.append(_frame(n))
    stream.close()
    for data in _on_disk(root):
        for n in range(12):
            np.testing.assert_array_equal(data[n // 4, n % 4], _frame(n))


@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_pyramid_levels_declare_the_frames_written(
    tmp_path: Path, backend: str
) -> None:
    """With a pyramid, every level declares the frames written at each visit."""
    root = tmp_path / "x.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        format=backend,
        dimensions=[
            Dimension(name="t", count=None, type="time"),
            Dimension(name="y", count=32),
            Dimension(name="x", count=32),
        ],
        dtype="uint16",
        loss_window=None,
        pyramid=2,
    )
    stream = create_stream(settings)
    frame = np.arange(32 * 32, dtype="uint16").reshape(32, 32)
    for n in range(10):
        stream.append(frame + n)
        assert stream._make_readable()
        for level, size in ((0, 32), (1, 16)):
            doc = json.loads((root / str(level) / "zarr.json").read_text())
            assert doc["shape"] == [n + 1, size, size]
    level1 = np.asarray(zarr.open_array(root / "1", mode="r")[:])
    assert level1.shape == (10, 16, 16)
    assert all(level1[n].any() for n in range(10))
    stream.close()
    for level, size in ((0, 32), (1, 16)):
        data = np.asarray(zarr.open_array(root / str(level), mode="r")[:])
        assert data.shape == (10, size, size)


@pytest.mark.parametrize("compression", [None, "blosc-zstd"])
@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_visits_write_filled_shards_from_the_buffer_being_filled(
    tmp_path: Path, backend: str, compression: str | None
) -> None:
    """A visit writes a shard whose frames so far leave no cell empty
    straight from the buffer the shard is assembled in (no copy); that
    buffer is never recycled while frames still go into it, so every frame
    reads back as appended, at each visit and after close."""
    root = tmp_path / "x.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        format=backend,
        dimensions=[
            Dimension(
                name="t", count=None, type="time", chunk_size=1, shard_size_chunks=8
            ),
            Dimension(name="y", count=SHAPE[0]),
            Dimension(name="x", count=SHAPE[1]),
        ],
        dtype="uint16",
        compression=compression,  # type: ignore[arg-type]
        loss_window=None,
    )
    stream = create_stream(settings)
    writer = stream._backend.arrays.writer  # type: ignore[attr-defined]
    borrowed: list[int] = []
    real = writer.write_block_borrowed

    def counted(position: int, origin: tuple[int, ...], block: np.ndarray) -> None:
        borrowed.append(block.shape[0])
        real(position, origin, block)

    writer.write_block_borrowed = counted
    n = 0
    for count in (3, 2, 7, 1, 5, 9, 4):  # visits inside shards and across them
        for _ in range(count):
            stream.append(_frame(n))
            n += 1
        assert stream._make_readable()
        data = np.asarray(zarr.open_array(root / "0", mode="r")[:])
        assert data.shape[0] == n
        for i in range(n):
            np.testing.assert_array_equal(data[i], _frame(i))
    stream.close()
    assert borrowed  # the visits did write from the buffers being filled
    for data in _on_disk(root):
        assert data.shape[0] == n
        for i in range(n):
            np.testing.assert_array_equal(data[i], _frame(i))
