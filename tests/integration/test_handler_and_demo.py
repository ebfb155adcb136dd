"""OMEWriterHandler, the demo camera, and `ome-writers demo`."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

useq = pytest.importorskip("useq")
pytest.importorskip("pymmcore_plus")
pq = pytest.importorskip("pyarrow.parquet")
tifffile = pytest.importorskip("tifffile")
zarr = pytest.importorskip("zarr")

from ome_writers import AcquisitionSettings, Dimension  # noqa: E402
from ome_writers.adapters.demo_camera import (  # noqa: E402
    decode_frame_counter,
    demo_core,
    encode_frame_counter,
)
from ome_writers.adapters.pymmcore_plus import OMEWriterHandler  # noqa: E402
from ome_writers.tools.cli import main  # noqa: E402


def test_demo_camera() -> None:
    core = demo_core(width=64, height=48, bit_depth=12)
    assert core.getPixelSizeUm() == 0.5
    assert set(core.getAvailableConfigs("Channel")) == {"DAPI", "FITC", "Cy5"}
    images = {}
    for name in ("DAPI", "FITC"):
        core.setConfig("Channel", name)
        core.snapImage()
        images[name] = core.getImage()
    assert images["DAPI"].shape == (48, 64)
    assert images["DAPI"].dtype == np.uint16
    assert images["DAPI"].max() <= 4095  # 12-bit camera
    assert [decode_frame_counter(i) for i in images.values()] == [0, 1]
    assert not np.array_equal(images["DAPI"][1:], images["FITC"][1:])  # channel differs
    assert images["DAPI"][1:].std() > 10  # structure and noise, not a flat frame
    core.setXYPosition(10, 20)
    core.setZPosition(3)
    assert tuple(core.getXYPosition()) == (10, 20)
    assert core.getZPosition() == 3
    assert demo_core(pixel_size_um=None).getPixelSizeUm() == 0


@pytest.mark.parametrize(
    ("dtype", "bits"), [("uint8", 8), ("uint16", 16), ("uint16", 12)]
)
def test_counter_round_trip(dtype: str, bits: int) -> None:
    frame = np.zeros((4, 8), dtype)
    for n in (0, 1, 255, 4096, 123_456):
        encode_frame_counter(frame, n, bits)
        assert decode_frame_counter(frame, bits) == n


def test_handler_with_per_frame_metadata(tmp_path: Path) -> None:
    core = demo_core(width=32, height=24)
    seq = useq.MDASequence(
        time_plan={"interval": 0, "loops": 2},
        channels=["DAPI", "Cy5"],
        stage_positions=[(1.0, 2.0, 3.0)],
    )
    handler = OMEWriterHandler(tmp_path / "h.ome.zarr", overwrite=True)
    core.mda.run(seq, output=handler)
    assert handler.stream is not None
    assert handler.stream.closed
    view = handler.view()
    assert view is not None
    assert view.dims == ("t", "p", "c", "y", "x")  # useq's axis order tpgcz
    assert view.shape == (2, 1, 2, 24, 32)  # one stage position: a p axis of 1
    root = tmp_path / "h.ome.zarr"
    attrs = json.loads((root / "zarr.json").read_text())["attributes"]
    assert "summary_metadata" in attrs["pymmcore_plus"]
    frames = attrs["ome_writers"]["frame_metadata"]
    assert len(frames) == 4
    first = frames[0]
    assert first["camera"] == "Camera"
    assert first["position_x"] == 1.0
    assert first["event_index"]["c"] == 0
    assert first["properties"]["Camera-fluorophore"] == "DAPI"


def test_handler_closes_when_the_relay_drops_sequence_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pymmcore-plus's relay thread can stop before it queues sequenceFinished
    (its stop flag is set first); the stream still closes before the run
    returns, with every frame and table row written."""
    from pymmcore_plus.mda._thread_relay import MDARelayThread

    delivered: list[str] = []
    monkeypatch.setattr(
        MDARelayThread, "sequenceFinished", lambda self, *a: delivered.append("x")
    )
    core = demo_core(width=32, height=24)
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 3}, channels=["DAPI"])
    handler = OMEWriterHandler(tmp_path / "r.ome.zarr")

    def analyse(img: np.ndarray, event: Any, meta: Any) -> None:
        handler.write_row("cells", {"counter": decode_frame_counter(img)}, event=event)

    core.mda.events.frameReady.connect(analyse)
    try:
        core.mda.run(seq, output=handler)
    finally:
        core.mda.events.frameReady.disconnect(analyse)
    assert delivered == ["x"]  # the event reached the relay and went nowhere
    assert handler.stream is not None and handler.stream.closed
    data = zarr.open_array(str(tmp_path / "r.ome.zarr" / "0"), mode="r")[:]
    counters = [decode_frame_counter(plane) for plane in data.reshape(-1, 24, 32)]
    assert counters == list(range(counters[0], counters[0] + 3))
    rows = pq.read_table(tmp_path / "r.ome.zarr" / "tables" / "cells").to_pylist()
    assert sorted(r["frame"] for r in rows) == [0, 1, 2]


def test_handler_closes_a_stream_whose_thread_ended(tmp_path: Path) -> None:
    """Driven from a thread that ends without sequenceFinished, the stream
    is closed by the time the thread is joined; a later sequenceFinished
    is harmless."""
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 2})
    info = {"camera_label": "Camera", "width": 32, "height": 24, "dtype": "uint16"}
    meta = {"image_infos": [info]}
    handler = OMEWriterHandler(tmp_path / "t.ome.tiff")
    frames = [np.full((24, 32), i, dtype=np.uint16) for i in range(2)]

    def run() -> None:
        handler.sequenceStarted(seq, meta)
        for frame, event in zip(frames, seq, strict=True):
            handler.frameReady(frame, event, {})

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert handler.stream is not None and handler.stream.closed
    written = tifffile.imread(tmp_path / "t.ome.tiff")
    assert written.reshape(2, 24, 32).tolist() == np.stack(frames).tolist()
    handler.sequenceFinished(seq)  # late: nothing left to do


def test_handler_with_explicit_settings() -> None:
    core = demo_core(width=32, height=24)
    settings = AcquisitionSettings(
        format="memory",
        dimensions=[
            Dimension(name="t", count=None),
            Dimension(name="y", count=24),
            Dimension(name="x", count=32),
        ],
        dtype="uint16",
    )
    handler = OMEWriterHandler(settings)
    core.mda.run(
        useq.MDASequence(time_plan={"interval": 0, "loops": 3}), output=handler
    )
    view = handler.view()
    assert view is not None
    assert view.shape == (3, 24, 32)
    counters = [decode_frame_counter(np.asarray(view[i])) for i in range(3)]
    assert counters == list(range(counters[0], counters[0] + 3))


def test_cli_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "demo",
            "--output",
            str(tmp_path),
            "--t",
            "2",
            "--z",
            "2",
            "--c",
            "2",
            "--positions",
            "2",
            "--width",
            "32",
            "--height",
            "24",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    # what each run will write, before it runs
    lines = out.splitlines()
    assert lines[0].startswith("demo.ome.zarr: 16 frames, about ")
    assert lines[0].endswith(" kB on disk")
    assert any(line.startswith("demo.ome.tiff: 16 frames, about ") for line in lines)
    assert out.count("  valid") == 2
    assert "every frame present once: True" in out
    assert (tmp_path / "demo.ome.zarr" / "zarr.json").is_file()
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [
        "demo_p000.ome.tiff",
        "demo_p001.ome.tiff",
    ]


def test_cli_demo_uncalibrated_single_format(tmp_path: Path, capsys: Any) -> None:
    code = main(
        [
            "demo",
            "--output",
            str(tmp_path),
            "--format",
            "ome.tiff",
            "--positions",
            "1",
            "--width",
            "32",
            "--height",
            "24",
            "--pixel-size",
            "0",
        ]
    )
    assert code == 0, capsys.readouterr().out
    assert (tmp_path / "demo.ome.tiff").is_file()
