"""A request target resolves to a file inside the root, or to nothing."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from ome_writers.serve._paths import ServedRoot

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "data" / "0").mkdir(parents=True)
    (tmp_path / "data" / "zarr.json").write_text("{}")
    (tmp_path / "data" / "0" / "a b.json").write_text("{}")
    (tmp_path / "data" / "0" / "%2e").write_text("literal")
    (tmp_path / "secret").write_text("s")
    (tmp_path / "data" / "out").symlink_to(tmp_path / "secret")
    (tmp_path / "data" / "in").symlink_to(tmp_path / "data" / "zarr.json")
    (tmp_path / "data" / "in_dir").symlink_to(tmp_path / "data" / "0")
    (tmp_path / "data" / "0" / "out_dir").symlink_to(tmp_path)
    return tmp_path / "data"


@pytest.mark.parametrize(
    ("target", "name"),
    [
        ("/zarr.json", "zarr.json"),
        ("/zarr.json?token=x#frag", "zarr.json"),
        ("/0/a%20b.json", "0/a b.json"),
        ("/0/%252e", "0/%2e"),  # decoded once: a literal file name
        ("/%7Aarr.json", "zarr.json"),
        ("/in", "zarr.json"),  # a link to a file inside the root
        ("/in_dir/a%20b.json", "0/a b.json"),  # through a directory link inside
    ],
)
def test_inside(root: Path, target: str, name: str) -> None:
    assert ServedRoot(root).resolve(target) == os.path.realpath(root / name)


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "",
        "zarr.json",
        "/../secret",
        "/0/../../secret",
        "/%2e%2e/secret",
        "/%2E%2E/secret",
        "/0/..%2f..%2fsecret",
        "/..%5csecret",
        "/0/%2e%2e%5c%2e%2e%5csecret",
        "/./zarr.json",
        "/0//a%20b.json",
        "/0/",
        "/zarr.json%00",
        "/zarr.json%00.png",
        "/C:%5csecret",
        "/%ff",  # not UTF-8
        "/out",  # a link leading outside
        "/0/out_dir/secret",  # through a directory link leading outside
        "/missing.json",
        "/0/missing/zarr.json",
        "http://host/zarr.json",
        "*",
    ],
)
def test_outside_or_malformed(root: Path, target: str) -> None:
    assert ServedRoot(root).resolve(target) is None


def test_a_link_to_the_root_itself_is_no_file(root: Path) -> None:
    (root / "self").symlink_to(root)
    assert ServedRoot(root).resolve("/self") is None


def test_one_file_is_served_under_its_name_only(tmp_path: Path) -> None:
    (tmp_path / "run.ome.tiff").write_bytes(b"II*\0")
    (tmp_path / "other.tif").write_bytes(b"II*\0")
    root = ServedRoot(tmp_path / "run.ome.tiff")
    assert root.resolve("/run.ome.tiff") == os.path.realpath(tmp_path / "run.ome.tiff")
    for target in ("/other.tif", "/", "/run.ome.tiff/x", "/../run.ome.tiff"):
        assert root.resolve(target) is None, target


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing to serve"):
        ServedRoot(tmp_path / "missing.ome.zarr")
