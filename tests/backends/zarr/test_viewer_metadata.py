"""Metadata viewers use: channel colours, display windows, stage positions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Channel, Dimension, Position, create_stream
from ome_writers.metadata._colors import guess_color
from tests.backends.params import backend_params

WRITERS = backend_params(format="ome-zarr")


@pytest.mark.parametrize(
    ("name", "color"),
    [
        ("DAPI", "0000FF"),
        ("Hoechst 33342", "0000FF"),
        ("FITC", "00FF00"),
        ("EGFP", "00FF00"),
        ("Alexa Fluor 488", "00FF00"),
        ("YFP", "FFFF00"),
        ("mCherry", "FF0000"),
        ("TRITC", "FF0000"),
        ("Cy5", "FF00FF"),
        ("far-red", "FF00FF"),
        ("Cy7", "800000"),
        ("Brightfield", "FFFFFF"),
        ("DIC", "FFFFFF"),
        ("Mirror", None),  # "IR" only as a whole word
        ("iris", None),
        ("Cy5.5", "FF00FF"),
        ("unknown", None),
    ],
)
def test_guessed_colors(name: str, color: str | None) -> None:
    assert guess_color(name) == color


def test_colors_from_emission_and_explicit() -> None:
    assert guess_color("ch1", 450) == "0000FF"
    assert guess_color("ch1", 520) == "00FF00"
    assert guess_color("ch1", 610) == "FF0000"
    assert guess_color("ch1", 680) == "FF00FF"
    assert guess_color("ch1", None) is None


@pytest.mark.parametrize("backend", WRITERS)
def test_omero_colors_windows_and_stage(tmp_path: Path, backend: str) -> None:
    positions = [
        Position(name="a", x_coord=100.0, y_coord=-50.0),
        Position(name="b", x_coord=1100.0, y_coord=0.0),
    ]
    channels = [
        Channel(name="DAPI"),
        Channel(name="ch2", emission_wavelength_nm=520),
        Channel(name="GFP", color="#123456"),  # explicit colour wins
    ]
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "v.ome.zarr"),
        format=backend,
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="p", type="position", coords=positions),
            Dimension(name="c", type="channel", coords=channels),
            Dimension(name="y", count=40, type="space", scale=0.5, unit="micrometer"),
            Dimension(name="x", count=40, type="space", scale=0.5, unit="nanometer"),
        ],
        dtype="uint16",
    )
    rng = np.random.default_rng(0)
    frames = [rng.integers(100, 1000, (40, 40)).astype("uint16") for _ in range(12)]
    with create_stream(settings) as stream:
        for frame in frames:
            stream.append(frame)
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    for p, name in enumerate("ab"):
        group = tmp_path / "v.ome.zarr" / name
        ome = json.loads((group / "zarr.json").read_text())["attributes"]["ome"]
        omero = ome["omero"]["channels"]
        assert [c["color"] for c in omero] == ["0000FF", "00FF00", "123456"]
        for c, channel in enumerate(omero):
            # the window is the sampled range (every 16th row and column)
            sampled = [f[::16, ::16] for f in frames[p * 3 + c :: 6]]
            assert channel["window"]["start"] == min(int(s.min()) for s in sampled)
            assert channel["window"]["end"] == max(int(s.max()) for s in sampled)
            assert (channel["window"]["min"], channel["window"]["max"]) == (0, 65535)
        translation = ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][
            1
        ]
        x_nm = positions[p].x_coord * 1000  # the x axis is in nanometers
        assert translation["translation"] == [0.0, 0.0, positions[p].y_coord, x_nm]
        # a napari-style reader sees the colours and windows
        node = next(iter(Reader(parse_url(str(group)))()))  # type: ignore[arg-type]
        ends = [cmap[-1] for cmap in node.metadata["colormap"]]
        expected = [(0, 0, 1), (0, 1, 0), (0x12 / 255, 0x34 / 255, 0x56 / 255)]
        assert np.allclose(ends, expected)
        limits = [(c["window"]["start"], c["window"]["end"]) for c in omero]
        assert [tuple(lim) for lim in node.metadata["contrast_limits"]] == limits


def test_ome_xml_guessed_colors(tmp_path: Path) -> None:
    """OME-XML Channel colours read by ome-types (Bio-Formats: tests/backends/tiff)."""
    import ome_types

    path = tmp_path / "c.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="c", type="channel", coords=["DAPI", "mCherry", "x"]),
            Dimension(name="y", count=8, type="space"),
            Dimension(name="x", count=8, type="space"),
        ],
        dtype="uint8",
    )
    with create_stream(settings) as stream:
        for i in range(3):
            stream.append(np.full((8, 8), i, "uint8"))
    import re

    import tifffile

    channels = ome_types.from_tiff(path).images[0].pixels.channels
    colors = [c.color.as_rgb_tuple(alpha=False) for c in channels]
    assert colors[:2] == [(0, 0, 255), (255, 0, 0)]
    # no guess for "x": no Color attribute (readers then show their default)
    (x_xml,) = re.findall(r'<Channel [^>]*Name="x"[^>]*>', tifffile.tiffcomment(path))
    assert "Color" not in x_xml
