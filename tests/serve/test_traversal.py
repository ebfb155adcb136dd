"""No request reads outside the root, and none changes anything on disk.

Request lines are sent raw over a socket so that no client normalises them.
The root holds a symbolic link to a secret file beside it (``leak.json``) and
one to the directory holding the secret (``0/leak``).
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

import pytest

from tests.serve.conftest import SECRET, raw_request

if TYPE_CHECKING:
    from pathlib import Path

    from ome_writers.serve import ServedDataset
    from tests.serve.conftest import Written

TARGETS = [
    "/../secret.txt",
    "/../../../../../../etc/passwd",
    "/0/../../secret.txt",
    "/0/c/../../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/%2e%2E/secret.txt",
    "/.%2e/secret.txt",
    "/%2e./secret.txt",
    "/%2e%2e%2fsecret.txt",
    "/%2E%2E%2Fsecret.txt",
    "/0/..%2f..%2fsecret.txt",
    "/0/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/..%5csecret.txt",
    "/0/..%5c..%5csecret.txt",
    "/0/%2e%2e%5c%2e%2e%5csecret.txt",
    "/%252e%252e/secret.txt",
    "/%252e%252e%252fsecret.txt",
    "/0/%252e%252e%252f%252e%252e%252fsecret.txt",
    "/%c0%ae%c0%ae/secret.txt",  # overlong UTF-8 dots
    "/..\\secret.txt",
    "/0\\..\\..\\secret.txt",
    "//secret.txt",
    "///etc/passwd",
    "/%2fetc%2fpasswd",
    "/%2Fetc/passwd",
    "/C:%5csecret.txt",
    "/secret.txt%00",
    "/zarr.json%00/../../secret.txt",
    "/leak.json",
    "/0/leak/secret.txt",
    "/0/leak%2fsecret.txt",
    "/./../secret.txt",
    "/0/./../../secret.txt",
    "http://127.0.0.1/../secret.txt",
    "http://127.0.0.1/%2e%2e/secret.txt",
    "*",
]
RAW_TARGETS = [
    b"/..\x00/secret.txt",  # a NUL byte in the request line
    b"/%2e%2e/secret.txt\x00",
]


def _absolute_secret(dataset: Written) -> str:
    return str(dataset.path.parent / "secret.txt")


@pytest.mark.parametrize("target", [*TARGETS, *RAW_TARGETS])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_traversal_reads_nothing_outside(
    zarr_server: ServedDataset, target: str | bytes, method: str
) -> None:
    _assert_refused(zarr_server, target, method)


def _assert_refused(served: ServedDataset, target: str | bytes, method: str) -> None:
    reply = raw_request(served.port, target, method)
    assert reply.status in {400, 403, 404}, reply.raw[:200]
    assert SECRET not in reply.raw
    assert "content-range" not in reply.headers


#: beside a single served file: its folder's other files, by any spelling
FILE_TARGETS = [
    "/secret.txt",
    "/%73ecret.txt",
    "/./secret.txt",
    "/run.ome.tiff/../secret.txt",
    "/run.ome.tiff/%2e%2e/secret.txt",
    "/run.ome.tiff%2f..%2fsecret.txt",
    "/run.ome.tiff%2f%2e%2e%2fsecret.txt",
    "/run.ome.tiff%5c..%5csecret.txt",
    "/run.ome.tiff/secret.txt",
    "/x/../secret.txt",
    "/%2e/secret.txt",
]


@pytest.mark.parametrize("target", [*TARGETS, *FILE_TARGETS, *RAW_TARGETS])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_traversal_from_a_served_file_reads_nothing_outside(
    tiff_server: ServedDataset, target: str | bytes, method: str
) -> None:
    """An OME-TIFF served alone: nothing of its folder but the file is read."""
    _assert_refused(tiff_server, target, method)


def test_absolute_paths_read_nothing_outside(
    zarr_server: ServedDataset, zarr_dataset: Written
) -> None:
    secret = _absolute_secret(zarr_dataset)
    for target in (secret, "/" + secret, "/" + secret.replace("/", "%2f")):
        reply = raw_request(zarr_server.port, target)
        assert reply.status in {400, 403, 404}, target
        assert SECRET not in reply.raw


def test_ranges_on_a_link_outside_read_nothing(zarr_server: ServedDataset) -> None:
    for header in ("bytes=0-", "bytes=-5", "bytes=0-1,2-3"):
        reply = raw_request(zarr_server.port, "/leak.json", headers={"Range": header})
        assert reply.status in {403, 404}
        assert SECRET not in reply.raw


def _snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry under `root`'s parent: size, mtime and content digest."""
    out = {}
    for directory, dirs, files in os.walk(root.parent):
        for name in dirs + files:
            p = os.path.join(directory, name)
            st = os.lstat(p)
            digest = ""
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            out[p] = (st.st_size, st.st_mtime_ns, digest)
    return out


METHODS = [
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "TRACE",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "SEARCH",
    "PURGE",
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("target", ["/zarr.json", "/0/c/0/0/0/0", "/new.json", "/"])
def test_other_methods_get_405_and_change_nothing(
    zarr_server: ServedDataset, zarr_dataset: Written, method: str, target: str
) -> None:
    before = _snapshot(zarr_dataset.path)
    body = b'{"zarr_format": 3, "node_type": "group"}'
    reply = raw_request(
        zarr_server.port,
        target,
        method,
        headers={"Destination": "/moved.json", "Content-Type": "application/json"},
        body=b"" if method == "TRACE" else body,
    )
    assert reply.status == 405
    assert reply.headers["allow"].replace(" ", "") == "GET,HEAD,OPTIONS"
    assert _snapshot(zarr_dataset.path) == before


@pytest.mark.parametrize("target", ["127.0.0.1:22", "/zarr.json", "example.org:443"])
def test_connect_gets_405(zarr_server: ServedDataset, target: str) -> None:
    reply = raw_request(zarr_server.port, target, "CONNECT")
    assert reply.status == 405
    assert reply.headers["allow"].replace(" ", "") == "GET,HEAD,OPTIONS"


@pytest.mark.parametrize("method", METHODS)
def test_other_methods_on_a_served_file_get_405_and_change_nothing(
    tiff_server: ServedDataset, tiff_dataset: Written, method: str
) -> None:
    before = _snapshot(tiff_dataset.path)
    reply = raw_request(
        tiff_server.port,
        "/" + tiff_dataset.path.name,
        method,
        headers={"Destination": "/moved.tiff"},
        body=b"" if method == "TRACE" else b"II*\x00",
    )
    assert reply.status == 405
    assert reply.headers["allow"].replace(" ", "") == "GET,HEAD,OPTIONS"
    assert _snapshot(tiff_dataset.path) == before


def test_an_unknown_method_is_refused(zarr_server: ServedDataset) -> None:
    reply = raw_request(zarr_server.port, "/zarr.json", "BREW")
    assert reply.status in {400, 405, 501}
