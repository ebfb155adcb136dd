"""`ome-writers demo --labels`: a label image per position, each plane the
threshold of its frame of the first channel, printed in the summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import yaozarrs
import zarr

pytest.importorskip("useq")
pytest.importorskip("pymmcore_plus")

from ome_writers.tools.cli import main

if TYPE_CHECKING:
    from pathlib import Path


def test_demo_labels(tmp_path: Path, capsys: Any) -> None:
    argv = ["demo", "--output", str(tmp_path), "--format", "both", "--labels"]
    argv += ["--t", "2", "--z", "2", "--width", "40", "--height", "30", "--levels", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    root = tmp_path / "demo.ome.zarr"
    for p in range(2):
        line = f"  pos{p}/labels/cells: shape (2, 1, 2, 30, 40) uint8, 4/4 planes"
        assert line in out, out
        image = np.asarray(zarr.open_array(str(root / f"pos{p}" / "0"), mode="r"))
        labels = zarr.open_array(str(root / f"pos{p}" / "labels" / "cells" / "0"))
        data = np.asarray(labels)
        values = image[:, 0].astype(np.float64)  # t, z, y, x of the first channel
        for t in range(2):
            for z in range(2):
                frame = values[t, z]
                want = frame > frame.mean() + 2 * frame.std()
                np.testing.assert_array_equal(data[t, 0, z], want.astype("uint8"))
        assert data.any()
        yaozarrs.validate_zarr_store(str(root / f"pos{p}"))
    assert "demo.ome.tiff: label images are written to OME-Zarr only" in out
