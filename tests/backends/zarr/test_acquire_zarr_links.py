"""acquire-zarr's staging store, linked to the arrays ahead of their frames.

The first position's link is made by `create_stream`, the others on a
background thread; an append to a position waits for its link. Where links
cannot be made at all, acquire-zarr writes in place. The store lives in shared
memory where there is one, else inside the dataset: the tests that look at it
run with both.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaozarrs
import zarr

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._io._paths import ACQUIRE_ZARR_STAGING
from ome_writers.backends.zarr import _acquire_zarr
from ome_writers.backends.zarr import _acquire_zarr_staging as _staging_store
from ome_writers.backends.zarr._acquire_zarr_shards import CompleteShards

pytest.importorskip("acquire_zarr")


@pytest.fixture(params=["shared-memory", "in-dataset"])
def store_place(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the staging store goes: shared memory (where this machine has
    it) or inside the dataset (as where it has not)."""
    if request.param == "shared-memory":
        if not _staging_store.SHARED_MEMORY.is_dir():
            pytest.skip("no shared-memory filesystem here")
    else:
        monkeypatch.setattr(_staging_store, "SHARED_MEMORY", Path("/nonexistent/shm"))
    return str(request.param)


def _store_of(stream: Any) -> Path:
    store = stream._backend._staging
    assert isinstance(store, Path)
    return store


def _settings(root: Path, positions: int) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(root),
        format="acquire-zarr",
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="p", count=positions, type="position"),
            Dimension(name="y", count=16),
            Dimension(name="x", count=16),
        ],
        dtype="uint16",
    )


def _frame(n: int) -> np.ndarray:
    return np.full((16, 16), n + 1, "uint16")


def _stored(root: Path, positions: int) -> list[list[int]]:
    names = None
    if positions > 1:
        series = zarr.open_group(str(root / "OME"), mode="r").attrs["ome"]
        names = list(series["series"])
    out = []
    for p in range(positions):
        array = zarr.open_array(str(root / (names[p] if names else ".") / "0"))
        out.append([int(array[t].max()) for t in range(array.shape[0])])
    return out


def test_every_position_gets_its_frames(tmp_path: Path, store_place: str) -> None:
    root = tmp_path / "many.ome.zarr"
    settings = _settings(root, 40)
    with create_stream(settings) as stream:
        store = _store_of(stream)
        assert (store.parent == _staging_store.SHARED_MEMORY) == (
            store_place == "shared-memory"
        )
        for n in range(settings.num_frames):
            stream.append(_frame(n))
    # frame n is (t, p) = divmod(n, 40)
    expected = [[p + 1, 40 + p + 1] for p in range(40)]
    assert _stored(root, 40) == expected
    assert not store.exists()
    assert not (root / ACQUIRE_ZARR_STAGING).exists()
    yaozarrs.validate_zarr_store(str(root))


def test_a_stream_that_fails_to_start_leaves_no_store(
    tmp_path: Path, store_place: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("acquire-zarr refused these settings")

    monkeypatch.setattr(_acquire_zarr.az, "ZarrStream", refuse)
    root = tmp_path / "refused.ome.zarr"
    made: list[Path] = []
    real = _staging_store.StagingStore.__init__

    def recorded(self: Any, *args: Any) -> None:
        real(self, *args)
        made.append(self.path)

    monkeypatch.setattr(_staging_store.StagingStore, "__init__", recorded)
    with pytest.raises(RuntimeError, match="refused these settings"):
        create_stream(_settings(root, 3))
    assert len(made) == 1
    assert not made[0].exists()


def test_without_links_acquire_zarr_writes_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("links are not allowed here")

    monkeypatch.setattr(_acquire_zarr.os, "symlink", refuse)
    root = tmp_path / "nolinks.ome.zarr"
    settings = _settings(root, 3)
    with create_stream(settings) as stream:
        assert not (root / ACQUIRE_ZARR_STAGING).exists()
        for n in range(settings.num_frames):
            stream.append(_frame(n))
    assert _stored(root, 3) == [[1, 4], [2, 5], [3, 6]]


def test_a_failed_link_after_the_first_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real = os.symlink

    def second_fails(src: str, dst: str, target_is_directory: bool = False) -> None:
        if made:
            raise OSError("the disk refused this link")
        made.append(dst)
        real(src, dst, target_is_directory=target_is_directory)

    monkeypatch.setattr(_acquire_zarr.os, "symlink", second_fails)
    root = tmp_path / "broken.ome.zarr"
    stream = create_stream(_settings(root, 3))
    stream.append(_frame(0))  # position 0: linked at create
    with pytest.raises(OSError, match="the disk refused this link"):
        stream.append(_frame(1))  # position 1 waits for its link, which failed
    stream.close()
    # what was appended before the failure is on disk
    names = zarr.open_group(str(root / "OME"), mode="r").attrs["ome"]["series"]
    first = zarr.open_array(str(root / names[0] / "0"), mode="r")
    assert int(first[0].max()) == 1


def test_the_staging_store_is_flat(tmp_path: Path, store_place: str) -> None:
    # one directory per position, whatever the dataset's hierarchy: acquire-zarr's
    # own group documents stay in the staging store
    root = tmp_path / "flat.ome.zarr"
    settings = _settings(root, 3)
    with create_stream(settings) as stream:
        staging = _store_of(stream)
        for n in range(settings.num_frames):
            stream.append(_frame(n))
        assert sorted(p.name for p in staging.iterdir() if p.is_dir()) == [
            "p0",
            "p1",
            "p2",
        ]
        assert all((staging / f"p{p}" / "c").is_symlink() for p in range(3))
    assert _stored(root, 3) == [[1, 4], [2, 5], [3, 6]]
    assert not staging.exists()


def _hold_arrays_after_the_first(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Arrays of positions after the first wait for the returned event."""
    gate = threading.Event()
    real = _acquire_zarr.AcquireZarrBackend._create_arrays

    def held(self: Any, arrays: list[Any]) -> None:
        if any(position > 0 for position, *_ in arrays):
            assert gate.wait(30)
        real(self, arrays)

    monkeypatch.setattr(_acquire_zarr.AcquireZarrBackend, "_create_arrays", held)
    return gate


def _two_positions(root: Path) -> AcquisitionSettings:
    """Two positions of four time points; loss-window visits made by the test."""
    return AcquisitionSettings(
        root_path=str(root),
        format="acquire-zarr",
        dimensions=[
            Dimension(name="p", count=2, type="position"),
            Dimension(name="t", count=4, type="time"),
            Dimension(name="y", count=16),
            Dimension(name="x", count=16),
        ],
        dtype="uint16",
        loss_window=None,
    )


def test_a_loss_window_visit_waits_for_arrays_without_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the visit waits for every array made ahead; appends to a position whose
    # array exists go on meanwhile
    gate = _hold_arrays_after_the_first(monkeypatch)
    root = tmp_path / "visit.ome.zarr"
    stream = create_stream(_two_positions(root))
    stream.append(_frame(0))  # position 0, linked at create
    visit = threading.Thread(target=stream._make_readable)
    visit.start()
    appends = threading.Thread(
        target=lambda: [stream.append(_frame(n)) for n in range(1, 4)]
    )
    try:
        appends.start()
        appends.join(10)
        assert not appends.is_alive(), "appends waited for the visit"
        assert visit.is_alive()  # still waiting for position 1's array
    finally:
        gate.set()
        appends.join()
        visit.join()
    for n in range(4, 8):
        stream.append(_frame(n))
    stream.close()
    assert _stored(root, 2) == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_a_visit_in_progress_stops_declaring_once_close_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # close rewrites every array's document: a visit still waiting for the
    # arrays made ahead declares nothing once close has started
    gate = _hold_arrays_after_the_first(monkeypatch)
    declared: list[str] = []
    write_doc = CompleteShards.write_array_doc

    def recorded(self: Any, key: str, shape: list[int]) -> None:
        declared.append(key)
        write_doc(self, key, shape)

    monkeypatch.setattr(CompleteShards, "write_array_doc", recorded)
    root = tmp_path / "closing.ome.zarr"
    stream = create_stream(_two_positions(root))
    for n in range(4):  # position 0 complete: a visit would declare it
        stream.append(_frame(n))
    visit = threading.Thread(target=stream._make_readable)
    visit.start()
    try:
        time.sleep(0.2)
        assert visit.is_alive()  # waiting for position 1's array
        stream._backend.closing()
    finally:
        gate.set()
        visit.join(30)
    assert declared == []
    for n in range(4, 8):
        stream.append(_frame(n))
    stream.close()
    assert _stored(root, 2) == [[1, 2, 3, 4], [5, 6, 7, 8]]
