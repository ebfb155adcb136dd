"""While writing, the progress record is restated without new frames (a
heartbeat), so that a reader can tell a writer waiting for its next frame
from one that died."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from tests.backends.params import backend_params
from tests.conftest import frame_for
from tests.reading.test_contract import H, W, _tiff_record, _zarr_record

if TYPE_CHECKING:
    from pathlib import Path

BEAT = 0.4


@pytest.fixture
def quick_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    import ome_writers._stream._ome_stream as stream_module
    import ome_writers.backends.zarr._hierarchy as hierarchy_module
    import ome_writers.metadata._progress as progress_module

    for module in (stream_module, hierarchy_module, progress_module):
        monkeypatch.setattr(module, "HEARTBEAT", BEAT)


def _record(root: Path, backend: str) -> dict[str, Any] | None:
    try:
        if backend == "tifffile":
            return _tiff_record(root)[0]
        return _zarr_record(root)
    except (OSError, KeyError, IndexError, ValueError, AssertionError):
        return None  # not written yet


def _wait_for(root: Path, backend: str, frames: int) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        record = _record(root, backend)
        if record is not None and record["frames"] >= frames:
            return record
        time.sleep(0.05)
    raise AssertionError(f"no record of {frames} frames: {_record(root, backend)}")


@pytest.mark.parametrize(
    "backend",
    [*backend_params(format="ome-zarr"), pytest.param("tifffile", id="tifffile")],
)
@pytest.mark.usefixtures("quick_heartbeat")
def test_a_waiting_writer_restates_its_progress(tmp_path: Path, backend: str) -> None:
    tiff = backend == "tifffile"
    root = tmp_path / ("run.ome.tiff" if tiff else "run.ome.zarr")
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=None, type="time", chunk_size=1),
            Dimension(name="y", count=H, type="space"),
            Dimension(name="x", count=W, type="space"),
        ],
        dtype="uint16",
        format={"name": "ome-tiff" if tiff else "ome-zarr", "backend": backend},
        loss_window=0.1,
    )
    with create_stream(settings) as stream:
        for n in range(2):
            stream.append(frame_for(n, (H, W)))
        first = _wait_for(root, backend, 2)
        assert first["heartbeat"] == BEAT
        time.sleep(3 * BEAT)  # no frame arrives meanwhile
        later = _record(root, backend)
        assert later is not None
        assert later["frames"] == 2 and later["status"] == "writing"
        assert later["updated"] > first["updated"]  # ISO 8601 UTC: sortable
        stream.append(frame_for(2, (H, W)))
    if not tiff:  # a complete OME-TIFF states no record
        final = _record(root, backend)
        assert final is not None and final["status"] == "complete"
