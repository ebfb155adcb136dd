"""A killed unbounded acquisition declares the frames written, not room ahead.

A child appends an unbounded time-lapse and is killed with SIGKILL. Without
``ome-writers repair``, every array's ``zarr.json`` (``.zarray`` in OME-Zarr
0.4; pyramid levels too) declares along t at least the frames appended a loss
window before the kill and at most the frames appended, and every declared
frame reads back pixel-exact with zarr-python and tensorstore: nothing
declared is absent.
"""

from __future__ import annotations

import json
import signal
from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

from tests.backends.params import backend_params

from ._crash_matrix import LOSS_WINDOW, Kill, Layout, expected_frame, run_kills

if TYPE_CHECKING:
    from pathlib import Path

T = {"name": "t", "count": None, "type": "time"}
LAYOUTS = [
    # the reported case: one unbounded axis, 100 frames per second
    Layout("time-lapse", (T,), period=0.01),
    Layout(
        "positions-pyramid",
        (T, {"name": "p", "count": 2, "type": "position"}),
        options=(("pyramid", 2),),
    ),
    # OME-Zarr 0.4: Zarr v2 arrays, declared in ``.zarray``
    Layout(
        "positions-pyramid-ngff04",
        (T, {"name": "p", "count": 2, "type": "position"}),
        options=(("pyramid", 2), ("ngff_version", "0.4")),
    ),
]
BACKENDS = backend_params(format="ome-zarr", names=["tensorstore", "zarr-python"])


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
@pytest.mark.parametrize("backend", BACKENDS)
def test_killed_time_lapse_declares_the_frames_written(
    tmp_path: Path, backend: str, layout: Layout
) -> None:
    kills = run_kills(backend, layout, tmp_path, ".ome.zarr", 2)
    problems = []
    for kill in kills:
        found = _check(kill)
        if found:
            problems += [kill.describe(), *(f"    {p}" for p in found)]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def _reduced(frame: np.ndarray) -> np.ndarray:
    """Level 1 of a uint16 frame: 2x2 means, rounded half up."""
    h, w = frame.shape
    blocks = frame.astype(np.int64).reshape(h // 2, 2, w // 2, 2).sum(axis=(1, 3))
    return ((blocks + 2) // 4).astype(frame.dtype)


def _check(kill: Kill) -> list[str]:
    if kill.error:
        return [f"the writer was not killed as planned: {kill.error}\n{kill.stderr}"]
    if kill.returncode != -signal.SIGKILL:
        return [f"the writer ended with {kill.returncode}:\n{kill.stderr}"]
    import tensorstore as ts

    layout = kill.layout
    durable = kill.frames_before(LOSS_WINDOW)
    # the append after the last one reported may have returned unreported
    appended = len(kill.returned) + 1
    levels = dict(layout.options).get("pyramid", 1)
    problems = []
    for position in range(layout.positions):
        image = kill.root if layout.positions == 1 else kill.root / str(position)

        low, high = (
            max(
                (
                    t + 1
                    for p, (t,) in map(layout.locate, range(frames))
                    if p == position
                ),
                default=0,
            )
            for frames in (durable, appended)
        )
        for level in range(levels):
            path = image / str(level)
            where = f"position {position}, level {level}"
            v3 = (path / "zarr.json").is_file()
            document = path / ("zarr.json" if v3 else ".zarray")
            declared = json.loads(document.read_text())["shape"][0]
            if not low <= declared <= high:
                problems.append(
                    f"{where}: {document.name} declares t={declared}, expected "
                    f"{low}..{high} ({durable} frames appended a loss window "
                    f"before the kill, {len(kill.returned)} in all)"
                )
            spec = {
                "driver": "zarr3" if v3 else "zarr",
                "kvstore": {"driver": "file", "path": str(path)},
            }
            reads = {
                "zarr-python": np.asarray(
                    zarr.open_array(path, mode="r", zarr_format=3 if v3 else 2)[...]
                ),
                "tensorstore": np.asarray(
                    ts.open(spec, open=True, read=True).result().read().result()
                ),
            }
            for reader, data in reads.items():
                if data.shape[0] != declared:
                    problems.append(f"{where}: {reader} reads t={data.shape[0]}")
                wrong = []
                for t in range(data.shape[0]):
                    n = layout.frame_number(position, (t,))
                    want = expected_frame(n)
                    if level:
                        want = _reduced(want)
                    if not np.array_equal(data[t], want):
                        wrong.append(t)
                if wrong:
                    problems.append(
                        f"{where}: {reader}: declared t {wrong[:10]} "
                        f"({len(wrong)} in all) are not the frames appended"
                    )
    return problems
