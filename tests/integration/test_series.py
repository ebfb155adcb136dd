"""Dimensions beyond t/c/z stored as series: light-sheet angles, cameras.

Every backend writes one image per combination of the series dimensions'
indices; independent readers (zarr-python, tensorstore, yaozarrs, tifffile)
read each frame where the declared dimensions say, and the view keeps the
declared axes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore as ts
import tifffile
import yaozarrs
import zarr

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._registry import BY_NAME
from tests.backends.params import backend_params, root_for, suffix

ALL = backend_params()
Y, X = 4, 5


def _frame(n: int) -> np.ndarray:
    return (np.arange(Y * X, dtype="uint16").reshape(Y, X) + 100 * (n + 1)).astype(
        "uint16"
    )


ANGLE = Dimension(name="angle", count=2, type="other")
P = Dimension(name="p", type="position", coords=["A", "B"])
TCZ = [
    Dimension(name="t", count=2, type="time"),
    Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
    Dimension(name="z", count=3, type="space"),
]
LAYOUTS = {"angle-t-c-z": [ANGLE, *TCZ], "p-angle-t-c-z": [P, ANGLE, *TCZ]}
NAMES = {
    "angle-t-c-z": ["angle0", "angle1"],
    "p-angle-t-c-z": ["A_angle0", "A_angle1", "B_angle0", "B_angle1"],
}


def _format(backend: str) -> str:
    return BY_NAME[backend].format


def _settings(tmp: Path, backend: str, dims: list[Dimension]) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=root_for(tmp, backend, "s"),
        format=backend,
        dimensions=[*dims, Dimension(name="y", count=Y), Dimension(name="x", count=X)],
        dtype="uint16",
    )


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("backend", ALL)
def test_one_image_per_series_combination(
    tmp_path: Path, backend: str, layout: str
) -> None:
    dims = LAYOUTS[layout]
    settings = _settings(tmp_path, backend, dims)
    counts = [d.count or 0 for d in dims]
    n = math.prod(counts)
    assert [p.name for p in settings.positions] == NAMES[layout]
    with create_stream(settings) as stream:
        for k in range(n):
            stream.append(_frame(k))
    # the oracle: frame k at the C-order cell k of the declared dimensions
    expected = np.stack([_frame(k) for k in range(n)]).reshape(*counts, Y, X)
    view = stream.view()
    assert view.dims == (*(d.name for d in dims), "y", "x")
    np.testing.assert_array_equal(np.asarray(view), expected)
    np.testing.assert_array_equal(
        view[..., 1, :, :, :, :][..., 0, 0], expected[..., 1, :, :, :, :][..., 0, 0]
    )
    per_image = expected.reshape(-1, 2, 2, 3, Y, X)  # t, c, z per image
    if _format(backend) == "scratch":
        for k in range(len(per_image)):
            np.testing.assert_array_equal(
                np.asarray(stream.view(position=k)), per_image[k]
            )
        return
    out = Path(settings.output_path)
    if _format(backend) == "ome-tiff":
        files = sorted(out.iterdir())
        assert len(files) == len(per_image)
        with tifffile.TiffFile(files[0]) as tif:
            assert [s.axes for s in tif.series] == ["TCZYX"] * len(per_image)
            for k, series in enumerate(tif.series):
                np.testing.assert_array_equal(series.asarray(), per_image[k])
        return
    yaozarrs.validate_zarr_store(str(out))
    names = json.loads((out / "OME" / "zarr.json").read_text())["attributes"]["ome"]
    assert names["series"] == NAMES[layout]
    for k, name in enumerate(NAMES[layout]):
        path = out / name / "0"
        np.testing.assert_array_equal(
            zarr.open_array(str(path), mode="r")[...], per_image[k]
        )
        spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}}
        np.testing.assert_array_equal(
            ts.open(spec).result().read().result(), per_image[k]
        )
        attrs = json.loads((out / name / "zarr.json").read_text())["attributes"]
        assert attrs["ome_writers"]["series"]["angle"] == k % 2


def test_the_switch_keeps_an_axis_that_fits_unless_asked() -> None:
    dims = [
        Dimension(name="t", count=2, type="time"),
        Dimension(name="cam", count=2, type="other"),
        Dimension(name="y", count=Y),
        Dimension(name="x", count=X),
    ]
    fits = AcquisitionSettings(dimensions=dims, dtype="uint16")
    assert [d.name for d in fits.array_dimensions] == ["t", "cam", "y", "x"]
    assert len(fits.positions) == 1
    asked = AcquisitionSettings(
        dimensions=dims, dtype="uint16", series_dimensions=["cam"]
    )
    assert [d.name for d in asked.array_dimensions] == ["t", "y", "x"]
    assert [p.name for p in asked.positions] == ["cam0", "cam1"]
    with create_stream(asked) as stream:
        for k in range(4):
            stream.append(_frame(k))
    np.testing.assert_array_equal(stream.view()[1, 0], _frame(2))
    np.testing.assert_array_equal(np.asarray(stream.view(position=1))[1], _frame(3))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"series_dimensions": ["t"]}, "only dimensions other than time"),
        ({"series_dimensions": ["nope"]}, "not a non-frame dimension"),
    ],
)
def test_bad_series_dimensions(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AcquisitionSettings(
            dimensions=[
                *TCZ,
                Dimension(name="y", count=2),
                Dimension(name="x", count=2),
            ],
            dtype="uint8",
            **kwargs,
        )


@pytest.mark.parametrize("backend", backend_params(names=["tensorstore", "tifffile"]))
def test_plate_with_angles_inside_each_field(tmp_path: Path, backend: str) -> None:
    from ome_writers import Plate, Position

    fields = [
        Position(name="fov0", plate_row="A", plate_column="1"),
        Position(name="fov0", plate_row="B", plate_column="2"),
    ]
    settings = AcquisitionSettings(
        root_path=str(tmp_path / f"plate{suffix(backend)}"),
        format=backend,
        dimensions=[
            Dimension(name="p", type="position", coords=fields),
            Dimension(name="angle", count=2, type="other"),
            *TCZ,
            Dimension(name="y", count=Y),
            Dimension(name="x", count=X),
        ],
        dtype="uint16",
        plate=Plate(row_names=["A", "B"], column_names=["1", "2"]),
        series_dimensions=["angle"],
    )
    assert [(p.name, p.plate_row) for p in settings.positions] == [
        ("fov0_angle0", "A"),
        ("fov0_angle1", "A"),
        ("fov0_angle0", "B"),
        ("fov0_angle1", "B"),
    ]
    with create_stream(settings) as stream:
        for k in range(48):
            stream.append(_frame(k))
    out = Path(settings.output_path)
    if _format(backend) == "ome-tiff":
        import ome_types

        ome = ome_types.from_tiff(sorted(out.iterdir())[0])
        (plate,) = ome.plates
        assert [len(w.well_samples) for w in plate.wells] == [2, 2]
        return
    yaozarrs.validate_zarr_store(str(out))
    for k, path in enumerate(
        ["A/1/fov0angle0", "A/1/fov0angle1", "B/2/fov0angle0", "B/2/fov0angle1"]
    ):
        data = zarr.open_array(str(out / path / "0"), mode="r")[...]
        np.testing.assert_array_equal(data[0, 0, 0], _frame(12 * k))


@pytest.mark.parametrize("backend", ALL)
def test_unbounded_time_with_camera_series(tmp_path: Path, backend: str) -> None:
    """t (unbounded), c, z, cam: each camera a series that grows with t."""
    dims = [
        Dimension(name="t", count=None, type="time"),
        Dimension(name="c", count=2, type="channel"),
        Dimension(name="z", count=2, type="space"),
        Dimension(name="cam", count=2, type="other"),
    ]
    settings = _settings(tmp_path, backend, dims)
    if _format(backend) != "ome-zarr":  # pages/arrays in z, c order
        settings = settings.model_copy(
            update={"storage_order": ["t", "z", "c", "cam", "y", "x"]}
        )
    with create_stream(settings) as stream:
        for k in range(20):  # two and a half time points
            stream.append(_frame(k))
    data = np.asarray(stream.view())[..., 0, 0]
    expected = np.zeros(24, "uint16")
    expected[:20] = [_frame(k)[0, 0] for k in range(20)]
    np.testing.assert_array_equal(data, expected.reshape(3, 2, 2, 2))


def _two_cameras(tmp: Path, backend: str) -> AcquisitionSettings:
    from ome_writers import Position

    small = Position(
        name="right",
        dimensions=[Dimension(name="y", count=3), Dimension(name="x", count=2)],
        dtype="uint8",
    )
    return _settings(
        tmp,
        backend,
        [
            Dimension(name="t", count=2, type="time"),
            Dimension(name="cam", type="position", coords=["left", small]),
        ],
    )


@pytest.mark.parametrize("backend", ALL)
def test_cameras_of_different_sizes(tmp_path: Path, backend: str) -> None:
    """Each camera its own series with its own frame shape and dtype; a frame
    of the wrong camera's shape is refused without using a slot."""
    from ome_writers.errors import FrameShapeError

    settings = _two_cameras(tmp_path, backend)
    assert settings.mixed_frames
    right = [np.full((3, 2), 50 + t, "uint8") for t in range(2)]
    with create_stream(settings) as stream:
        for t in range(2):
            stream.append(_frame(t))
            with pytest.raises(FrameShapeError, match=r"expected \(3, 2\)"):
                stream.append(_frame(9))
            stream.append(right[t])
    flat = stream.view()
    assert flat.dims == ("frame", "y", "x") and flat.shape == (4, Y, X)
    np.testing.assert_array_equal(flat[1][:3, :2], right[0])
    assert not flat[1][3:].any()  # the smaller camera's frame, padded
    cam = stream.view(position=1)
    assert (cam.shape, cam.dtype) == ((2, 3, 2), np.dtype("uint8"))
    np.testing.assert_array_equal(np.asarray(cam), np.stack(right))
    if _format(backend) == "scratch":
        return
    out = Path(settings.output_path)
    if _format(backend) == "ome-tiff":  # one OME-TIFF per camera, each its own image
        shapes = []
        for f in sorted(out.iterdir()):
            with tifffile.TiffFile(f) as tif:
                shapes += [(s.shape, str(s.dtype)) for s in tif.series]
                data = tif.series[0].asarray()
        assert shapes == [((2, Y, X), "uint16"), ((2, 3, 2), "uint8")]
        np.testing.assert_array_equal(data, np.stack(right))
        return
    yaozarrs.validate_zarr_store(str(out))
    data = zarr.open_array(str(out / "right" / "0"), mode="r")
    assert (data.shape, str(data.dtype)) == ((2, 3, 2), "uint8")
    np.testing.assert_array_equal(data[...], np.stack(right))


def test_handler_gives_cameras_of_different_sizes_their_own_series(
    tmp_path: Path,
) -> None:
    """pymmcore-plus summary metadata with two cameras of other sizes and dtypes."""
    useq = pytest.importorskip("useq")
    from ome_writers.adapters.pymmcore_plus import OMEWriterHandler

    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 2})
    infos = (
        {
            "camera_label": "Left",
            "width": X,
            "height": Y,
            "dtype": "uint16",
            "pixel_size_um": 0.5,
            "num_camera_adapter_channels": 2,
        },
        {
            "camera_label": "Right",
            "width": 2,
            "height": 3,
            "dtype": "uint8",
            "pixel_size_um": 0.5,
            "num_camera_adapter_channels": 2,
        },
    )
    handler = OMEWriterHandler(tmp_path / "cams.ome.zarr", overwrite=True)
    handler.sequenceStarted(seq, {"image_infos": infos})
    for event in seq.iter_events():
        handler.frameReady(_frame(0), event, {"camera_device": "Left"})
        handler.frameReady(np.ones((3, 2), "uint8"), event, {"camera_device": "Right"})
    handler.sequenceFinished(seq)
    out = tmp_path / "cams.ome.zarr"
    yaozarrs.validate_zarr_store(str(out))
    right = zarr.open_array(str(out / "Right" / "0"), mode="r")
    assert (right.shape, str(right.dtype)) == ((2, 3, 2), "uint8")
    attrs = json.loads((out / "Right" / "zarr.json").read_text())["attributes"]
    cameras = {f["camera"] for f in attrs["ome_writers"]["frame_metadata"]}
    assert cameras == {"Right"}  # the camera name reaches the metadata
