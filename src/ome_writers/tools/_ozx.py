"""Single-file OME-Zarr (NGFF RFC-9, ``.ozx``): an OME-Zarr directory packed
into one ZIP archive, and an archive checked against the RFC.

RFC-9 asks (MUST) for exactly one OME-Zarr hierarchy whose root ``zarr.json``
is the archive's root, no archive nested inside and no split archive; and
recommends (SHOULD) ZIP64, no ZIP compression, every ``zarr.json`` first in
breadth-first order starting with the root's (first in the central directory
too), an archive comment ``{"ome": {"version": ...}}`` in UTF-8 JSON, and the
suffix ``.ozx``. `write_archive` follows every one of them; the comment also
says ``"zipFile": {"centralDirectory": {"jsonFirst": true}}``, the flag other
RFC-9 writers and readers use for that order. `archive_findings` reports
what an archive breaks: problems (the MUSTs) and warnings (the SHOULDs).

Zarr v3 only: the RFC stores OME-Zarr 0.5 and later.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

#: the file name suffix of an RFC-9 archive
OZX_SUFFIX = ".ozx"
_DOCUMENT = "zarr.json"
_COPY_BYTES = 1 << 20
# a ZIP64 extended information extra field (APPNOTE 4.5.3)
_ZIP64_EXTRA = 0x0001
_ZIP64_VERSION = 45
_LOCAL_HEADER = b"PK\x03\x04"


def is_ozx_name(path: str | os.PathLike[str]) -> bool:
    """Whether `path` names an RFC-9 archive (``.ozx``, any case)."""
    return os.fspath(path).lower().endswith(OZX_SUFFIX)


def archive_comment(version: str) -> bytes:
    """The archive comment naming the OME-Zarr `version` (UTF-8 JSON)."""
    ome = {"version": version, "zipFile": {"centralDirectory": {"jsonFirst": True}}}
    return json.dumps({"ome": ome}, separators=(",", ":")).encode("utf-8")


def _is_document(name: str) -> bool:
    return name == _DOCUMENT or name.endswith("/" + _DOCUMENT)


def entry_order(names: Iterable[str]) -> list[str]:
    """`names` ordered for the archive: every ``zarr.json`` breadth-first
    (the root's first; siblings by name), then every other file by path."""
    names = set(names)
    documents = sorted(
        (n for n in names if _is_document(n)),
        key=lambda n: (n.count("/"), n.split("/")),
    )
    others = sorted(names.difference(documents), key=lambda n: n.split("/"))
    return documents + others


def ome_version(directory: Path) -> str:
    """The OME-Zarr version of the dataset at `directory`, which RFC-9 can hold.

    Raises
    ------
    ValueError
        `directory` has no Zarr v3 root group with OME-Zarr metadata.
    """
    root = directory / _DOCUMENT
    if not root.is_file():
        if (directory / ".zattrs").is_file() or (directory / ".zgroup").is_file():
            raise ValueError(
                f"{directory} is Zarr v2 (OME-Zarr 0.4); a .ozx archive holds "
                "Zarr v3 (OME-Zarr 0.5 and later)."
            )
        raise ValueError(f"{directory} is not an OME-Zarr dataset (no zarr.json).")
    try:
        doc = json.loads(root.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{root} is not valid JSON: {e}") from e
    ome = doc.get("attributes", {}).get("ome") if isinstance(doc, dict) else None
    version = ome.get("version") if isinstance(ome, dict) else None
    if doc.get("zarr_format") != 3 or not isinstance(version, str):
        raise ValueError(
            f"{root} declares no OME-Zarr version (attributes.ome.version) "
            "of a Zarr v3 group; a .ozx archive holds OME-Zarr 0.5 and later."
        )
    return version


def _files(directory: Path) -> dict[str, Path]:
    """Every regular file below `directory`, by its entry name."""
    out = {}
    for folder, _, names in os.walk(directory):
        for name in names:
            path = Path(folder, name)
            if path.is_file():
                out[path.relative_to(directory).as_posix()] = path
    return out


def write_archive(directory: Path, target: Path) -> None:
    """Write the OME-Zarr dataset at `directory` into a new archive `target`.

    Every file is streamed into an entry of its own, stored as it is (no ZIP
    compression) with ZIP64 headers, in `entry_order`; the archive comment
    names the dataset's OME-Zarr version. The archive is flushed to disk
    before this returns. `target` must not exist; on failure it may be left
    partly written (the caller writes under a temporary name).

    Raises
    ------
    ValueError
        `directory` is not an OME-Zarr dataset a ``.ozx`` can hold.
    FileExistsError
        `target` exists.
    """
    version = ome_version(directory)
    files = _files(directory)
    with open(target, "xb") as raw:
        with zipfile.ZipFile(
            raw, "w", compression=zipfile.ZIP_STORED, allowZip64=True
        ) as archive:
            for name in entry_order(files):
                info = zipfile.ZipInfo.from_file(
                    files[name], name, strict_timestamps=False
                )
                info.compress_type = zipfile.ZIP_STORED
                with (
                    open(files[name], "rb") as source,
                    archive.open(info, "w", force_zip64=True) as entry,
                ):
                    shutil.copyfileobj(source, entry, _COPY_BYTES)
            archive.comment = archive_comment(version)
        raw.flush()
        os.fsync(raw.fileno())


# ------------------------------------------------------------------ checking


def _has_zip64_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """Whether the entry's local header carries a ZIP64 extra field."""
    fp = archive.fp
    if fp is None:
        return False
    fp.seek(info.header_offset)
    header = fp.read(30)
    if len(header) < 30 or header[:4] != _LOCAL_HEADER:
        return False
    name_length = int.from_bytes(header[26:28], "little")
    extra_length = int.from_bytes(header[28:30], "little")
    fp.seek(info.header_offset + 30 + name_length)
    extra = fp.read(extra_length)
    while len(extra) >= 4:
        tag = int.from_bytes(extra[:2], "little")
        size = int.from_bytes(extra[2:4], "little")
        if tag == _ZIP64_EXTRA:
            return True
        extra = extra[4 + size :]
    return False


def _documents_first(infos: list[zipfile.ZipInfo]) -> bool:
    """Whether every ``zarr.json`` comes before the other entries, in the
    central directory and in the file."""
    first = [_is_document(i.filename) for i in infos]
    if first != sorted(first, reverse=True):
        return False
    documents = [i.header_offset for i in infos if _is_document(i.filename)]
    others = [i.header_offset for i in infos if not _is_document(i.filename)]
    return not documents or not others or max(documents) < min(others)


def _breadth_first(documents: list[str]) -> bool:
    """Whether `documents` (``zarr.json`` entry names) are in breadth-first
    order: depth never decreasing, and the children of a node following
    those of the nodes listed before it."""
    parents = [n.rpartition("/")[0] if "/" in n else None for n in documents]
    position = {p: k for k, p in enumerate(parents)}  # each node's rank
    last: tuple[int, int] = (-1, -1)
    for name, parent in zip(documents, parents, strict=True):
        if parent is None:  # the root
            key = (0, -1)
        else:
            above = parent.rpartition("/")[0] if "/" in parent else ""
            key = (name.count("/"), position.get(above or None, -1))
        if key < last:
            return False
        last = key
    return True


def archive_findings(path: Path, root_version: Any) -> tuple[list[str], list[str]]:
    """What the archive at `path` breaks of RFC-9: (problems, warnings).

    `root_version` is the OME-Zarr version its root ``zarr.json`` declares
    (None when it declares none), compared with the archive comment's.
    """
    problems: list[str] = []
    warnings: list[str] = []
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if _DOCUMENT not in names:
            problems.append("RFC-9: no zarr.json at the root of the archive")
        nested = [n for n in names if n.lower().endswith((OZX_SUFFIX, ".zip"))]
        if nested:
            problems.append(f"RFC-9: an archive inside the archive: {nested[0]}")
        compressed = [i.filename for i in infos if i.compress_type != 0]
        if compressed:
            warnings.append(
                f"RFC-9: {len(compressed)} entries ZIP-compressed (e.g. "
                f"{compressed[0]}); they should be stored"
            )
        plain = [
            i.filename
            for i in infos
            if i.extract_version < _ZIP64_VERSION or not _has_zip64_header(archive, i)
        ]
        if plain:
            warnings.append(
                f"RFC-9: {len(plain)} entries without ZIP64 headers (e.g. "
                f"{plain[0]}); the ZIP64 format should be used"
            )
        documents = [n for n in names if _is_document(n)]
        if _DOCUMENT in names and names[0] != _DOCUMENT:
            warnings.append("RFC-9: the root zarr.json should be the first entry")
        if not _documents_first(infos):
            warnings.append("RFC-9: every zarr.json should come before other entries")
        elif not _breadth_first(documents):
            warnings.append("RFC-9: the zarr.json entries should be breadth-first")
        warnings += _comment_findings(archive.comment, root_version)
    if not is_ozx_name(path):
        warnings.append(f"RFC-9: the file name should end with {OZX_SUFFIX}")
    return problems, warnings


def _comment_findings(comment: bytes, root_version: Any) -> list[str]:
    try:
        doc = json.loads(comment.decode("utf-8")) if comment else None
    except ValueError:
        doc = None
    ome = doc.get("ome") if isinstance(doc, dict) else None
    version = ome.get("version") if isinstance(ome, dict) else None
    if not isinstance(version, str):
        return [
            "RFC-9: the archive comment should be JSON naming the OME-Zarr "
            'version ({"ome": {"version": ...}})'
        ]
    if root_version is not None and version != root_version:
        return [
            f"RFC-9: the archive comment names OME-Zarr {version}, the root "
            f"zarr.json {root_version}"
        ]
    return []
