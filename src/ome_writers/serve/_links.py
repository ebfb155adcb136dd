"""The served dataset's URL and the viewer and validator links to it."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from ome_writers.reading._zip import is_zip_archive

DatasetKind = Literal["zarr3", "zarr2", "ozx", "tiff", "files"]

NEUROGLANCER = "https://neuroglancer-demo.appspot.com/#!"
VIZARR = "https://hms-dbmi.github.io/vizarr/?source="
VALIDATOR = "https://ome.github.io/ome-ngff-validator/?source="

_TIFF_SUFFIXES = (".tif", ".tiff")
# hosts that mean "every interface": not an address a client can connect to
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def dataset_kind(path: str | os.PathLike[str]) -> DatasetKind:
    """What a path holds, read from its files: Zarr v3, Zarr v2, a single-file
    OME-Zarr (a ZIP archive), TIFF or other.

    A ``.zarr`` directory without documents yet (an acquisition about to
    start) counts as Zarr v3, the version ome-writers writes.
    """
    p = Path(path)
    if p.is_dir():
        if (p / "zarr.json").is_file():
            return "zarr3"
        if any((p / name).is_file() for name in (".zgroup", ".zarray", ".zattrs")):
            return "zarr2"
        if p.name.lower().endswith(".zarr"):
            return "zarr3"
        if any(f.suffix.lower() in _TIFF_SUFFIXES for f in p.iterdir()):
            return "tiff"
        return "files"
    if p.suffix.lower() in _TIFF_SUFFIXES:
        return "tiff"
    return "ozx" if p.is_file() and is_zip_archive(p) else "files"


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def connect_host(host: str) -> str:
    """The host a client on this machine connects to for a bound `host`."""
    return _WILDCARDS.get(host, host)


def base_url(host: str, port: int) -> str:
    """``http://HOST:PORT/`` (IPv6 addresses in brackets)."""
    host = connect_host(host).strip("[]")
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def dataset_url(base: str, path: str | os.PathLike[str]) -> str:
    """The URL of what is served: the root for a directory, else the file."""
    p = Path(path)
    return base if p.is_dir() else base + quote(p.name)


def with_token(url: str, token: str | None) -> str:
    """`url` carrying ``?token=`` when a token is set."""
    return url if token is None else f"{url}?token={quote(token, safe='')}"


def viewer_links(url: str, kind: DatasetKind, token: str | None) -> dict[str, str]:
    """Neuroglancer, vizarr and OME-NGFF validator links to an OME-Zarr URL.

    Empty for anything but OME-Zarr: these tools read Zarr only. A
    single-file OME-Zarr gets neuroglancer's alone, which reads inside the
    archive (``URL|zip:|zarr3:``).
    """
    source = with_token(url, token)
    if kind == "ozx":
        return {"neuroglancer": _neuroglancer(f"{source}|zip:|zarr3:")}
    if kind not in ("zarr3", "zarr2"):
        return {}
    scheme = "zarr3" if kind == "zarr3" else "zarr"
    return {
        "neuroglancer": _neuroglancer(f"{scheme}://{source}"),
        "vizarr": VIZARR + quote(source, safe=""),
        "validator": VALIDATOR + quote(source, safe=""),
    }


def _neuroglancer(source: str) -> str:
    """A neuroglancer link showing one image layer of `source`."""
    state = {"layers": [{"type": "image", "source": source}]}
    return NEUROGLANCER + quote(json.dumps(state, separators=(",", ":")), safe="")


def page_url(base: str, kind: DatasetKind, token: str | None) -> str | None:
    """The viewer page's URL (the server's root), None when not a dataset."""
    return None if kind == "files" else with_token(base, token)


def banner(
    path: str | os.PathLike[str],
    url: str,
    kind: DatasetKind,
    token: str | None,
    host: str,
    page: str | None = None,
) -> list[str]:
    """The lines printed when a server starts: URL, links, notes."""
    lines = [f"Serving {os.fspath(path)} at {url}"]
    if token is not None:
        lines.append(
            "Requests need the token: header 'Authorization: Bearer <token>' "
            "or the query '?token=<token>' (the links carry it)"
        )
    if page is not None:
        lines.append(f"  viewer page: {page}")
    links = viewer_links(url, kind, token)
    for name, link in links.items():
        lines.append(f"  {name}: {link}")
    if kind == "tiff":
        lines.append(
            "OME-TIFF: files served as they are; no neuroglancer, vizarr or "
            "validator links (they read Zarr only)"
        )
    elif kind == "ozx":
        lines.append(
            "Single-file OME-Zarr (.ozx): served as one file, which neuroglancer "
            "reads in place with range requests (no vizarr or validator links)"
        )
    elif kind == "files":
        lines.append("Not an OME-Zarr or OME-TIFF: files served, no viewer links")
    if host in _WILDCARDS:
        lines.append(
            "Listening on every interface: other machines use this computer's "
            "name or address in place of " + connect_host(host)
        )
    return lines
