"""`ome-writers info` / `validate` on single-file OME-Zarr (``.ozx``): the
hierarchy inside described as a directory is, the archive checked against
RFC-9 (MUSTs are problems, SHOULDs warnings).

Archives other than ours are made here with `zipfile` the way generic tools
make them (compressed, in directory order, without a comment).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.tools._ozx import write_archive
from ome_writers.tools.cli import main
from ome_writers.tools.info import inspect_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-position OME-Zarr, 4 time points sharded in two shards each."""
    root = tmp_path_factory.mktemp("info-ozx") / "run.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="p", type="position", coords=["a", "b"]),
            Dimension(name="t", count=4, type="time", shard_size_chunks=2),
            Dimension(name="y", count=8, unit="um", scale=0.5),
            Dimension(name="x", count=8, unit="um", scale=0.5),
        ],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        for n in range(8):
            stream.append(np.full((8, 8), n + 1, "uint16"))
    return Path(settings.output_path)


def files(root: Path) -> list[tuple[str, Path]]:
    return sorted(
        (p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file()
    )


def rezip(
    root: Path,
    target: Path,
    *,
    order: list[str] | None = None,
    prefix: str = "",
    compression: int = zipfile.ZIP_DEFLATED,
    comment: bytes = b"",
    extra: dict[str, bytes] | None = None,
) -> Path:
    """`root` zipped as generic tools zip it (no ZIP64 unless needed)."""
    entries = dict(files(root))
    with zipfile.ZipFile(target, "w", compression=compression) as z:
        for name in order or list(entries):
            z.write(entries[name], prefix + name)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
        z.comment = comment
    return target


def test_ours_is_valid_without_warnings(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.ozx"
    write_archive(dataset, out)
    report = inspect_dataset(out)
    assert report.valid and report.warnings == [], report.lines()
    assert report.archive == "zip" and report.kind == "OME-Zarr"
    assert report.layout == "collection"
    assert [image.shape for image in report.images] == [(4, 8, 8), (4, 8, 8)]
    # the shards' indexes, read inside the archive, account for every frame
    for image in report.images:
        assert image.frames is not None and image.frames.acquired == 4
        assert image.storage is not None and image.storage.shards == (2, 8, 8)
    assert (
        report.lines()[0] == f"{out} (OME-Zarr in a zip archive, collection, 2 images)"
    )
    # the same description as the directory's
    directory = inspect_dataset(dataset)
    assert report.to_dict()["images"] == directory.to_dict()["images"]


def test_a_generic_zip_warns_for_every_recommendation(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [name for name, _ in files(dataset)]
    chunks_first = sorted(names, key=lambda n: n.endswith("zarr.json"))
    archive = rezip(dataset, tmp_path / "run.zip", order=chunks_first)
    report = inspect_dataset(archive)
    assert report.valid, report.problems
    text = "\n".join(report.warnings)
    for expected in (
        "ZIP-compressed",
        "without ZIP64 headers",
        "root zarr.json should be the first entry",
        "every zarr.json should come before other entries",
        "archive comment should be JSON naming the OME-Zarr version",
        "file name should end with .ozx",
    ):
        assert expected in text, text
    assert main(["validate", str(archive)]) == 0
    assert main(["validate", "--strict", str(archive)]) == 1
    assert "valid, with 6 warnings" in capsys.readouterr().out


def test_depth_first_and_another_version_warn(dataset: Path, tmp_path: Path) -> None:
    names = [name for name, _ in files(dataset)]
    docs = [n for n in names if n.endswith("zarr.json")]
    depth_first = sorted(docs) + [n for n in names if n not in docs]
    assert depth_first[:3] == ["OME/zarr.json", "a/0/zarr.json", "a/zarr.json"]
    depth_first.remove("zarr.json")
    comment = json.dumps({"ome": {"version": "0.4"}}).encode()
    archive = rezip(
        dataset,
        tmp_path / "df.ozx",
        order=["zarr.json", *depth_first],
        compression=zipfile.ZIP_STORED,
        comment=comment,
    )
    warnings = inspect_dataset(archive).warnings
    assert "RFC-9: the zarr.json entries should be breadth-first" in warnings
    assert (
        "RFC-9: the archive comment names OME-Zarr 0.4, the root zarr.json 0.5"
        in warnings
    )


def test_a_hierarchy_in_a_folder_of_the_archive_is_invalid(
    dataset: Path, tmp_path: Path
) -> None:
    """``zip -r run.zip run.ome.zarr`` puts the root one folder down."""
    archive = rezip(dataset, tmp_path / "run.ozx", prefix="run.ome.zarr/")
    report = inspect_dataset(archive)
    assert not report.valid
    assert "RFC-9: no zarr.json at the root of the archive" in report.problems
    assert report.lines()[-1].strip() == "INVALID"


def test_an_archive_inside_and_an_escaping_entry_are_invalid(
    dataset: Path, tmp_path: Path
) -> None:
    archive = rezip(
        dataset,
        tmp_path / "run.ozx",
        compression=zipfile.ZIP_STORED,
        extra={"inner.ozx": b"PK\x05\x06" + bytes(18), "../../escaped": b"x"},
    )
    report = inspect_dataset(archive)
    assert "RFC-9: an archive inside the archive: inner.ozx" in report.problems
    assert "an entry leaving the archive's root: ../../escaped" in report.problems
    assert not (tmp_path.parent / "escaped").exists()


def test_not_an_archive(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ozx"
    bad.write_bytes(b"PK\x03\x04 and then nothing a ZIP reader accepts")
    report = inspect_dataset(bad)
    assert not report.valid
    assert report.problems[0].startswith("not a readable ZIP archive")
