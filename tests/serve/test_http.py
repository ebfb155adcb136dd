"""A real server (its own process, port 0) over datasets ome-writers wrote."""

from __future__ import annotations

import io
import json
import os
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ome_writers.serve import start
from tests.serve.conftest import raw_request

if TYPE_CHECKING:
    from pathlib import Path

    from ome_writers.serve import ServedDataset
    from tests.serve.conftest import Written

EXPOSED = "Content-Range, Content-Length, Accept-Ranges, ETag"


def test_the_server_is_another_process(zarr_server: ServedDataset) -> None:
    assert zarr_server.running
    assert zarr_server.pid != os.getpid()
    assert zarr_server.port > 0
    assert zarr_server.url == f"http://127.0.0.1:{zarr_server.port}/"
    assert zarr_server.kind == "zarr3"
    assert set(zarr_server.links) == {"neuroglancer", "vizarr", "validator"}


def test_zarr_json_over_http_equals_the_file(
    zarr_server: ServedDataset, zarr_dataset: Written
) -> None:
    for name in ("zarr.json", "0/zarr.json"):
        reply = raw_request(zarr_server.port, "/" + name)
        assert reply.status == 200
        assert reply.body == (zarr_dataset.path / name).read_bytes()
        assert reply.headers["content-type"] == "application/json"
        assert reply.headers["cache-control"] == "no-cache"
        assert reply.headers["accept-ranges"] == "bytes"
        assert reply.headers["content-length"] == str(len(reply.body))
        assert reply.headers["etag"].startswith('"')
        json.loads(reply.body)


def test_head_has_the_headers_and_no_body(
    zarr_server: ServedDataset, zarr_dataset: Written
) -> None:
    reply = raw_request(zarr_server.port, "/zarr.json", "HEAD")
    assert reply.status == 200
    assert reply.body == b""
    size = (zarr_dataset.path / "zarr.json").stat().st_size
    assert reply.headers["content-length"] == str(size)
    assert reply.headers["content-type"] == "application/json"


# the first chunk of the first frame: t, c, y-chunk, x-chunk
CHUNK = "0/c/0/0/0/0"


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, None),
        ("bytes=-7", -7, None),
        ("bytes=5-5", 5, 5),
        ("bytes=0-99999999", 0, None),  # the end clipped to the file's
        ("bytes=-99999999", 0, None),  # a suffix longer than the file: all of it
        ("BYTES=1-2", 1, 2),
    ],
)
def test_byte_ranges(
    zarr_server: ServedDataset,
    zarr_dataset: Written,
    header: str,
    first: int,
    last: int | None,
) -> None:
    name = CHUNK
    content = (zarr_dataset.path / name).read_bytes()
    size = len(content)
    start = first % size if first < 0 else first
    stop = size if last is None else last + 1
    reply = raw_request(zarr_server.port, "/" + name, headers={"Range": header})
    assert reply.status == 206
    assert reply.body == content[start:stop]
    assert reply.headers["content-range"] == f"bytes {start}-{stop - 1}/{size}"
    assert reply.headers["content-length"] == str(stop - start)
    assert reply.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize(
    "header",
    [
        "bytes=999999-",  # starts past the end
        "bytes=-0",  # an empty suffix
        "bytes=5-2",  # last before first
        "bytes=0-1,4-5",  # several ranges: not served
        "bytes=abc",
        "items=0-1",
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_unsatisfiable_or_malformed_ranges_get_416(
    zarr_server: ServedDataset, zarr_dataset: Written, header: str, method: str
) -> None:
    name = CHUNK
    size = (zarr_dataset.path / name).stat().st_size
    reply = raw_request(zarr_server.port, "/" + name, method, headers={"Range": header})
    assert reply.status == 416
    assert reply.headers["content-range"] == f"bytes */{size}"
    # HEAD says what GET would send: nothing
    assert reply.headers["content-length"] == "0"
    assert reply.body == b""


def test_if_range_with_another_version_sends_the_whole_file(
    zarr_server: ServedDataset, zarr_dataset: Written
) -> None:
    full = raw_request(zarr_server.port, "/zarr.json")
    etag = full.headers["etag"]
    same = {"Range": "bytes=0-3", "If-Range": etag}
    assert raw_request(zarr_server.port, "/zarr.json", headers=same).status == 206
    other = {"Range": "bytes=0-3", "If-Range": '"another-version"'}
    reply = raw_request(zarr_server.port, "/zarr.json", headers=other)
    assert reply.status == 200
    assert reply.body == full.body


def test_if_range_with_the_last_modified_date_sends_the_range(
    zarr_server: ServedDataset,
) -> None:
    date = raw_request(zarr_server.port, "/zarr.json").headers["last-modified"]
    same = {"Range": "bytes=0-3", "If-Range": date}
    assert raw_request(zarr_server.port, "/zarr.json", headers=same).status == 206


def test_an_unchanged_document_is_not_sent_again(zarr_server: ServedDataset) -> None:
    etag = raw_request(zarr_server.port, "/zarr.json").headers["etag"]
    reply = raw_request(zarr_server.port, "/zarr.json", headers={"If-None-Match": etag})
    assert reply.status == 304
    assert reply.body == b""


def test_content_types(tmp_path: Path) -> None:
    types = {
        "zarr.json": "application/json",
        ".zattrs": "application/json",
        ".zgroup": "application/json",
        ".zarray": "application/json",
        "plate.json": "application/json",
        "METADATA.ome.xml": "application/xml",
        "p0.ome.tif": "image/tiff",
        "P1.OME.TIFF": "image/tiff",
        "0": "application/octet-stream",
        "frame_metadata.jsonl": "application/octet-stream",
        "notes.txt": "application/octet-stream",
    }
    for name in types:
        (tmp_path / name).write_bytes(b"x")
    with start(tmp_path) as served:
        for name, expected in types.items():
            for method in ("GET", "HEAD"):
                reply = raw_request(served.port, "/" + name, method)
                assert reply.status == 200
                assert reply.headers["content-type"] == expected, name


@pytest.mark.parametrize("target", ["/0", "/0/", "/0/c", "/missing.json"])
def test_directories_and_missing_files_are_404(
    zarr_server: ServedDataset, target: str
) -> None:
    reply = raw_request(zarr_server.port, target)
    assert reply.status == 404
    assert b"zarr.json" not in reply.body  # no listing


def test_the_root_is_the_viewer_page_not_a_listing(
    zarr_server: ServedDataset,
) -> None:
    reply = raw_request(zarr_server.port, "/")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert b"zarr.json" not in reply.body


def test_cors_headers_on_every_reply(zarr_server: ServedDataset) -> None:
    for target, status in (("/zarr.json", 200), ("/missing", 404)):
        reply = raw_request(zarr_server.port, target, headers={"Origin": "http://x"})
        assert reply.status == status
        assert reply.headers["access-control-allow-origin"] == "*"
        assert reply.headers["access-control-expose-headers"] == EXPOSED


def test_options_answers_a_cors_preflight(zarr_server: ServedDataset) -> None:
    reply = raw_request(
        zarr_server.port,
        "/0/zarr.json",
        "OPTIONS",
        headers={
            "Origin": "https://hms-dbmi.github.io",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        },
    )
    assert reply.status == 204
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "GET" in reply.headers["access-control-allow-methods"]
    assert "Range" in reply.headers["access-control-allow-headers"]
    assert reply.headers["allow"] == "GET, HEAD, OPTIONS"
    assert reply.body == b""
    assert "access-control-allow-private-network" not in reply.headers


def test_options_lets_a_hosted_viewer_read_from_this_machine(
    zarr_server: ServedDataset,
) -> None:
    """A public page asking for a private-network read gets the permission."""
    reply = raw_request(
        zarr_server.port,
        "/zarr.json",
        "OPTIONS",
        headers={
            "Origin": "https://hms-dbmi.github.io",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert reply.status == 204
    assert reply.headers["access-control-allow-private-network"] == "true"


def test_zarr_python_reads_the_whole_array_over_http(
    zarr_server: ServedDataset, zarr_dataset: Written
) -> None:
    zarr = pytest.importorskip("zarr")
    group = zarr.open_group(zarr_server.url, mode="r")
    assert group.attrs["ome"]["version"] == "0.5"
    array = zarr.open_array(zarr_server.url + "0", mode="r")
    np.testing.assert_array_equal(array[:], zarr_dataset.data)


def test_tensorstore_reads_the_whole_array_over_http(
    zarr_server: ServedDataset, zarr_dataset: Written
) -> None:
    ts = pytest.importorskip("tensorstore")
    spec = {"driver": "zarr3", "kvstore": zarr_server.url + "0/"}
    array = ts.open(spec, read=True).result()
    np.testing.assert_array_equal(array.read().result(), zarr_dataset.data)


def test_cors_off(zarr_dataset: Written) -> None:
    with start(zarr_dataset.path, cors=False) as served:
        reply = raw_request(served.port, "/zarr.json", headers={"Origin": "http://x"})
        assert reply.status == 200
        assert "access-control-allow-origin" not in reply.headers
        preflight = raw_request(
            served.port,
            "/zarr.json",
            "OPTIONS",
            headers={"Access-Control-Request-Private-Network": "true"},
        )
        assert preflight.status == 204
        assert preflight.headers["allow"] == "GET, HEAD, OPTIONS"
        assert not any(h.startswith("access-control") for h in preflight.headers)


def test_token(zarr_dataset: Written) -> None:
    token = "t0ken-with+odd/chars"
    with start(zarr_dataset.path, token=token) as served:
        port = served.port
        refused = ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token})
        for headers in refused:
            reply = raw_request(port, "/zarr.json", headers=headers)
            assert reply.status == 401, headers
            assert reply.headers["www-authenticate"].startswith("Bearer")
            assert b"zarr_format" not in reply.body
        assert raw_request(port, "/zarr.json?token=wrong").status == 401
        assert raw_request(port, "/missing?token=wrong").status == 401
        bearer = {"Authorization": f"Bearer {token}"}
        assert raw_request(port, "/zarr.json", headers=bearer).status == 200
        quoted = "t0ken-with%2Bodd%2Fchars"
        assert raw_request(port, f"/zarr.json?token={quoted}").status == 200
        # a preflight carries no credentials, and reads nothing
        assert raw_request(port, "/zarr.json", "OPTIONS").status == 204
        # the links carry the token: a client that keeps the query reads data
        source = served.links["vizarr"].partition("source=")[2]
        url = urllib.request.unquote(source)
        with urllib.request.urlopen(url.replace("?", "zarr.json?")) as r:
            assert json.loads(r.read())["zarr_format"] == 3
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(served.url + "zarr.json")
        zarr = pytest.importorskip("zarr")
        array = zarr.open_array(
            served.url + "0",
            mode="r",
            storage_options={"headers": {"Authorization": f"Bearer {token}"}},
        )
        np.testing.assert_array_equal(array[:], zarr_dataset.data)


def test_ome_tiff_file(tiff_dataset: Written) -> None:
    tifffile = pytest.importorskip("tifffile")
    fsspec = pytest.importorskip("fsspec")
    with start(tiff_dataset.path) as served:
        assert served.kind == "tiff"
        assert served.links == {}
        assert served.url == f"http://127.0.0.1:{served.port}/run.ome.tiff"
        head = raw_request(served.port, "/run.ome.tiff", "HEAD")
        assert head.headers["content-type"] == "image/tiff"
        assert raw_request(served.port, "/secret.txt").status == 404
        with fsspec.open(served.url, "rb") as f, tifffile.TiffFile(f) as tif:
            assert tif.is_ome
            np.testing.assert_array_equal(tif.series[0].asarray(), tiff_dataset.data)


def test_ome_tiff_directory(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Per-position OME-TIFF files: the directory is served."""
    tifffile = pytest.importorskip("tifffile")
    from ome_writers import Dimension
    from tests.serve.conftest import written

    base = tmp_path_factory.mktemp("positions")
    dims = [
        Dimension(name="p", count=2, type="position"),
        Dimension(name="y", count=8, type="space"),
        Dimension(name="x", count=8, type="space"),
    ]
    data = written(base / "pos.ome.tiff", dims)
    directory = base / "pos"
    names = sorted(p.name for p in directory.iterdir())
    with start(directory) as served:
        assert served.kind == "tiff"
        for i, name in enumerate(names):
            reply = raw_request(served.port, f"/{name}")
            assert reply.status == 200
            assert reply.headers["content-type"] == "image/tiff"
            np.testing.assert_array_equal(
                tifffile.imread(io.BytesIO(reply.body)), data[i]
            )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_special_files_are_not_read(tmp_path: Path) -> None:
    """A named pipe in the root gets 404 at once (opening it must not block)."""
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "zarr.json").write_text("{}")
    with start(tmp_path) as served:
        for _ in range(3):  # more than one: no server thread is left waiting
            assert raw_request(served.port, "/pipe").status == 404
        assert raw_request(served.port, "/zarr.json").status == 200
