"""A step that is not known is not declared, in either format.

An interval-0 time-lapse (or a time dimension without a scale, or a camera
without a pixel size) has no known step. NGFF requires a scale, so OME-Zarr
gets the neutral 1.0 without a unit; OME-TIFF gets no TimeIncrement or
PhysicalSize. A known step is written with its unit in both. Read with
zarr-python, yaozarrs and ome-types on every backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from ome_writers import (
    AcquisitionSettings,
    Dimension,
    create_stream,
    useq_to_acquisition_settings,
)
from tests.backends.params import backend_params, root_for

if TYPE_CHECKING:
    from pathlib import Path

useq = pytest.importorskip("useq")
zarr = pytest.importorskip("zarr")
yaozarrs = pytest.importorskip("yaozarrs")
ome_types = pytest.importorskip("ome_types")

BACKENDS = [*backend_params(format="ome-zarr"), *backend_params(format="ome-tiff")]
H, W = 6, 8


def _useq(time_plan: dict[str, Any], pixel_size_um: float = 0.5) -> list[Dimension]:
    seq = useq.MDASequence(time_plan=time_plan)
    result = useq_to_acquisition_settings(seq, W, H, pixel_size_um=pixel_size_um)
    dims: list[Dimension] = result["dimensions"]
    return dims


def _time(**fields: Any) -> list[Dimension]:
    return [
        Dimension(name="t", count=3, type="time", **fields),
        Dimension(name="y", count=H, unit="um", scale=0.5),
        Dimension(name="x", count=W, unit="um", scale=0.5),
    ]


# dimensions -> (t, y, x) as (step, unit) that each format must declare
UNKNOWN_T = {"t": None, "y": (0.5, "micrometer"), "x": (0.5, "micrometer")}
CASES: dict[str, tuple[list[Dimension], dict[str, Any]]] = {
    "useq interval 0": (_useq({"interval": 0, "loops": 3}), UNKNOWN_T),
    "time without scale": (_time(), UNKNOWN_T),
    "time in s without scale": (_time(unit="s"), UNKNOWN_T),
    "time scale 0": (_time(unit="s", scale=0.0), UNKNOWN_T),
    "useq interval 2": (
        _useq({"interval": 2, "loops": 3}),
        {"t": (2.0, "second"), "y": (0.5, "micrometer"), "x": (0.5, "micrometer")},
    ),
    "time in min": (
        _time(unit="min", scale=1.5),
        {"t": (1.5, "minute"), "y": (0.5, "micrometer"), "x": (0.5, "micrometer")},
    ),
    "useq without pixel size": (
        _useq({"interval": 2, "loops": 3}, pixel_size_um=0),
        {"t": (2.0, "second"), "y": None, "x": None},
    ),
}


def _write(path: Path, backend: str, dims: list[Dimension]) -> AcquisitionSettings:
    settings = AcquisitionSettings(
        root_path=root_for(path, backend),
        format=backend,
        dimensions=dims,
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        for i in range(3):
            stream.append(np.full((H, W), i, "uint16"))
    return settings


def _zarr_steps(root: str) -> dict[str, Any]:
    yaozarrs.validate_zarr_store(root)  # warnings are errors here
    multiscale = zarr.open_group(root, mode="r").attrs["ome"]["multiscales"][0]
    [scale] = multiscale["datasets"][0]["coordinateTransformations"]
    out: dict[str, Any] = {}
    for axis, value in zip(multiscale["axes"], scale["scale"], strict=True):
        # NGFF requires a scale: an undeclared step is 1.0 without a unit
        unit = axis.get("unit")
        assert unit is not None or value == 1.0, (axis, value)
        out[axis["name"]] = None if unit is None else (value, unit)
    return out


_OME_NAMES = {"µm": "micrometer", "s": "second", "min": "minute"}


def _tiff_steps(path: str) -> dict[str, Any]:
    pixels = ome_types.from_tiff(path).images[0].pixels

    def step(value: float | None, unit: Any) -> tuple[float, str] | None:
        return None if value is None else (value, _OME_NAMES[unit.value])

    return {
        "t": step(pixels.time_increment, pixels.time_increment_unit),
        "y": step(pixels.physical_size_y, pixels.physical_size_y_unit),
        "x": step(pixels.physical_size_x, pixels.physical_size_x_unit),
    }


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(CASES))
def test_steps_declared_only_when_known(
    case: str, backend: str, tmp_path: Path
) -> None:
    dims, expected = CASES[case]
    settings = _write(tmp_path, backend, dims)
    if settings.format.name == "ome-zarr":
        found = _zarr_steps(settings.output_path)
    else:
        found = _tiff_steps(settings.output_path)
    assert found == expected


@pytest.mark.parametrize("pixel_size", [0.0, 0.5])
@pytest.mark.parametrize("backend", backend_params(format="ome-zarr"))
def test_stage_positions_placed_only_with_a_pixel_size(
    pixel_size: float, backend: str, tmp_path: Path
) -> None:
    """Stage coordinates (µm) become a translation only along axes whose
    step is known: on an axis without one they have no place."""
    seq = useq.MDASequence(stage_positions=[(100.0, 200.0), (10.0, 20.0)])
    dims = useq_to_acquisition_settings(seq, W, H, pixel_size_um=pixel_size)
    settings = AcquisitionSettings(
        root_path=root_for(tmp_path, backend),
        format=backend,
        dimensions=dims["dimensions"],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        for _ in range(2):
            stream.append(np.zeros((H, W), "uint16"))
    yaozarrs.validate_zarr_store(settings.output_path)
    image = zarr.open_group(settings.output_path, mode="r")["0"]
    multiscale = image.attrs["ome"]["multiscales"][0]
    transforms = multiscale["datasets"][0]["coordinateTransformations"]
    if pixel_size:
        assert [a["unit"] for a in multiscale["axes"]] == ["micrometer"] * 2
        assert transforms[1] == {"type": "translation", "translation": [200.0, 100.0]}
    else:
        assert [a.get("unit") for a in multiscale["axes"]] == [None, None]
        assert transforms == [{"type": "scale", "scale": [1.0, 1.0]}]
