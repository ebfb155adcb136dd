"""`OMEStream.set_channel_display`: what a viewer's user set, kept in the dataset.

Every backend writes it (the conformance suite, ``test_display_settings``);
here: the input it refuses, when it is written, images without channel names,
channels folded with a camera, plates, and the default windows of a camera's
significant bits.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import ome_types
import pytest
import tifffile
import yaozarrs
import zarr

import ome_writers
from ome_writers import AcquisitionSettings, Dimension, Plate, Position, create_stream
from ome_writers.errors import StreamClosedError

YX = [Dimension(name="y", count=8), Dimension(name="x", count=8)]
C = Dimension(name="c", type="channel", coords=["DAPI", "FITC"])


def _settings(path: Path, dims: list[Dimension], **kwargs: Any) -> AcquisitionSettings:
    kwargs.setdefault("loss_window", None)  # visits made by the test
    return AcquisitionSettings(
        root_path=str(path), dimensions=[*dims, *YX], dtype="uint16", **kwargs
    )


def _omero(path: Path, group: str = "") -> dict[str, Any]:
    node = zarr.open_group(path / group if group else path, mode="r")
    omero: dict[str, Any] = node.attrs["ome"]["omero"]
    return omero


def _frame(value: int) -> np.ndarray:
    return np.full((8, 8), value, "uint16")


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("channel", "kwargs", "error", "message"),
    [
        ("Cy5", {}, ValueError, r"no channel is named 'Cy5'; channels: \['DAPI'"),
        (2, {}, IndexError, "channel 2 is not one of the 2 channels"),
        (-1, {}, IndexError, "channel -1 is not one of the 2 channels"),
        (True, {}, TypeError, "channel must be an index or a name, got bool"),
        (1.0, {}, TypeError, "channel must be an index or a name, got float"),
        (0, {"color": "not-a-colour"}, ValueError, "color 'not-a-colour' is not"),
        (0, {"color": (1, 2)}, ValueError, r"color \(1, 2\) is not a colour"),
        (0, {"contrast_limits": (1,)}, ValueError, "must be two numbers"),
        (0, {"contrast_limits": 5}, ValueError, "must be two numbers"),
        (0, {"contrast_limits": ("a", "b")}, ValueError, "must be numbers"),
        (0, {"contrast_limits": (0, math.inf)}, ValueError, "must be finite"),
        (0, {"contrast_limits": (9, 3)}, ValueError, "low limit is above"),
        (0, {"visible": "yes"}, ValueError, "visible must be True or False"),
        (0, {"visible": 1}, ValueError, "visible must be True or False"),
    ],
)
def test_bad_input_refused(
    tmp_path: Path, channel: Any, kwargs: dict[str, Any], error: type, message: str
) -> None:
    """Refused with the reason; the data and earlier settings stay."""
    settings = _settings(tmp_path / "a.ome.zarr", [C])
    with create_stream(settings) as stream:
        stream.append(_frame(1))
        stream.set_channel_display(0, color="red")
        with pytest.raises(error, match=message):
            stream.set_channel_display(channel, **kwargs)
        stream.append(_frame(2))
    assert [c["color"] for c in _omero(tmp_path / "a.ome.zarr")["channels"]] == [
        "FF0000",
        "00FF00",
    ]
    assert zarr.open_array(tmp_path / "a.ome.zarr" / "0", mode="r")[
        :, 0, 0
    ].tolist() == [
        1,
        2,
    ]


def test_refused_after_close(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "a.ome.zarr", [C])
    stream = create_stream(settings)
    stream.append(_frame(1))
    stream.close()
    with pytest.raises(StreamClosedError, match="Cannot set channel display"):
        stream.set_channel_display(0, visible=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#12aB9f", "12AB9F"),
        ("cyan", "00FFFF"),
        ((255, 128, 0), "FF8000"),
        ("rgb(1, 2, 3)", "010203"),
    ],
)
def test_colours_accepted(tmp_path: Path, value: Any, expected: str) -> None:
    settings = _settings(tmp_path / "a.ome.zarr", [C])
    with create_stream(settings) as stream:
        stream.append(_frame(1))
        stream.set_channel_display(1, color=value, contrast_limits=np.array([1, 2]))
    entry = _omero(tmp_path / "a.ome.zarr")["channels"][1]
    assert entry["color"] == expected
    assert (entry["window"]["start"], entry["window"]["end"]) == (1.0, 2.0)


# ------------------------------------------------------------- when written


@pytest.mark.parametrize("suffix", [".ome.zarr", ".ome.tiff"])
def test_a_change_alone_makes_a_visit(tmp_path: Path, suffix: str) -> None:
    """Display settings changed with no frame since the last visit are
    written at the next one (never inside `append`)."""
    path = tmp_path / f"a{suffix}"
    settings = _settings(path, [Dimension(name="t", count=4, type="time"), C])
    with create_stream(settings) as stream:
        for n in range(4):
            stream.append(_frame(n))
        stream._make_readable()
        stream.set_channel_display("DAPI", color="yellow", visible=False)
        with ome_writers.open(path) as before:
            assert before.channels[0].color == "#0000FF"  # not written yet
        stream._make_readable()
        with ome_writers.open(path) as after:
            assert (after.channels[0].color, after.channels[0].visible) == (
                "#FFFF00",
                False,
            )
        if suffix == ".ome.tiff":  # the provisional OME-XML: valid, coloured
            ome = ome_types.from_xml(tifffile.tiffcomment(path), validate=True)
            color = ome.images[0].pixels.channels[0].color
            assert color.as_rgb_tuple(alpha=False) == (255, 255, 0)


# ------------------------------------------------------ images and channels


def test_image_without_a_channel_dimension(tmp_path: Path) -> None:
    """Its one channel (index 0) gets an ``omero`` entry of its own."""
    dims = [Dimension(name="t", count=2, type="time")]
    for suffix in (".ome.zarr", ".ome.tiff"):
        path = tmp_path / f"a{suffix}"
        with create_stream(_settings(path, dims, significant_bits=10)) as stream:
            stream.append(_frame(5))
            with pytest.raises(IndexError, match="not one of the 1 channel "):
                stream.set_channel_display(1, visible=False)
            stream.set_channel_display(0, color="green", contrast_limits=(5, 900))
            stream.append(_frame(6))
        with ome_writers.open(path) as view:
            (channel,) = view.channels
        assert (channel.color, channel.window) == ("#008000", (5.0, 900.0))
    omero = _omero(tmp_path / "a.ome.zarr")
    assert omero["channels"] == [
        {
            "label": "0",
            "color": "008000",
            "window": {"start": 5.0, "min": 0.0, "end": 900.0, "max": 1023.0},
            "active": True,
        }
    ]
    yaozarrs.validate_zarr_store(str(tmp_path / "a.ome.zarr"))


def test_channels_without_names(tmp_path: Path) -> None:
    """A channel dimension without coords: ``omero`` lists its channels once
    a display setting is made."""
    path = tmp_path / "a.ome.zarr"
    dims = [Dimension(name="c", type="channel", count=3)]
    with create_stream(_settings(path, dims)) as stream:
        for n in range(3):
            stream.append(_frame(n))
        stream.set_channel_display(2, contrast_limits=(0, 2))
    channels = _omero(path)["channels"]
    assert [c["label"] for c in channels] == ["0", "1", "2"]
    assert [c["window"]["end"] for c in channels] == [65535.0, 65535.0, 2.0]
    yaozarrs.validate_zarr_store(str(path))


def test_channel_folded_with_a_camera_in_tiff(tmp_path: Path) -> None:
    """OME-TIFF's C holds (channel, camera): a channel's settings reach each
    of its cameras' C indices."""
    path = tmp_path / "a.ome.tiff"
    dims = [C, Dimension(name="cam", count=2, type="other")]
    with create_stream(_settings(path, dims)) as stream:
        for n in range(4):
            stream.append(_frame(n))
        stream.set_channel_display("FITC", color="white", contrast_limits=(1, 3))
    ome = ome_types.from_tiff(path)
    channels = ome.images[0].pixels.channels
    assert [c.name for c in channels] == [
        "DAPI-cam0",
        "DAPI-cam1",
        "FITC-cam0",
        "FITC-cam1",
    ]
    white = [c.color.as_rgb_tuple(alpha=False) == (255, 255, 255) for c in channels]
    assert white == [False, False, True, True]
    with ome_writers.open(path) as view:
        assert [c.window for c in view.channels] == [None, None, (1.0, 3.0), (1.0, 3.0)]


@pytest.mark.parametrize("suffix", [".ome.zarr", ".ome.tiff"])
def test_every_image_of_a_plate(tmp_path: Path, suffix: str) -> None:
    positions = [
        Position(name="f0", plate_row="A", plate_column="1"),
        Position(name="f0", plate_row="B", plate_column="2"),
    ]
    dims = [Dimension(name="p", type="position", coords=positions), C]
    plate = Plate(row_names=["A", "B"], column_names=["1", "2"])
    path = tmp_path / f"plate{suffix}"
    with create_stream(_settings(path, dims, plate=plate)) as stream:
        stream.append(_frame(1))
        stream.set_channel_display(1, visible=False)
        for n in range(3):
            stream.append(_frame(n))
    if suffix == ".ome.zarr":
        actives = [
            [c["active"] for c in _omero(path, group)["channels"]]
            for group in ("A/1/f0", "B/2/f0")
        ]
    else:
        ome = ome_types.from_tiff(next(path.parent.rglob("*.ome.tiff")))
        maps = {a.id: a.value.ms for a in ome.structured_annotations.map_annotations}
        actives = [
            [
                {m.k: m.value for r in c.annotation_refs for m in maps[r.id]}.get(
                    "visible", "true"
                )
                == "true"
                for c in image.pixels.channels
            ]
            for image in ome.images
        ]
    assert actives == [[True, False], [True, False]]


# ------------------------------------------------------ significant bits


def test_default_windows_of_significant_bits(tmp_path: Path) -> None:
    """A 12-bit camera in uint16: windows within 0..4095 from the start;
    pixels beyond (a camera that says less than it gives) widen the range."""
    path = tmp_path / "a.ome.zarr"
    with create_stream(_settings(path, [C], significant_bits=12)) as stream:
        stream.checkpoint()  # the documents written in the background are there
        windows = [c["window"] for c in _omero(path)["channels"]]
        assert windows == [{"start": 0.0, "min": 0.0, "end": 4095.0, "max": 4095.0}] * 2
        stream.append(_frame(100))
        stream.append(_frame(5000))
    windows = [c["window"] for c in _omero(path)["channels"]]
    assert windows == [
        {"start": 100.0, "min": 0.0, "end": 100.0, "max": 4095.0},
        {"start": 5000.0, "min": 0.0, "end": 5000.0, "max": 5000.0},
    ]


def test_tiff_window_from_significant_bits(tmp_path: Path) -> None:
    """OME-TIFF has no windows: a reader shows the significant bits' range."""
    path = tmp_path / "a.ome.tiff"
    with create_stream(_settings(path, [C], significant_bits=12)) as stream:
        stream.append(_frame(1))
        stream._make_readable()
        with ome_writers.open(path) as live:
            assert [c.window for c in live.channels] == [(0.0, 4095.0)] * 2
        stream.append(_frame(2))
    assert ome_types.from_tiff(path).images[0].pixels.significant_bits == 12
    with ome_writers.open(path) as closed:
        assert [c.window for c in closed.channels] == [(0.0, 4095.0)] * 2
    full = tmp_path / "b.ome.tiff"
    with create_stream(_settings(full, [C])) as stream:
        stream.append(_frame(1))
        stream.append(_frame(2))
    with ome_writers.open(full) as view:
        assert [c.window for c in view.channels] == [None, None]


def test_display_annotation_text(tmp_path: Path) -> None:
    """The OME-XML MapAnnotation's values are JSON (as documented)."""
    path = tmp_path / "a.ome.tiff"
    with create_stream(_settings(path, [C])) as stream:
        stream.append(_frame(1))
        stream.set_channel_display(0, contrast_limits=(1.5, 2), visible=False)
        stream.append(_frame(2))
    ome = ome_types.from_tiff(path)
    (annotation,) = ome.structured_annotations.map_annotations
    assert annotation.namespace == "ome_writers.display"
    values = {m.k: json.loads(m.value) for m in annotation.value.ms}
    assert values == {"contrast_limits": [1.5, 2.0], "visible": False}
    assert [r.id for r in ome.images[0].pixels.channels[0].annotation_refs] == [
        annotation.id
    ]
