"""The exact call sequence pymmcore-plus's OmeWritersSink makes.

Reproduced without pymmcore-plus so the contract is pinned in the core suite.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, ScratchFormat, create_stream

H, W = 6, 8


def _from_output(output: str | Path, overwrite: bool = False) -> AcquisitionSettings:
    text = str(output).rstrip("/:").lower()
    if text in ("memory", "scratch"):
        return AcquisitionSettings(format="scratch", overwrite=overwrite)
    return AcquisitionSettings(root_path=str(output), overwrite=overwrite)


def _fallback_dims(pixel_size: float) -> list[Dimension]:
    return [
        Dimension(name="t", count=None, chunk_size=1, type="time"),
        Dimension(name="y", count=H, chunk_size=H, scale=pixel_size, unit="micrometer"),
        Dimension(name="x", count=W, chunk_size=W, scale=pixel_size, unit="micrometer"),
    ]


def _setup(
    base: AcquisitionSettings,
    dims: list[Dimension],
    *,
    n_cameras: int = 1,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> AcquisitionSettings:
    useq_settings: dict[str, Any] = {"dimensions": dims, "plate": None}
    if overrides:
        useq_settings["dimensions"] = [
            d.model_copy(update=overrides[d.name]) if d.name in overrides else d
            for d in useq_settings["dimensions"]
        ]
    if n_cameras > 1:
        cam = Dimension(name="cam", count=n_cameras, type="other")
        current = useq_settings["dimensions"]
        useq_settings["dimensions"] = [*current[:-2], cam, *current[-2:]]
    return AcquisitionSettings.model_validate(
        {**base.model_dump(), **useq_settings, "dtype": "uint16"}
    )


@pytest.mark.parametrize("output", ["memory", "MEMORY:", "scratch/"])
def test_memory_outputs_and_equality(output: str) -> None:
    settings = _from_output(output)
    assert settings.format.name == "scratch"
    assert isinstance(settings.format, ScratchFormat)
    assert settings == AcquisitionSettings(format="scratch", overwrite=False)


def test_path_output_keeps_root(tmp_path: Path) -> None:
    dest = tmp_path / "x.ome.zarr"
    settings = _from_output(dest, overwrite=True)
    assert settings.root_path == str(dest)
    assert settings.format.name == "ome-zarr"
    tif = _from_output(tmp_path / "y.ome.tiff")
    assert tif.format.name == "ome-tiff"


def test_fallback_run_with_pixel_size_zero() -> None:
    settings = _setup(_from_output("memory"), _fallback_dims(0.0))
    stream = create_stream(settings)
    view = stream.view(dynamic_shape=True, strict=False)
    assert view.shape == (0, H, W)  # usable before the first frame
    stream.set_global_metadata("pymmcore_plus", {"summary_metadata": {"a": [1, 2]}})
    assert stream.get_metadata() is None  # scratch: the 0.18.1 path is skipped
    for i in range(5):
        img = np.full((H, W), i, dtype="uint16")
        stream.append(
            img,
            frame_metadata={
                "delta_t": i * 0.1,
                "exposure_time": 0.01,
                "position_x": 1.0,
                "position_y": 2.0,
            },
        )
        assert view.shape[:-2] == (i + 1,)  # readable while acquiring
    stream.skip(frames=2)
    stream.close()
    assert view.shape[:-2] == (7,)
    assert stream.view(dynamic_shape=True, strict=False).shape[:-2] == (7,)
    assert int(view[4].max()) == 4
    assert int(view[6].max()) == 0


def test_multi_camera_and_overrides() -> None:
    dims = [
        Dimension(name="t", count=2, type="time", unit="second", scale=1.0),
        Dimension(name="z", count=5, type="space", unit="micrometer", scale=1.0),
        Dimension(name="y", count=H, type="space"),
        Dimension(name="x", count=W, type="space"),
    ]
    settings = _setup(
        _from_output("memory"),
        dims,
        n_cameras=2,
        overrides={"z": {"chunk_size": 5}},
    )
    assert [d.name for d in settings.dimensions] == ["t", "z", "cam", "y", "x"]
    assert settings.dimensions[1].chunk_size == 5
    with create_stream(settings) as stream:
        n_events = 2 * 5
        for i in range(n_events * 2):
            stream.append(np.full((H, W), i, "uint16"))
        view = stream.view(dynamic_shape=True, strict=False)
    assert math.prod(view.shape[:-2]) == n_events * 2
