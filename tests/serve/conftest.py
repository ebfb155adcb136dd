"""Datasets written by ome-writers, a secret beside them, and raw HTTP."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from ome_writers.serve import ServedDataset

SECRET = b"SECRET-BYTES-OUTSIDE-THE-ROOT-7f3a"


def written(root: Path, dims: list[Dimension]) -> np.ndarray:
    """Write random uint16 frames of `dims` at `root`; the array written."""
    shape = tuple(d.count or 0 for d in dims)
    data = np.random.default_rng(0).integers(0, 65535, shape, dtype="uint16")
    settings = AcquisitionSettings(root_path=str(root), dimensions=dims, dtype="uint16")
    with create_stream(settings) as stream:
        for frame in data.reshape(-1, *shape[-2:]):
            stream.append(frame)
    return data


@dataclass
class Written:
    """A dataset on disk and the pixels written into it."""

    path: Path
    data: np.ndarray


@pytest.fixture(scope="package")
def zarr_dataset(tmp_path_factory: pytest.TempPathFactory) -> Written:
    """An OME-Zarr (t, c, y, x) in 2x2 chunks per frame, with a secret file
    beside it and a symbolic link inside it pointing at the secret."""
    base = tmp_path_factory.mktemp("zarr")
    dims = [
        Dimension(name="t", count=3, type="time"),
        Dimension(name="c", count=2, type="channel"),
        Dimension(name="y", count=32, type="space", chunk_size=16),
        Dimension(name="x", count=48, type="space", chunk_size=24),
    ]
    root = base / "run.ome.zarr"
    data = written(root, dims)
    (base / "secret.txt").write_bytes(SECRET)
    (root / "leak.json").symlink_to(base / "secret.txt")
    (root / "0" / "leak").symlink_to(base)
    return Written(root, data)


@pytest.fixture(scope="package")
def tiff_dataset(tmp_path_factory: pytest.TempPathFactory) -> Written:
    """A single-file OME-TIFF (t, y, x), a secret file beside it."""
    base = tmp_path_factory.mktemp("tiff")
    dims = [
        Dimension(name="t", count=2, type="time"),
        Dimension(name="y", count=16, type="space"),
        Dimension(name="x", count=24, type="space"),
    ]
    data = written(base / "run.ome.tiff", dims)
    (base / "secret.txt").write_bytes(SECRET)
    return Written(base / "run.ome.tiff", data)


@pytest.fixture(scope="package")
def zarr_server(zarr_dataset: Written) -> Iterator[ServedDataset]:
    from ome_writers.serve import start

    with start(zarr_dataset.path) as served:
        yield served


@pytest.fixture(scope="package")
def tiff_server(tiff_dataset: Written) -> Iterator[ServedDataset]:
    """The single OME-TIFF file served (its folder holds the secret too)."""
    from ome_writers.serve import start

    with start(tiff_dataset.path) as served:
        yield served


@dataclass
class Reply:
    """A raw HTTP reply."""

    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes
    raw: bytes


def raw_request(
    port: int,
    target: str | bytes,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> Reply:
    """Send one request line exactly as given (no client normalises it)."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [f"{k}: {v}".encode("latin-1") for k, v in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}".encode())
    lines += [b"Connection: close", b"", b""]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"\r\n".join(lines) + body)
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return Reply(int(status_line.split()[1]), found, body, raw)
