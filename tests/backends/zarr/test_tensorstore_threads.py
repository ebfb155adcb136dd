"""tensorstore's thread limits, and the switch to more threads mid-acquisition."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from tests.backends.zarr.internals import library_writer
from tests.conftest import frame_for

_tensorstore = pytest.importorskip("ome_writers.backends.zarr._tensorstore")
zarr = pytest.importorskip("zarr")
ts = pytest.importorskip("tensorstore")

SMALL = 512 * 512 * 2
# chunks of half a frame: written through tensorstore's threads (frame-sized
# raw chunks are written by `_chunk_files`)
LARGE = 2048 * 2048 * 2


@pytest.mark.parametrize(
    ("cores", "encoded", "frame_bytes", "start", "bulk"),
    [
        (2, False, SMALL, (1, 1), (2, 4)),  # one I/O thread until the disk lags
        (2, False, LARGE, (1, 2), (1, 2)),  # more threads only cost memory here
        (2, True, SMALL, (2, 4), (2, 4)),  # encoding gets every core at once
        (2, True, LARGE, (2, 4), (2, 4)),  # compressed or sharded
        (16, False, SMALL, (4, 7), (16, 16)),
        (16, False, LARGE, (4, 8), (4, 8)),
        (1, False, SMALL, (1, 1), (1, 4)),
    ],
)
def test_thread_limits(
    cores: int,
    encoded: bool,
    frame_bytes: int,
    start: tuple[int, int],
    bulk: tuple[int, int],
) -> None:
    assert _tensorstore.thread_limits(cores, encoded, frame_bytes) == (start, bulk)


def test_switch_mid_acquisition_keeps_every_frame(tmp_path: Path) -> None:
    """Writes in flight on the old handles and growth in progress survive it."""
    shape = (32, 48)
    root = tmp_path / "switch.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        format="tensorstore",
        dimensions=[
            Dimension(name="t", count=None),
            Dimension(name="c", count=2),
            Dimension(name="y", count=shape[0], chunk_size=shape[0] // 2),
            Dimension(name="x", count=shape[1]),
        ],
        dtype="uint16",
    )
    n = 2 * 150
    with create_stream(settings, checkpoint_seconds=None) as stream:
        backend = library_writer(stream._backend)
        view = stream.view()
        for i in range(n):
            if i == 101:
                backend._pending.stalls += 1  # as if an append had waited
            stream.append(frame_for(i, shape))
            if i == 101:  # a live read right after the switch
                np.testing.assert_array_equal(view[50, 0], frame_for(100, shape))
                # the read waited for the writes still in flight on old handles
                assert len(backend._pending) == 0
        assert backend.threads == backend._bulk_threads
    expected = np.stack([frame_for(i, shape) for i in range(n)])
    expected = expected.reshape(n // 2, 2, *shape)
    by_zarr = zarr.open_array(str(root / "0"), mode="r")[:]
    kvstore = {"driver": "file", "path": str(root / "0")}
    by_ts = ts.open({"driver": "zarr3", "kvstore": kvstore}).result().read()
    np.testing.assert_array_equal(by_zarr, expected)
    np.testing.assert_array_equal(by_ts.result(), expected)


def test_switch_does_not_wait_for_arrays_made_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stall early in a many-position run switches threads at once; arrays
    made after the switch (or during it) are written through the new context."""
    shape = (16, 16)
    positions = 40
    release = threading.Event()
    backend_cls = _tensorstore.TensorstoreWriter
    make = backend_cls.create
    opened_with: dict[int, object] = {}

    def held_create(self, arrays):  # type: ignore[no-untyped-def]
        if arrays[0][0] != 0:  # the first array is made before create returns
            assert release.wait(30)
        make(self, arrays)
        for position, _, _ in arrays:
            opened_with[position] = self._context

    open_room = backend_cls._open_room

    def recorded_open(self, path, shape):  # type: ignore[no-untyped-def]
        array = open_room(self, path, shape)
        position = int(Path(str(path)).parent.name)  # <p>/0: level 0
        opened_with[position] = self._context
        return array

    monkeypatch.setattr(backend_cls, "create", held_create)
    monkeypatch.setattr(backend_cls, "_open_room", recorded_open)
    root = tmp_path / "ahead.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        format="tensorstore",
        dimensions=[
            Dimension(name="p", count=positions, type="position"),
            Dimension(name="y", count=shape[0], chunk_size=shape[0] // 2),
            Dimension(name="x", count=shape[1]),
        ],
        dtype="uint16",
    )
    with create_stream(settings, checkpoint_seconds=None) as stream:
        backend = library_writer(stream._backend)
        backend._pending.stalls += 1  # as if an append had waited
        stream.append(frame_for(0, shape))  # returns although arrays 1.. wait
        assert backend.threads == backend._bulk_threads
        assert not all(stream._backend.arrays.ready)
        release.set()
        for i in range(1, positions):
            stream.append(frame_for(i, shape))
        final = backend._context
        assert {p: opened_with[p] is final for p in range(positions)} == dict.fromkeys(
            range(positions), True
        )
    for i in range(positions):
        kvstore = {"driver": "file", "path": str(root / str(i) / "0")}
        array = ts.open({"driver": "zarr3", "kvstore": kvstore}).result()
        np.testing.assert_array_equal(array.read().result(), frame_for(i, shape))


@pytest.mark.parametrize(("shard", "encoded"), [(None, False), (2, True)])
def test_sharded_writes_start_on_the_encoding_threads(
    tmp_path: Path, shard: int | None, encoded: bool
) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "s.ome.zarr"),
        format="tensorstore",
        dimensions=[
            Dimension(name="t", count=2),
            Dimension(name="y", count=64, chunk_size=32, shard_size_chunks=shard),
            Dimension(name="x", count=64, chunk_size=32, shard_size_chunks=shard),
        ],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        backend = library_writer(stream._backend)
        assert (backend.threads == backend._bulk_threads) is encoded
        assert (
            backend.threads
            == _tensorstore.thread_limits(
                os.cpu_count() or 1, encoded, backend.grid.frame_bytes
            )[0]
        )
        for i in range(2):
            stream.append(frame_for(i, (64, 64)))
