"""OME-XML content, TIFF tags, pixel types, compression and the metadata API."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import ome_types
import pytest
import tifffile
from ome_types import model as m

from ome_writers import AcquisitionSettings, Dimension, OmeTiffFormat, create_stream

from ._helpers import (
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


def test_pixels_channels_and_planes(tmp_path: Path, bioformats: BioFormats) -> None:
    path = tmp_path / "full.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=2, scale=1.5, unit="s"),
            *dims("c", channels=True),
            Dimension(name="z", count=2, scale=0.5, unit="um"),
            Dimension(name="y", count=Y, scale=0.1, unit="nm"),
            Dimension(name="x", count=X, scale=0.2, unit="nm"),
        ],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        for i in range(12):
            meta: dict[str, Any] = {
                "delta_t": i * 0.25,
                "exposure_time": np.float32(0.5),
                "position_x": 1.0,
                "position_y": np.float64(2.0),
                "position_z": 3,
                "np": np.int64(7),
                "nested": {"a": [1, 2]},
                "none": None,
                "odd": object(),  # made a string, never an error on append
            }
            stream.append(frame(i), frame_metadata=meta if i != 4 else None)
    check_bioformats(bioformats, path, expected_planes(settings, 12))
    ome = check_xml(path)
    pixels = ome.images[0].pixels
    assert (pixels.physical_size_x, pixels.physical_size_y) == (0.2, 0.1)
    assert pixels.physical_size_x_unit.value == "nm"
    assert (pixels.physical_size_z, pixels.physical_size_z_unit.value) == (0.5, "µm")
    assert (pixels.time_increment, pixels.time_increment_unit.value) == (1.5, "s")
    dapi = pixels.channels[0]
    assert [c.name for c in pixels.channels] == ["DAPI", "FITC", "Cy5"]
    assert all(c.samples_per_pixel == 1 for c in pixels.channels)
    assert dapi.color.as_rgb_tuple(alpha=False) == (0, 0, 255)
    assert (dapi.excitation_wavelength, dapi.emission_wavelength) == (405, 450)
    assert dapi.excitation_wavelength_unit.value == "nm"
    assert dapi.fluor == "Hoechst"
    xml = tifffile.tiffcomment(path)
    (fitc_xml,) = re.findall(r"<Channel [^>]*FITC[^>]*>", xml)
    assert "Wavelength" not in fitc_xml
    # no colour given: guessed from the name (metadata/_colors.py)
    fitc, cy5 = pixels.channels[1:]
    assert fitc.color.as_rgb_tuple(alpha=False) == (0, 255, 0)
    assert cy5.color.as_rgb_tuple(alpha=False) == (255, 0, 255)
    # a Plane per frame with metadata (frame 4 has none), in DimensionOrder
    assert len(pixels.planes) == 11
    assert [b.plane_count for b in pixels.tiff_data_blocks] == [12]
    assert [(p.the_z, p.the_c, p.the_t) for p in pixels.planes[:3]] == [
        (0, 0, 0),
        (1, 0, 0),
        (0, 1, 0),
    ]
    plane = pixels.planes[1]  # frame 1
    assert (plane.delta_t, plane.delta_t_unit.value) == (0.25, "s")
    assert (plane.exposure_time, plane.exposure_time_unit.value) == (0.5, "s")
    assert (plane.position_x, plane.position_y, plane.position_z) == (1.0, 2.0, 3.0)
    assert plane.position_x_unit.value == "µm"
    (ref,) = plane.annotation_refs
    anns = {a.id: a for a in ome.structured_annotations.map_annotations}
    values = {kv.k: kv.value for kv in anns[ref.id].value.ms}
    assert values["np"] == "7"
    assert json.loads(values["nested"]) == {"a": [1, 2]}
    assert values["none"] == "null"
    assert values["odd"].startswith("<object")
    # frame 4 (c 2, t 0) has no Plane; its z neighbour has one
    assert sum((p.the_c, p.the_t) == (2, 0) for p in pixels.planes) == 1
    # nothing is declared without a value
    assert "PhysicalSizeXUnit" in xml
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert page.samplesperpixel == 1
        assert page.tags["ResolutionUnit"].value == 3  # centimetre
        x_res = page.tags["XResolution"].value
        assert x_res[0] / x_res[1] == pytest.approx(1 / (0.2e-7))


@pytest.mark.parametrize("pixel_size", [0.0, None, -1.0])
def test_unknown_pixel_size(
    tmp_path: Path, bioformats: BioFormats, pixel_size: float | None
) -> None:
    path = tmp_path / "p.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=None, scale=0.0, unit="s"),
            Dimension(name="z", count=2, scale=pixel_size, unit="micrometer"),
            Dimension(name="y", count=Y, scale=pixel_size, unit="micrometer"),
            Dimension(name="x", count=X, scale=pixel_size, unit="micrometer"),
        ],
        dtype="uint16",
    )
    write(settings, 4)
    check_bioformats(bioformats, path, expected_planes(settings, 4))
    pixels = check_xml(path).images[0].pixels
    assert pixels.physical_size_x is None and pixels.physical_size_z is None
    assert pixels.time_increment is None
    xml = tifffile.tiffcomment(path)
    assert "PhysicalSize" not in xml and "TimeIncrement" not in xml
    with tifffile.TiffFile(path) as tif:  # the TIFF baseline: 1/1, no unit
        tags = tif.pages[0].tags
        assert tags["XResolution"].value == (1, 1)
        assert tags["ResolutionUnit"].value == 1


@pytest.mark.parametrize(
    ("dtype", "ome_type"),
    [
        ("uint8", "uint8"),
        ("uint32", "uint32"),
        ("int8", "int8"),
        ("int16", "int16"),
        ("int32", "int32"),
        ("float32", "float"),
        ("float64", "double"),
    ],
)
def test_pixel_types(
    tmp_path: Path, bioformats: BioFormats, caplog: Any, dtype: str, ome_type: str
) -> None:
    path = tmp_path / "d.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path), dimensions=[*dims("c"), *YX], dtype=dtype
    )
    write(settings)
    result = check_bioformats(bioformats, path, expected_planes(settings, 3))
    assert result.sizes == [(1, 3, 1, "XYCTZ", ome_type)]
    assert check_xml(path).images[0].pixels.type.value == ome_type
    assert tifffile_series(path, caplog) == [((3, Y, X), "CYX")]
    np.testing.assert_array_equal(tifffile.imread(path)[2], frame(2, dtype))


@pytest.mark.parametrize("dtype", ["int64", "uint64", "bool", "float16", "complex64"])
def test_unsupported_dtypes_rejected(tmp_path: Path, dtype: str) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "b.ome.tiff"), dimensions=YX, dtype=dtype
    )
    with pytest.raises(ValueError, match=f"cannot store dtype '{dtype}'.*float32"):
        create_stream(settings)
    assert list(tmp_path.iterdir()) == []


def test_two_time_axes_rejected(tmp_path: Path) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "b.ome.tiff"),
        dimensions=[
            Dimension(name="t", count=2),
            Dimension(name="t2", count=2, type="time"),
            *YX,
        ],
        dtype="uint8",
    )
    with pytest.raises(ValueError, match=r"tifffile.*one T axis.*\['t', 't2'\]"):
        create_stream(settings)


@pytest.mark.parametrize("compression", ["none", "lzw", "zlib", "zstd"])
def test_compression(
    tmp_path: Path, bioformats: BioFormats, caplog: Any, compression: str
) -> None:
    path = tmp_path / "c.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[Dimension(name="t", count=3), *YX],
        dtype="uint16",
        compression=compression,
    )
    stream = write(settings)
    if compression != "zstd":  # this Bio-Formats has no zstd codec for TIFF
        check_bioformats(bioformats, path, expected_planes(settings, 3))
    codes = {"none": 1, "lzw": 5, "zlib": 8, "zstd": 50000}
    with tifffile.TiffFile(path) as tif:
        assert {p.compression.value for p in tif.pages} == {codes[compression]}
    assert tifffile_series(path, caplog) == [((3, Y, X), "TYX")]
    np.testing.assert_array_equal(tifffile.imread(path)[2], frame(2))
    np.testing.assert_array_equal(stream.view()[1], frame(1))


def test_global_metadata_and_post_close_round_trip(
    tmp_path: Path, bioformats: BioFormats
) -> None:
    """set_global_metadata, then pymmcore-plus 0.18.1's post-close summary write."""
    path = tmp_path / "m.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[Dimension(name="t", count=2), *YX],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        stream.set_global_metadata("myns", {"a": 1, "b": {"c": [1, 2]}})
        stream.set_global_metadata("gone", {"x": 1})
        stream.set_global_metadata("gone", {"y": np.float32(2.5)})  # replaces
        for i in range(2):
            stream.append(frame(i), frame_metadata={"delta_t": i, "k": "v"})
        with pytest.raises(RuntimeError, match="after the stream context exits"):
            stream.update_metadata({})
        assert stream.get_metadata() == {}  # written at close
    meta = stream.get_metadata()
    assert set(meta) == {0}
    model = meta[0]
    if model.structured_annotations is None:
        model.structured_annotations = m.StructuredAnnotations()
    model.structured_annotations.map_annotations.append(
        m.MapAnnotation(
            namespace="pymmcore_plus", value={"summary_metadata_json": "{}"}
        )
    )
    stream.update_metadata(meta)
    stream.set_global_metadata("later", {"k": "v"})
    stream.set_global_metadata("myns", {"a": 2})
    ome = check_xml(path)
    maps = ome.structured_annotations.map_annotations
    by_ns = {a.namespace: a for a in maps if a.namespace}
    assert sorted(by_ns) == ["gone", "later", "myns", "pymmcore_plus"]
    assert {kv.k: json.loads(kv.value) for kv in by_ns["gone"].value.ms} == {"y": 2.5}
    assert {kv.k: json.loads(kv.value) for kv in by_ns["myns"].value.ms} == {"a": 2}
    assert len({a.id for a in maps}) == len(maps)
    refs = {r.id for p in ome.images[0].pixels.planes for r in p.annotation_refs}
    assert refs.isdisjoint(a.id for a in by_ns.values())
    check_bioformats(bioformats, path, expected_planes(settings, 2))
    with pytest.raises(TypeError, match="Expected dict"):
        stream.update_metadata([])
    with pytest.raises(
        TypeError, match=r"Expected ome_types\.model\.OME for position 0"
    ):
        stream.update_metadata({0: {}})
    with pytest.raises(KeyError, match="Unknown position index: 5"):
        stream.update_metadata({5: model})


@pytest.mark.parametrize("mode", ["redundant", "master-tiff", "companion-file"])
def test_metadata_in_file_sets(
    tmp_path: Path, bioformats: BioFormats, mode: str
) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "fs.ome.tiff"),
        dimensions=[
            Dimension(name="p", type="position", coords=["a", "b"]),
            Dimension(name="t", count=2),
            *YX,
        ],
        dtype="uint16",
        format=OmeTiffFormat(multi_file_metadata=mode),
    )
    with create_stream(settings) as stream:
        stream.set_global_metadata("ns", {"a": 1})
        for i in range(4):
            stream.append(frame(i), frame_metadata={"delta_t": i, "k": i})
    folder = tmp_path / "fs"
    tiffs = [folder / "fs_p000.ome.tiff", folder / "fs_p001.ome.tiff"]
    companion = folder / "fs.companion.ome"
    meta = stream.get_metadata()
    expected_keys = {0, 1, -1} if mode == "companion-file" else {0, 1}
    assert set(meta) == expected_keys
    for key, model in meta.items():  # pymmcore-plus 0.18.1 does this to every model
        if model.structured_annotations is None:
            model.structured_annotations = m.StructuredAnnotations()
        model.structured_annotations.map_annotations.append(
            m.MapAnnotation(namespace="pymmcore_plus", value={"file": str(key)})
        )
    stream.update_metadata(meta)
    full = {
        "redundant": tiffs,
        "master-tiff": tiffs[:1],
        "companion-file": [companion],
    }[mode]
    for path in [*tiffs, companion] if mode == "companion-file" else tiffs:
        ome = check_xml(path)
        if path not in full:  # the schema allows only BinaryOnly there
            assert ome.binary_only is not None
            assert not list(ome.structured_annotations or [])
            continue
        namespaces = {a.namespace for a in ome.structured_annotations.map_annotations}
        assert {"ns", "pymmcore_plus"} <= namespaces
        # frame metadata of both positions
        assert [len(i.pixels.planes) for i in ome.images] == [2, 2]
        assert ome.images[1].pixels.planes[1].delta_t == 3
    for path in tiffs:  # the UUIDs still tie the set together
        own = ome_types.from_tiff(path)
        ome = (
            ome_types.from_xml(companion.read_text())
            if mode == "companion-file"
            else (check_xml(full[0]))
        )
        file_uuids = {
            td.uuid.file_name: td.uuid.value
            for i in ome.images
            for td in i.pixels.tiff_data_blocks
        }
        assert file_uuids[path.name] == own.uuid
        check_bioformats(bioformats, path, expected_planes(settings, 4), series=2)


def test_bioformats_reports_channel_colors(
    tmp_path: Path, bioformats: BioFormats
) -> None:
    """Colours guessed from channel names reach Bio-Formats' OME-XML."""
    path = tmp_path / "colors.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="c", type="channel", coords=["DAPI", "mCherry", "GFP"]),
            Dimension(name="y", count=8, type="space"),
            Dimension(name="x", count=8, type="space"),
        ],
        dtype="uint8",
    )
    with create_stream(settings) as stream:
        for i in range(3):
            stream.append(np.full((8, 8), i, "uint8"))
    info = ["java", "-cp", str(bioformats.jar), "loci.formats.tools.ImageInfo"]
    proc = subprocess.run(
        [*info, "-nopix", "-no-upgrade", "-omexml-only", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    colors = re.findall(r'<Channel Color="(-?\d+)"[^>]*Name="(\w+)"', proc.stdout)
    # OME colours are signed 32-bit RGBA
    rgba = {name: int(value) & 0xFFFFFFFF for value, name in colors}
    assert rgba == {"DAPI": 0x0000FFFF, "mCherry": 0xFF0000FF, "GFP": 0x00FF00FF}


def test_bit_depth_and_display_reach_bioformats(
    tmp_path: Path, bioformats: BioFormats
) -> None:
    """SignificantBits and what the user set for displaying the channels:
    XSD-valid while written and at close, read by Bio-Formats without a
    warning."""
    path = tmp_path / "display.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            *YX,
        ],
        dtype="uint16",
        significant_bits=12,
        loss_window=None,
    )
    with create_stream(settings) as stream:
        for i in range(2):
            stream.append(frame(i))
        stream.set_channel_display("FITC", color="#FF8000", contrast_limits=(3, 4))
        stream._make_readable()
        provisional = check_xml(path)
        channel = provisional.images[0].pixels.channels[1]
        assert channel.color.as_rgb_tuple(alpha=False) == (255, 128, 0)
        assert provisional.images[0].pixels.significant_bits == 12
        stream.set_channel_display(0, visible=False)
        for i in range(2, 4):
            stream.append(frame(i))
    ome = check_xml(path)
    assert ome.images[0].pixels.significant_bits == 12
    check_bioformats(bioformats, path, expected_planes(settings, 4))
    info = ["java", "-cp", str(bioformats.jar), "loci.formats.tools.ImageInfo"]
    proc = subprocess.run(
        [*info, "-nopix", "-no-upgrade", "-omexml-only", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert 'SignificantBits="12"' in proc.stdout
    colors = re.findall(r'<Channel Color="(-?\d+)"[^>]*Name="(\w+)"', proc.stdout)
    rgba = {name: int(value) & 0xFFFFFFFF for value, name in colors}
    assert rgba == {"DAPI": 0x0000FFFF, "FITC": 0xFF8000FF}
    assert proc.stdout.count('Namespace="ome_writers.display"') == 2
