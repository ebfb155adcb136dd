"""Units: the spellings people type become NGFF names; anything else is refused.

The tables agree with yaozarrs (the NGFF names it accepts without a warning)
and ome-types (the OME symbols), and a normalised unit is written as the NGFF
name to OME-Zarr and as the OME symbol to OME-TIFF.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, get_args

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._schema._units import LENGTH_SYMBOLS, TIME_SYMBOLS

if TYPE_CHECKING:
    from pathlib import Path

SPACE = {
    "microns": "micrometer",
    "micron": "micrometer",
    "Microns": "micrometer",
    "um": "micrometer",
    "\u00b5m": "micrometer",  # micro sign
    "\u03bcm": "micrometer",  # Greek small letter mu
    "micrometer": "micrometer",
    "micrometers": "micrometer",
    "micrometre": "micrometer",
    "Micrometres": "micrometer",
    " um ": "micrometer",
    "nm": "nanometer",
    "nanometres": "nanometer",
    "mm": "millimeter",
    "Mm": "megameter",
    "cm": "centimeter",
    "m": "meter",
    "meters": "meter",
    "\u00c5": "angstrom",  # Latin capital A with ring
    "\u212b": "angstrom",  # angstrom sign
    "A": "angstrom",
    "angstroms": "angstrom",
    "feet": "foot",
    "inches": "inch",
}
TIME = {
    "s": "second",
    "sec": "second",
    "secs": "second",
    "seconds": "second",
    "Second": "second",
    "ms": "millisecond",
    "msec": "millisecond",
    "milliseconds": "millisecond",
    "us": "microsecond",
    "\u00b5s": "microsecond",
    "\u03bcs": "microsecond",
    "ns": "nanosecond",
    "min": "minute",
    "mins": "minute",
    "minutes": "minute",
    "h": "hour",
    "hr": "hour",
    "hrs": "hour",
    "hours": "hour",
    "d": "day",
    "days": "day",
}


@pytest.mark.parametrize(("unit", "name"), SPACE.items())
def test_length_spellings(unit: str, name: str) -> None:
    assert Dimension(name="z", count=2, unit=unit).type == "space"
    assert Dimension(name="z", count=2, unit=unit).unit == name
    assert Dimension(name="z", count=2, type="space", unit=unit).unit == name


@pytest.mark.parametrize(("unit", "name"), TIME.items())
def test_time_spellings(unit: str, name: str) -> None:
    assert Dimension(name="t", count=2, unit=unit).type == "time"
    assert Dimension(name="t", count=2, unit=unit).unit == name
    assert Dimension(name="t", count=2, type="time", unit=unit).unit == name


@given(
    name=st.sampled_from([*LENGTH_SYMBOLS, *TIME_SYMBOLS]),
    flips=st.lists(st.booleans(), min_size=12, max_size=12),
    plural=st.booleans(),
)
def test_every_name_in_any_case(name: str, flips: list[bool], plural: bool) -> None:
    typed = (name + ("s" if plural and name not in ("foot", "inch") else "")).upper()
    typed = "".join(
        c.lower() if flips[i % len(flips)] else c for i, c in enumerate(typed)
    )
    assert Dimension(name="d", count=2, unit=typed).unit == name


ACCEPTED = {"space": ("micrometer", "µm", "microns"), "time": ("second", "hrs", "msec")}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"unit": "furlong"}, "Unrecognized unit: 'furlong' (dimension 'q')"),
        ({"unit": "parsnip", "type": "space"}, "Unrecognized unit of length"),
        ({"unit": "fortnight", "type": "time"}, "Unrecognized unit of time"),
        ({"unit": "um", "type": "time"}, "'um' is a unit of length"),
        ({"unit": "ms", "type": "space"}, "'ms' is a unit of time"),
        ({"unit": "MM"}, "Unrecognized unit: 'MM'"),
    ],
)
def test_unknown_units_are_refused(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Dimension(name="q", count=2, **kwargs)
    text = str(info.value)
    assert message in text
    kinds = [kwargs["type"]] if "type" in kwargs else ["space", "time"]
    for kind in kinds:  # the accepted units are named
        assert all(accepted in text for accepted in ACCEPTED[kind]), kind


def test_a_unit_for_the_frame_axes_is_checked_before_naming_types_them() -> None:
    # "y"/"x" become space dimensions by name later; their unit is checked now
    with pytest.raises(ValidationError, match="Unrecognized unit: 'pixel'"):
        Dimension(name="x", count=2, unit="pixel")


def test_channel_position_and_other_units_are_kept() -> None:
    assert Dimension(name="c", count=2, type="channel", unit="px").unit == "px"
    assert Dimension(name="cam", count=2, type="other", unit="deg").unit == "deg"


def test_assigned_units_are_normalised_and_checked() -> None:
    dim = Dimension(name="t", count=2, type="time")
    dim.unit = "sec"
    assert dim.unit == "second"
    with pytest.raises(ValidationError, match="Unrecognized unit of time: 'um'"):
        dim.unit = "um"


def test_tables_agree_with_yaozarrs_and_ome_types() -> None:
    axis = pytest.importorskip("yaozarrs._axis")
    model = pytest.importorskip("ome_types.model")
    assert sorted(LENGTH_SYMBOLS) == sorted(get_args(axis.ValidSpaceUnit))
    assert sorted(TIME_SYMBOLS) == sorted(get_args(axis.ValidTimeUnit))
    for name, symbol in LENGTH_SYMBOLS.items():
        assert model.UnitsLength[name.upper()].value == symbol
    for name, symbol in TIME_SYMBOLS.items():
        assert model.UnitsTime[name.upper()].value == symbol


@pytest.mark.parametrize("suffix", [".ome.zarr", ".ome.tiff"])
def test_typed_spellings_are_written_as_each_format_names_them(
    suffix: str, tmp_path: Path
) -> None:
    """OME-Zarr gets the NGFF name (no yaozarrs warning), OME-TIFF the symbol."""
    path = tmp_path / f"units{suffix}"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=2, unit="mins", scale=1.5),
            Dimension(name="z", count=2, unit="nanometres", scale=200),
            Dimension(name="y", count=4, unit="microns", scale=0.5),
            Dimension(name="x", count=4, unit="\u03bcm", scale=0.5),
        ],
        dtype="uint16",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # yaozarrs warns on a non-NGFF unit
        with create_stream(settings) as stream:
            for _ in range(4):
                stream.append(np.zeros((4, 4), "uint16"))
    if suffix == ".ome.zarr":
        zarr = pytest.importorskip("zarr")
        yaozarrs = pytest.importorskip("yaozarrs")
        yaozarrs.validate_zarr_store(str(path))
        axes = zarr.open_group(str(path), mode="r").attrs["ome"]["multiscales"][0]
        assert [a["unit"] for a in axes["axes"]] == [
            "minute",
            "nanometer",
            "micrometer",
            "micrometer",
        ]
    else:
        ome_types = pytest.importorskip("ome_types")
        pixels = ome_types.from_tiff(str(path)).images[0].pixels
        assert (pixels.time_increment, pixels.time_increment_unit.value) == (
            1.5,
            "min",
        )
        assert pixels.physical_size_z_unit.value == "nm"
        assert pixels.physical_size_x_unit.value == "µm"
        assert pixels.physical_size_y_unit.value == "µm"
