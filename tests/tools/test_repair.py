"""`ome-writers repair` of OME-Zarr arrays that declare room past their frames."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.tools.cli import main
from ome_writers.tools.repair import repair

if TYPE_CHECKING:
    from pathlib import Path

zarr = pytest.importorskip("zarr")
ts = pytest.importorskip("tensorstore")
yaozarrs = pytest.importorskip("yaozarrs")

FRAMES = 10  # time points written per position


def _frame(n: int) -> np.ndarray:
    return (np.arange(16 * 16).reshape(16, 16) + 7 * n + 1).astype("uint16")


def _write(path: Path, t_count: int | None) -> None:
    """Two positions, 10 time points each, with a two-level pyramid."""
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=t_count, type="time"),
            Dimension(name="p", count=2, type="position"),
            Dimension(name="y", count=16),
            Dimension(name="x", count=16),
        ],
        dtype="uint16",
        pyramid=2,
    )
    with create_stream(settings) as stream:
        for n in range(2 * FRAMES):
            stream.append(_frame(n))


def _arrays(path: Path) -> list[Path]:
    return [path / str(p) / str(level) for p in range(2) for level in range(2)]


def _declared(array: Path) -> list[int]:
    return list(json.loads((array / "zarr.json").read_text())["shape"])


def _declare_room(array: Path, extent: int) -> None:
    """Declare `extent` along the first axis, as older versions left an
    unbounded array (room grown ahead) when the process was killed."""
    meta = json.loads((array / "zarr.json").read_text())
    meta["shape"][0] = extent
    (array / "zarr.json").write_text(json.dumps(meta))


def test_repair_cuts_room_grown_ahead_of_the_frames(tmp_path: Path) -> None:
    path = tmp_path / "grown.ome.zarr"
    _write(path, None)
    # as a killed writer leaves it: its progress record still says "writing"
    root = json.loads((path / "zarr.json").read_text())
    root["attributes"]["ome_writers"]["progress"]["status"] = "writing"
    (path / "zarr.json").write_text(json.dumps(root))
    for array in _arrays(path):
        _declare_room(array, 128)
    message = repair(path)
    assert message == (
        f"{path}: OME-Zarr, cut 2 image(s) to their last frame, past which they "
        "declared room never acquired (0/0 t 128 -> 10, 1/0 t 128 -> 10)"
    )
    yaozarrs.validate_zarr_store(str(path))
    for array in _arrays(path):
        size = 16 if array.name == "0" else 8
        assert _declared(array) == [FRAMES, size, size]
        spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(array)}}
        by_ts = ts.open(spec, open=True, read=True).result().read().result()
        by_zarr = zarr.open_array(array, mode="r")[...]
        np.testing.assert_array_equal(by_zarr, by_ts)
        assert all(by_zarr[t].any() for t in range(FRAMES))
        if array.name == "0":
            position = int(array.parent.name)
            for t in range(FRAMES):
                np.testing.assert_array_equal(by_zarr[t], _frame(2 * t + position))
    assert "nothing to repair" in repair(path)


def test_repair_keeps_the_extents_of_a_dataset_closed_early(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bounded collection closed early keeps its declared time points: its
    progress record says the writer closed it (and its OME-XML describes them)."""
    path = tmp_path / "early.ome.zarr"
    _write(path, 12)
    assert main(["repair", str(path)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"{path}: OME-Zarr, readable as written; nothing to repair; kept the "
        "extents declared past the last frame of 2 image(s): "
        "the writer closed the dataset so"
    )
    for array in _arrays(path):
        assert _declared(array)[0] == 12
