"""The dataset URL and the viewer links, correctly encoded."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from ome_writers.serve._links import (
    banner,
    base_url,
    dataset_kind,
    is_loopback,
    page_url,
    viewer_links,
)

if TYPE_CHECKING:
    from pathlib import Path

URL = "http://127.0.0.1:8123/"


def _query_source(link: str) -> str:
    return parse_qs(urlsplit(link).query)["source"][0]


@pytest.mark.parametrize(("kind", "scheme"), [("zarr3", "zarr3"), ("zarr2", "zarr")])
def test_links_decode_to_the_dataset_url(kind: str, scheme: str) -> None:
    links = viewer_links(URL, kind, None)  # type: ignore[arg-type]
    assert set(links) == {"neuroglancer", "vizarr", "validator"}
    assert links["vizarr"].startswith("https://hms-dbmi.github.io/vizarr/?source=")
    assert links["validator"].startswith(
        "https://ome.github.io/ome-ngff-validator/?source="
    )
    assert _query_source(links["vizarr"]) == URL
    assert _query_source(links["validator"]) == URL
    prefix = "https://neuroglancer-demo.appspot.com/#!"
    assert links["neuroglancer"].startswith(prefix)
    state = json.loads(unquote(links["neuroglancer"][len(prefix) :]))
    assert state["layers"][0]["source"] == f"{scheme}://{URL}"
    # nothing left unencoded that a browser would read as URL structure
    for link in links.values():
        assert not set(link.partition("source=")[2]) & set(' "{}#?&')


def test_links_carry_the_token_encoded() -> None:
    token = "a+b/c=d&e"
    links = viewer_links(URL, "zarr3", token)
    assert _query_source(links["vizarr"]) == URL + "?token=a%2Bb%2Fc%3Dd%26e"
    source = parse_qs(urlsplit(_query_source(links["validator"])).query)["token"]
    assert source == [token]
    prefix = "https://neuroglancer-demo.appspot.com/#!"
    state = json.loads(unquote(links["neuroglancer"][len(prefix) :]))
    assert state["layers"][0]["source"].endswith("?token=a%2Bb%2Fc%3Dd%26e")


@pytest.mark.parametrize("kind", ["tiff", "files"])
def test_no_zarr_links_for_other_data(kind: str) -> None:
    assert viewer_links(URL, kind, None) == {}  # type: ignore[arg-type]


def test_banner_says_why_there_are_no_links(tmp_path: Path) -> None:
    lines = banner(tmp_path / "run.ome.tiff", URL, "tiff", None, "127.0.0.1")
    assert any("OME-TIFF" in line and "they read Zarr only" in line for line in lines)


@pytest.mark.parametrize(
    ("kind", "token", "page"),
    [
        ("zarr3", None, URL),
        ("zarr2", "a+b", URL + "?token=a%2Bb"),
        ("tiff", None, URL),
        ("files", None, None),  # not a dataset: nothing for the page to show
    ],
)
def test_the_page_url(kind: str, token: str | None, page: str | None) -> None:
    assert page_url(URL, kind, token) == page  # type: ignore[arg-type]
    lines = banner("run", URL, kind, token, "127.0.0.1", page)  # type: ignore[arg-type]
    assert (f"  viewer page: {page}" in lines) is (page is not None)


def test_dataset_kinds(tmp_path: Path) -> None:
    v3, v2, tiffs, fresh = (tmp_path / n for n in ("a", "b", "c", "d.ome.zarr"))
    for d in (v3, v2, tiffs, fresh):
        d.mkdir()
    (v3 / "zarr.json").write_text("{}")
    (v2 / ".zgroup").write_text("{}")
    (tiffs / "p0.ome.tif").write_bytes(b"")
    (tmp_path / "one.OME.TIFF").write_bytes(b"")
    assert dataset_kind(v3) == "zarr3"
    assert dataset_kind(v2) == "zarr2"
    assert dataset_kind(tiffs) == "tiff"
    assert dataset_kind(fresh) == "zarr3"
    assert dataset_kind(tmp_path / "one.OME.TIFF") == "tiff"
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "notes.txt").write_text("")
    assert dataset_kind(tmp_path / "e") == "files"
    assert dataset_kind(tmp_path / "e" / "notes.txt") == "files"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.org", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_base_url() -> None:
    assert base_url("127.0.0.1", 80) == "http://127.0.0.1:80/"
    assert base_url("::1", 80) == "http://[::1]:80/"
    assert base_url("0.0.0.0", 80) == "http://127.0.0.1:80/"
    assert base_url("localhost", 80) == "http://localhost:80/"
