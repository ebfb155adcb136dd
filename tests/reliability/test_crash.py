"""A writer process killed with SIGKILL leaves a readable dataset.

Every frame appended before the last checkpoint is there, read by independent
readers (after ``ome-writers repair`` for OME-TIFF).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaozarrs
import zarr

from ome_writers.cli import main

SHAPE = (6, 5)
CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from ome_writers import AcquisitionSettings, Dimension, create_stream

    backend, root, unbounded = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    settings = AcquisitionSettings(
        root_path=root, format=backend,
        dimensions=[Dimension(name="t", count=None if unbounded else 50),
                    Dimension(name="c", count=2),
                    Dimension(name="y", count=6), Dimension(name="x", count=5)],
        dtype="uint16",
    )
    stream = create_stream(settings, checkpoint_seconds=None)
    def frame(n):
        base = np.arange(30, dtype="uint16").reshape(6, 5)
        return (base + 100 * (n + 1)).astype("uint16")
    for n in range(11):
        stream.append(frame(n), frame_metadata={"n": n})
    stream.checkpoint()
    for n in range(11, 14):  # after the checkpoint: may or may not survive
        stream.append(frame(n))
    print("READY", flush=True)
    time.sleep(120)
    """
)
BACKENDS = ["tensorstore", "zarr-python", "zarrs-python", "tifffile", "scratch"]


def _frame(n: int) -> np.ndarray:
    return (np.arange(30, dtype="uint16").reshape(SHAPE) + 100 * (n + 1)).astype(
        "uint16"
    )


def _kill_after_checkpoint(backend: str, root: Path, unbounded: bool) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, backend, str(root), "1" if unbounded else "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "READY", line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()


@pytest.mark.parametrize("unbounded", [True, False])
@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_after_checkpoint(
    tmp_path: Path, backend: str, unbounded: bool
) -> None:
    suffix = {"tifffile": ".ome.tiff", "scratch": ""}.get(backend, ".ome.zarr")
    root = tmp_path / f"crash{suffix}"
    _kill_after_checkpoint(backend, root, unbounded)
    if backend == "tifffile":
        assert main(["repair", str(root)]) == 0
        with tifffile.TiffFile(root) as tif:
            assert tif.is_ome
            data = tif.series[0].asarray().reshape(-1, *SHAPE)
        import ome_types

        ome_types.from_tiff(root)
    elif backend == "scratch":
        manifest = json.loads((root / "manifest.json").read_text())
        shape = manifest["allocated_shapes"][0]
        raw = np.memmap(
            root / "pos_0.dat", dtype="uint16", mode="r", shape=tuple(shape)
        )
        data = np.asarray(raw).reshape(-1, *SHAPE)
    else:
        yaozarrs.validate_zarr_store(str(root))
        data = zarr.open_array(str(root / "0"), mode="r")[...].reshape(-1, *SHAPE)
        attrs = json.loads((root / "zarr.json").read_text())["attributes"]
        assert len(attrs["ome_writers"]["frame_metadata"]) == 11
    for n in range(11):
        np.testing.assert_array_equal(data[n], _frame(n))
