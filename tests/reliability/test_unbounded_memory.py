"""An unbounded stream of 100,000 small frames keeps its memory flat.

Resident memory is read from /proc (Linux); the figures are printed for the
record (``pytest -s``). Nothing per frame is kept unless the caller passes
``frame_metadata``. Measured on the default backend: the scratch format keeps
the frames themselves in memory, OME-TIFF keeps one small record per page for
its OME-XML, and acquire-zarr itself grows by ~0.7 KiB per frame (the library
alone, without ome-writers, grows the same).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/self/statm"
)
FRAMES = 100_000


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


def _blocks_committed() -> None:
    """Wait until the blocks a writer keeps are resident: their memory is
    committed by a thread of their own, a fixed amount whenever it lands."""
    for thread in threading.enumerate():
        if thread.name == "ome-writers-commit":
            thread.join()


def test_rss_flat_from_1k_to_100k_frames(tmp_path: Path) -> None:
    pytest.importorskip("tensorstore")
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "long.ome.zarr"),
        format="tensorstore",
        dimensions=[
            Dimension(name="t", count=None),
            Dimension(name="y", count=16),
            Dimension(name="x", count=16),
        ],
        dtype="uint16",
    )
    frame = np.ones((16, 16), "uint16")
    with create_stream(settings, checkpoint_seconds=None) as stream:
        for _ in range(1_000):
            stream.append(frame)
        _blocks_committed()
        at_1k = _rss_mib()
        for _ in range(FRAMES - 1_000):
            stream.append(frame)
        at_100k = _rss_mib()
        view = stream.view()
        assert view.shape[0] == FRAMES
    print(f"tensorstore: RSS {at_1k:.1f} MiB at 1k frames, {at_100k:.1f} at 100k")
    # 99,000 more frames: no per-frame state (a leak of 100 bytes per frame
    # would already add ~9.4 MiB)
    assert at_100k - at_1k < 8, (at_1k, at_100k)
