"""Tables from a pymmcore-plus MDA: a frameReady callback adds one row per
frame through the handler, keyed by the event's frame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pq = pytest.importorskip("pyarrow.parquet")
useq = pytest.importorskip("useq")
pytest.importorskip("pymmcore_plus")

from ome_writers.adapters.demo_camera import decode_frame_counter, demo_core  # noqa: E402
from ome_writers.adapters.pymmcore_plus import OMEWriterHandler  # noqa: E402


@pytest.mark.parametrize("connect_after_run_starts", [False, True])
def test_frame_ready_callback_writes_a_row_per_frame(
    tmp_path: Path, connect_after_run_starts: bool
) -> None:
    core = demo_core(width=32, height=24)
    seq = useq.MDASequence(
        time_plan={"interval": 0, "loops": 2},
        stage_positions=[(0.0, 0.0, 0.0), (10.0, 10.0, 0.0)],
        channels=["DAPI", "FITC"],
        z_plan={"range": 2, "step": 1},  # 3 planes
    )
    handler = OMEWriterHandler(tmp_path / "mda.ome.zarr", overwrite=True)
    seen: list[dict[str, Any]] = []

    def analyse(img: np.ndarray, event: Any, meta: Any) -> None:
        counter = decode_frame_counter(img)
        handler.write_row(
            "cells", {"counter": counter, "mean": float(img[1:].mean())}, event=event
        )
        seen.append({**dict(event.index), "counter": counter})

    if connect_after_run_starts:
        # connected once the run started
        core.mda.events.sequenceStarted.connect(
            lambda *_: core.mda.events.frameReady.connect(analyse)
        )
    else:  # connected before the run: called before the handler appends
        core.mda.events.frameReady.connect(analyse)
    core.mda.run(seq, output=handler)
    core.mda.events.frameReady.disconnect(analyse)
    assert handler.stream is not None and handler.stream.closed
    rows = pq.read_table(tmp_path / "mda.ome.zarr" / "tables" / "cells").to_pylist()
    assert len(rows) == len(seen) == 2 * 2 * 2 * 3
    rows.sort(key=lambda r: r["frame"])
    assert [r["frame"] for r in rows] == list(range(24))
    by_counter = {s["counter"]: s for s in seen}
    view = handler.view()
    assert view is not None
    for r in rows:
        event = by_counter[r["counter"]]
        assert (r["t"], r["position"], r["c"], r["z"]) == (
            event.get("t", 0),
            event.get("p", 0),
            event.get("c", 0),
            event.get("z", 0),
        )
        # the frame stored at those coordinates is the one analysed
        frame = np.asarray(view[r["t"], r["position"], r["c"], r["z"]])
        assert decode_frame_counter(frame) == r["counter"]


def test_rows_of_frames_not_appended_yet_wait(tmp_path: Path) -> None:
    """A row given before the handler has the event's frame is written
    with that frame; a row that never gets one is dropped at the end."""
    handler = OMEWriterHandler(tmp_path / "w.ome.zarr")
    core = demo_core(width=32, height=24)
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 3})
    events = list(seq)
    handler.write_row("cells", {"counter": -1}, event=events[1])  # no stream yet
    handler.write_row("cells", {"counter": -2}, event=useq.MDAEvent(index={"t": 9}))
    core.mda.run(seq, output=handler)
    rows = pq.read_table(tmp_path / "w.ome.zarr" / "tables" / "cells").to_pylist()
    assert [(r["frame"], r["t"], r["counter"]) for r in rows] == [(1, 1, -1)]


def test_label_planes_of_frames_not_appended_yet_wait(tmp_path: Path) -> None:
    """A label plane given before the handler has the event's frame is kept
    (copied: the caller may reuse its buffer) and written with that frame."""
    import zarr

    from ome_writers import AcquisitionSettings, LabelImage

    output = AcquisitionSettings(
        root_path=str(tmp_path / "w.ome.zarr"),
        labels=[LabelImage(name="cells", dtype="uint8")],
    )
    handler = OMEWriterHandler(output)
    core = demo_core(width=32, height=24)
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 3})
    events = list(seq)
    plane = np.full((24, 32), 5, "uint8")
    handler.write_label("cells", plane, events[2])  # no stream yet
    plane[:] = 9  # reused by the caller: the kept copy is written
    core.mda.run(seq, output=handler)
    stored = zarr.open_array(str(tmp_path / "w.ome.zarr" / "labels/cells/0"))[:]
    assert stored.shape[0] == 3
    assert not stored[:2].any()
    assert (stored[2] == 5).all()
