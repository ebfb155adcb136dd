"""`info`, `repair` and `convert --ngff-version 0.4` on OME-Zarr 0.4 (Zarr v2)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import ome_writers as ow
from ome_writers import AcquisitionSettings, Dimension, Plate, Position, create_stream
from ome_writers.tools.cli import main
from ome_writers.tools.convert import convert
from ome_writers.tools.info import inspect_dataset
from ome_writers.tools.repair import repair

Y, X = 8, 6


def _frame(n: int) -> np.ndarray:
    return (np.arange(Y * X).reshape(Y, X) + 7 * n + 1).astype("uint16")


def _write(path: Path, dims: list[Dimension], n: int, **kwargs: object) -> None:
    settings = AcquisitionSettings(
        root_path=str(path),
        format={"ngff_version": "0.4"},
        dimensions=[
            *dims,
            Dimension(name="y", count=Y, unit="um", scale=0.25),
            Dimension(name="x", count=X, unit="um", scale=0.25),
        ],
        dtype="uint16",
        **kwargs,  # type: ignore[arg-type]
    )
    with create_stream(settings) as stream:
        for k in range(n):
            stream.append(_frame(k), frame_metadata={"delta_t": 0.1 * k})


def test_info_image(tmp_path: Path) -> None:
    path = tmp_path / "image.ome.zarr"
    dims = [
        Dimension(name="t", count=2, type="time", unit="s", scale=1.5),
        Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
    ]
    _write(path, dims, 4, compression="blosc-lz4")
    report = inspect_dataset(path)
    assert report.valid, report.problems
    assert (report.kind, report.layout) == ("OME-Zarr", "image")
    [image] = report.images
    assert (image.shape, image.dtype, image.axes) == (
        (2, 2, Y, X),
        "uint16",
        ("t", "c", "y", "x"),
    )
    assert image.channels == ["DAPI", "FITC"]
    assert {k: (q.value, q.unit) for k, q in image.scales.items()} == {
        "t": (1.5, "second"),
        "y": (0.25, "micrometer"),
        "x": (0.25, "micrometer"),
    }
    assert image.storage is not None
    # the default grouping of small frames: one chunk holds them all
    assert image.storage.chunks == (2, 2, Y, X)
    assert image.storage.compression == "blosc-lz4 (level 5, shuffle)"
    assert image.frames is not None
    assert (image.frames.declared, image.frames.acquired) == (4, 4)
    assert image.frame_keys == ["delta_t"]
    assert report.arrays["0"] == ((2, 2, Y, X), "uint16", "")


def test_info_collection_plate_and_missing_frames(tmp_path: Path) -> None:
    """A collection whose images are named (0.4 lets the OME group's series
    name them) validates; a plate too; frames not written are found from the
    chunk files (``/``-separated Zarr v2 keys)."""
    collection = tmp_path / "positions.ome.zarr"
    dims = [
        Dimension(name="t", count=3, type="time"),
        Dimension(name="p", type="position", coords=["left", "right"]),
    ]
    _write(collection, dims, 4)  # closed early: t=2 of right and t=3 missing
    report = inspect_dataset(collection)
    assert report.valid, report.problems
    assert report.layout == "collection"
    assert [image.path for image in report.images] == ["left", "right"]
    left, right = (image.frames for image in report.images)
    assert left is not None and right is not None
    assert (left.declared, left.acquired) == (3, 2)
    assert (right.declared, right.acquired) == (3, 2)

    plate = tmp_path / "plate.ome.zarr"
    fields = [
        Position(name="fov0", plate_row="A", plate_column="1"),
        Position(name="fov1", plate_row="A", plate_column="1"),
        Position(name="fov0", plate_row="B", plate_column="2"),
    ]
    dims = [Dimension(name="p", type="position", coords=fields)]
    _write(plate, dims, 3, plate=Plate(row_names=["A", "B"], column_names=["1", "2"]))
    report = inspect_dataset(plate)
    assert report.valid, report.problems
    assert report.plate is not None
    assert report.plate.wells == {"A/1": 2, "B/2": 1}
    assert [image.path for image in report.images] == [
        "A/1/fov0",
        "A/1/fov1",
        "B/2/fov0",
    ]


def test_info_is_invalid_when_a_document_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "bad.ome.zarr"
    _write(path, [Dimension(name="t", count=2, type="time")], 2)
    attrs = json.loads((path / ".zattrs").read_text())
    attrs["multiscales"][0]["datasets"][0]["path"] = "1"  # no such array
    (path / ".zattrs").write_text(json.dumps(attrs))
    report = inspect_dataset(path)
    assert not report.valid
    assert any(p.startswith("yaozarrs:") for p in report.problems)


_KILLED = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from ome_writers import AcquisitionSettings, Dimension, create_stream

    settings = AcquisitionSettings(
        root_path=sys.argv[1],
        format={"backend": sys.argv[2], "ngff_version": "0.4"},
        dimensions=[
            Dimension(name="t", count=None, type="time"),
            Dimension(name="y", count=8),
            Dimension(name="x", count=6),
        ],
        dtype="uint16",
        loss_window=None,
    )
    stream = create_stream(settings)
    for n in range(5):
        frame = (np.arange(48).reshape(8, 6) + 7 * n + 1).astype("uint16")
        stream.append(frame, frame_metadata={"n": n})
    stream.checkpoint()
    os._exit(0)  # as if killed: never closed
    """
)


@pytest.mark.parametrize("backend", ["tensorstore", "zarr-python"])
def test_repair_after_a_crash(tmp_path: Path, backend: str) -> None:
    """A 0.4 run that stopped after a checkpoint reads as written; repair moves
    the journaled frame metadata into the image's ``.zattrs``."""
    path = tmp_path / "killed.ome.zarr"
    subprocess.run(
        [sys.executable, "-c", _KILLED, str(path), backend], check=True, timeout=120
    )
    assert json.loads((path / "0" / ".zarray").read_text())["shape"] == [5, Y, X]
    with ow.open(path) as view:  # readable without repair
        assert view.shape == (5, Y, X) and view.status == "writing"
    assert "frame_metadata" not in json.loads((path / ".zattrs").read_text()).get(
        "ome_writers", {}
    )
    message = repair(path)
    assert message == (
        f"{path}: OME-Zarr, arrays readable as written; recovered 5 per-frame "
        "metadata records from 1 journal(s) into .zattrs"
    )
    own = json.loads((path / ".zattrs").read_text())["ome_writers"]
    assert [r["n"] for r in own["frame_metadata"]] == list(range(5))
    assert not list(path.rglob("zarr.json"))
    report = inspect_dataset(path)
    assert report.valid, report.problems
    data = zarr.open_array(str(path / "0"), mode="r", zarr_format=2)[...]
    np.testing.assert_array_equal(data, np.stack([_frame(n) for n in range(5)]))


def test_repair_cuts_room_declared_past_the_frames(tmp_path: Path) -> None:
    """An array whose ``.zarray`` declares room past its last frame (as other
    writers leave it) is cut to that frame."""
    path = tmp_path / "room.ome.zarr"
    # a chunk per frame, as other writers store them: chunks say where frames end
    _write(path, [Dimension(name="t", count=None, type="time", chunk_size=1)], 4)
    meta = json.loads((path / "0" / ".zarray").read_text())
    meta["shape"][0] = 64
    (path / "0" / ".zarray").write_text(json.dumps(meta))
    # other writers leave neither our progress record nor an OME-XML
    attrs = json.loads((path / ".zattrs").read_text())
    del attrs["ome_writers"]["progress"]
    (path / ".zattrs").write_text(json.dumps(attrs))
    shutil.rmtree(path / "OME")
    assert "cut 1 image(s)" in repair(path)
    assert json.loads((path / "0" / ".zarray").read_text())["shape"] == [4, Y, X]
    assert main(["repair", str(path)]) == 0


def test_repair_cuts_grouped_chunks_to_the_frames_counted(tmp_path: Path) -> None:
    """Small frames share chunks by default (here all 4 frames, and room for
    more, in one): a chunk on disk does not say where the frames end, the
    progress record of a writer that died does."""
    path = tmp_path / "grouped.ome.zarr"
    _write(path, [Dimension(name="t", count=None, type="time")], 4)
    meta = json.loads((path / "0" / ".zarray").read_text())
    assert meta["chunks"][0] > 4
    meta["shape"][0] = 64
    (path / "0" / ".zarray").write_text(json.dumps(meta))
    # as a writer that died leaves it (the metadata records not yet moved in)
    attrs = json.loads((path / ".zattrs").read_text())
    own = attrs["ome_writers"]
    own["progress"]["status"] = "writing"
    assert own["progress"]["extent"] == {"t": 4}
    own.pop("frame_metadata", None)
    (path / ".zattrs").write_text(json.dumps(attrs))
    assert "cut 1 image(s) to their last frame" in repair(path)
    assert json.loads((path / "0" / ".zarray").read_text())["shape"] == [4, Y, X]
    data = zarr.open_array(str(path / "0"), mode="r", zarr_format=2)[...]
    np.testing.assert_array_equal(data, np.stack([_frame(n) for n in range(4)]))


@pytest.mark.parametrize("processes", [None, 1])
def test_convert_ngff_version_0_4(tmp_path: Path, processes: int | None) -> None:
    """Two sources into a 0.4 collection, in parallel (threads) and in one
    stream, read by zarr-python as Zarr v2; the images keep their names."""
    stacks = []
    for k in range(2):
        stack = (np.arange(3 * Y * X).reshape(3, Y, X) + 100 * k).astype("uint16")
        tifffile.imwrite(tmp_path / f"field{k}.tif", stack, photometric="minisblack")
        stacks.append(stack)
    sources = [tmp_path / f"field{k}.tif" for k in range(2)]
    dest = tmp_path / "fields.ome.zarr"
    out = convert(
        sources, dest, ngff_version="0.4", processes=processes, progress=False
    )
    assert out == dest
    assert json.loads((dest / ".zgroup").read_text()) == {"zarr_format": 2}
    assert not list(dest.rglob("zarr.json"))
    series = json.loads((dest / "OME" / ".zattrs").read_text())["series"]
    assert series == ["field0", "field1"]
    for name, stack in zip(series, stacks, strict=True):
        attrs = json.loads((dest / name / ".zattrs").read_text())
        (multiscale,) = attrs["multiscales"]
        assert (multiscale["name"], multiscale["version"]) == (name, "0.4")
        array = zarr.open_array(str(dest / name / "0"), mode="r", zarr_format=2)
        np.testing.assert_array_equal(array[...], stack)
    assert inspect_dataset(dest).valid


def test_convert_cli_ngff_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pixels = (np.arange(2 * Y * X).reshape(2, Y, X)).astype("uint16")
    np.save(tmp_path / "in.npy", pixels)
    dest = tmp_path / "out.ome.zarr"
    argv = ["convert", str(tmp_path / "in.npy"), str(dest), "--axes", "zyx"]
    assert main([*argv, "--ngff-version", "0.4", "--quiet"]) == 0
    attrs = json.loads((dest / ".zattrs").read_text())
    assert attrs["multiscales"][0]["version"] == "0.4"
    assert attrs["multiscales"][0]["name"] == "in"
    np.testing.assert_array_equal(
        zarr.open_array(str(dest / "0"), mode="r", zarr_format=2)[...], pixels
    )
    # and 0.5 when asked (the default)
    assert main([*argv, "--ngff-version", "0.5", "--overwrite", "--quiet"]) == 0
    assert (dest / "zarr.json").is_file() and not (dest / ".zattrs").exists()
    # an NGFF version is for OME-Zarr output only, refused before writing
    tiff = tmp_path / "out.ome.tiff"
    assert main(["convert", str(tmp_path / "in.npy"), str(tiff), "--axes", "zyx",
                 "--ngff-version", "0.4", "--quiet"]) == 1  # fmt: skip
    assert "applies to OME-Zarr output" in capsys.readouterr().err
    assert not tiff.exists()
    # the release candidate too, and a .ozx refuses 0.4 (Zarr v2) before writing
    assert main([*argv, "--ngff-version", "0.6rc0", "--overwrite", "--quiet"]) == 0
    root = json.loads((dest / "zarr.json").read_text())["attributes"]["ome"]
    assert root["version"] == "0.6rc0"
    assert "coordinateSystems" in root["multiscales"][0]
    ozx = tmp_path / "out.ozx"
    assert main(["convert", str(tmp_path / "in.npy"), str(ozx), "--axes", "zyx",
                 "--ngff-version", "0.4", "--quiet"]) == 1  # fmt: skip
    assert "A .ozx archive holds Zarr v3" in capsys.readouterr().err
    assert not ozx.exists() and not list(tmp_path.glob(".*ozx*"))
