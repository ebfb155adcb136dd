"""Finding an OME-TIFF's files, and reading a first page's description whole.

A writer of this library keeps the description of a file it is writing in
two slots and repoints the first page's ImageDescription tag from one to the
other with one write (backends/tiff/_provisional_xml.py). The description is
read at the offset the tag names, and the tag read again: when it still
names the same place, what was read is one whole description.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

#: a description tag's value: count, offset, and the value when inline
_Entry = tuple[int, int, bytes | None]

_DESCRIPTION = 270


class NotWrittenYet(ValueError):
    """A TIFF file whose first page is not (completely) written yet."""


_TIFF_SUFFIXES = (".ome.tiff", ".ome.tif", ".tiff", ".tif")
_ATTEMPTS = 20


def is_tiff_name(path: Path) -> bool:
    return path.name.lower().endswith(_TIFF_SUFFIXES)


def find_tiff(path: Path) -> Path:
    """The file to read for `path`: the file itself; for the path a
    multi-position acquisition was written to (``x.ome.tiff``, whose files are
    ``x/x_p000.ome.tiff``, ...) or its directory, the first file of the set."""
    if path.is_file():
        return path
    name = path.name
    suffix = next((s for s in _TIFF_SUFFIXES if name.lower().endswith(s)), None)
    if suffix is not None and not path.exists():
        stem = name[: -len(suffix)]
        first = path.parent / stem / f"{stem}_p000{name[-len(suffix) :]}"
        if first.is_file():
            return first
        raise FileNotFoundError(f"{path} does not exist (nor {first})")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if is_tiff_name(p) and p.is_file())
        if files:
            firsts = [p for p in files if "_p000." in p.name]
            return (firsts or files)[0]
        raise FileNotFoundError(f"{path} holds no TIFF file")
    raise FileNotFoundError(f"{path} does not exist")


def read_description(path: Path) -> str | None:
    """The first page's ImageDescription (None: the file has none, or is not
    a TIFF file), read whole while a writer may be replacing it."""
    with open(path, "rb") as f:
        fd = f.fileno()
        try:
            entry = _description_entry(fd)
        except struct.error:  # the file ends before its first page does
            raise NotWrittenYet(
                f"{path}: its first page is being written (or the file is cut short)"
            ) from None
        if entry is None:
            return None
        read_entry, _ = entry
        for _ in range(_ATTEMPTS):
            count, offset, inline = read_entry()
            data = inline if inline is not None else os.pread(fd, count, offset)
            if read_entry() == (count, offset, inline) and len(data) == count:
                return data.rstrip(b"\0").decode("utf-8", "replace")
        if len(data) < count:  # the file ends before its description does
            raise NotWrittenYet(
                f"{path}: its first page is being written (or the file is cut short)"
            )
        raise OSError(f"{path}: its description kept changing while read")


def _description_entry(fd: int) -> tuple[Callable[[], _Entry], int] | None:
    """A function reading (count, offset, inline value) of the first page's
    description tag, and the first page's tag count; None without the tag."""
    head = os.pread(fd, 16, 0)
    if len(head) < 8 or head[:2] not in (b"II", b"MM"):
        return None
    order = "<" if head[:2] == b"II" else ">"
    (version,) = struct.unpack(order + "H", head[2:4])
    if version == 43:  # BigTIFF
        (ifd,) = struct.unpack(order + "Q", head[8:16])
        entry_size, value_fmt = 20, "QQ"
        (n,) = struct.unpack(order + "Q", os.pread(fd, 8, ifd))
        first = ifd + 8
    elif version == 42:
        (ifd,) = struct.unpack(order + "I", head[4:8])
        entry_size, value_fmt = 12, "II"
        (n,) = struct.unpack(order + "H", os.pread(fd, 2, ifd))
        first = ifd + 2
    else:
        return None
    # no first page linked yet (ours link it once complete); another writer's
    # first page still being written can hold any bytes where its tag count
    # will be: a count reaching past the file's end is not a page yet
    if ifd == 0 or n == 0 or first + entry_size * n > os.fstat(fd).st_size:
        raise struct.error("the first page's tags are not written yet")
    half = (entry_size - 4) // 2  # the count, then the value or its offset
    entries = os.pread(fd, entry_size * n, first)
    for i in range(n):
        (code,) = struct.unpack(
            order + "H", entries[entry_size * i : entry_size * i + 2]
        )
        if code != _DESCRIPTION:
            continue
        at = first + entry_size * i + 4

        def read_entry(at: int = at) -> _Entry:
            raw = os.pread(fd, 2 * half, at)
            count, offset = struct.unpack(order + value_fmt, raw)
            if count <= half:  # the value is in the entry itself
                return count, 0, raw[half : half + count]
            return count, offset, None

        return read_entry, n
    return None
