"""pymmcore-gui's default data path: output="memory" + a live ndv wrapper."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pymmcore_plus")
ndv_models = pytest.importorskip("ndv.models")
useq = pytest.importorskip("useq")

from .test_camera_buffer import CountingCamera  # noqa: E402


@pytest.fixture
def core() -> Any:
    from pymmcore_plus.experimental.unicore import UniMMCore

    core = UniMMCore()
    core.loadPyDevice("Cam", CountingCamera())
    core.initializeDevice("Cam")
    core.setCameraDevice("Cam")
    core.setExposure(1)
    core.setAutoShutter(False)  # this minimal core has no shutter
    return core


def test_ndv_wraps_live_view_during_memory_run(core: Any) -> None:
    seq = useq.MDASequence(time_plan={"interval": 0.01, "loops": 20})
    wrappers: list[Any] = []
    dims_changes: list[int] = []
    reads: list[np.ndarray] = []
    started = threading.Event()

    @core.mda.events.sequenceStarted.connect
    def _on_start(sequence: Any, meta: Any) -> None:
        view = core.mda.get_view()  # the stream exists, no frames yet
        wrapper = ndv_models.DataWrapper.create(view)
        assert type(wrapper).__name__ == "ArrayLikeWrapper"
        if hasattr(view, "coords_changed"):
            view.coords_changed.connect(lambda: dims_changes.append(1))
            view.coords_changed.connect(wrapper.dims_changed)
        wrappers.append(wrapper)
        started.set()

    thread = core.run_mda(seq, output="memory")
    assert started.wait(10)
    wrapper = wrappers[0]
    while thread.is_alive():  # the GUI thread slicing while frames arrive
        sizes = {k: len(v) for k, v in wrapper.coords.items()}
        if sizes["t"]:
            reads.append(np.asarray(wrapper.isel({0: sizes["t"] - 1})))
        time.sleep(0.005)
    thread.join()
    view = core.mda.get_view()
    assert view.shape[:-2] == (20,)
    assert wrapper.dims == ("t", "y", "x")
    assert len(wrapper.coords["t"]) == 20
    assert dims_changes, "coords_changed never fired"
    assert reads
    assert all(r.shape == view.shape[-2:] for r in reads)
    data = np.asarray(view)
    first = int(data[0, 0, 0])
    np.testing.assert_array_equal(data[:, 0, 0], np.arange(first, first + 20))
