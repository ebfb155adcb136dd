"""`ome-writers info`: what a dataset holds, checked against independent readers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from ome_writers import (
    AcquisitionSettings,
    Channel,
    Dimension,
    OmeTiffFormat,
    OmeZarrFormat,
    Plate,
    Position,
    create_stream,
)
from ome_writers.tools.cli import main
from ome_writers.tools.info import inspect_dataset

if TYPE_CHECKING:
    from pathlib import Path

tifffile = pytest.importorskip("tifffile")
zarr = pytest.importorskip("zarr")
pytest.importorskip("ome_types")


def _tczyx(positions: list[Position] | None = None) -> list[Dimension]:
    dims = [Dimension(name="t", count=2, type="time", unit="s", scale=1.5)]
    if positions is not None:
        dims.append(Dimension(name="p", type="position", coords=positions))
    return [
        *dims,
        Dimension(
            name="c",
            type="channel",
            coords=[Channel(name="DAPI"), Channel(name="FITC")],
        ),
        Dimension(name="z", count=3, unit="um", scale=0.5),
        Dimension(name="y", count=8, unit="um", scale=0.25),
        Dimension(name="x", count=6, unit="um", scale=0.25),
    ]


POSITIONS = [
    Position(name="A1", x_coord=1.0, y_coord=2.0, z_coord=3.0),
    Position(name="B2", x_coord=10.0, y_coord=20.0),
]


def _write(
    settings: AcquisitionSettings, frames: int | None = None, **metadata: Any
) -> None:
    """Append `frames` (default: all) non-zero frames, with `metadata` each."""
    y, x = (d.count for d in settings.dimensions[-2:])
    n = settings.num_frames if frames is None else frames
    assert n is not None and y is not None and x is not None
    with create_stream(settings) as stream:
        for i in range(n):
            frame = np.full((y, x), i + 1, dtype=settings.dtype)
            meta = {**metadata, "delta_t": 0.1 * i} if metadata else None
            stream.append(frame, frame_metadata=meta)


def _json(path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    assert main(["info", "--json", str(path)]) == 0
    return json.loads(capsys.readouterr().out)


def test_zarr_image_channels_scales_storage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "image.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(path), dimensions=_tczyx(), dtype="uint16", compression="zstd"
    )
    _write(settings)
    report = inspect_dataset(path)
    assert report.valid, report.problems
    assert (report.kind, report.layout) == ("OME-Zarr", "image")
    [image] = report.images
    assert image.shape == (2, 2, 3, 8, 6)
    assert image.axes == ("t", "c", "z", "y", "x")
    assert image.channels == ["DAPI", "FITC"]
    assert {k: (q.value, q.unit) for k, q in image.scales.items()} == {
        "t": (1.5, "second"),
        "z": (0.5, "micrometer"),
        "y": (0.25, "micrometer"),
        "x": (0.25, "micrometer"),
    }
    assert image.storage is not None
    # the default grouping of small frames: one shard holds them all, a
    # chunk per frame
    assert image.storage.chunks == (1, 1, 1, 8, 6)
    assert image.storage.shards == (2, 2, 3, 8, 6)
    assert image.storage.compression == "zstd (level 3)"
    assert image.frames is not None
    assert (image.frames.declared, image.frames.acquired) == (12, 12)
    assert image.frames.source == "chunks"  # no frame metadata was given
    # independent reader: zarr-python sees the same array and attributes
    group = zarr.open_group(str(path), mode="r")
    array = group["0"]
    assert array.shape == image.shape and array.chunks == image.storage.chunks
    assert array.shards == image.storage.shards
    ome = group.attrs["ome"]
    assert [c["label"] for c in ome["omero"]["channels"]] == image.channels

    lines = report.lines()
    assert "  channels: DAPI, FITC" in lines
    assert "  scale: t=1.5 s, z=0.5 µm, y=0.25 µm, x=0.25 µm" in lines
    assert (
        "  storage: chunks (1, 1, 1, 8, 6), shards (2, 2, 3, 8, 6), "
        "compression zstd (level 3)"
    ) in lines
    assert "  frames: 12 of 12 acquired (chunk files)" in lines
    assert "  0: shape=(2, 2, 3, 8, 6) dtype=uint16 axes=t,c,z,y,x" in lines

    doc = _json(path, capsys)
    assert doc["valid"] is True and doc["kind"] == "OME-Zarr"
    [entry] = doc["images"]
    assert entry["channels"] == ["DAPI", "FITC"]
    assert entry["scales"]["z"] == {"value": 0.5, "unit": "micrometer"}
    assert entry["storage"]["chunks"] == [1, 1, 1, 8, 6]
    assert entry["storage"]["shards"] == [2, 2, 3, 8, 6]
    assert entry["frames"]["declared"] == entry["frames"]["acquired"] == 12


def test_zarr_collection_positions_and_frame_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(path), dimensions=_tczyx(POSITIONS), dtype="uint16"
    )
    _write(settings, exposure_time=0.01, camera="cam0")
    report = inspect_dataset(path)
    assert report.valid, report.problems
    assert report.layout == "collection"
    assert [(i.name, i.path, i.array) for i in report.images] == [
        ("A1", "A1", "A1/0"),
        ("B2", "B2", "B2/0"),
    ]
    a1, b2 = report.images
    # stage coordinates come from OME/METADATA.ome.xml
    assert {k: q.value for k, q in a1.stage.items()} == {"x": 1.0, "y": 2.0, "z": 3.0}
    assert {k: q.value for k, q in b2.stage.items()} == {"x": 10.0, "y": 20.0}
    assert a1.stage["x"].unit == "micrometer"
    for image in report.images:
        assert image.frame_keys == ["camera", "delta_t", "exposure_time"]
        assert image.frames_with_metadata == 12
        assert image.frames is not None
        assert image.frames.source == "frame_metadata"
        assert image.frames.acquired == 12 and not image.frames.missing
    # independent reader: the records zarr-python reads
    records = zarr.open_group(str(path / "B2"), mode="r").attrs["ome_writers"][
        "frame_metadata"
    ]
    assert {k for r in records for k in r} - {"storage_index"} == set(b2.frame_keys)

    text = "\n".join(report.lines())
    assert "(OME-Zarr, collection, 2 images)" in text
    assert "  frame metadata keys: camera, delta_t, exposure_time" in text
    assert "  frames: 24 of 24 acquired (frame metadata)" in text
    assert "  A1/0: shape=(2, 2, 3, 8, 6) dtype=uint16 axes=t,c,z,y,x" in text
    assert "    stage: x=1 y=2 z=3 µm" in text
    assert "    stage: x=10 y=20 µm" in text

    doc = _json(path, capsys)
    assert doc["layout"] == "collection"
    assert [i["name"] for i in doc["images"]] == ["A1", "B2"]
    assert doc["images"][0]["stage"]["z"] == {"value": 3.0, "unit": "micrometer"}
    assert doc["images"][1]["frame_metadata"] == {
        "frames": 12,
        "keys": ["camera", "delta_t", "exposure_time"],
    }


PLATE = Plate(row_names=["A", "B"], column_names=["1", "2", "3"], name="screen")
FIELDS = [
    Position(name="f0", plate_row="A", plate_column="1"),
    Position(name="f1", plate_row="A", plate_column="1"),
    Position(name="f0", plate_row="B", plate_column="3"),
]


@pytest.mark.parametrize("suffix", [".ome.zarr", ".ome.tiff"])
def test_plate_layout(
    tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / f"plate{suffix}"),
        dimensions=[
            Dimension(name="p", type="position", coords=FIELDS),
            Dimension(name="y", count=4),
            Dimension(name="x", count=4),
        ],
        dtype="uint8",
        plate=PLATE,
    )
    _write(settings)
    path = tmp_path / f"plate{suffix}"
    report = inspect_dataset(path)
    assert report.valid, report.problems
    assert report.plate is not None
    assert report.plate.name == "screen"
    assert report.plate.rows == ["A", "B"]
    assert report.plate.columns == ["1", "2", "3"]
    assert report.plate.wells == {"A/1": 2, "B/3": 1}
    assert [(i.well, i.name) for i in report.images] == [
        ("A/1", "f0"),
        ("A/1", "f1"),
        ("B/3", "f0"),
    ]
    assert all(i.frames is not None and i.frames.complete for i in report.images)
    text = "\n".join(report.lines())
    assert (
        "  plate 'screen': 2 rows (A, B) x 3 columns (1, 2, 3); 2 wells, "
        "1-2 fields per well: A/1 (2), B/3 (1)"
    ) in text
    doc = _json(path, capsys)
    assert doc["plate"] == {
        "name": "screen",
        "rows": ["A", "B"],
        "columns": ["1", "2", "3"],
        "wells": {"A/1": 2, "B/3": 1},
    }
    assert [i["well"] for i in doc["images"]] == ["A/1", "A/1", "B/3"]


def test_zarr_ome_xml_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What OME/METADATA.ome.xml holds is shown, its stage labels go to
    each image (a plate's fields too, matched by series path), and a document
    whose Images are not one per series is a problem."""
    fields = [
        Position(name="f0", plate_row="A", plate_column="1", x_coord=5.0),
        Position(name="g0", plate_row="B", plate_column="3", x_coord=7.0),
        Position(name="f1", plate_row="A", plate_column="1", x_coord=6.0),
    ]
    path = tmp_path / "plate.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="p", type="position", coords=fields),
            Dimension(name="y", count=4),
            Dimension(name="x", count=4),
        ],
        dtype="uint8",
        plate=PLATE,
    )
    _write(settings, exposure_time=0.01)
    report = inspect_dataset(path)
    assert report.valid, report.problems
    assert report.ome_xml == (3, 3)
    assert [(i.path, i.stage["x"].value) for i in report.images] == [
        ("A/1/f0", 5.0),
        ("A/1/f1", 6.0),
        ("B/3/g0", 7.0),
    ]
    assert "  OME-XML: OME/METADATA.ome.xml, 3 Images, 3 Planes" in report.lines()
    assert _json(path, capsys)["ome_xml"] == {"images": 3, "planes": 3}
    xml = path / "OME" / "METADATA.ome.xml"
    text = xml.read_text()
    first, rest = text.split("  <Image ", 1)
    xml.write_text(first + rest.split("  </Image>\n", 1)[1])  # one Image less
    report = inspect_dataset(path)
    assert report.problems == [
        "OME/METADATA.ome.xml: 2 Images, but the OME group lists 3 series"
    ]


def test_zarr_early_close_lists_missing_frames(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "early.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(path), dimensions=_tczyx(), dtype="uint16"
    )
    _write(settings, frames=4)  # of 12: t0 c0 z0-2, t0 c1 z0
    report = inspect_dataset(path)
    assert report.valid, report.problems
    [image] = report.images
    frames = image.frames
    assert frames is not None
    assert (frames.declared, frames.acquired, frames.source) == (12, 4, "chunks")
    assert frames.index_axes == ("t", "c", "z")
    expected_missing = [(0, 1, 1), (0, 1, 2)]  # of the last time point reached
    assert frames.missing == expected_missing
    past_last = [(1, c, z) for c in range(2) for z in range(3)]
    assert (frames.frames_end, frames.past_last) == (1, past_last)
    assert (frames.chunks_stored, frames.chunks_total) == (4, 12)
    # independent reader: the planes zarr-python reads that hold data
    data = zarr.open_array(str(path / "0"), mode="r")[...]
    written = {tuple(int(i) for i in ix) for ix in np.argwhere(data.any(axis=(3, 4)))}
    assert len(written) == frames.acquired
    assert not written & set(frames.missing + frames.past_last)

    text = "\n".join(report.lines())
    assert (
        "    frames: 4 of 12 acquired (chunk files); missing (no chunk on disk) "
        "2 (t,c,z): (0, 1, 1), (0, 1, 2); not acquired past the last frame (room "
        "grown ahead, or never reached) 6 (t,c,z): (1, 0, 0), (1, 0, 1), (1, 0, 2), "
        "(1, 1, 0), (1, 1, 1), ... (+1)"
    ) in text
    doc = _json(path, capsys)
    entry = doc["images"][0]["frames"]
    assert entry["complete"] is False
    assert entry["missing_count"] == 2
    assert entry["missing"] == [list(i) for i in expected_missing]
    assert entry["frames_end"] == 1
    assert entry["past_last_frame_count"] == 6
    assert entry["past_last_frame"] == [list(i) for i in past_last]


def test_zarr_early_close_with_frame_metadata(tmp_path: Path) -> None:
    path = tmp_path / "early.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=5, type="time"),
            Dimension(name="y", count=4),
            Dimension(name="x", count=4),
        ],
        dtype="uint8",
    )
    _write(settings, frames=3, exposure_time=0.02)
    [image] = inspect_dataset(path).images
    assert image.frames is not None
    # frames are missing, so the chunk files are looked at too
    assert image.frames.source == "frame_metadata+chunks"
    assert image.frames.acquired == 3
    assert image.frames.missing == []
    assert image.frames.past_last == [(3,), (4,)]
    assert image.frame_keys == ["delta_t", "exposure_time"]
    assert (
        "    frames: 3 of 5 acquired (frame metadata + chunk files); not acquired "
        "past the last frame (room grown ahead, or never reached) 2 (t): 3, 4"
    ) in inspect_dataset(path).lines()


def _declare_room(array: Path, extent: int) -> None:
    """Make `array` declare `extent` along its first axis, as older versions
    left an unbounded array (room grown ahead) when the process was killed."""
    document = array / "zarr.json"
    meta = json.loads(document.read_text())
    meta["shape"][0] = extent
    document.write_text(json.dumps(meta))


def test_zarr_room_grown_ahead_is_not_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "grown.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=None, type="time"),
            Dimension(name="y", count=4),
            Dimension(name="x", count=4),
        ],
        dtype="uint8",
    )
    _write(settings, frames=10)
    _declare_room(path / "0", 128)
    report = inspect_dataset(path)
    assert report.valid, report.problems
    [image] = report.images
    frames = image.frames
    assert frames is not None
    assert (frames.declared, frames.acquired, frames.missing) == (128, 10, [])
    assert frames.frames_end == 10
    assert frames.past_last == [(t,) for t in range(10, 128)]
    lines = report.lines()
    assert (
        "    frames: 10 of 128 acquired (chunk files); not acquired past the last "
        "frame (room grown ahead, or never reached) 118 (t): 10, 11, 12, 13, 14, "
        "... (+113)"
    ) in lines
    assert not any("missing" in line for line in lines)
    entry = _json(path, capsys)["images"][0]["frames"]
    assert (entry["missing_count"], entry["past_last_frame_count"]) == (0, 118)
    assert entry["frames_end"] == 10


def test_zarr_jagged_not_acquired(tmp_path: Path) -> None:
    path = tmp_path / "jagged.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="y", count=4),
            Dimension(name="x", count=4),
        ],
        dtype="uint8",
        frame_order=[(0, 0), (0, 1), (1, 0)],  # FITC at t=0 only
    )
    _write(settings, label="x")
    [image] = inspect_dataset(path).images
    assert image.frames is not None
    assert image.frames.not_acquired == [(1, 1)]
    assert image.frames.acquired == 3 and image.frames.missing == []
    assert image.frames.complete


def test_zarr_sharded_chunks_counted_from_shard_index(tmp_path: Path) -> None:
    path = tmp_path / "sharded.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(path),
        format="tensorstore",
        compression="blosc-zstd",
        dimensions=[
            Dimension(
                name="t", count=4, type="time", chunk_size=1, shard_size_chunks=4
            ),
            Dimension(name="y", count=8),
            Dimension(name="x", count=8),
        ],
        dtype="uint16",
    )
    pytest.importorskip("tensorstore")
    _write(settings, frames=3)
    [image] = inspect_dataset(path).images
    assert image.storage is not None
    assert image.storage.chunks == (1, 8, 8)
    assert image.storage.shards == (4, 8, 8)
    assert image.storage.compression == "blosc-zstd (level 3, shuffle)"
    assert image.frames is not None
    assert (image.frames.chunks_stored, image.frames.chunks_total) == (3, 4)
    assert image.frames.acquired == 3 and image.frames.missing == []
    assert image.frames.past_last == [(3,)]


def test_tiff_multi_file_set_lists_each_image_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "run.ome.tiff"),
        dimensions=_tczyx(POSITIONS),
        dtype="uint16",
        compression="zlib",
    )
    _write(settings, exposure_time=0.01, camera="cam0")
    folder = tmp_path / "run"
    files = ["run_p000.ome.tiff", "run_p001.ome.tiff"]
    assert sorted(p.name for p in folder.iterdir()) == files
    # tifffile alone lists every image in each file of the set (4 entries)
    for name in files:
        with tifffile.TiffFile(folder / name) as tif:
            assert [s.name for s in tif.series] == ["A1", "B2"]
    for path in (folder, tmp_path / "run.ome.tiff", folder / files[1]):
        report = inspect_dataset(path)
        assert report.valid, report.problems
        assert report.layout == "multi-file set (redundant)"
        assert report.files == files
        assert [(i.name, i.path, i.series) for i in report.images] == [
            ("A1", files[0], 0),
            ("B2", files[1], 1),
        ]
    report = inspect_dataset(folder)
    a1, b2 = report.images
    assert a1.shape == (2, 2, 3, 8, 6) and a1.axes == ("t", "c", "z", "y", "x")
    assert a1.channels == ["DAPI", "FITC"]
    assert {k: (q.value, q.unit) for k, q in a1.scales.items()} == {
        "t": (1.5, "second"),
        "z": (0.5, "micrometer"),
        "y": (0.25, "micrometer"),
        "x": (0.25, "micrometer"),
    }
    assert {k: q.value for k, q in a1.stage.items()} == {"x": 1.0, "y": 2.0, "z": 3.0}
    assert {k: q.value for k, q in b2.stage.items()} == {"x": 10.0, "y": 20.0}
    assert a1.storage is not None
    assert a1.storage.compression == "zlib" and a1.storage.layout == "strips"
    assert a1.frame_keys == ["camera", "delta_t", "exposure_time"]
    assert a1.frames_with_metadata == 12
    assert a1.frames is not None and a1.frames.acquired == a1.frames.declared == 12

    lines = report.lines()
    assert lines[0] == f"{folder} (OME-TIFF, multi-file set (redundant), 2 images)"
    assert "  files: run_p000.ome.tiff, run_p001.ome.tiff" in lines
    assert [line for line in lines if " in run_p00" in line] == [
        "  A1 in run_p000.ome.tiff: shape=(2, 2, 3, 8, 6) dtype=uint16 axes=TCZYX",
        "  B2 in run_p001.ome.tiff: shape=(2, 2, 3, 8, 6) dtype=uint16 axes=TCZYX",
    ]
    assert "  storage: strips of 8 rows, compression zlib" in lines
    assert "  frames: 24 of 24 acquired (OME-XML)" in lines

    doc = _json(folder, capsys)
    assert doc["files"] == files
    assert [(i["name"], i["path"]) for i in doc["images"]] == [
        ("A1", files[0]),
        ("B2", files[1]),
    ]
    assert doc["images"][0]["storage"]["compression"] == "zlib"


@pytest.mark.parametrize("mode", ["master-tiff", "companion-file"])
def test_tiff_metadata_modes(tmp_path: Path, mode: str) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "run.ome.tiff"),
        format=OmeTiffFormat(multi_file_metadata=mode),
        dimensions=_tczyx(POSITIONS),
        dtype="uint16",
    )
    _write(settings)
    report = inspect_dataset(tmp_path / "run")
    assert report.valid, report.problems
    assert report.layout == f"multi-file set ({mode})"
    assert [(i.name, i.path) for i in report.images] == [
        ("A1", "run_p000.ome.tiff"),
        ("B2", "run_p001.ome.tiff"),
    ]
    assert all(i.shape == (2, 2, 3, 8, 6) for i in report.images)
    if mode == "companion-file":
        assert report.files[-1] == "run.companion.ome"


def test_tiff_early_close_not_acquired(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "early.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path), dimensions=_tczyx(), dtype="uint16"
    )
    _write(settings, frames=4)  # t0: c0 z0-2, c1 z0; padded to the whole t0
    report = inspect_dataset(path)
    assert report.valid, report.problems
    assert report.layout == "single file"
    [image] = report.images
    frames = image.frames
    assert frames is not None
    assert frames.declared == 6  # the OME-XML keeps the time points reached
    assert frames.acquired == 4
    assert frames.index_axes == ("z", "c", "t")
    assert frames.not_acquired == [(1, 1, 0), (2, 1, 0)]
    # independent reader: the padded planes tifffile reads are zeros
    data = tifffile.imread(path)  # (c, z, y, x): t=1 is squeezed
    assert data.shape == (2, 3, 8, 6)
    assert not data[1, 1:].any() and data[1, 0].all()
    assert (
        "    frames: 4 of 6 acquired (OME-XML); not acquired 2 (z,c,t): "
        "(1, 1, 0), (2, 1, 0)"
    ) in report.lines()
    entry = _json(path, capsys)["images"][0]["frames"]
    assert entry["not_acquired"] == [[1, 1, 0], [2, 1, 0]]
    assert entry["not_acquired_count"] == 2


def test_json_lists_several_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zarr_path = tmp_path / "a.ome.zarr"
    tiff_path = tmp_path / "b.ome.tiff"
    for path in (zarr_path, tiff_path):
        settings = AcquisitionSettings(
            root_path=str(path),
            dimensions=[Dimension(name="y", count=4), Dimension(name="x", count=4)],
            dtype="uint8",
        )
        _write(settings)
    assert main(["validate", "--json", str(zarr_path), str(tiff_path)]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert [d["kind"] for d in docs] == ["OME-Zarr", "OME-TIFF"]
    assert all(d["valid"] for d in docs)
    assert main(["info", "--json", str(tmp_path / "nothing")]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False and doc["problems"]


def test_pyramid_levels_listed_under_their_image(tmp_path: Path) -> None:
    path = tmp_path / "pyr.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="y", count=16),
            Dimension(name="x", count=16),
        ],
        dtype="uint8",
        pyramid=3,
    )
    _write(settings)
    report = inspect_dataset(path)
    [image] = report.images
    assert image.levels == [(2, 16, 16), (2, 8, 8), (2, 4, 4)]
    assert report.levels == {"0": image.levels}
    assert "    3 resolution levels (0: (2, 16, 16), 1: (2, 8, 8), 2: (2, 4, 4))" in (
        report.lines()
    )


def test_tiff_set_with_a_missing_file_is_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "run.ome.tiff"),
        dimensions=_tczyx(POSITIONS),
        dtype="uint16",
    )
    _write(settings)
    (tmp_path / "run" / "run_p001.ome.tiff").unlink()
    report = inspect_dataset(tmp_path / "run")
    assert not report.valid
    assert "run_p001.ome.tiff: listed in run_p000.ome.tiff but missing" in (
        report.problems
    )
    assert [(i.name, i.path) for i in report.images] == [
        ("A1", "run_p000.ome.tiff"),
        ("B2", "run_p001.ome.tiff"),
    ]
    assert main(["info", str(tmp_path / "run")]) == 1
    assert "  INVALID" in capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("suffix", [".ome.zarr", ".ome.tiff"])
def test_quick_start_example_shows_no_time_step(
    suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README's example has no time scale: info lists the pixel size only."""
    path = tmp_path / f"example{suffix}"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=3, type="time"),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="y", count=64, unit="um", scale=0.2),
            Dimension(name="x", count=64, unit="um", scale=0.2),
        ],
        dtype="uint16",
    )
    _write(settings)
    assert main(["info", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  scale: y=0.2 µm, x=0.2 µm" in lines
    assert not [line for line in lines if "t=" in line]
    [image] = _json(path, capsys)["images"]
    assert image["scales"] == {
        "y": {"value": 0.2, "unit": "micrometer"},
        "x": {"value": 0.2, "unit": "micrometer"},
    }


def test_validate_reports_reader_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A unit NGFF does not name, written by another program: yaozarrs warns,
    info lists the warning, and `--strict` fails on it."""
    path = tmp_path / "by_hand.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=2, type="time", unit="s", scale=1.0),
            Dimension(name="y", count=4, unit="um", scale=0.5),
            Dimension(name="x", count=4, unit="um", scale=0.5),
        ],
        dtype="uint8",
    )
    _write(settings)
    document = json.loads((path / "zarr.json").read_text())
    axes = document["attributes"]["ome"]["multiscales"][0]["axes"]
    axes[0]["unit"], axes[2]["unit"] = "sec", "microns"
    (path / "zarr.json").write_text(json.dumps(document))

    report = inspect_dataset(path)
    assert report.valid and not report.problems
    assert sorted(w.split(", SHOULD")[0] for w in report.warnings) == [
        "yaozarrs: Space axis unit 'microns'",
        "yaozarrs: Time axis unit 'sec'",
    ]
    assert main(["validate", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("  warning: ")] == [
        f"  warning: {w}" for w in report.warnings
    ]
    assert lines[-1] == "  valid, with 2 warnings"
    assert main(["validate", "--strict", str(path)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "  valid, with 2 warnings"
    doc = _json(path, capsys)
    assert doc["valid"] is True and doc["warnings"] == report.warnings


def test_reader_warnings_are_recorded_once_each() -> None:
    import warnings

    from ome_writers.tools._reader_warnings import reader_warnings

    found: list[str] = []
    with pytest.raises(ValueError, match="bad"), reader_warnings(found, "reader"):
        warnings.warn("first\n  spread over lines", UserWarning, stacklevel=1)
        warnings.warn("first\n  spread over lines", UserWarning, stacklevel=1)
        warnings.warn("second", DeprecationWarning, stacklevel=1)
        raise ValueError("bad")  # what was warned before an error is kept
    assert found == ["reader: first spread over lines", "reader: second"]


@pytest.mark.parametrize("positions", [None, POSITIONS])
def test_zarr_ngff_06(tmp_path: Path, positions: list[Position] | None) -> None:
    """Axes and scales from 0.6rc0's coordinate systems; the frames' times
    below each image are no image of their own; yaozarrs (0.4, 0.5) is not
    asked, which the report says."""
    path = tmp_path / "run.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=_tczyx(positions),
        dtype="uint16",
        format=OmeZarrFormat(ngff_version="0.6rc0"),
        pyramid=2,
    )
    _write(settings, exposure_time=0.01)  # and delta_t: times on t
    first = path if positions is None else path / positions[0].name
    assert (first / "coordinateTransformations" / "acquisition_time").is_dir()
    report = inspect_dataset(path)
    assert report.valid, report.problems
    assert report.warnings == [
        "NGFF 0.6rc0 (a release candidate) is not validated: yaozarrs reads NGFF "
        "0.4 and 0.5"
    ]
    assert report.layout == ("collection" if positions else "image")
    assert len(report.images) == len(settings.positions)
    for image in report.images:
        assert image.axes == ("t", "c", "z", "y", "x")
        assert image.channels == ["DAPI", "FITC"]
        assert {k: (q.value, q.unit) for k, q in image.scales.items()} == {
            "t": (1.5, "second"),
            "z": (0.5, "micrometer"),
            "y": (0.25, "micrometer"),
            "x": (0.25, "micrometer"),
        }
        assert image.levels == [(2, 2, 3, 8, 6), (2, 2, 3, 4, 3)]
        assert image.frames is not None and image.frames.acquired == 12
