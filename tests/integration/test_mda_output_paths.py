"""Where `core.mda.run(seq, output=path)` writes, named when the stream opens."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

useq = pytest.importorskip("useq")
pytest.importorskip("pymmcore_plus")

from ome_writers.adapters.demo_camera import demo_core  # noqa: E402

TWO_POSITIONS = {
    "channels": ["DAPI", "FITC"],
    "stage_positions": [(1.0, 2.0, 3.0), {"x": 5, "y": 6, "z": 7, "name": "b"}],
}


def test_mda_run_logs_where_it_writes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seq = useq.MDASequence(**TWO_POSITIONS)
    core = demo_core(width=32, height=24)
    caplog.set_level(logging.INFO, logger="ome_writers")
    core.mda.run(seq, output=str(tmp_path / "multi.ome.tiff"), overwrite=True)
    folder = tmp_path / "multi"
    opened = [
        r.getMessage()
        for r in caplog.records
        if r.name == "ome_writers"
        and r.levelno == logging.INFO
        and str(folder) in r.getMessage()
    ]
    assert len(opened) == 1
    message = opened[0]
    for name in ("multi_p000.ome.tiff", "multi_p001.ome.tiff"):
        assert str(folder / name) in message
        assert (folder / name).is_file()
