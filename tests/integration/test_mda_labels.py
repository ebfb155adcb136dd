"""An analysis beside an MDA run writes label images through
`OMEWriterHandler.write_label`: some events only, some later and out of
order; ome-zarr-py reads them as labels of the right image."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import yaozarrs

useq = pytest.importorskip("useq")
pytest.importorskip("pymmcore_plus")

from ome_writers import AcquisitionSettings, LabelImage  # noqa: E402
from ome_writers.adapters.demo_camera import demo_core  # noqa: E402
from ome_writers.adapters.pymmcore_plus import OMEWriterHandler  # noqa: E402

if TYPE_CHECKING:
    from pathlib import Path

W, H = 32, 24


class Analysis:
    """Thresholds each frame: z 0 labelled at once, z 1 of the first channel
    a few frames later (newest first), the other frames never."""

    def __init__(self, handler: OMEWriterHandler) -> None:
        self.handler = handler
        self.waiting: list[tuple[Any, np.ndarray]] = []
        self.written: dict[tuple[int, int, int], np.ndarray] = {}  # (p, t, z)
        self.frames_seen = 0

    def frameReady(self, img: np.ndarray, event: Any, meta: Any) -> None:
        self.frames_seen += 1
        index = event.index
        mask = (img > img.mean() + img.std()).astype("uint16") * (index["p"] + 1)
        if index["z"] == 0:
            self.write(mask, event)
        elif index["c"] == 0:
            self.waiting.append((event, mask))
        if len(self.waiting) >= 3 or self.frames_seen == 16:
            for waiting, data in reversed(self.waiting):
                self.write(data, waiting)
            self.waiting.clear()

    def write(self, mask: np.ndarray, event: Any) -> None:
        self.handler.write_label("cells", mask, event)
        index = event.index
        self.written[(index["p"], index["t"], index["z"])] = mask


def test_mda_analysis_writes_labels(tmp_path: Path) -> None:
    core = demo_core(width=W, height=H)
    seq = useq.MDASequence(
        time_plan={"interval": 0, "loops": 2},
        stage_positions=[(0.0, 0.0, 0.0), (50.0, 50.0, 0.0)],
        channels=["DAPI", "FITC"],
        z_plan={"range": 1, "step": 1},
        axis_order="tpcz",
    )
    root = tmp_path / "run.ome.zarr"
    handler = OMEWriterHandler(
        AcquisitionSettings(
            root_path=str(root), labels=[LabelImage(name="cells", dtype="uint16")]
        )
    )
    analysis = Analysis(handler)
    events = core.mda.events
    events.sequenceStarted.connect(handler.sequenceStarted)
    events.frameReady.connect(handler.frameReady)
    events.frameReady.connect(analysis.frameReady)  # after the handler's
    events.sequenceFinished.connect(handler.sequenceFinished)
    try:
        core.mda.run(seq)
    finally:
        for signal, slot in (
            (events.sequenceStarted, handler.sequenceStarted),
            (events.frameReady, handler.frameReady),
            (events.frameReady, analysis.frameReady),
            (events.sequenceFinished, handler.sequenceFinished),
        ):
            signal.disconnect(slot)
    assert analysis.frames_seen == 16
    assert not analysis.waiting
    assert handler.stream is not None and handler.stream.closed
    assert len(analysis.written) == 8  # z 0 and z 1 of each (p, t)
    assert any(m.any() for m in analysis.written.values())

    expected = np.zeros((2, 2, 1, 2, H, W), "uint16")  # p, t, c, z, y, x
    for (p, t, z), mask in analysis.written.items():
        expected[p, t, 0, z] = mask
    view = handler.view()
    assert view is not None and view.dims == ("t", "p", "c", "z", "y", "x")

    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    logging.getLogger("ome_zarr").setLevel(logging.ERROR)
    for p in range(2):
        image = root / str(p)
        yaozarrs.validate_zarr_store(str(image))
        location = parse_url(str(image))
        assert location is not None
        nodes = list(Reader(location)())
        labels = [n for n in nodes if n.load(Label) is not None]
        assert [n.metadata["name"] for n in labels] == ["cells"]
        np.testing.assert_array_equal(np.asarray(labels[0].data[0]), expected[p])


def test_frame_of_an_event() -> None:
    core = demo_core(width=W, height=H)
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 3}, channels=["DAPI"])
    handler = OMEWriterHandler("memory")
    core.mda.run(seq, output=handler)
    events = list(seq)
    assert [handler.frame_of(e) for e in events] == [0, 1, 2]
    assert handler.frame_of({"t": 2}) == 2
    assert handler.frame_of({"t": 1, "c": 0, "p": 0}) == 1
    with pytest.raises(KeyError, match=r"no frame of the event with index \{'t': 3\}"):
        handler.frame_of({"t": 3})
    with pytest.raises(KeyError, match="no frame of the event"):
        handler.frame_of({"t": 0, "g": 1})  # an axis the run did not have
    with pytest.raises(TypeError, match="MDAEvent or its index mapping"):
        handler.frame_of(3)
