"""DirectoryPreparer: directories made ahead of the writes, removed if unused."""

from __future__ import annotations

import time
from pathlib import Path

from ome_writers.backends.zarr._chunk_directories import DirectoryPreparer


def _wait_for(condition: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_prepares_ahead_and_removes_unused(tmp_path: Path) -> None:
    root = tmp_path / "c"

    def directories(n: int) -> list[str]:
        return [str(root), str(root / str(n)), str(root / str(n) / "0")]

    preparer = DirectoryPreparer(directories, total=None, start=3, ahead=10)
    _wait_for(lambda: (root / "12" / "0").is_dir())
    assert not (root / "2").exists()  # frames before `start` are not touched
    assert not (root / "13").exists()  # no further than `ahead`
    preparer.advance(14)
    _wait_for(lambda: (root / "23" / "0").is_dir())
    (root / "15" / "0" / "0").write_bytes(b"chunk")  # frame 15 was written
    preparer.close(frames_done=16)
    remaining = sorted(int(p.name) for p in root.iterdir())
    # frames 3..15 stay (written); 16..23 were never written and are removed
    assert remaining == list(range(3, 16))


def test_stops_at_the_total(tmp_path: Path) -> None:
    made: list[int] = []

    def directories(n: int) -> list[str]:
        made.append(n)
        return [str(tmp_path / str(n))]

    preparer = DirectoryPreparer(directories, total=5, ahead=100)
    _wait_for(lambda: (tmp_path / "4").is_dir())
    preparer.advance(5)
    preparer.close(frames_done=5)
    assert made == [0, 1, 2, 3, 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0", "1", "2", "3", "4"]


def test_existing_directories_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "0").mkdir()  # made by the library first
    preparer = DirectoryPreparer(lambda n: [str(tmp_path / str(n))], total=3, ahead=3)
    _wait_for(lambda: (tmp_path / "2").is_dir())
    preparer.close(frames_done=0)  # nothing written: remove what it made
    assert [p.name for p in tmp_path.iterdir()] == ["0"]
