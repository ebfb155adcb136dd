"""Uncompressed pages written as copies of a page tifffile wrote.

`tifffile.TiffWriter.write` builds every page's tags in Python: for small
frames that takes the writer thread as long as writing the frame into the
page cache, and the acquisition thread waits for the interpreter meanwhile.
After a file's first page (which carries the description), every uncompressed
single-strip page of a file has the same tags; only three kinds of field
depend on where the page lands: the offsets of tag values stored outside the
IFD, the strip offset and the next-IFD field (zero until the next page links
it). `PageStamp` reads the IFD tifffile wrote for one such page and writes
each later page as that IFD moved to the end of the file, followed by the
frame, in the layout tifffile uses (IFD on a word boundary, strip on a 16-byte
boundary): the file is byte for byte what tifffile would have written.

Given a file descriptor opened for direct I/O (`ome_writers._io._direct`),
a large frame's strip goes on a block boundary instead and is written from
the frame's buffer straight to the disk; only the IFD passes through the
page cache, in pages of its own.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, Any

from ome_writers._io._direct import DIRECT_ALIGN, aligned, pwrite_all, refused

if TYPE_CHECKING:
    import numpy as np

# bytes per value of each TIFF field type (TIFF 6 and BigTIFF)
_TYPE_SIZE = {
    1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
    13: 4, 16: 8, 17: 8, 18: 8,
}  # fmt: skip
_STRIP_OFFSETS = 273
_STRIP_BYTE_COUNTS = 279
_DATA_ALIGN = 16  # tifffile's default alignment of strip data


class PageStamp:
    """The IFD of one uncompressed single-strip BigTIFF page, relocatable."""

    def __init__(
        self, ifd: bytes, byteorder: str, moved: list[int], strip: int, nbytes: int
    ) -> None:
        self.ifd = ifd  # tag values at offsets relative to the IFD
        self.byteorder = byteorder
        self.moved = moved  # where in `ifd` an offset to one of its values is
        self.strip = strip  # where in `ifd` the strip offset is
        self.nbytes = nbytes  # bytes of the strip
        count = struct.unpack_from(byteorder + "Q", ifd, 0)[0]
        self.next_field = 8 + 20 * count  # where the next-IFD offset is
        self.refused = False  # a direct write was refused (`write`)

    @classmethod
    def read(
        cls, fd: int, ifd_offset: int, data_offset: int, byteorder: str
    ) -> PageStamp | None:
        """The stamp of the page whose IFD is at `ifd_offset` (None when the
        page is not a plain single-strip page: it is then left to tifffile)."""
        if not ifd_offset < data_offset <= ifd_offset + 64 * 1024:
            return None
        raw = os.pread(fd, data_offset - ifd_offset, ifd_offset)
        if len(raw) < 8:
            return None
        count = struct.unpack_from(byteorder + "Q", raw, 0)[0]
        end = 8 + 20 * count + 8  # entries and the next-IFD field
        if end > len(raw):
            return None
        ifd = bytearray(raw)
        moved: list[int] = []
        strip = nbytes = None
        for i in range(count):
            entry = 8 + 20 * i
            code, kind, n, value = struct.unpack_from(byteorder + "HHQQ", ifd, entry)
            size = _TYPE_SIZE.get(kind)
            if size is None:
                return None
            if code == _STRIP_OFFSETS:
                if n != 1 or value != data_offset:
                    return None
                strip = entry + 12
            elif code == _STRIP_BYTE_COUNTS:
                if n != 1:
                    return None
                nbytes = value
            if size * n > 8:  # stored outside the entry: an absolute offset
                relative = value - ifd_offset
                if not (end <= relative and relative + size * n <= len(ifd)):
                    return None
                struct.pack_into(byteorder + "Q", ifd, entry + 12, relative)
                moved.append(entry + 12)
                end = max(end, relative + size * n)
        if strip is None or nbytes is None:
            return None
        end += end % 2  # tifffile pads the IFD to a word boundary
        return cls(bytes(ifd[:end]), byteorder, moved, strip, nbytes)

    def write(
        self, writer: Any, data: np.ndarray, direct_fd: int | None = None
    ) -> tuple[int, int, int]:
        """Append a page of `data` to `writer`'s file; (IFD offset, strip
        offset, strip bytes). The page is not linked into the page chain.

        With `direct_fd` (the file opened with ``O_DIRECT``) and `data`
        `aligned`, the strip is written through it, at a block boundary.
        When the filesystem refuses the direct write, the strip is written
        buffered where it was meant to go and `refused` is set: the caller
        stops passing the fd.
        """
        fh = writer.filehandle
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        pad = end % 2  # the IFD begins on a word boundary
        ifd_offset = end + pad
        data_offset = ifd_offset + len(self.ifd)
        direct = direct_fd is not None and aligned(data)
        skip = -data_offset % (DIRECT_ALIGN if direct else _DATA_ALIGN)
        data_offset += skip
        ifd = bytearray(self.ifd)
        pack = struct.pack_into
        order = self.byteorder + "Q"
        for at in self.moved:
            pack(order, ifd, at, ifd_offset + struct.unpack_from(order, ifd, at)[0])
        pack(order, ifd, self.strip, data_offset)
        fh.write(b"\0" * pad + ifd + b"\0" * skip)
        writer._ifdoffset = ifd_offset + self.next_field  # noqa: SLF001
        if not direct:
            fh.write(data.data)
            return ifd_offset, data_offset, self.nbytes
        assert direct_fd is not None
        fh.flush()  # the IFD's pages end where the strip's begin
        try:
            pwrite_all(direct_fd, data, data_offset)
        except OSError as error:
            if not refused(error):
                raise
            self.refused = True
            fh.write(data.data)  # at data_offset, where the IFD points
            return ifd_offset, data_offset, self.nbytes
        fh.seek(data_offset + data.nbytes)
        return ifd_offset, data_offset, self.nbytes
