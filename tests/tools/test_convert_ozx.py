"""`ome-writers convert ... X.ozx`: single-file OME-Zarr (NGFF RFC-9).

Archives are read back with zarr-python's `ZipStore`, tensorstore's ``zip``
kvstore and yaozarrs (through fsspec's zip file system); their structure
(entry order, compression, ZIP64 headers, the archive comment) is read with
`zipfile` and `struct` here, not with the package's own checks.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr
from zarr.storage import ZipStore

from ome_writers import (
    AcquisitionSettings,
    Dimension,
    Plate,
    Position,
    create_stream,
)
from ome_writers.tools import _ozx
from ome_writers.tools.cli import main
from ome_writers.tools.convert import ConversionError, convert

RNG = np.random.default_rng(48)


def pixels(shape: tuple[int, ...], dtype: str = "uint16") -> np.ndarray:
    return RNG.integers(0, 4000, shape).astype(dtype)


def acquire(root: Path, data: np.ndarray, **kwargs: Any) -> AcquisitionSettings:
    """An OME-Zarr of `data` (p, t, y, x: one image per position) written by
    ome-writers."""
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="p", type="position", coords=["left", "right"]),
            Dimension(name="t", count=data.shape[1], type="time"),
            Dimension(name="y", count=data.shape[2]),
            Dimension(name="x", count=data.shape[3]),
        ],
        dtype=str(data.dtype),
        **kwargs,
    )
    with create_stream(settings) as stream:
        for frames in data:
            for frame in frames:
                stream.append(frame)
    return settings


# ------------------------------------------------------- independent readers


def zarr_levels(archive: Path, image: str) -> list[np.ndarray]:
    """Every level of `image` in the archive, read by zarr-python's ZipStore."""
    store = ZipStore(archive, mode="r")
    try:
        group = zarr.open_group(store, path=image, mode="r")
        datasets = group.attrs["ome"]["multiscales"][0]["datasets"]
        return [np.asarray(group[d["path"]][...]) for d in datasets]
    finally:
        store.close()


def tensorstore_read(archive: Path, array: str) -> np.ndarray:
    import tensorstore as ts

    spec = {
        "driver": "zarr3",
        "kvstore": {
            "driver": "zip",
            "base": f"file://{archive}",
            "path": array.strip("/") + "/",
        },
    }
    out: np.ndarray = ts.open(spec, read=True).result().read().result()
    return out


def yaozarrs_validates(archive: Path) -> None:
    import yaozarrs

    yaozarrs.validate_zarr_store(f"zip::file://{archive}")


def local_header(archive: Path, info: zipfile.ZipInfo) -> tuple[int, dict[int, bytes]]:
    """(version needed to extract, extra fields by id) of an entry's local
    header, read with `struct`."""
    with open(archive, "rb") as f:
        f.seek(info.header_offset)
        fixed = f.read(30)
        signature, version, *_, name_length, extra_length = struct.unpack(
            "<4sHHHHHIIIHH", fixed
        )
        assert signature == b"PK\x03\x04"
        f.seek(name_length, os.SEEK_CUR)
        extra = f.read(extra_length)
    fields = {}
    while extra:
        tag, size = struct.unpack("<HH", extra[:4])
        fields[tag] = extra[4 : 4 + size]
        extra = extra[4 + size :]
    return version, fields


def check_rfc9(archive: Path, version: str = "0.5") -> list[str]:
    """Assert what RFC-9 asks of `archive`; its entry names, in order."""
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        comment = json.loads(z.comment.decode("utf-8"))
    names = [i.filename for i in infos]
    assert comment["ome"]["version"] == version
    assert comment["ome"]["zipFile"]["centralDirectory"]["jsonFirst"] is True
    # one hierarchy, rooted at the archive's root, no archive inside
    assert names[0] == "zarr.json"
    assert not any(n.endswith((".ozx", ".zip")) or n.startswith("/") for n in names)
    assert len(set(names)) == len(names)
    # stored, with ZIP64 local headers (extra field 0x0001)
    for info in infos:
        assert info.compress_type == zipfile.ZIP_STORED, info.filename
        version_needed, extra = local_header(archive, info)
        assert version_needed >= 45 and 0x0001 in extra, info.filename
    # every zarr.json first, in the file and in the central directory
    is_doc = [n.rsplit("/", 1)[-1] == "zarr.json" for n in names]
    n_docs = sum(is_doc)
    assert is_doc == [True] * n_docs + [False] * (len(names) - n_docs)
    offsets = [i.header_offset for i in infos]
    assert offsets == sorted(offsets)
    # breadth-first: a node's children come after every node above them,
    # grouped under their parents in the parents' order
    docs = names[:n_docs]
    nodes = ["" if d == "zarr.json" else d[: -len("/zarr.json")] for d in docs]
    rank = {node: k for k, node in enumerate(nodes)}
    keys = []
    for node in nodes:
        depth = 0 if node == "" else node.count("/") + 1
        parent = node.rpartition("/")[0] if node else None
        keys.append((depth, -1 if parent is None else rank[parent]))
    assert keys == sorted(keys), docs
    return names


# ----------------------------------------------------------------- outputs


def test_ome_zarr_with_pyramid_packed_as_it_is(tmp_path: Path) -> None:
    """A multi-position OME-Zarr with a pyramid: packed unchanged (every
    file of the dataset is an entry with the same bytes), pixel-exact at
    every level through zarr-python and tensorstore."""
    data = pixels((2, 3, 32, 24))
    settings = acquire(tmp_path / "run.ome.zarr", data, pyramid=3)
    source = Path(settings.output_path)
    out = convert([source], tmp_path / "run.ozx", progress=False)
    assert out == tmp_path / "run.ozx"
    names = check_rfc9(out)
    files = {
        p.relative_to(source).as_posix(): p.read_bytes()
        for p in source.rglob("*")
        if p.is_file()
    }
    with zipfile.ZipFile(out) as z:
        assert {n: z.read(n) for n in names} == files
    yaozarrs_validates(out)
    for k, image in enumerate(["left", "right"]):
        levels = zarr_levels(out, image)
        assert len(levels) == 3
        np.testing.assert_array_equal(levels[0], data[k])
        np.testing.assert_array_equal(levels[1].shape, (3, 16, 12))
        for level, expected in enumerate(levels):
            read = tensorstore_read(out, f"{image}/{level}")
            np.testing.assert_array_equal(read, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ome.zarr", "run.ozx"]


def test_ome_tiff_to_ozx(tmp_path: Path) -> None:
    """An OME-TIFF is converted into an OME-Zarr beside the target, packed,
    and the OME-Zarr removed."""
    data = pixels((3, 2, 16, 20))  # t, c, y, x
    tifffile.imwrite(
        tmp_path / "cells.ome.tiff",
        data,
        ome=True,
        metadata={"axes": "TCYX", "Channel": {"Name": ["DAPI", "FITC"]}},
    )
    out = convert([tmp_path / "cells.ome.tiff"], tmp_path / "cells.ozx", progress=False)
    check_rfc9(out)
    yaozarrs_validates(out)
    (level0,) = zarr_levels(out, "")
    np.testing.assert_array_equal(level0, data)
    np.testing.assert_array_equal(tensorstore_read(out, "0"), data)
    store = ZipStore(out, mode="r")
    try:
        ome = zarr.open_group(store, mode="r").attrs["ome"]
    finally:
        store.close()
    assert [a["name"] for a in ome["multiscales"][0]["axes"]] == ["t", "c", "y", "x"]
    assert [c["label"] for c in ome["omero"]["channels"]] == ["DAPI", "FITC"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.ome.tiff", "cells.ozx"]


def test_options_rewrite_a_source_sharded(tmp_path: Path) -> None:
    """With options that change the storage (shards, as RFC-9 recommends),
    an OME-Zarr source is rewritten, then packed."""
    data = pixels((2, 4, 16, 16))
    settings = acquire(tmp_path / "run.ome.zarr", data)
    out = convert(
        [settings.output_path],
        tmp_path / "sharded.ozx",
        shards={"t": 4},
        compression="zstd",
        progress=False,
    )
    names = check_rfc9(out)
    chunk_entries = [n for n in names if "/c/" in n]
    assert len(chunk_entries) == 2  # one shard per image
    yaozarrs_validates(out)
    for k, image in enumerate(["left", "right"]):
        np.testing.assert_array_equal(zarr_levels(out, image)[0], data[k])
        np.testing.assert_array_equal(tensorstore_read(out, f"{image}/0"), data[k])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ome.zarr", "sharded.ozx"]


def test_plate_entries_breadth_first(tmp_path: Path) -> None:
    """A plate: plate, rows, wells and fields, breadth-first."""
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
        plate=Plate(row_names=["A", "B"], column_names=["1", "2"]),
    )
    data = pixels((3, 8, 8), "uint8")
    with create_stream(settings) as stream:
        for plane in data:
            stream.append(plane)
    out = convert([settings.output_path], tmp_path / "plate.ozx", progress=False)
    names = check_rfc9(out)
    docs = [n for n in names if n.endswith("zarr.json")]
    assert docs[:6] == [
        "zarr.json",
        "A/zarr.json",
        "B/zarr.json",
        "OME/zarr.json",  # the fields as series, beside OME/METADATA.ome.xml
        "A/1/zarr.json",
        "B/2/zarr.json",
    ]
    yaozarrs_validates(out)
    for field, expected in zip(["A/1/f0", "A/1/f1", "B/2/f0"], data, strict=True):
        np.testing.assert_array_equal(zarr_levels(out, field)[0], expected)


def test_entry_order_is_breadth_first_by_path_parts() -> None:
    """Siblings by name, compared part by part ("a.x" after "a")."""
    names = ["a.x/zarr.json", "a/b/zarr.json", "zarr.json", "a/zarr.json", "a/0/c/0"]
    assert _ozx.entry_order(names) == [
        "zarr.json",
        "a/zarr.json",
        "a.x/zarr.json",
        "a/b/zarr.json",
        "a/0/c/0",
    ]


# ------------------------------------------------- refusals and failures


def test_refuses_an_existing_target_and_replaces_one_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = pixels((2, 1, 8, 8))
    source = acquire(tmp_path / "run.ome.zarr", data).output_path
    dest = tmp_path / "run.ozx"
    dest.write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="overwrite"):
        convert([source], dest, progress=False)
    with pytest.raises(FileExistsError, match=r"not a \.ozx archive"):
        convert([source], dest, overwrite=True, progress=False)
    assert dest.read_bytes() == b"mine"
    dest.unlink()
    convert([source], dest, progress=False)
    assert main(["convert", source, str(dest), "--quiet"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["convert", source, str(dest), "--quiet", "--overwrite"]) == 0
    check_rfc9(dest)


def test_refuses_a_format_other_than_ome_zarr(tmp_path: Path) -> None:
    np.save(tmp_path / "in.npy", pixels((2, 8, 8)))
    with pytest.raises(ValueError, match="holds OME-Zarr"):
        convert([tmp_path / "in.npy"], tmp_path / "x.ozx", format="ome-tiff")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


def test_zarr_v2_cannot_be_packed(tmp_path: Path) -> None:
    root = tmp_path / "v2.zarr"
    zarr.open_group(str(root), mode="w", zarr_format=2)
    with pytest.raises(ValueError, match="Zarr v2"):
        _ozx.write_archive(root, tmp_path / "v2.ozx")


@pytest.mark.parametrize("existing", [False, True], ids=["new", "replacing"])
def test_a_failure_while_packing_leaves_no_partial_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    """Packing fails half-way (after the first entries): no file is left at
    the target (or the archive being replaced is unchanged), no temporary
    archive and no intermediate OME-Zarr beside it, no folder made for it."""
    np.save(tmp_path / "in.npy", pixels((6, 16, 16)))
    results = tmp_path / "results"
    results.mkdir()
    (results / "notes.txt").write_text("mine")
    dest = results / "new" / "run.ozx"
    if existing:
        dest.parent.mkdir()
        convert([tmp_path / "in.npy"], dest, axes="tyx", progress=False)
        before = dest.read_bytes()
    copied = []
    real = _ozx.shutil.copyfileobj

    def fail_half_way(source: Any, target: Any, length: int = 0) -> None:
        if len(copied) == 4:
            raise OSError(28, "No space left on device")
        copied.append(source)
        real(source, target, length)

    monkeypatch.setattr(_ozx.shutil, "copyfileobj", fail_half_way)
    with pytest.raises(OSError, match="No space left"):
        convert([tmp_path / "in.npy"], dest, axes="tyx", progress=False, overwrite=True)
    assert len(copied) == 4
    if existing:
        assert sorted(p.name for p in dest.parent.iterdir()) == ["run.ozx"]
        assert dest.read_bytes() == before
    else:
        assert sorted(p.name for p in results.iterdir()) == ["notes.txt"]


def test_a_failing_source_leaves_nothing(tmp_path: Path) -> None:
    """A source that fails half-way through the conversion: the error names
    it and the target, nothing is left."""
    data = pixels((2, 4, 8, 8))
    source = Path(acquire(tmp_path / "in.ome.zarr", data).output_path)
    chunk = next(
        p for p in sorted((source / "right" / "0" / "c").rglob("*")) if p.is_file()
    )
    chunk.write_bytes(b"not a chunk")
    before = sorted(p.name for p in tmp_path.iterdir())
    dest = tmp_path / "out.ozx"
    with pytest.raises(ConversionError, match=f"Nothing was left at {dest}"):
        convert([source], dest, compression="zstd", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_an_output_that_does_not_validate_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ome_writers.tools import info

    np.save(tmp_path / "in.npy", pixels((2, 8, 8)))

    def refuse(path: str | Path) -> info.DatasetReport:
        report = info.DatasetReport(Path(path), "OME-Zarr")
        if str(path).endswith(".ozx"):
            report.problems.append("a reader refused it")
        return report

    monkeypatch.setattr(info, "inspect_dataset", refuse)
    with pytest.raises(ConversionError, match=r"did not validate.*a reader refused"):
        convert([tmp_path / "in.npy"], tmp_path / "x.ozx", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = pixels((3, 8, 8))
    np.save(tmp_path / "in.npy", data)
    dest = tmp_path / "in.ozx"
    assert main(["convert", str(tmp_path / "in.npy"), str(dest), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    np.testing.assert_array_equal(zarr_levels(dest, "")[0], data)
    assert main(["validate", "--strict", str(dest)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].strip() == "valid"
    assert main(["info", "--json", str(dest)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["archive"] == "zip" and report["valid"] and not report["warnings"]
