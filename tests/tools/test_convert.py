"""`ome-writers convert`: every input kind into OME-Zarr and OME-TIFF.

Outputs are read back with zarr-python, tifffile and ome-types only; the
expected pixels and metadata come from the inputs as written by tifffile,
zarr-python and numpy.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import ome_types
import pytest
import tifffile
import zarr

from ome_writers import (
    AcquisitionSettings,
    Channel,
    Dimension,
    OmeZarrFormat,
    Plate,
    Position,
    create_stream,
)
from ome_writers.tools import info
from ome_writers.tools.cli import main
from ome_writers.tools.convert import ConversionError, convert, read_sources

SUFFIXES = [".ome.zarr", ".ome.tiff"]
RNG = np.random.default_rng(7)


def data(shape: tuple[int, ...], dtype: str = "uint16") -> np.ndarray:
    return RNG.integers(0, 4000, shape).astype(dtype)


# ------------------------------------------------------------------ readers


def read_zarr(root: Path, image: str = ".") -> dict[str, Any]:
    """Level 0, axis names, scales, units, channel labels and the image name."""
    group = zarr.open_group(str(root / image), mode="r")
    ome = group.attrs.asdict()["ome"]
    multiscale = ome["multiscales"][0]
    level0 = multiscale["datasets"][0]
    scale = next(
        t["scale"] for t in level0["coordinateTransformations"] if t["type"] == "scale"
    )
    axes = [a["name"] for a in multiscale["axes"]]
    return {
        "data": np.asarray(group[level0["path"]][...]),
        "axes": axes,
        "scale": dict(zip(axes, scale, strict=True)),
        "units": {a["name"]: a.get("unit") for a in multiscale["axes"]},
        "channels": [c["label"] for c in ome.get("omero", {}).get("channels", [])],
        "name": multiscale.get("name"),
    }


def read_tiff(path: Path, series: int = 0) -> dict[str, Any]:
    """Pixels (tifffile), axis letters and the OME image (ome-types)."""
    with tifffile.TiffFile(path) as tif:
        s = tif.series[series]
        pixels = s.asarray()
        axes = s.axes.lower()
    image = ome_types.from_tiff(path).images[series]
    return {"data": pixels, "axes": list(axes), "image": image}


def reorder(array: np.ndarray, have: list[str], want: list[str]) -> np.ndarray:
    """`array` with axes named `have` transposed into the order `want`."""
    return np.transpose(array, [have.index(a) for a in want])


def tiff_sizes(image: Any) -> dict[str, float | None]:
    p = image.pixels
    return {
        "x": p.physical_size_x,
        "y": p.physical_size_y,
        "z": p.physical_size_z,
        "t": p.time_increment,
    }


# ------------------------------------------------------------------- inputs


TZCYX = (2, 3, 2, 10, 12)  # t, z, c, y, x
PLANES = 2 * 3 * 2


def plane_metadata(seed: int = 0) -> dict[str, list[Any]]:
    """OME Plane attributes for tifffile, pages in order (t, z, c), in units
    other than those of `frame_metadata` (ms, mm, nm); PositionZ without a
    unit (OME's default "reference frame", which converts to nothing)."""
    k = list(range(PLANES))
    return {
        "DeltaT": [100.0 * seed + 250.0 * i for i in k],
        "DeltaTUnit": ["ms"] * PLANES,
        "ExposureTime": [10.0 + i for i in k],
        "ExposureTimeUnit": ["ms"] * PLANES,
        "PositionX": [1.5 + seed] * PLANES,
        "PositionXUnit": ["mm"] * PLANES,
        "PositionY": [-20.0 * i for i in k],
        "PositionYUnit": ["nm"] * PLANES,
        "PositionZ": [3.0] * PLANES,
    }


def expected_frame_metadata(t: int, z: int, c: int, seed: int = 0) -> dict[str, Any]:
    """`plane_metadata` of page (t, z, c) in s and µm."""
    i = (t * 3 + z) * 2 + c
    return {
        "delta_t": pytest.approx((100.0 * seed + 250.0 * i) * 1e-3),
        "exposure_time": pytest.approx((10.0 + i) * 1e-3),
        "position_x": pytest.approx((1.5 + seed) * 1e3),
        "position_y": pytest.approx(-20.0 * i * 1e-3),
    }


def ome_tiff_input(path: Path, name: str = "sample", seed: int = 0) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 4000, TZCYX).astype("uint16")
    tifffile.imwrite(
        path,
        pixels,
        ome=True,
        metadata={
            "axes": "TZCYX",
            "Name": name,
            "Channel": {"Name": ["DAPI", "FITC"]},
            "PhysicalSizeX": 0.5,
            "PhysicalSizeY": 0.5,
            "PhysicalSizeZ": 2.0,
            "TimeIncrement": 3.0,
            "TimeIncrementUnit": "s",
            "Plane": plane_metadata(seed),
        },
    )
    return pixels


def zarr_frame_metadata(image: Path) -> dict[tuple[int, ...], dict[str, Any]]:
    """The per-frame metadata of an OME-Zarr image (zarr-python), by index."""
    records = zarr.open_group(str(image), mode="r").attrs["ome_writers"]
    out = {}
    for record in records["frame_metadata"]:
        meta = dict(record)
        out[tuple(meta.pop("storage_index"))] = meta
    return out


def ome_planes(image: Any) -> dict[tuple[int, int, int], dict[str, Any]]:
    """The Planes of an OME image (ome-types) by (t, z, c): values in s and µm."""
    out = {}
    for plane in image.pixels.planes:
        values = {}
        for key, unit in (
            ("delta_t", "s"),
            ("exposure_time", "s"),
            ("position_x", "µm"),
            ("position_y", "µm"),
            ("position_z", "µm"),
        ):
            if getattr(plane, key) is not None:
                assert getattr(plane, f"{key}_unit").value == unit
                values[key] = getattr(plane, key)
        out[(plane.the_t, plane.the_z, plane.the_c)] = values
    return out


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_ome_tiff(tmp_path: Path, suffix: str) -> None:
    pixels = ome_tiff_input(tmp_path / "in.ome.tif")
    out = convert([tmp_path / "in.ome.tif"], tmp_path / f"out{suffix}", progress=False)
    names = ["t", "z", "c", "y", "x"]
    if suffix == ".ome.zarr":
        got = read_zarr(out)
        assert got["axes"] == ["t", "c", "z", "y", "x"]
        np.testing.assert_array_equal(got["data"], reorder(pixels, names, got["axes"]))
        assert got["channels"] == ["DAPI", "FITC"]
        assert got["scale"] == {"t": 3.0, "c": 1.0, "z": 2.0, "y": 0.5, "x": 0.5}
        assert got["units"]["x"] == "micrometer" and got["units"]["t"] == "second"
        assert got["name"] == "sample"
    else:
        got = read_tiff(out)
        np.testing.assert_array_equal(got["data"], reorder(pixels, names, got["axes"]))
        image = got["image"]
        assert image.name == "sample"
        assert [c.name for c in image.pixels.channels] == ["DAPI", "FITC"]
        assert tiff_sizes(image) == {"x": 0.5, "y": 0.5, "z": 2.0, "t": 3.0}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_imagej_hyperstack(tmp_path: Path, suffix: str) -> None:
    pixels = data(TZCYX)
    src = tmp_path / "stack.tif"
    tifffile.imwrite(
        src,
        pixels,
        imagej=True,
        resolution=(1 / 0.25, 1 / 0.25),
        metadata={"axes": "TZCYX", "spacing": 1.5, "unit": "um", "finterval": 4.0},
    )
    out = convert([src], tmp_path / f"out{suffix}", progress=False)
    names = ["t", "z", "c", "y", "x"]
    if suffix == ".ome.zarr":
        got = read_zarr(out)
        np.testing.assert_array_equal(got["data"], reorder(pixels, names, got["axes"]))
        assert got["scale"] == {"t": 4.0, "c": 1.0, "z": 1.5, "y": 0.25, "x": 0.25}
        assert got["units"] == {
            "t": "second",
            "c": None,
            "z": "micrometer",
            "y": "micrometer",
            "x": "micrometer",
        }
    else:
        got = read_tiff(out)
        np.testing.assert_array_equal(got["data"], reorder(pixels, names, got["axes"]))
        assert tiff_sizes(got["image"]) == {"x": 0.25, "y": 0.25, "z": 1.5, "t": 4.0}


def test_imagej_pages_not_indexed(tmp_path: Path) -> None:
    """A hyperstack whose later pages are only contiguous data (ImageJ > 4 GB)."""
    pixels = data((4, 3, 10, 12))
    src = tmp_path / "truncated.tif"
    tifffile.imwrite(src, pixels, imagej=True, truncate=True, metadata={"axes": "TCYX"})
    with tifffile.TiffFile(src) as tif:
        assert len(tif.series[0].pages) == 1  # only the first page is indexed
    out = convert([src], tmp_path / "out.ome.zarr", progress=False)
    got = read_zarr(out)
    assert got["axes"] == ["t", "c", "y", "x"]
    np.testing.assert_array_equal(got["data"], pixels)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_plain_tiff_stack(tmp_path: Path, suffix: str) -> None:
    pixels = data((5, 10, 12))
    src = tmp_path / "plain.tif"
    tifffile.imwrite(src, pixels, photometric="minisblack")
    (image,) = read_sources([src])
    assert [(d.name, d.type) for d in image.dimensions] == [
        ("t", "time"),
        ("y", "space"),
        ("x", "space"),
    ]
    out = convert([src], tmp_path / f"out{suffix}", progress=False)
    got = read_zarr(out) if suffix == ".ome.zarr" else read_tiff(out)
    assert got["axes"] == ["t", "y", "x"]
    np.testing.assert_array_equal(got["data"], pixels)
    # the axes of a source without axis metadata can be named
    again = convert(
        [src], tmp_path / f"z{suffix}", axes="zyx", progress=False, overwrite=True
    )
    got = read_zarr(again) if suffix == ".ome.zarr" else read_tiff(again)
    assert got["axes"] == ["z", "y", "x"]


def ngff04_input(root: Path, pixels: np.ndarray) -> None:
    """An OME-Zarr 0.4 image (Zarr v2), metadata written by hand."""
    group = zarr.open_group(str(root), mode="w", zarr_format=2)
    array = group.create_array(
        "0", shape=pixels.shape, chunks=(1, 1, 2, 10, 12), dtype=pixels.dtype
    )
    array[...] = pixels
    group.attrs.update(
        {
            "multiscales": [
                {
                    "version": "0.4",
                    "name": "handmade",
                    "axes": [
                        {"name": "t", "type": "time", "unit": "second"},
                        {"name": "c", "type": "channel"},
                        {"name": "z", "type": "space", "unit": "micrometer"},
                        {"name": "y", "type": "space", "unit": "micrometer"},
                        {"name": "x", "type": "space", "unit": "micrometer"},
                    ],
                    "datasets": [
                        {
                            "path": "0",
                            "coordinateTransformations": [
                                {"type": "scale", "scale": [5.0, 1.0, 0.8, 0.2, 0.2]}
                            ],
                        }
                    ],
                }
            ],
            "omero": {
                "channels": [
                    {"label": "mCherry", "color": "FF0000"},
                    {"label": "GFP", "color": "00FF00"},
                    {"label": "BFP", "color": "0000FF"},
                ]
            },
        }
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_ngff_04(tmp_path: Path, suffix: str) -> None:
    pixels = data((2, 3, 4, 10, 12))  # t, c, z, y, x
    ngff04_input(tmp_path / "in.zarr", pixels)
    assert (tmp_path / "in.zarr" / ".zattrs").is_file()
    out = convert([tmp_path / "in.zarr"], tmp_path / f"out{suffix}", progress=False)
    names = ["t", "c", "z", "y", "x"]
    if suffix == ".ome.zarr":
        got = read_zarr(out)
        assert got["axes"] == names
        np.testing.assert_array_equal(got["data"], pixels)
        assert got["channels"] == ["mCherry", "GFP", "BFP"]
        assert got["scale"] == {"t": 5.0, "c": 1.0, "z": 0.8, "y": 0.2, "x": 0.2}
        assert got["name"] == "handmade"
        colors = zarr.open_group(str(out)).attrs["ome"]["omero"]["channels"]
        assert [c["color"] for c in colors] == ["FF0000", "00FF00", "0000FF"]
    else:
        got = read_tiff(out)
        np.testing.assert_array_equal(got["data"], reorder(pixels, names, got["axes"]))
        image = got["image"]
        assert image.name == "handmade"
        assert [c.name for c in image.pixels.channels] == ["mCherry", "GFP", "BFP"]
        assert tiff_sizes(image) == {"x": 0.2, "y": 0.2, "z": 0.8, "t": 5.0}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_ngff_05_from_ome_writers(tmp_path: Path, suffix: str) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "in.ome.zarr"),
        dimensions=[
            Dimension(name="t", count=2, type="time", unit="s", scale=0.5),
            Dimension(name="c", type="channel", coords=["DAPI", "Cy5"]),
            Dimension(name="z", count=3, unit="um", scale=1.25),
            Dimension(name="y", count=10, unit="um", scale=0.1),
            Dimension(name="x", count=12, unit="um", scale=0.1),
        ],
        dtype="uint16",
        pyramid=2,
    )
    pixels = data((2, 2, 3, 10, 12))
    with create_stream(settings) as stream:
        for plane in pixels.reshape(-1, 10, 12):
            stream.append(plane)
    out = convert([settings.root_path], tmp_path / f"out{suffix}", progress=False)
    names = ["t", "c", "z", "y", "x"]
    if suffix == ".ome.zarr":
        got = read_zarr(out)
        np.testing.assert_array_equal(got["data"], pixels)
        assert got["channels"] == ["DAPI", "Cy5"]
        assert got["scale"] == {"t": 0.5, "c": 1.0, "z": 1.25, "y": 0.1, "x": 0.1}
        # level 0 is converted; no pyramid unless asked for
        assert not (out / "1").exists()
    else:
        got = read_tiff(out)
        np.testing.assert_array_equal(got["data"], reorder(pixels, names, got["axes"]))
        image = got["image"]
        assert [c.name for c in image.pixels.channels] == ["DAPI", "Cy5"]
        assert tiff_sizes(image) == {"x": 0.1, "y": 0.1, "z": 1.25, "t": 0.5}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_ngff_06_from_ome_writers(tmp_path: Path, suffix: str) -> None:
    """0.6rc0 states axes in coordinate systems and a level's translation in a
    sequence; the images' stage positions are the scene's, not the levels'."""
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "in.ome.zarr"),
        dimensions=[
            Dimension(name="t", count=2, type="time", unit="s", scale=0.5),
            Dimension(name="p", type="position", coords=[{"name": "a", "x_coord": 7}]),
            Dimension(name="c", type="channel", coords=["DAPI", "Cy5"]),
            Dimension(name="z", count=3, unit="um", scale=1.25, translation=4.0),
            Dimension(name="y", count=10, unit="um", scale=0.1),
            Dimension(name="x", count=12, unit="um", scale=0.1),
        ],
        dtype="uint16",
        format=OmeZarrFormat(ngff_version="0.6rc0"),
    )
    pixels = data((2, 2, 3, 10, 12))
    with create_stream(settings) as stream:
        for n, plane in enumerate(pixels.reshape(-1, 10, 12)):
            stream.append(plane, frame_metadata={"delta_t": 0.1 * n})
    out = convert([settings.root_path], tmp_path / f"out{suffix}", progress=False)
    names = ["t", "c", "z", "y", "x"]
    if suffix == ".ome.zarr":
        got = read_zarr(out)
        assert got["axes"] == names
        np.testing.assert_array_equal(got["data"], pixels)
        assert got["channels"] == ["DAPI", "Cy5"]
        assert got["scale"] == {"t": 0.5, "c": 1.0, "z": 1.25, "y": 0.1, "x": 0.1}
        level0 = zarr.open_group(str(out)).attrs["ome"]["multiscales"][0]["datasets"]
        translation = level0[0]["coordinateTransformations"][1]["translation"]
        assert translation == [0.0, 0.0, 4.0, 0.0, 0.0]
    else:
        got = read_tiff(out)
        np.testing.assert_array_equal(got["data"], reorder(pixels, names, got["axes"]))
        image = got["image"]
        assert [c.name for c in image.pixels.channels] == ["DAPI", "Cy5"]
        assert tiff_sizes(image) == {"x": 0.1, "y": 0.1, "z": 1.25, "t": 0.5}
        planes = image.pixels.planes
        assert [p.delta_t for p in planes[:3]] == pytest.approx([0.0, 0.1, 0.2])


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_npy(tmp_path: Path, suffix: str) -> None:
    pixels = data((3, 2, 10, 12), "float32")
    np.save(tmp_path / "stack.npy", pixels)
    out = convert([tmp_path / "stack.npy"], tmp_path / f"out{suffix}", progress=False)
    got = read_zarr(out) if suffix == ".ome.zarr" else read_tiff(out)
    assert got["axes"] == ["c", "z", "y", "x"]  # named from the last of t c z y x
    np.testing.assert_array_equal(got["data"], pixels)
    assert got["data"].dtype == np.float32
    # explicit axes (and big-endian, Fortran-order data)
    np.save(tmp_path / "f.npy", np.asfortranarray(pixels.astype(">f4")))
    out = convert(
        [tmp_path / "f.npy"], tmp_path / f"f{suffix}", axes="tzyx", progress=False
    )
    got = read_zarr(out) if suffix == ".ome.zarr" else read_tiff(out)
    assert got["axes"] == ["t", "z", "y", "x"]
    np.testing.assert_array_equal(got["data"], pixels)


def test_options_reach_the_writer(tmp_path: Path) -> None:
    """Chunks, shards, compression and pyramids, as for an acquisition."""
    pixels = data((4, 32, 32))
    np.save(tmp_path / "in.npy", pixels)
    out = convert(
        [tmp_path / "in.npy"],
        tmp_path / "out.ome.zarr",
        axes="zyx",
        chunks={"z": 2, "y": 16, "x": 16},
        shards={"z": 2, "y": 2, "x": 2},
        compression="zstd",
        pyramid=2,
        progress=False,
    )
    level0 = zarr.open_array(str(out / "0"))
    assert level0.chunks == (2, 16, 16) and level0.shards == (4, 32, 32)
    meta = json.loads((out / "0" / "zarr.json").read_text())
    inner = meta["codecs"][0]["configuration"]["codecs"]
    assert any(c["name"] == "zstd" for c in inner)
    np.testing.assert_array_equal(level0[...], pixels)
    assert zarr.open_array(str(out / "1")).shape == (4, 16, 16)
    tiff = convert(
        [tmp_path / "in.npy"],
        tmp_path / "out.ome.tiff",
        compression="zlib",
        pyramid=2,
        progress=False,
    )
    with tifffile.TiffFile(tiff) as tif:
        assert tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert [lv.shape for lv in tif.series[0].levels] == [(4, 32, 32), (4, 16, 16)]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_ome_tiff_plane_metadata(tmp_path: Path, suffix: str) -> None:
    """DeltaT, ExposureTime and PositionX/Y of every OME Plane become the
    frame metadata of the frame, where an acquisition's goes: the image's
    ``attributes.ome_writers`` (OME-Zarr), its Planes (OME-TIFF)."""
    ome_tiff_input(tmp_path / "in.ome.tif")
    out = convert([tmp_path / "in.ome.tif"], tmp_path / f"out{suffix}", progress=False)
    cells = [(t, z, c) for t in range(2) for z in range(3) for c in range(2)]
    if suffix == ".ome.zarr":
        assert read_zarr(out)["axes"] == ["t", "c", "z", "y", "x"]
        got = zarr_frame_metadata(out)
        assert got == {(t, c, z): expected_frame_metadata(t, z, c) for t, z, c in cells}
    else:
        planes = ome_planes(ome_types.from_tiff(out).images[0])
        assert planes == {cell: expected_frame_metadata(*cell) for cell in cells}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_ome_zarr_frame_metadata(tmp_path: Path, suffix: str) -> None:
    """The frame metadata of an OME-Zarr written by ome-writers, every key
    of it, carried frame by frame (a skipped frame has none)."""
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "in.ome.zarr"),
        dimensions=[
            Dimension(name="t", count=3, type="time"),
            Dimension(name="c", type="channel", coords=["DAPI", "Cy5"]),
            Dimension(name="y", count=6),
            Dimension(name="x", count=4),
        ],
        dtype="uint16",
    )
    recorded = {}
    with create_stream(settings) as stream:
        for n in range(6):
            if n == 3:
                stream.skip(frames=1)
                continue
            meta = {
                "delta_t": 0.5 * n,
                "exposure_time": 0.01 * (n + 1),
                "position_x": 10.0 + n,
                "position_y": -2.0,
                "position_z": 0.25 * n,
                "camera": f"cam{n % 2}",
            }
            stream.append(np.full((6, 4), n, "uint16"), frame_metadata=meta)
            recorded[divmod(n, 2)] = meta
    out = convert([settings.root_path], tmp_path / f"out{suffix}", progress=False)
    if suffix == ".ome.zarr":
        assert zarr_frame_metadata(out) == recorded
        return
    image = ome_types.from_tiff(out).images[0]
    special = {
        (t, 0, c): {k: v for k, v in meta.items() if k != "camera"}
        for (t, c), meta in recorded.items()
    }
    assert ome_planes(image) == special
    annotations = {a.id: a for a in ome_types.from_tiff(out).structured_annotations}
    cameras = {
        (p.the_t, p.the_c): annotations[p.annotation_refs[0].id].value.ms[0]
        for p in image.pixels.planes
    }
    assert {key: (m.k, m.value) for key, m in cameras.items()} == {
        key: ("camera", meta["camera"]) for key, meta in recorded.items()
    }


def test_demo_frame_metadata_both_ways(tmp_path: Path) -> None:
    """The demo acquisition's frame metadata survives OME-TIFF -> OME-Zarr and
    OME-Zarr -> OME-TIFF (the source's own values, plane for plane)."""
    pytest.importorskip("pymmcore_plus")
    from ome_writers.tools.demo import run_demo

    demo = tmp_path / "demo"
    sizes = {"t": 2, "z": 2, "c": 2, "positions": 2, "width": 32, "height": 24}
    formats = ["ome-zarr", "ome-tiff"]
    assert run_demo(output=str(demo), formats=formats, pixel_size=0.5, **sizes) == 0
    source_tiff = ome_types.from_tiff(next((demo / "demo").glob("*_p000.ome.tiff")))
    zarr_out = convert(
        [demo / "demo.ome.tiff"], tmp_path / "z.ome.zarr", progress=False
    )
    tiff_out = convert(
        [demo / "demo.ome.zarr"], tmp_path / "t.ome.tiff", progress=False
    )
    back = ome_types.from_tiff(next(tiff_out.glob("*_p000.ome.tiff")))
    for k, name in enumerate(["pos0", "pos1"]):
        from_tiff = ome_planes(source_tiff.images[k])
        assert len(from_tiff) == 8 and all(len(v) == 5 for v in from_tiff.values())
        converted = zarr_frame_metadata(zarr_out / name)  # storage order t, c, z
        assert converted == {(t, c, z): v for (t, z, c), v in from_tiff.items()}
        recorded = zarr_frame_metadata(demo / "demo.ome.zarr" / name)
        assert ome_planes(back.images[k]) == {
            (t, z, c): v for (t, c, z), v in recorded.items()
        }


# ------------------------------------------------------------ many inputs


def tree(root: Path) -> dict[str, Any]:
    """Every zarr.json and OME-XML of a dataset (UUIDs, dates and the writers'
    progress records, which state when and how a run wrote it, left out)."""
    out: dict[str, Any] = {}
    for path in sorted(root.rglob("zarr.json")):
        doc = json.loads(path.read_text())
        ours = doc.get("attributes", {}).get("ome_writers")
        if ours is not None:
            ours.pop("progress", None)
            if set(ours) <= {"version"}:
                del doc["attributes"]["ome_writers"]
        out[str(path.parent.relative_to(root))] = doc
    for path in sorted(root.rglob("*.xml")):
        out[str(path.relative_to(root))] = _plain_xml(path.read_text())
    return out


def _plain_xml(xml: str) -> str:
    xml = re.sub(r"urn:uuid:[0-9a-f-]+", "UUID", xml)
    return re.sub(r"<AcquisitionDate>.*?</AcquisitionDate>", "", xml)


def tiff_set(folder: Path) -> dict[str, Any]:
    """Per file of an OME-TIFF set: its OME-XML and every series' pixels."""
    out = {}
    for path in sorted(folder.glob("*.ome.tiff")):
        with tifffile.TiffFile(path) as tif:
            xml = _plain_xml(tif.ome_metadata or "").replace(folder.name + "_p", "_p")
            pixels = [s.asarray() for s in tif.series]
        out[path.name.replace(folder.name + "_p", "_p")] = (xml, pixels)
    return out


def same_tiff_sets(a: Path, b: Path) -> None:
    sa, sb = tiff_set(a), tiff_set(b)
    assert sa.keys() == sb.keys() and len(sa) == 4
    for key in sa:
        assert sa[key][0] == sb[key][0]
        for x, y in zip(sa[key][1], sb[key][1], strict=True):
            np.testing.assert_array_equal(x, y)


def same_zarr(a: Path, b: Path, images: list[str]) -> None:
    assert tree(a) == tree(b)
    for image in images:
        np.testing.assert_array_equal(
            zarr.open_array(str(a / image / "0"))[...],
            zarr.open_array(str(b / image / "0"))[...],
        )


@pytest.fixture(scope="module")
def four_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("fields")
    files = []
    for k in range(4):
        path = folder / f"field{k}.ome.tif"
        ome_tiff_input(path, name=f"field{k}", seed=k)
        files.append(path)
    return files


def test_many_files_one_collection(tmp_path: Path, four_files: list[Path]) -> None:
    """Parallel output (threads, processes) equals the one-stream output,
    pixel-exact."""
    par = convert(four_files, tmp_path / "par.ome.zarr", processes=2, progress=False)
    seq = convert(four_files, tmp_path / "seq.ome.zarr", processes=1, progress=False)
    thr = convert(four_files, tmp_path / "thr.ome.zarr", progress=False)
    names = [f"field{k}" for k in range(4)]
    same_zarr(par, seq, names)
    same_zarr(thr, seq, names)
    root = zarr.open_group(str(par)).attrs["ome"]
    assert root["bioformats2raw.layout"] == 3
    assert zarr.open_group(str(par / "OME")).attrs["ome"]["series"] == names
    for k, path in enumerate(four_files):
        got = read_zarr(par, f"field{k}")
        assert got["name"] == f"field{k}"
        assert got["channels"] == ["DAPI", "FITC"]
        with tifffile.TiffFile(path) as tif:
            source = tif.series[0].asarray()
        expected = reorder(source, ["t", "z", "c", "y", "x"], got["axes"])
        np.testing.assert_array_equal(got["data"], expected)
    xml = ome_types.from_xml((par / "OME" / "METADATA.ome.xml").read_text())
    assert [im.name for im in xml.images] == names
    assert zarr_frame_metadata(par / "field2")[(1, 0, 2)] == expected_frame_metadata(
        1, 2, 0, seed=2
    )
    # OME-TIFF: one file per position, every file describing the set
    tpar = convert(four_files, tmp_path / "par.ome.tiff", processes=2, progress=False)
    tseq = convert(four_files, tmp_path / "seq.ome.tiff", processes=1, progress=False)
    tthr = convert(four_files, tmp_path / "thr.ome.tiff", progress=False)
    assert tpar.is_dir()
    same_tiff_sets(tpar, tseq)
    same_tiff_sets(tthr, tseq)
    model = ome_types.from_tiff(next(tpar.glob("*_p002.ome.tiff")))
    assert [im.name for im in model.images] == names
    planes = ome_planes(model.images[3])
    assert planes[(1, 2, 1)] == expected_frame_metadata(1, 2, 1, seed=3)


def test_dask_cluster_equals_local(tmp_path: Path, four_files: list[Path]) -> None:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        ) as cluster,
    ):
        address = cluster.scheduler_address
        dz = convert(four_files, tmp_path / "d.ome.zarr", scheduler=address)
        dt = convert(
            four_files, tmp_path / "d.ome.tiff", scheduler=address, progress=False
        )
        # a failing task: the others stop, and what was made is removed
        bad = good_and_bad(tmp_path)
        with pytest.raises(ConversionError, match=r"bad\.zarr.*Nothing was left"):
            convert(bad, tmp_path / "new" / "f.ome.zarr", scheduler=address)
        assert not (tmp_path / "new").exists()
    lz = convert(four_files, tmp_path / "l.ome.zarr", progress=False)
    lt = convert(four_files, tmp_path / "l.ome.tiff", progress=False)
    same_zarr(dz, lz, [f"field{k}" for k in range(4)])
    same_tiff_sets(dt, lt)


def test_multi_file_set_is_read_once(tmp_path: Path, four_files: list[Path]) -> None:
    """Every file of an OME-TIFF set describes the set: each image once."""
    folder = convert(four_files, tmp_path / "set.ome.tiff", progress=False)
    images = read_sources(sorted(folder.glob("*.tiff")))
    assert [im.name for im in images] == [f"field{k}" for k in range(4)]
    assert [im.name for im in read_sources([folder])] == [im.name for im in images]
    back = convert([folder], tmp_path / "back.ome.zarr", processes=1, progress=False)
    for k, path in enumerate(four_files):
        with tifffile.TiffFile(path) as tif:
            source = tif.series[0].asarray()
        got = read_zarr(back, f"field{k}")
        expected = reorder(source, ["t", "z", "c", "y", "x"], got["axes"])
        np.testing.assert_array_equal(got["data"], expected)


def test_positions_and_channels_round_trip(tmp_path: Path) -> None:
    """Position names, stage positions and channel colours: TIFF, Zarr, TIFF."""
    positions = [Position(name="left", x_coord=1.5, y_coord=-2.0), "right"]
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "in.ome.tiff"),
        dimensions=[
            Dimension(name="p", type="position", coords=positions),
            Dimension(
                name="c",
                type="channel",
                coords=[Channel(name="DAPI", color="blue", emission_wavelength_nm=450)],
            ),
            Dimension(name="y", count=8, unit="um", scale=0.3),
            Dimension(name="x", count=8, unit="um", scale=0.3),
        ],
        dtype="uint8",
    )
    pixels = data((2, 8, 8), "uint8")
    with create_stream(settings) as stream:
        for plane in pixels:
            stream.append(plane)
    zarr_out = convert([tmp_path / "in"], tmp_path / "mid.ome.zarr", progress=False)
    xml = ome_types.from_xml((zarr_out / "OME" / "METADATA.ome.xml").read_text())
    assert [im.name for im in xml.images] == ["left", "right"]
    label = xml.images[0].stage_label
    assert label is not None and (label.x, label.y) == (1.5, -2.0)
    channel = zarr.open_group(str(zarr_out / "left")).attrs["ome"]["omero"]["channels"]
    assert channel[0]["label"] == "DAPI" and channel[0]["color"] == "0000FF"
    back = convert([zarr_out], tmp_path / "back.ome.tiff", progress=False)
    model = ome_types.from_tiff(next(back.glob("*_p000.ome.tiff")))
    assert [im.name for im in model.images] == ["left", "right"]
    label = model.images[0].stage_label
    assert label is not None and (label.x, label.y) == (1.5, -2.0)
    assert model.images[0].pixels.physical_size_x == 0.3
    (dapi,) = model.images[0].pixels.channels
    assert dapi.name == "DAPI" and dapi.color.as_rgb_tuple()[:3] == (0, 0, 255)
    for k in range(2):
        with tifffile.TiffFile(next(back.glob(f"*_p00{k}.ome.tiff"))) as tif:
            np.testing.assert_array_equal(tif.series[k].asarray(), pixels[k])


def test_positions_of_other_shapes(tmp_path: Path) -> None:
    """Sources with the same axes but other counts: positions of their own."""
    a, b = data((3, 10, 12)), data((5, 8, 6), "uint8")
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    sources = [tmp_path / "a.npy", tmp_path / "b.npy"]
    out = convert(sources, tmp_path / "out.ome.zarr", axes="tyx", progress=False)
    np.testing.assert_array_equal(read_zarr(out, "a")["data"], a)
    np.testing.assert_array_equal(read_zarr(out, "b")["data"], b)
    tiff = convert(sources, tmp_path / "out.ome.tiff", axes="tyx", progress=False)
    for k, expected in enumerate([a, b]):
        with tifffile.TiffFile(next(tiff.glob(f"*_p00{k}.ome.tiff"))) as tif:
            np.testing.assert_array_equal(tif.series[0].asarray(), expected)


def test_plate(tmp_path: Path) -> None:
    """An OME-Zarr plate stays a plate, wells and fields as they were."""
    positions = [
        Position(name="f0", plate_row="A", plate_column="1"),
        Position(name="f1", plate_row="A", plate_column="1"),
        Position(name="f0", plate_row="B", plate_column="2"),
    ]
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "plate.ome.zarr"),
        dimensions=[
            Dimension(name="p", type="position", coords=positions),
            Dimension(name="y", count=8),
            Dimension(name="x", count=8),
        ],
        dtype="uint8",
        plate=Plate(row_names=["A", "B"], column_names=["1", "2"], name="demo"),
    )
    pixels = data((3, 8, 8), "uint8")
    with create_stream(settings) as stream:
        for plane in pixels:
            stream.append(plane)
    out = convert([settings.root_path], tmp_path / "out.ome.zarr", progress=False)
    # the same groups: plate, rows, wells, fields (named after the positions)
    assert tree(out) == tree(Path(settings.root_path))
    for path, expected in zip(["A/1/f0", "A/1/f1", "B/2/f0"], pixels, strict=True):
        np.testing.assert_array_equal(read_zarr(out, path)["data"], expected)


# -------------------------------------------------- refusals and the CLI


def test_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "in.npy", data((2, 8, 8)))
    dest = tmp_path / "out.ome.zarr"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=re.escape(str(dest))):
        convert([tmp_path / "in.npy"], dest, progress=False)
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt"]  # untouched
    assert main(["convert", str(tmp_path / "in.npy"), str(dest), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert str(dest) in err and "--overwrite" in err
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt"]
    # a dataset of ours is replaced when asked
    convert([tmp_path / "in.npy"], tmp_path / "ours.ome.zarr", progress=False)
    args = ["convert", str(tmp_path / "in.npy"), str(tmp_path / "ours.ome.zarr")]
    assert main([*args, "--quiet"]) == 1
    assert main([*args, "--quiet", "--overwrite"]) == 0


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pixels = data((3, 8, 8))
    np.save(tmp_path / "in.npy", pixels)
    dest = tmp_path / "out.ome.tiff"
    argv = ["convert", str(tmp_path / "in.npy"), str(dest), "--axes", "zyx"]
    assert main([*argv, "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")  # --quiet: nothing at all
    with tifffile.TiffFile(dest) as tif:
        assert tif.series[0].axes == "ZYX"
        np.testing.assert_array_equal(tif.series[0].asarray(), pixels)
    assert main([*argv, "--overwrite", "--compression", "zlib"]) == 0
    captured = capsys.readouterr()
    assert f"wrote {dest} (valid)" in captured.out
    assert "frames" in captured.err  # the progress bar
    with pytest.raises(SystemExit):  # a source and no destination
        main(["convert", str(dest)])
    capsys.readouterr()
    assert main(["convert", str(tmp_path / "missing.npy"), str(dest)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_invalid_output_fails(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    np.save(tmp_path / "in.npy", data((2, 8, 8)))

    def broken(path: str | Path) -> info.DatasetReport:
        report = info.DatasetReport(Path(path), "OME-Zarr")
        report.problems.append("a reader refused it")
        return report

    monkeypatch.setattr(info, "inspect_dataset", broken)
    with pytest.raises(ConversionError, match="a reader refused it"):
        convert([tmp_path / "in.npy"], tmp_path / "a.ome.zarr", progress=False)
    argv = ["convert", str(tmp_path / "in.npy"), str(tmp_path / "b.ome.zarr")]
    assert main([*argv, "--quiet"]) == 1
    assert "did not validate" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]  # removed


def good_and_bad(folder: Path) -> list[Path]:
    """Two OME-Zarr sources; the second fails to read at t=1."""
    pixels = data((2, 3, 4, 10, 12))
    ngff04_input(folder / "good.zarr", pixels)
    ngff04_input(folder / "bad.zarr", pixels)
    chunk = folder / "bad.zarr" / "0" / "1.0.0.0.0"
    assert chunk.is_file()
    chunk.write_bytes(b"not a chunk")
    return [folder / "good.zarr", folder / "bad.zarr"]


def writer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if "convert" in t.name]


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize(
    "processes", [None, 2, 1], ids=["threads", "processes", "one-stream"]
)
def test_a_failure_names_its_source_and_leaves_nothing(
    tmp_path: Path, suffix: str, processes: int | None
) -> None:
    """A source failing half-way: the error names it, and what the conversion
    made (the output and the folders made for it) is gone, nothing else."""
    sources = good_and_bad(tmp_path)
    results = tmp_path / "results"
    results.mkdir()
    (results / "notes.txt").write_text("mine")
    dest = results / "new" / "deeper" / f"out{suffix}"
    with pytest.raises(ConversionError, match=r"bad\.zarr.*Nothing was left at"):
        convert(sources, dest, processes=processes, progress=False)
    assert sorted(p.name for p in results.iterdir()) == ["notes.txt"]
    assert writer_threads() == []  # no task still writing
    assert convert(sources[:1], dest, processes=processes, progress=False).exists()


def test_a_failure_removes_a_single_file(tmp_path: Path) -> None:
    """The OME-TIFF file of a single image, failing half-way, goes."""
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "in.ome.zarr"),
        dimensions=[  # a chunk file per frame: frame 2's is spoiled below
            Dimension(name="t", count=4, type="time", chunk_size=1),
            Dimension(name="y", count=6),
            Dimension(name="x", count=4),
        ],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        for n in range(4):
            stream.append(np.full((6, 4), n, "uint16"))
    (tmp_path / "in.ome.zarr" / "0" / "c" / "2" / "0" / "0").write_bytes(b"bad")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ConversionError, match="Nothing was left"):
        convert([tmp_path / "in.ome.zarr"], tmp_path / "out.ome.tiff", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_failure_leaves_the_output_it_replaces(tmp_path: Path) -> None:
    """With overwrite, the output being replaced is not removed on failure
    (it existed before); what is beside it is untouched."""
    sources = good_and_bad(tmp_path)
    dest = tmp_path / "out.ome.zarr"
    convert(sources[:1], dest, progress=False)
    (tmp_path / "beside.txt").write_text("mine")
    with pytest.raises(ConversionError, match="was left as far as it got"):
        convert(sources, dest, overwrite=True, progress=False)
    assert (dest / "zarr.json").is_file() and (tmp_path / "beside.txt").is_file()
    assert writer_threads() == []


_UNGUARDED = """
import numpy as np

from ome_writers.tools.convert import convert

for k in range(2):
    np.save(f"field{k}.npy", np.full((3, 32, 32), k, dtype="uint16"))
out = convert(["field0.npy", "field1.npy"], "fields.ome.zarr", axes="tyx")
print(out)
"""


def test_a_script_without_main_guard(tmp_path: Path) -> None:
    """A top-level call in a script run as ``python script.py``, default
    arguments: images in parallel (threads) and no guard needed."""
    (tmp_path / "script.py").write_text(_UNGUARDED)
    result = subprocess.run(
        [sys.executable, "script.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    root = zarr.open_group(str(tmp_path / "fields.ome.zarr"), mode="r")
    assert int(root["field1"]["0"][2, 0, 0]) == 1


# ----------------------------------------------------------------- memory

_MEMORY_SCRIPT = """
import resource, sys
from ome_writers.tools.convert import convert

src, tiny, dest = sys.argv[1:]
convert([tiny], dest + ".warm.ome.zarr", format="zarr-python", progress=False)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
convert([src], dest, format="zarr-python", progress=False)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB on Linux")
def test_memory_stays_flat(tmp_path: Path) -> None:
    """A 315 MB memory-mapped .npy converts with a few frames of memory.

    The peak resident memory of the converting process grows by far less
    than the input: measured +6 MiB with zarr-python (a few frames in
    flight), as for an input half the size. The other writers hold more
    frames in flight, a fixed amount whatever the input (tensorstore +72 MiB,
    OME-TIFF +36 MiB; see the usage docs).
    """
    src = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(
        src, mode="w+", dtype="uint16", shape=(600, 512, 512)
    )
    for k in range(big.shape[0]):
        big[k] = k
    big.flush()
    size = big.nbytes
    del big
    np.save(tmp_path / "tiny.npy", np.zeros((2, 8, 8), "uint16"))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_MEMORY_SCRIPT),
            str(src),
            str(tmp_path / "tiny.npy"),
            str(tmp_path / "out.ome.zarr"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    growth = int(result.stdout.split()[-1])
    assert growth < size / 4, (growth, size)
    last = zarr.open_array(str(tmp_path / "out.ome.zarr" / "0"))
    assert last.shape == (600, 512, 512) and int(last[599, 0, 0]) == 599


def test_source_named_as_written(tmp_path: Path, four_files: list[Path]) -> None:
    """A multi-position OME-TIFF given by the name it was written under
    (``set.ome.tiff``, written as ``set/set_p000.ome.tiff``...) converts, as
    `ome-writers info` accepts that name."""
    written = convert(four_files, tmp_path / "set.ome.tiff", progress=False)
    assert written == tmp_path / "set" and not (tmp_path / "set.ome.tiff").exists()
    assert info.inspect_dataset(tmp_path / "set.ome.tiff").valid
    out = convert([tmp_path / "set.ome.tiff"], tmp_path / "back.ome.zarr")
    names = [f"field{k}" for k in range(4)]
    assert zarr.open_group(str(out / "OME")).attrs["ome"]["series"] == names
    with pytest.raises(FileNotFoundError, match="does not exist"):
        convert([tmp_path / "other.ome.tiff"], tmp_path / "x.ome.zarr")


@pytest.mark.parametrize("module", ["distributed", "rich"])
def test_missing_extra_is_named_before_writing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    module: str,
) -> None:
    """Without the `convert` extra, a scheduler address (dask.distributed) or
    the progress bar (rich) is refused with the install command, and nothing
    is written."""
    for k in range(2):
        np.save(tmp_path / f"f{k}.npy", data((2, 8, 8)))
    sources = [str(tmp_path / "f0.npy"), str(tmp_path / "f1.npy")]
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    extra = 'pip install "ome-writers[convert]"'
    for dest in ("out.ome.zarr", "sub/out.ome.tiff"):
        argv = ["convert", *sources, str(tmp_path / dest)]
        if module == "distributed":
            argv += ["--scheduler", "tcp://127.0.0.1:1", "--quiet"]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert extra in err and ("--quiet" in err) == (module == "rich")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["f0.npy", "f1.npy"]
    with pytest.raises(ImportError, match=re.escape(extra)):
        convert(
            sources,
            tmp_path / "api.ome.zarr",
            scheduler="tcp://127.0.0.1:1" if module == "distributed" else None,
            progress=module == "rich",
        )
    assert not (tmp_path / "api.ome.zarr").exists()
