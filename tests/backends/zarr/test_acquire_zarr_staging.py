"""acquire-zarr's staging store: its place, its lock, and abandoned stores."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from ome_writers._io._paths import ACQUIRE_ZARR_STAGING
from ome_writers.backends.zarr import _acquire_zarr_staging as _staging_store
from ome_writers.backends.zarr._acquire_zarr_staging import StagingStore, move_document

fcntl = pytest.importorskip("fcntl")


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory standing in for the shared-memory filesystem."""
    place = tmp_path / "shm"
    place.mkdir()
    monkeypatch.setattr(_staging_store, "SHARED_MEMORY", place)
    return place


def _stores(place: Path) -> list[str]:
    return sorted(p.name for p in place.iterdir())


def test_the_store_is_in_shared_memory_and_locked(tmp_path: Path, shared: Path) -> None:
    store = StagingStore(tmp_path / "x.ome.zarr", 1)
    assert not store.inside_dataset
    assert store.path.parent == shared
    assert store.path.name.startswith(_staging_store.PREFIX)
    with (
        open(store.path / _staging_store.LOCK_NAME, "rb") as other,
        pytest.raises(BlockingIOError),
    ):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    store.remove()
    assert _stores(shared) == []


def test_without_shared_memory_the_store_is_inside_the_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_staging_store, "SHARED_MEMORY", tmp_path / "missing")
    root = tmp_path / "x.ome.zarr"
    store = StagingStore(root, 1)
    assert store.inside_dataset
    assert store.path == root / ACQUIRE_ZARR_STAGING


def test_shared_memory_short_of_room_leaves_the_store_in_the_dataset(
    tmp_path: Path, shared: Path
) -> None:
    free = os.statvfs(shared)
    room = free.f_bavail * free.f_frsize
    arrays = room // _staging_store.BYTES_PER_ARRAY + 1
    root = tmp_path / "x.ome.zarr"
    store = StagingStore(root, arrays)
    assert store.inside_dataset
    assert store.path == root / ACQUIRE_ZARR_STAGING
    assert _stores(shared) == []


def test_a_new_store_removes_abandoned_ones_only(tmp_path: Path, shared: Path) -> None:
    prefix, building = _staging_store.PREFIX, _staging_store.BUILDING
    an_hour_ago = time.time() - 3600

    def store(name: str, *, lock: bool, old: bool = False) -> Path:
        path = shared / name
        (path / "p0").mkdir(parents=True)
        (path / "p0" / "zarr.json").write_text("{}")
        if lock:
            (path / _staging_store.LOCK_NAME).touch()
        if old:
            os.utime(path, (an_hour_ago, an_hour_ago))
        return path

    live = StagingStore(tmp_path, 1)  # its stream is open: kept
    store(f"{prefix}dead", lock=True)  # lock file, nobody holds it
    store(f"{prefix}lockless", lock=False, old=True)  # lost its lock file long ago
    young = store(f"{building}young", lock=True)  # being built
    store(f"{building}stale", lock=True, old=True)  # its builder died
    unrelated = shared / "something-else"
    unrelated.mkdir()

    new = StagingStore(tmp_path, 1)
    assert _stores(shared) == sorted(
        [live.path.name, young.name, unrelated.name, new.path.name]
    )
    live.remove()
    new.remove()


def test_a_store_is_locked_before_it_has_its_name(
    tmp_path: Path, shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a sweeper that finds a store under its name finds it locked, so a store
    # being made is never taken for an abandoned one
    real = os.rename
    seen: list[str] = []

    def check_then_rename(src: str | Path, dst: str | Path) -> None:
        assert Path(src).name.startswith(_staging_store.BUILDING)
        with (
            open(Path(src) / _staging_store.LOCK_NAME, "rb") as other,
            pytest.raises(BlockingIOError),
        ):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        seen.append(Path(dst).name)
        real(src, dst)

    monkeypatch.setattr(_staging_store.os, "rename", check_then_rename)
    store = StagingStore(tmp_path, 1)
    assert seen == [store.path.name]
    assert _stores(shared) == [store.path.name]
    store.remove()


def test_moving_a_document_across_filesystems_replaces_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged = tmp_path / "staged.json"
    staged.write_text('{"shape": [3]}')
    target = tmp_path / "array" / "zarr.json"
    target.parent.mkdir()
    target.write_text('{"shape": [0]}')
    real = os.replace
    calls: list[str] = []

    def cross_device(src: str | Path, dst: str | Path) -> None:
        calls.append(Path(src).name)
        if Path(src) == staged:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real(src, dst)

    monkeypatch.setattr(_staging_store.os, "replace", cross_device)
    move_document(staged, target)
    assert target.read_text() == '{"shape": [3]}'
    assert calls == ["staged.json", "zarr.json.tmp"]  # written aside, then renamed
    assert sorted(p.name for p in target.parent.iterdir()) == ["zarr.json"]


def test_other_failures_of_a_move_are_raised(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        move_document(tmp_path / "missing.json", tmp_path / "zarr.json")
