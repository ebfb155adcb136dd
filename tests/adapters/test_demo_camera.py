"""The hardware-free demo microscope: camera, stages, channels, pixel size, MDA."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

useq = pytest.importorskip("useq")

from ome_writers.adapters.demo_camera import (  # noqa: E402
    COUNTER_PIXELS,
    decode_frame_counter,
    demo_core,
    encode_frame_counter,
)


def test_snap_images() -> None:
    core = demo_core(width=64, height=48, bit_depth=12)
    assert core.getCameraDevice() == "Camera"
    assert core.getProperty("Camera", "PixelFormat") == "Mono12"
    assert (core.getImageWidth(), core.getImageHeight()) == (64, 48)
    images = []
    for _ in range(3):
        core.snapImage()
        images.append(core.getImage())
    assert [decode_frame_counter(i) for i in images] == [0, 1, 2]
    first = images[0]
    assert first.shape == (48, 64)
    assert first.dtype == np.uint16
    assert first.max() < 2**12
    body = first[1:].astype(float)
    assert body.std() > 10  # structure and noise, not a flat frame
    assert not np.array_equal(images[0][1:], images[1][1:])  # fresh noise per frame
    # a smooth background: the row means vary slowly, the pixels do not
    assert np.abs(np.diff(body.mean(axis=1))).mean() < body.std()


def test_channel_presets_and_exposure_change_the_image() -> None:
    core = demo_core(width=64, height=48)
    assert core.getChannelGroup() == "Channel"
    assert set(core.getAvailableConfigs("Channel")) == {"DAPI", "FITC", "Cy5"}
    means = {}
    for name in ("DAPI", "FITC", "Cy5"):
        core.setConfig("Channel", name)
        assert core.getCurrentConfig("Channel") == name
        assert core.getProperty("Camera", "fluorophore") == name
        core.snapImage()
        means[name] = core.getImage()[1:].astype(float)
    assert not np.allclose(means["DAPI"], means["FITC"], atol=50)
    assert not np.allclose(means["FITC"], means["Cy5"], atol=50)
    core.setExposure(5)
    core.snapImage()
    short = core.getImage()[1:].mean()
    core.setExposure(20)
    core.snapImage()
    assert core.getImage()[1:].mean() > short


@pytest.mark.parametrize(
    ("dtype", "bits"),
    [("uint8", 8), ("uint16", 10), ("uint16", 12), ("uint16", 16), ("uint32", 32)],
)
def test_dtypes_and_counter_round_trip(dtype: str, bits: int) -> None:
    core = demo_core(width=16, height=8, dtype=dtype, bit_depth=bits)
    core.snapImage()
    frame = core.getImage()
    assert frame.dtype == np.dtype(dtype)
    assert int(frame.max()) < 2**bits
    assert decode_frame_counter(frame, bits) == 0
    buffer = np.zeros((2, COUNTER_PIXELS), dtype)
    for n in (0, 1, 255, 4096, 123_456, 2**31 - 1):
        encode_frame_counter(buffer, n, bits)
        assert decode_frame_counter(buffer, bits) == n
        assert int(buffer.max()) < 2**bits


def test_bit_depth_is_settable_and_reported() -> None:
    """The camera's pixel format sets its bit depth, which the core reports
    (``getImageBitDepth``, as a C++ camera's core does), as pymmcore-plus's
    summary metadata does."""
    core = demo_core(width=16, height=8, bit_depth=12)
    assert core.getImageBitDepth() == 12
    assert core.getAllowedPropertyValues("Camera", "PixelFormat") == (
        "Mono8",
        "Mono10",
        "Mono12",
        "Mono14",
        "Mono16",
    )
    core.setProperty("Camera", "PixelFormat", "Mono10")
    assert core.getImageBitDepth() == 10
    core.snapImage()
    frame = core.getImage()
    assert int(frame.max()) < 2**10
    assert decode_frame_counter(frame, 10) == 0
    with pytest.raises(ValueError, match="not allowed"):
        core.setProperty("Camera", "PixelFormat", "Mono32")
    assert core.getImageBitDepth() == 10
    infos: list[Any] = []
    core.mda.events.sequenceStarted.connect(lambda _, meta: infos.append(meta))
    core.mda.run(useq.MDASequence())
    assert infos[0]["image_infos"][0]["pixel_format"] == "Mono10"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dtype": "float32"},
        {"dtype": "int16"},
        {"bit_depth": 20},
        {"dtype": "uint8", "bit_depth": 12},
        {"width": 2},
        {"pixel_size_um": -1.0},
    ],
)
def test_invalid_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        demo_core(**kwargs)


def test_sequence_acquisition() -> None:
    core = demo_core(width=32, height=24)
    core.snapImage()
    core.startSequenceAcquisition(5, 0, True)
    deadline = time.monotonic() + 30
    while core.isSequenceRunning() and time.monotonic() < deadline:
        time.sleep(0.005)
    frames = []
    while core.getRemainingImageCount():
        frames.append(core.popNextImage())
    assert [decode_frame_counter(f) for f in frames] == [1, 2, 3, 4, 5]
    assert all(f.shape == (24, 32) for f in frames)


def test_stages() -> None:
    core = demo_core(width=16, height=8)
    assert (core.getXYStageDevice(), core.getFocusDevice()) == ("XY", "Z")
    assert core.getShutterDevice() == "Shutter"
    core.setXYPosition(10.5, -20)
    core.setZPosition(3.25)
    core.waitForSystem()
    assert tuple(core.getXYPosition()) == (10.5, -20)
    assert core.getZPosition() == 3.25


@pytest.mark.parametrize(("given", "reported"), [(0.5, 0.5), (None, 0.0), (0, 0.0)])
def test_pixel_size(given: float | None, reported: float) -> None:
    core = demo_core(width=16, height=8, pixel_size_um=given)
    assert core.getPixelSizeUm() == reported
    core.setConfig("Channel", "FITC")  # calibration is not tied to a preset
    core.setExposure(20)
    assert core.getPixelSizeUm() == reported


SEQ = useq.MDASequence(
    channels=["DAPI", {"config": "Cy5", "exposure": 20}],
    stage_positions=[(10, 20, 1), {"x": 30, "y": 40, "z": 2, "name": "b"}],
    z_plan={"range": 2, "step": 1},
    time_plan={"interval": 0, "loops": 2},
    axis_order="tpcz",
)


def test_mda_frame_ready_in_event_order() -> None:
    core = demo_core(width=32, height=24)
    seen: list[tuple[Any, ...]] = []

    def on_frame(image: np.ndarray, event: Any, meta: dict[str, Any]) -> None:
        seen.append(
            (
                decode_frame_counter(image),
                event.channel.config,
                core.getProperty("Camera", "fluorophore"),
                core.getExposure(),
                (event.x_pos, event.y_pos, event.z_pos),
                (*core.getXYPosition(), core.getZPosition()),
            )
        )

    core.mda.events.frameReady.connect(on_frame)
    core.mda.run(SEQ)
    assert len(seen) == len(list(SEQ)) == 24
    counters = [s[0] for s in seen]
    assert counters == list(range(counters[0], counters[0] + 24))
    for _, config, dye, exposure, target, actual in seen:
        assert config == dye
        if config == "Cy5":  # DAPI keeps whatever exposure was set last
            assert exposure == 20
        assert tuple(actual) == pytest.approx(target)


def test_mda_time_lapse_uses_sequence_acquisition() -> None:
    core = demo_core(width=16, height=8)
    metas: list[dict[str, Any]] = []
    core.mda.events.frameReady.connect(lambda img, event, meta: metas.append(meta))
    core.mda.run(useq.MDASequence(time_plan={"interval": 0, "loops": 6}))
    assert len(metas) == 6
    # the engine sequences interval-0 time lapses on the camera
    assert all("camera_metadata" in m for m in metas)
    counters = [int(m["camera_metadata"]["frame_counter"]) for m in metas]
    assert counters == list(range(6))


def _check_view(core: Any, seq: Any) -> None:
    """Every event's frame sits where its index says, in acquisition order."""
    view = core.mda.get_view()
    events = list(seq)
    sizes = {"p": 2, "t": 2, "c": 2, "z": 3}
    assert dict(zip(view.dims, view.shape, strict=True)) == {**sizes, "y": 24, "x": 32}
    counters = [
        decode_frame_counter(
            np.asarray(view[tuple(e.index[d] for d in view.dims[:-2])])
        )
        for e in events
    ]
    assert counters == list(range(counters[0], counters[0] + len(events)))


def test_mda_to_memory() -> None:
    core = demo_core(width=32, height=24)
    core.mda.run(SEQ, output="memory")
    _check_view(core, SEQ)


@pytest.mark.parametrize("suffix", [".ome.zarr", ".ome.tiff"])
@pytest.mark.parametrize("pixel_size", [0.5, None])
def test_mda_to_files(tmp_path: Path, suffix: str, pixel_size: float | None) -> None:
    core = demo_core(width=32, height=24, pixel_size_um=pixel_size)
    core.mda.run(SEQ, output=str(tmp_path / f"run{suffix}"))
    _check_view(core, SEQ)
    assert any(tmp_path.iterdir())


SCRIPT = """
import useq
from ome_writers.adapters.demo_camera import demo_core
core = demo_core(width=16, height=8)
core.snapImage()
core.mda.run(useq.MDASequence(time_plan={"interval": 0, "loops": 3}), output="memory")
print(core.mda.get_view().shape)
"""


def test_script_exits_cleanly() -> None:
    """A core still alive at interpreter exit must not abort the process."""
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "(3, 8, 16)"
        assert "Micro-Manager" not in done.stderr  # no installation needed
