"""A 12-bit camera through `mda.run`: its bit depth and the display the user set.

The demo camera's bit depth is its pixel format (``core.getImageBitDepth()``);
`OMEWriterHandler` takes it from pymmcore-plus's summary metadata, and
pymmcore-plus's own sink (``output=`` settings) from the settings given. The
display settings are set mid-run, at a frame, as a viewer's user does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

useq = pytest.importorskip("useq")
pytest.importorskip("pymmcore_plus")

import ome_types  # noqa: E402
import tifffile  # noqa: E402
import zarr  # noqa: E402

import ome_writers  # noqa: E402
from ome_writers import AcquisitionSettings  # noqa: E402
from ome_writers.adapters.demo_camera import demo_core  # noqa: E402
from ome_writers.adapters.pymmcore_plus import (  # noqa: E402
    OMEWriterHandler,
    camera_bits,
)

SEQUENCE = useq.MDASequence(
    time_plan={"interval": 0, "loops": 3}, channels=["DAPI", "FITC"]
)
SUFFIXES = [".ome.zarr", ".ome.tiff"]


def _ome_xml(path: Path) -> ome_types.OME:
    """The OME-XML of an OME-TIFF, or an OME-Zarr's ``OME/METADATA.ome.xml``,
    validated against the OME schema."""
    if path.suffix == ".tiff":
        with tifffile.TiffFile(path) as tif:
            return ome_types.from_xml(tif.ome_metadata, validate=True)
    text = (path / "OME" / "METADATA.ome.xml").read_text(encoding="utf-8")
    return ome_types.from_xml(text, validate=True)


def _check_12_bits(path: Path) -> None:
    """SignificantBits=12 (OME-TIFF and METADATA.ome.xml), NGFF windows
    within 0..4095 (OME-Zarr)."""
    assert _ome_xml(path).images[0].pixels.significant_bits == 12
    if path.suffix == ".tiff":
        return
    omero = zarr.open_group(path, mode="r").attrs["ome"]["omero"]
    for channel in omero["channels"]:
        window = channel["window"]
        assert (window["min"], window["max"]) == (0.0, 4095.0)
        assert 0 <= window["start"] <= window["end"] <= 4095


class _ViewerHandler(OMEWriterHandler):
    """A handler whose viewer's user, at the third frame, shows FITC in red
    over 100..2000, then hides it."""

    frames = 0

    def frameReady(self, img: np.ndarray, event: Any, meta: Any) -> None:
        super().frameReady(img, event, meta)
        self.frames += 1
        if self.frames == 3:
            assert self.stream is not None
            self.stream.set_channel_display(
                "FITC", color="red", contrast_limits=(100, 2000), visible=False
            )


def _check_display(path: Path) -> None:
    """What the user set, read by ours and by ome-types (the Channel's Color)
    and zarr-python (NGFF ``omero``)."""
    with ome_writers.open(path) as view:
        fitc = view.channels[1]
    assert (fitc.name, fitc.color, fitc.window, fitc.visible) == (
        "FITC",
        "#FF0000",
        (100.0, 2000.0),
        False,
    )
    channels = _ome_xml(path).images[0].pixels.channels
    assert [c.name for c in channels] == ["DAPI", "FITC"]
    assert channels[1].color.as_rgb_tuple(alpha=False) == (255, 0, 0)
    if path.suffix == ".tiff":
        return
    omero = zarr.open_group(path, mode="r").attrs["ome"]["omero"]
    shown = omero["channels"][1]
    window = shown["window"]
    assert (shown["color"], window["start"], window["end"], shown["active"]) == (
        "FF0000",
        100.0,
        2000.0,
        False,
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_handler_takes_the_cameras_bit_depth(tmp_path: Path, suffix: str) -> None:
    core = demo_core(width=32, height=24, bit_depth=16)
    core.setProperty("Camera", "PixelFormat", "Mono12")  # the camera set to 12 bits
    assert core.getImageBitDepth() == 12
    path = tmp_path / f"run{suffix}"
    handler = _ViewerHandler(path, overwrite=True)
    core.mda.run(SEQUENCE, output=handler)
    assert handler.settings is not None
    assert handler.settings.significant_bits == 12
    view = handler.view()
    assert view is not None and int(np.asarray(view).max()) <= 4095
    _check_12_bits(path)
    _check_display(path)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_mda_run_with_settings_of_the_camera(tmp_path: Path, suffix: str) -> None:
    """pymmcore-plus's own sink keeps the settings' significant_bits."""
    core = demo_core(width=32, height=24, bit_depth=12)
    path = tmp_path / f"run{suffix}"
    settings = AcquisitionSettings(
        root_path=str(path), overwrite=True, significant_bits=core.getImageBitDepth()
    )
    core.mda.run(SEQUENCE, output=settings)
    _check_12_bits(path)


def test_handler_keeps_explicit_significant_bits(tmp_path: Path) -> None:
    core = demo_core(width=32, height=24, bit_depth=12)
    base = AcquisitionSettings(
        root_path=str(tmp_path / "run.ome.zarr"), significant_bits=14
    )
    handler = OMEWriterHandler(base)
    core.mda.run(SEQUENCE, output=handler)
    assert handler.settings is not None
    assert handler.settings.significant_bits == 14


@pytest.mark.parametrize(
    ("infos", "bits"),
    [
        ([{"pixel_format": "Mono12", "dtype": "uint16"}], 12),
        ([{"pixel_format": "Mono12", "dtype": "uint16"}] * 2, 12),
        (
            [
                {"pixel_format": "Mono12", "dtype": "uint16"},
                {"pixel_format": "Mono10", "dtype": "uint16"},
            ],
            None,
        ),
        ([{"pixel_format": "RGB8", "dtype": "uint8"}], None),
        ([{"pixel_format": "Mono16", "dtype": "uint8"}], None),
        ([{"dtype": "uint16"}], None),
    ],
)
def test_camera_bits(infos: list[dict[str, Any]], bits: int | None) -> None:
    assert camera_bits(infos) == bits
