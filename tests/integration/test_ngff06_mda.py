"""An MDA run of the demo camera into NGFF 0.6rc0: the scene holds the
sequence's stage positions, t holds the times pymmcore-plus reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

useq = pytest.importorskip("useq")
pytest.importorskip("pymmcore_plus")

from ome_writers import AcquisitionSettings, OmeZarrFormat  # noqa: E402
from ome_writers.adapters.demo_camera import decode_frame_counter, demo_core  # noqa: E402
from ome_writers.adapters.pymmcore_plus import OMEWriterHandler  # noqa: E402
from tests.backends.readers import read_zarr  # noqa: E402
from tests.metadata.ngff06_schemas import FIELD, validate_dataset  # noqa: E402

STAGE = [(10.0, 20.0, 1.0), (-150.0, 75.5, 2.0), (300.0, -40.0, 3.0)]


@pytest.mark.parametrize("backend", ["tensorstore", "acquire-zarr"])
def test_mda_run_into_ngff_06(tmp_path: Path, backend: str) -> None:
    pytest.importorskip(backend.replace("-", "_"))
    seq = useq.MDASequence(
        time_plan={"interval": 0.05, "loops": 3},
        stage_positions=[
            {"x": x, "y": y, "z": z, "name": f"s{k}"}
            for k, (x, y, z) in enumerate(STAGE)
        ],
        channels=["DAPI", "FITC"],
        axis_order="tpc",
    )
    core = demo_core(width=32, height=24)
    root = tmp_path / "run.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        format=OmeZarrFormat(backend=backend, ngff_version="0.6rc0"),
    )
    handler = OMEWriterHandler(settings)
    reported: dict[tuple[int, int], float] = {}  # (p, t) -> earliest delta_t

    @core.mda.events.frameReady.connect
    def _time(_img: Any, event: Any, meta: Any) -> None:
        key = (event.index["p"], event.index["t"])
        seconds = meta["runner_time_ms"] / 1000
        reported[key] = min(reported.get(key, np.inf), seconds)

    core.mda.run(seq, output=handler)

    checked = validate_dataset(root)
    assert checked["."] == ["bf2raw", "scene"]
    ome = json.loads((root / "zarr.json").read_text())["attributes"]["ome"]
    scene = {
        t["input"]["path"]: t["translation"]
        for t in ome["scene"]["coordinateTransformations"]
    }
    # t, c, y, x (no z axis): the stage's y and x in micrometres
    assert scene == {f"s{k}": [0.0, 0.0, y, x] for k, (x, y, _) in enumerate(STAGE)}

    events = list(seq.iter_events())
    for k in range(len(STAGE)):
        image = root / f"s{k}"
        assert checked[f"s{k}/coordinateTransformations/acquisition_time"] == [FIELD]
        attributes = json.loads((image / "zarr.json").read_text())["attributes"]
        records = attributes["ome_writers"]["frame_metadata"]
        first: dict[int, float] = {}
        for record in records:
            t = record["storage_index"][0]
            first[t] = min(first.get(t, np.inf), record["delta_t"])
        assert len(first) == 3
        times = read_zarr(image / "coordinateTransformations/acquisition_time/0")
        assert times.data[:, 0].tolist() == [first[t] for t in range(3)]
        assert times.data[:, 0].tolist() == [reported[(k, t)] for t in range(3)]
        assert np.all(np.diff(times.data[:, 0]) > 0)
        # pixels: the demo camera's frame counter, in acquisition order
        data = read_zarr(image / "0").data
        assert data.shape == (3, 2, 24, 32)
        for n, event in enumerate(events):
            if event.index["p"] == k:
                plane = data[event.index["t"], event.index["c"]]
                assert decode_frame_counter(plane) == n
