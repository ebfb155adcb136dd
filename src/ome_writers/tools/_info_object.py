"""`ome-writers info` for an OME-Zarr dataset in a bucket (``s3://``).

The dataset is described from a sparse local copy, so that the OME-Zarr
inspection reads it as it reads a directory: every document (``zarr.json``,
or ``.zgroup``/``.zarray``/``.zattrs``, OME-XML, frame-metadata journals) is
downloaded; of each chunk object only what the inspection reads is fetched:
nothing (its existence is the listing's) or, for a shard, its index at the
end. A dataset of any size costs one
listing, its documents and one ranged read per shard.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ome_writers._io._object_store import resolve_s3
from ome_writers._schema._object_storage import url_scheme
from ome_writers.tools._info_zarr import inspect_zarr
from ome_writers.tools._report import DatasetReport

if TYPE_CHECKING:
    from collections.abc import Callable

    from ome_writers._schema._object_storage import S3Options

# Zarr v3 and v2 documents, OME-XML, frame-metadata journals
_DOCUMENT_SUFFIXES = (".json", ".zattrs", ".zgroup", ".zarray", ".xml", ".jsonl")


def inspect_object_dataset(url: str, options: S3Options | None = None) -> DatasetReport:
    """Describe and validate the OME-Zarr dataset at ``s3://bucket/key``."""
    if url_scheme(url) != "s3":
        report = DatasetReport(url, "unreadable")
        report.problems.append(f"no reader for {url_scheme(url)}:// URLs (only s3://)")
        return report
    try:
        root = resolve_s3(url, options)
        keys = list(root.iter_keys())
    except (OSError, ValueError) as e:  # no credentials, refused, unreachable
        report = DatasetReport(url, "unreadable")
        report.problems.append(str(e))
        return report
    if "zarr.json" not in keys and ".zgroup" not in keys:
        report = DatasetReport(root, "unknown")
        report.problems.append("no OME-Zarr dataset (zarr.json) at this prefix")
        return report
    with tempfile.TemporaryDirectory(prefix="ome-writers-info-") as tmp:
        local = Path(tmp, root.name or "dataset")
        sparse_copy(
            keys,
            local,
            lambda key: (root / key).read_bytes(),
            lambda key, n: (root / key).read_tail(n),
        )
        report = inspect_zarr(local)
    report.path = root
    return report


def sparse_copy(
    keys: list[str],
    local: Path,
    read: Callable[[str], bytes],
    read_tail: Callable[[str, int], bytes],
) -> None:
    """Copy what the OME-Zarr inspection reads of a dataset's `keys` into
    the directory `local`: documents whole (`read`), of a shard its index
    (`read_tail`), of any other chunk nothing but its name."""
    documents = [k for k in keys if k.endswith(_DOCUMENT_SUFFIXES)]
    for key in documents:
        target = local / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read(key))
    index_bytes = _shard_index_bytes(local, documents)
    for key in keys:
        if key.endswith(_DOCUMENT_SUFFIXES):
            continue
        target = local / key
        target.parent.mkdir(parents=True, exist_ok=True)
        array = key.split("/c/", 1)[0] if "/c/" in key else None
        size = index_bytes.get(array or "")
        target.write_bytes(read_tail(key, size) if size else b"")


def _shard_index_bytes(local: Path, documents: list[str]) -> dict[str, int]:
    """Array key -> bytes of its shard index at the end of each shard."""
    out = {}
    for key in documents:
        if not key.endswith("zarr.json"):
            continue
        doc: dict[str, Any] = json.loads((local / key).read_text(encoding="utf-8"))
        codecs = doc.get("codecs") or []
        if doc.get("node_type") != "array" or not codecs:
            continue
        if codecs[0].get("name") != "sharding_indexed":
            continue
        config = codecs[0].get("configuration") or {}
        if config.get("index_location", "end") != "end":
            continue
        grid = doc["chunk_grid"]["configuration"]["chunk_shape"]
        inner = config["chunk_shape"]
        n = math.prod(g // c for g, c in zip(grid, inner, strict=True))
        crc = any(c.get("name") == "crc32c" for c in config.get("index_codecs", []))
        out[key.rsplit("/", 1)[0] if "/" in key else ""] = 16 * n + 4 * crc
    return out
