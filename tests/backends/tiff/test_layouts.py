"""Every OME-TIFF layout, read back by Bio-Formats, tifffile, ome-types and the XSD."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from ome_writers import (
    AcquisitionSettings,
    Dimension,
    OmeTiffFormat,
    Plate,
    Position,
    create_stream,
)

from ._helpers import (
    SIZES,
    YX,
    X,
    Y,
    check_bioformats,
    check_xml,
    dims,
    expected_planes,
    frame,
    tifffile_series,
    write,
)
from .conftest import BioFormats


def test_2d(tmp_path: Path, bioformats: BioFormats, caplog: Any) -> None:
    path = tmp_path / "img.ome.tiff"
    settings = AcquisitionSettings(root_path=str(path), dimensions=YX, dtype="uint16")
    write(settings)
    result = check_bioformats(bioformats, path, {(0, 0, 0, 0): frame(0)})
    assert result.sizes == [(1, 1, 1, "XYZCT", "uint16")]
    assert tifffile_series(path, caplog) == [((Y, X), "YX")]
    pixels = check_xml(path).images[0].pixels
    assert (pixels.size_x, pixels.size_y) == (X, Y)
    assert [p.the_z for p in pixels.planes] == [0]


@pytest.mark.parametrize("order", ["".join(p) for p in itertools.permutations("tcz")])
def test_every_tcz_acquisition_order(
    tmp_path: Path, bioformats: BioFormats, caplog: Any, order: str
) -> None:
    path = tmp_path / "x.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[*dims(order, channels=True), *YX],
        dtype="uint16",
    )
    write(settings)
    result = check_bioformats(bioformats, path, expected_planes(settings, 12))
    dimension_order = "XY" + "".join(reversed(order.upper()))
    assert result.sizes == [(2, 3, 2, dimension_order, "uint16")]
    shape = tuple(SIZES[a] for a in order)
    assert tifffile_series(path, caplog) == [((*shape, Y, X), order.upper() + "YX")]
    pixels = check_xml(path).images[0].pixels
    assert pixels.dimension_order.value == dimension_order
    assert len(pixels.tiff_data_blocks) == 1  # pages are in DimensionOrder
    assert [c.name for c in pixels.channels] == ["DAPI", "FITC", "Cy5"]


def test_upper_case_names(tmp_path: Path, bioformats: BioFormats) -> None:
    path = tmp_path / "upper.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[*dims("TCZ"), *YX],
        dtype="uint16",
    )
    write(settings)
    result = check_bioformats(bioformats, path, expected_planes(settings, 12))
    assert result.sizes == [(2, 3, 2, "XYZCT", "uint16")]
    planes = check_xml(path).images[0].pixels.planes
    assert {(p.the_z, p.the_c, p.the_t) for p in planes} == set(
        itertools.product(range(2), range(3), range(2))
    )


@pytest.mark.parametrize(
    ("storage", "dimension_order"),
    [(["c", "t", "z"], "XYZTC"), (["z", "c", "t"], "XYTCZ")],
)
def test_explicit_storage_order(
    tmp_path: Path,
    bioformats: BioFormats,
    caplog: Any,
    storage: list[str],
    dimension_order: str,
) -> None:
    """Pages stay in acquisition order; per-page TiffData maps them."""
    path = tmp_path / "o.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[*dims("tcz"), *YX],
        dtype="uint16",
        storage_order=[*storage, "y", "x"],
    )
    stream = write(settings)
    result = check_bioformats(bioformats, path, expected_planes(settings, 12))
    assert result.sizes == [(2, 3, 2, dimension_order, "uint16")]
    shape = tuple(SIZES[a] for a in storage)
    axes = "".join(storage).upper() + "YX"
    assert tifffile_series(path, caplog) == [((*shape, Y, X), axes)]
    data = tifffile.imread(path)
    router_index = {"t": 1, "c": 2, "z": 0}  # frame of t=1, c=2, z=0 is number 10
    key = tuple(router_index[a] for a in storage)
    np.testing.assert_array_equal(data[key], frame(10))
    # the view indexes in the declared order (t, c, z), whatever is stored
    np.testing.assert_array_equal(stream.view()[1, 2, 0], frame(10))
    assert stream.view().dims == ("t", "c", "z", "y", "x")


def _folded(
    settings: AcquisitionSettings, index: Sequence[int]
) -> tuple[int, int, int]:
    """(z, c, t) with c = channel * n_cameras + camera (storage order c, cam)."""
    by = dict(
        zip((d.name for d in settings.storage_index_dimensions), index, strict=True)
    )
    n_cam = 2
    c = by.get("c", 0) * n_cam + by["cam"] if "c" in by else by["cam"]
    return 0, c, by.get("t", 0)


@pytest.mark.parametrize("with_channels", [True, False])
def test_camera_axis_folded_into_c(
    tmp_path: Path, bioformats: BioFormats, caplog: Any, with_channels: bool
) -> None:
    """pymmcore-plus multi-camera: the `cam` axis (type other) joins C."""
    path = tmp_path / "cam.ome.tiff"
    index_dims = [
        Dimension(name="t", count=2, type="time"),
        *([Dimension(name="c", coords=["DAPI", "FITC"])] if with_channels else []),
        Dimension(name="cam", count=2, type="other"),
    ]
    settings = AcquisitionSettings(
        root_path=str(path), dimensions=[*index_dims, *YX], dtype="uint16"
    )
    n = settings.num_frames or 0
    write(settings)
    size_c = 4 if with_channels else 2
    result = check_bioformats(bioformats, path, expected_planes(settings, n, _folded))
    assert result.sizes == [(1, size_c, 2, "XYCTZ", "uint16")]
    assert tifffile_series(path, caplog) == [((2, size_c, Y, X), "TCYX")]
    names = [c.name for c in check_xml(path).images[0].pixels.channels]
    if with_channels:
        assert names == ["DAPI-cam0", "DAPI-cam1", "FITC-cam0", "FITC-cam1"]
    else:
        assert names == ["cam0", "cam1"]


def test_camera_axis_outside_channel(tmp_path: Path, bioformats: BioFormats) -> None:
    """`cam` and `c` not adjacent: still one C axis, mapped page by page."""
    path = tmp_path / "cam2.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="cam", count=2, type="other"),
            Dimension(name="t", count=2),
            Dimension(name="c", coords=["DAPI", "FITC"]),
            *YX,
        ],
        dtype="uint16",
    )
    write(settings)
    result = check_bioformats(bioformats, path, {})
    assert result.sizes == [(1, 4, 2, "XYCTZ", "uint16")]
    # frame 5 = cam 1, t 0, c 1 -> C = 1 * 2 + 1 (channel-major naming)
    names = [c.name for c in check_xml(path).images[0].pixels.channels]
    assert names == ["DAPI-cam0", "FITC-cam0", "DAPI-cam1", "FITC-cam1"]
    assert result.plane_matches(0, 0, 3, 0, frame(5))


def _positions_settings(root: Path, mode: str, **fmt: Any) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=2),
            Dimension(
                name="p",
                type="position",
                coords=[Position(name="a", x_coord=10.0, y_coord=-5.0), "b", "c"],
            ),
            Dimension(name="z", count=2),
            *YX,
        ],
        dtype="uint16",
        format=OmeTiffFormat(multi_file_metadata=mode, **fmt),
    )


@pytest.mark.parametrize("mode", ["redundant", "master-tiff", "companion-file"])
def test_multi_position_file_set(
    tmp_path: Path, bioformats: BioFormats, caplog: Any, mode: str
) -> None:
    settings = _positions_settings(tmp_path / "exp.ome.tiff", mode)
    write(settings, custom="x")
    folder = tmp_path / "exp"
    tiffs = ["exp_p000.ome.tiff", "exp_p001.ome.tiff", "exp_p002.ome.tiff"]
    extra = ["exp.companion.ome"] if mode == "companion-file" else []
    assert sorted(p.name for p in folder.iterdir()) == sorted(tiffs + extra)
    planes = expected_planes(settings, 12)
    # any one file (and the companion) opens as the whole set
    for name in tiffs + extra:
        result = check_bioformats(bioformats, folder / name, planes, series=3)
        assert result.sizes == [(2, 1, 2, "XYZTC", "uint16")] * 3
    full = folder / (extra[0] if extra else tiffs[0])
    ome = check_xml(full)
    assert [i.name for i in ome.images] == ["a", "b", "c"]
    assert ome.images[0].stage_label.x == 10.0
    uuids = {}
    for name in tiffs:
        own = check_xml(folder / name)
        uuids[name] = own.uuid
        if mode == "redundant" or (name == tiffs[0] and mode == "master-tiff"):
            assert len(own.images) == 3
        else:
            target = extra[0] if extra else tiffs[0]
            assert own.binary_only.metadata_file == target  # relative name
            assert own.binary_only.uuid == ome.uuid
        with tifffile.TiffFile(folder / name) as tif:
            assert len(tif.pages) == 4
            np.testing.assert_array_equal(
                tif.pages[3].asarray(), planes[(tiffs.index(name), 1, 0, 1)]
            )
    assert len(set(uuids.values())) == 3
    for image, name in zip(ome.images, tiffs, strict=True):
        (tiff_data,) = image.pixels.tiff_data_blocks
        assert (tiff_data.uuid.file_name, tiff_data.uuid.value) == (name, uuids[name])
        # frame metadata of every position is kept, in every mode
        assert len(image.pixels.planes) == 4
        assert image.pixels.planes[3].delta_t is not None
    if mode == "redundant":
        series = tifffile_series(folder / tiffs[1], caplog)
        assert series == [((2, 2, Y, X), "TZYX")] * 3


def test_never_single_file(tmp_path: Path, bioformats: BioFormats) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "one.ome.tiff"),
        dimensions=[Dimension(name="t", count=2), *YX],
        dtype="uint8",
        format=OmeTiffFormat(prefer_single_file="never"),
    )
    write(settings)
    path = tmp_path / "one" / "one_p000.ome.tiff"
    check_bioformats(bioformats, path, expected_planes(settings, 2))


@pytest.mark.parametrize("position_first", [False, True])
def test_single_file_multi_series(
    tmp_path: Path, bioformats: BioFormats, caplog: Any, position_first: bool
) -> None:
    path = tmp_path / "all.ome.tiff"
    p = Dimension(name="p", type="position", coords=["a", "b"])
    index = [Dimension(name="t", count=2), Dimension(name="c", count=2)]
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[p, *index, *YX] if position_first else [index[0], p, index[1], *YX],
        dtype="uint8",
        format=OmeTiffFormat(prefer_single_file="always"),
    )
    write(settings)
    result = check_bioformats(bioformats, path, expected_planes(settings, 8), series=2)
    assert result.sizes == [(1, 2, 2, "XYCTZ", "uint8")] * 2
    ome = check_xml(path)
    assert [i.name for i in ome.images] == ["a", "b"]
    blocks = [i.pixels.tiff_data_blocks for i in ome.images]
    if position_first:  # each image's pages are contiguous
        assert [(b[0].ifd, b[0].plane_count) for b in blocks] == [(0, 4), (4, 4)]
    else:  # interleaved pages: one TiffData (IFD) per page
        assert sorted(td.ifd for td in blocks[1]) == [2, 3, 6, 7]
    assert tifffile_series(path, caplog) == [((2, 2, Y, X), "TCYX")] * 2


@pytest.mark.parametrize("single_file", [False, True])
def test_plate(tmp_path: Path, bioformats: BioFormats, single_file: bool) -> None:
    positions = [
        Position(name="f0", plate_row="A", plate_column="1", grid_row=0, grid_column=0),
        Position(name="f1", plate_row="A", plate_column="1", grid_row=0, grid_column=1),
        Position(name="f0", plate_row="B", plate_column="3", x_coord=1.5, y_coord=2.5),
    ]
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "plate.ome.tiff"),
        dimensions=[
            Dimension(name="p", type="position", coords=positions),
            Dimension(name="c", count=2),
            *YX,
        ],
        dtype="uint16",
        plate=Plate.from_standard_wells(96).model_copy(update={"name": "my plate"}),
        format=OmeTiffFormat(prefer_single_file="always" if single_file else "auto"),
    )
    write(settings)
    path = (
        tmp_path / "plate.ome.tiff"
        if single_file
        else tmp_path / "plate" / "plate_p000.ome.tiff"
    )
    check_bioformats(bioformats, path, expected_planes(settings, 6), series=3)
    ome = check_xml(path)
    (plate,) = ome.plates
    assert (plate.name, plate.rows, plate.columns) == ("my plate", 8, 12)
    assert plate.row_naming_convention.value == "letter"
    assert plate.column_naming_convention.value == "number"
    wells = [
        (w.row, w.column, [s.image_ref.id for s in w.well_samples]) for w in plate.wells
    ]
    assert wells == [(0, 0, ["Image:0", "Image:1"]), (1, 2, ["Image:2"])]
    sample = plate.wells[1].well_samples[0]
    assert (sample.position_x, sample.position_y) == (1.5, 2.5)
    assert sample.position_x_unit.value == "µm"


def test_single_file_any_position_count(tmp_path: Path) -> None:
    """One position with prefer_single_file="always" is the plain single file."""
    path = tmp_path / "s.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[Dimension(name="p", type="position", coords=["only"]), *YX],
        dtype="uint16",
        format=OmeTiffFormat(prefer_single_file="always"),
    )
    with create_stream(settings) as stream:
        stream.append(frame(0))
    assert check_xml(path).images[0].name == "only"
