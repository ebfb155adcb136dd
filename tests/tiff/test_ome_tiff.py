"""OME-TIFF output, read back by Bio-Formats, tifffile, ome-types and the XSD."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import ome_types
import pytest
import tifffile
import xmlschema

from ome_writers import (
    AcquisitionSettings,
    Channel,
    Dimension,
    OmeTiffFormat,
    Plate,
    Position,
    create_stream,
)
from ome_writers._router import FrameRouter
from ome_writers.errors import BackendError

from .conftest import BioFormats

Y, X = 6, 5
XSD = Path(ome_types.__file__).parent / "ome-2016-06.xsd"
SIZES = {"t": 2, "c": 3, "z": 2}


def _frame(n: int, dtype: str = "uint16") -> np.ndarray:
    base = np.arange(Y * X).reshape(Y, X) % 50
    return (base + 100 * (n + 1) % 30000).astype(dtype)


def _dims(order: str, *, channels: bool = False) -> list[Dimension]:
    dims = []
    for name in order:
        if name == "c" and channels:
            dims.append(
                Dimension(
                    name="c",
                    type="channel",
                    coords=[
                        Channel(
                            name="DAPI",
                            color="blue",
                            excitation_wavelength_nm=405,
                            emission_wavelength_nm=450,
                            fluorophore="Hoechst",
                        ),
                        Channel(name="FITC"),
                        "Cy5",
                    ],
                )
            )
        else:
            dims.append(Dimension(name=name, count=SIZES[name]))
    return dims


YX = [
    Dimension(name="y", count=Y, unit="um", scale=0.25),
    Dimension(name="x", count=X, unit="um", scale=0.25),
]


def _write(settings: AcquisitionSettings, n: int | None = None, **meta: Any) -> Any:
    total = settings.num_frames if n is None else n
    with create_stream(settings) as stream:
        for i in range(total or 0):
            stream.append(
                _frame(i, settings.dtype),
                frame_metadata={
                    "delta_t": i * 0.1,
                    "exposure_time": 0.01,
                    "i": i,
                    **meta,
                },
            )
    return stream


def _expected_planes(
    settings: AcquisitionSettings, n: int
) -> dict[tuple[int, int, int, int], np.ndarray]:
    """(series, z, c, t) -> frame, from the router (independent of the writer)."""
    router = FrameRouter(settings)
    letters = [d.name.lower() for d in settings.storage_index_dimensions]
    out = {}
    for i in range(n):
        pos, index = router.route(i)
        by = dict(zip(letters, index, strict=True))
        out[(pos, by.get("z", 0), by.get("c", 0), by.get("t", 0))] = _frame(
            i, settings.dtype
        )
    return out


def _check_bioformats(
    bf: BioFormats,
    path: Path,
    settings: AcquisitionSettings,
    n: int,
    *,
    series: int = 1,
) -> Any:
    info = bf.image_info(path)
    for bad in ("mismatch", "WARN", "Exception", "ERROR"):
        assert bad not in info, info
    result = bf.read(path)
    assert result.series == series, result.output
    for key, frame in _expected_planes(settings, n).items():
        assert result.plane_matches(*key, frame), (
            f"plane {key} differs: {result.output}"
        )
    return result


def _check_xml(path: Path) -> ome_types.OME:
    xml = tifffile.tiffcomment(path)
    xmlschema.XMLSchema(str(XSD)).validate(xml)
    return ome_types.from_tiff(path)


@pytest.mark.parametrize("order", ["".join(p) for p in itertools.permutations("tcz")])
def test_single_file_every_tcz_order(
    tmp_path: Path, bioformats: BioFormats, order: str
) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "x.ome.tiff"),
        dimensions=[*_dims(order, channels=True), *YX],
        dtype="uint16",
    )
    _write(settings)
    path = tmp_path / "x.ome.tiff"
    result = _check_bioformats(bioformats, path, settings, 12)
    expected_order = "XY" + "".join(reversed(order.upper()))
    assert result.sizes == [(2, 3, 2, expected_order, "uint16")]
    ome = _check_xml(path)
    pixels = ome.images[0].pixels
    assert [c.name for c in pixels.channels] == ["DAPI", "FITC", "Cy5"]
    assert all(c.samples_per_pixel == 1 for c in pixels.channels)
    dapi = pixels.channels[0]
    assert (dapi.excitation_wavelength, dapi.emission_wavelength, dapi.fluor) == (
        405,
        450,
        "Hoechst",
    )
    assert pixels.channels[1].excitation_wavelength_unit is not None or True
    assert pixels.physical_size_x == 0.25
    assert len(pixels.planes) == 12
    plane = pixels.planes[1]
    assert (plane.delta_t, plane.exposure_time) == (0.1, 0.01)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome
        assert tif.series[0].shape == (*tuple(SIZES[a] for a in order), Y, X)
        assert tif.series[0].axes == order.upper() + "YX"


def test_multi_position_modes(tmp_path: Path, bioformats: BioFormats) -> None:
    dims = [
        Dimension(name="t", count=2),
        Dimension(name="p", type="position", coords=["a", "b", "c"]),
        Dimension(name="z", count=2),
    ]
    for mode in ("redundant", "master-tiff", "companion-file"):
        root = tmp_path / mode / "exp.ome.tiff"
        settings = AcquisitionSettings(
            root_path=str(root),
            dimensions=[*dims, *YX],
            dtype="uint16",
            format=OmeTiffFormat(multi_file_metadata=mode),
        )
        _write(settings)
        folder = tmp_path / mode / "exp"
        files = sorted(p.name for p in folder.iterdir())
        if mode == "companion-file":
            assert files == [
                "exp.companion.ome",
                "exp_p000.ome.tiff",
                "exp_p001.ome.tiff",
                "exp_p002.ome.tiff",
            ]
            _check_bioformats(
                bioformats, folder / "exp.companion.ome", settings, 12, series=3
            )
            continue
        assert files == ["exp_p000.ome.tiff", "exp_p001.ome.tiff", "exp_p002.ome.tiff"]
        # any file of the set opens as the whole set
        for name in files if mode == "redundant" else files[:1]:
            _check_bioformats(bioformats, folder / name, settings, 12, series=3)
        _check_xml(folder / "exp_p001.ome.tiff")


def test_single_file_multi_series(tmp_path: Path, bioformats: BioFormats) -> None:
    dims = [
        Dimension(name="t", count=2),
        Dimension(name="p", type="position", coords=["a", "b"]),
        Dimension(name="c", count=2),
    ]
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "all.ome.tiff"),
        dimensions=[*dims, *YX],
        dtype="uint8",
        format=OmeTiffFormat(prefer_single_file="always"),
    )
    _write(settings)
    _check_bioformats(bioformats, tmp_path / "all.ome.tiff", settings, 8, series=2)
    ome = _check_xml(tmp_path / "all.ome.tiff")
    assert [i.name for i in ome.images] == ["a", "b"]


def test_plate(tmp_path: Path, bioformats: BioFormats) -> None:
    positions = [
        Position(name="f0", plate_row="A", plate_column="1", grid_row=0, grid_column=0),
        Position(name="f1", plate_row="A", plate_column="1", grid_row=0, grid_column=1),
        Position(name="f0", plate_row="B", plate_column="3"),
    ]
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "plate.ome.tiff"),
        dimensions=[Dimension(name="p", type="position", coords=positions), *YX],
        dtype="uint16",
        plate=Plate.from_standard_wells(96),
    )
    _write(settings)
    path = tmp_path / "plate" / "plate_p000.ome.tiff"
    _check_bioformats(bioformats, path, settings, 3, series=3)
    ome = _check_xml(path)
    plate = ome.plates[0]
    assert (plate.rows, plate.columns) == (8, 12)
    assert [(w.row, w.column, len(w.well_samples)) for w in plate.wells] == [
        (0, 0, 2),
        (1, 2, 1),
    ]


@pytest.mark.parametrize("n", [5, 7])
def test_unbounded_and_partial_are_padded(
    tmp_path: Path, bioformats: BioFormats, n: int
) -> None:
    dims = [
        Dimension(name="t", count=None if n == 5 else 4),
        Dimension(name="z", count=3),
    ]
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "u.ome.tiff"), dimensions=[*dims, *YX], dtype="uint16"
    )
    stream = _write(settings, n)
    path = tmp_path / "u.ome.tiff"
    result = _check_bioformats(bioformats, path, settings, n)
    size_t = -(-n // 3)
    assert result.sizes == [(3, 1, size_t, "XYZTC", "uint16")]
    # the padded planes are zero
    assert result.plane_matches(0, 2, 0, size_t - 1, np.zeros((Y, X), "uint16"))
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == size_t * 3
    view = stream.view()
    assert view.shape == (size_t, 3, Y, X)
    np.testing.assert_array_equal(view[1, 0], _frame(3))


def test_skip_writes_zero_planes(tmp_path: Path, bioformats: BioFormats) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "s.ome.tiff"),
        dimensions=[Dimension(name="t", count=4), *YX],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        stream.append(_frame(0))
        stream.skip(frames=2)
        stream.append(_frame(3))
    result = _check_bioformats(bioformats, tmp_path / "s.ome.tiff", settings, 0)
    assert result.plane_matches(0, 0, 0, 0, _frame(0))
    assert result.plane_matches(0, 0, 0, 1, np.zeros((Y, X), "uint16"))
    assert result.plane_matches(0, 0, 0, 3, _frame(3))


@pytest.mark.parametrize("compression", ["lzw", "zlib", "zstd", "none"])
def test_compression(tmp_path: Path, bioformats: BioFormats, compression: str) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "c.ome.tiff"),
        dimensions=[Dimension(name="t", count=3), *YX],
        dtype="uint16",
        compression=compression,
    )
    stream = _write(settings)
    if compression != "zstd":  # Bio-Formats 7 has no zstd codec for TIFF
        _check_bioformats(bioformats, tmp_path / "c.ome.tiff", settings, 3)
    data = tifffile.imread(tmp_path / "c.ome.tiff")
    np.testing.assert_array_equal(data[2], _frame(2))
    np.testing.assert_array_equal(stream.view()[1], _frame(1))


@pytest.mark.parametrize(
    ("dtype", "ome_type"),
    [
        ("float32", "float"),
        ("float64", "double"),
        ("int8", "int8"),
        ("uint32", "uint32"),
    ],
)
def test_dtypes(
    tmp_path: Path, bioformats: BioFormats, dtype: str, ome_type: str
) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "d.ome.tiff"),
        dimensions=[Dimension(name="c", count=2), *YX],
        dtype=dtype,
    )
    _write(settings)
    result = _check_bioformats(bioformats, tmp_path / "d.ome.tiff", settings, 2)
    assert result.sizes[0][4] == ome_type


@pytest.mark.parametrize("pixel_size", [0.0, None, -1.0])
def test_unknown_pixel_size(
    tmp_path: Path, bioformats: BioFormats, pixel_size: float | None
) -> None:
    dims = [
        Dimension(name="t", count=None, scale=0.0, unit="s"),
        Dimension(name="y", count=Y, scale=pixel_size, unit="micrometer"),
        Dimension(name="x", count=X, scale=pixel_size, unit="micrometer"),
    ]
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "p.ome.tiff"), dimensions=dims, dtype="uint16"
    )
    _write(settings, 2)
    _check_bioformats(bioformats, tmp_path / "p.ome.tiff", settings, 2)
    pixels = _check_xml(tmp_path / "p.ome.tiff").images[0].pixels
    assert pixels.physical_size_x is None
    assert pixels.time_increment is None


def test_metadata_round_trip(tmp_path: Path, bioformats: BioFormats) -> None:
    """The pymmcore-plus 0.18.1 post-close summary write, and global metadata."""
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "m.ome.tiff"),
        dimensions=[Dimension(name="t", count=2), *YX],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        stream.set_global_metadata("myns", {"a": 1, "b": {"c": [1, 2]}})
        for i in range(2):
            stream.append(
                _frame(i),
                frame_metadata={"delta_t": i, "np": np.float32(1.5), "l": [1]},
            )
    meta = stream.get_metadata()
    assert set(meta) == {0}
    model = meta[0]
    model.structured_annotations.map_annotations.append(
        ome_types.model.MapAnnotation(
            namespace="pymmcore_plus", value={"summary_metadata_json": "{}"}
        )
    )
    stream.update_metadata(meta)
    stream.set_global_metadata("later", {"k": "v"})
    ome = _check_xml(tmp_path / "m.ome.tiff")
    namespaces = [a.namespace for a in ome.structured_annotations.map_annotations]
    assert "myns" in namespaces
    assert "later" in namespaces
    myns = next(
        a for a in ome.structured_annotations.map_annotations if a.namespace == "myns"
    )
    assert {m.k: json.loads(m.value) for m in myns.value.ms} == {
        "a": 1,
        "b": {"c": [1, 2]},
    }
    plane = ome.images[0].pixels.planes[1]
    ref = plane.annotation_refs[0].id
    ann = next(a for a in ome.structured_annotations.map_annotations if a.id == ref)
    assert {m.k: m.value for m in ann.value.ms} == {"np": "1.5", "l": "[1]"}
    _check_bioformats(bioformats, tmp_path / "m.ome.tiff", settings, 2)
    with pytest.raises(TypeError, match="Expected dict"):
        stream.update_metadata([])  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="Unknown position index: 5"):
        stream.update_metadata({5: model})


def test_zero_frames_leave_no_file(tmp_path: Path) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "z.ome.tiff"),
        dimensions=[Dimension(name="t", count=2), *YX],
        dtype="uint16",
    )
    stream = create_stream(settings)
    stream.close()
    assert not (tmp_path / "z.ome.tiff").exists()
    stream.set_global_metadata("ns", {"a": 1})  # a no-op, not an error
    stream.update_metadata(stream.get_metadata())


def test_camera_axis_stored_as_channel(tmp_path: Path, bioformats: BioFormats) -> None:
    """pymmcore-plus multi-camera: one extra axis becomes C."""
    dims = [Dimension(name="t", count=2), Dimension(name="cam", count=2, type="other")]
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "cam.ome.tiff"),
        dimensions=[*dims, *YX],
        dtype="uint16",
    )
    _write(settings)
    router_letters = {"cam": "c"}
    assert router_letters
    result = bioformats.read(tmp_path / "cam.ome.tiff")
    assert result.sizes == [(1, 2, 2, "XYCTZ", "uint16")]
    assert result.plane_matches(0, 0, 1, 1, _frame(3))


def test_explicit_storage_order(tmp_path: Path, bioformats: BioFormats) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "o.ome.tiff"),
        dimensions=[*_dims("tcz"), *YX],
        dtype="uint16",
        storage_order=["c", "t", "z", "y", "x"],
    )
    _write(settings)
    result = _check_bioformats(bioformats, tmp_path / "o.ome.tiff", settings, 12)
    assert result.sizes == [(2, 3, 2, "XYZTC", "uint16")]


def test_rejections(tmp_path: Path) -> None:
    bad_axes = AcquisitionSettings(
        root_path=str(tmp_path / "b.ome.tiff"),
        dimensions=[Dimension(name="c", count=2), Dimension(name="q", count=2), *YX],
        dtype="uint16",
    )
    with pytest.raises(ValueError, match="Only one dimension not named t/c/z"):
        create_stream(bad_axes)
    bad_dtype = bad_axes.model_copy(update={"dimensions": tuple(YX), "dtype": "int64"})
    with pytest.raises(ValueError, match="cannot store dtype 'int64'"):
        create_stream(bad_dtype)
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "e.ome.tiff"), dimensions=YX, dtype="u1"
    )
    create_stream(settings).close()
    (tmp_path / "e.ome.tiff").write_bytes(b"")
    with pytest.raises(FileExistsError, match=r"already exists\. Use overwrite=True"):
        create_stream(settings)


def test_writer_error_surfaces(tmp_path: Path) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "w.ome.tiff"),
        dimensions=[Dimension(name="t", count=5), *YX],
        dtype="uint16",
    )
    stream = create_stream(settings)
    backend = stream._backend
    original = backend._write_page
    calls = [0]

    def failing(*args: Any) -> None:
        calls[0] += 1
        if calls[0] == 2:
            raise OSError(28, "No space left on device")
        original(*args)

    backend._write_page = failing
    stream.append(_frame(0))
    stream.append(_frame(1))
    backend.thread.join(timeout=0.01)
    import time

    deadline = time.monotonic() + 5
    while backend.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises((OSError, BackendError), match="No space"):
        stream.append(_frame(2))
    with pytest.raises(RuntimeError):
        stream.append(_frame(2))
    stream.close()  # already reported: not raised again
    # the frame written before the error is on disk and described
    with tifffile.TiffFile(tmp_path / "w.ome.tiff") as tif:
        assert tif.is_ome
        np.testing.assert_array_equal(tif.pages[0].asarray(), _frame(0))
    assert ome_types.from_tiff(tmp_path / "w.ome.tiff").images[0].pixels.size_t == 1
