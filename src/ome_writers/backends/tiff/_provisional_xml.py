"""The provisional OME-XML of an OME-TIFF file set, kept current while it is written.

Within the loss window (`TiffBackend.make_readable`) the first page of every
file describes the pages that are there, so the files of a process that dies
open as they are, in Bio-Formats and tifffile, without ``ome-writers repair``.
The complete OME-XML (per-plane metadata, annotations, the plate) replaces it
at close.

What it describes
    Per image, the complete outer indices: the indices of the acquisition's
    outermost index dimension (the slowest, e.g. T) whose every plane has a
    page. Their pages are listed as TiffData runs (IFD, FirstZ/C/T,
    PlaneCount) of pages consecutive both in the file and in DimensionOrder:
    one run per image when its pages are in DimensionOrder in a file of its
    own (one position, or one file per position); one per outer index and
    image when positions share a file, and more when folded axes are not
    adjacent. The pages of the outer index in progress are on disk but not
    described: an Image's sizes are a box, and both Bio-Formats and tifffile
    warn about (and read as zeros) planes an Image declares that no TiffData
    maps, so those planes wait for their outer index to complete (or for close,
    or ``repair``). An image with no complete outer index is left out. Cells a
    jagged acquisition never acquires get their zero pages (as at close) as
    soon as every acquired cell of their outer index has arrived.

Where it lives
    One file of a set holds the full description
    (`TiffFileSet.provisional_keys`: the first file, or the companion); every
    other file's first page points to it (``BinaryOnly``), whatever the
    metadata mode: a description of every image in every file would be
    O(files²) bytes. In a TIFF file, two slots of equal size at the end of
    the file (written after its first page and moved when they overflow);
    the first page's ImageDescription tag points at one. An update
    writes the parts that changed into the other slot, then repoints the tag
    with one 16-byte write of its count and offset, so a reader sees the old
    or the new description, each complete. A description is made of parts
    (a header, per image its Pixels with sizes and channels, its TiffData
    runs, a footer), each with room to spare (padded with spaces, which XML
    ignores between elements); runs are appended and only the last one grows,
    so an update writes what changed, never the whole document. A part that
    outgrows its room moves both slots to the end of the file with twice the
    room (the description is copied O(log n) times in a run). A companion
    file is small (one run per file) and is replaced whole (write, then
    rename).

Recovery record
    The header carries the recovery record (`TiffFileSet.recovery_comment`)
    for ``ome-writers repair``: the first file's holds it, the others name
    the first file.

Linking pages
    tifffile links a new page into the file's chain of pages (the previous
    page's next-IFD offset, or the header's for the first page) before it
    writes the page. A process killed in between leaves a chain ending in a
    torn page, which readers report, and a reader meanwhile finds a page
    that is not there. So that the chain only ever holds complete pages, the
    writer has tifffile link into a scratch word of its own and links the
    page itself once the page and its SubIFDs are written (`Linker`); the
    first page is linked after the description's slots are in the file, so
    that the file a reader finds holds them.

Everything here is string building: ome-types (slow to import) is for close.
"""

from __future__ import annotations

import itertools
import math
import os
import struct
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ome_writers._io._paths import replace_file
from ome_writers.backends.tiff._progress_annotation import (
    END,
    channel_entries,
    page_runs,
    progress_element,
    static_entries,
)
from ome_writers.metadata._ome_xml_text import ImageText, escape, quoteattr, root
from ome_writers.metadata._progress import WRITING, ProgressRecord

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime
    from pathlib import Path

    from ome_writers._router import FrameRouter
    from ome_writers._schema import AcquisitionSettings
    from ome_writers.backends.tiff._file_set import TiffFileSet
    from ome_writers.backends.tiff._page_tables import StripLocations
    from ome_writers.metadata._display import ChannelSetting, DisplaySettings
    from ome_writers.metadata._tiff_axes import TiffAxes

Index = tuple[int, ...]
PROVISIONAL = "ome_writers.provisional"
#: a size no outer extent reaches: plane keys that never depend on the extent
_HUGE = 1 << 62
_ASCII = 2  # TIFF type of ImageDescription
#: room beyond the first progress record (more moves the slots)
_PROGRESS_ROOM = 1024
_TAG_DESCRIPTION = 270


def _ascii(text: str) -> str:
    """7-bit ASCII (tifffile writes no other description), other characters as
    XML references (only in names: Bio-Formats takes no unit symbol written
    so, and reads the UTF-8 the slots hold)."""
    return text.encode("ascii", "xmlcharrefreplace").decode()


class Section:
    """One part of a description: a list of elements (UTF-8), appended to at
    the end.

    Only the last element is ever replaced, so whoever wrote the first k
    elements somewhere rewrites from element k - 1 at most (see `Slots`).
    """

    __slots__ = ("elements", "ends")

    def __init__(self, text: str = "") -> None:
        self.elements: list[bytes] = []
        self.ends: list[int] = []  # end of each element in the section (bytes)
        if text:
            self.append(text)

    @property
    def length(self) -> int:
        return self.ends[-1] if self.ends else 0

    def append(self, text: str) -> None:
        data = text.encode()
        self.elements.append(data)
        self.ends.append(self.length + len(data))

    def replace_last(self, text: str) -> None:
        data = text.encode()
        self.elements[-1] = data
        self.ends[-1] = (self.ends[-2] if len(self.ends) > 1 else 0) + len(data)

    def set(self, text: str) -> None:
        """Make this a section of one element, `text` ("": empty)."""
        if len(self.elements) == 1 and text:
            if self.elements[0] != text.encode():
                self.replace_last(text)
            return
        self.elements.clear()
        self.ends.clear()
        if text:
            self.append(text)

    def data(self) -> bytes:
        return b"".join(self.elements)


class _Written:
    """What one slot holds of one section: the first `count` elements (the
    last of them `last`), `length` bytes (padding after them)."""

    __slots__ = ("count", "last", "length")

    def __init__(self) -> None:
        self.count = 0
        self.last = b""
        self.length = 0


class Slots:
    """The two description slots of one TIFF file and what each holds.

    `entry` is the file offset of the first page's ImageDescription tag entry
    (BigTIFF: code, type, 8-byte count, 8-byte offset).
    """

    def __init__(self, sections: list[Section], entry: int, byteorder: str) -> None:
        self.sections = sections
        self.entry = entry
        self.byteorder = byteorder
        self.rooms: list[int] = []  # room of each section (bytes)
        self.starts: list[int] = []  # where each section starts in a slot
        self.size = 0  # bytes of a slot, the terminating NUL included
        self.bases: list[int] = []  # file offsets of the two slots
        self.written: list[list[_Written]] = []
        self.active = -1  # the slot the tag points at (-1: neither)

    def _layout(self, rooms: list[int]) -> None:
        self.rooms = rooms
        self.starts = list(itertools.accumulate([0, *rooms[:-1]]))
        self.size = sum(rooms) + 1
        self.written = [[_Written() for _ in rooms] for _ in range(2)]
        self.active = -1

    def allocate(self, fh: Any, rooms: list[int]) -> None:
        """Append two blank slots with `rooms` to the file `fh` is writing
        (tifffile's handle: its next page goes after them)."""
        self._layout(rooms)
        fh.seek(0, os.SEEK_END)
        pos = fh.tell()
        pad = -pos % 16
        blank = b" " * (self.size - 1) + b"\0"
        fh.write(b"\0" * pad + blank + blank)
        fh.flush()
        self.bases = [pos + pad, pos + pad + self.size]

    def update(self, fh: Any, fd: int) -> None:
        """Write what changed into the inactive slot, then point the tag at it.

        `fh` is tifffile's handle of the file (slots that move go where its
        next page would), `fd` a descriptor of the file open for reading and
        writing (tifffile's is write-only).
        """
        pairs = list(zip(self.sections, self.rooms, strict=True))
        if any(s.length > room for s, room in pairs):
            self.allocate(fh, [max(room, 2 * s.length + 64) for s, room in pairs])
        slot = 1 - self.active if self.active >= 0 else 0
        base = self.bases[slot]
        for k, section in enumerate(self.sections):
            done = self.written[slot][k]
            n = min(done.count, len(section.elements))
            if n and section.elements[n - 1] != done.last:
                n -= 1  # its last element grew since
            if n == len(section.elements) and done.length == section.length:
                continue
            start = section.ends[n - 1] if n else 0
            data = b"".join(section.elements[n:])
            pad = max(0, done.length - section.length)
            os.pwrite(fd, data + b" " * pad, base + self.starts[k] + start)
            done.count = len(section.elements)
            done.last = section.elements[-1] if section.elements else b""
            done.length = section.length
        pointer = struct.pack(self.byteorder + "QQ", self.size, base)
        os.pwrite(fd, pointer, self.entry + 4)
        self.active = slot


def description_entry(fd: int, ifd: int | None = None) -> tuple[int, str]:
    """(file offset of the ImageDescription entry of the page at `ifd`, by
    default the first page, byte order) of a BigTIFF file."""
    head = os.pread(fd, 16, 0)
    byteorder = "<" if head[:2] == b"II" else ">"
    (version,) = struct.unpack(byteorder + "H", head[2:4])
    if version != 43:
        raise ValueError("not a BigTIFF file")
    if ifd is None:
        (ifd,) = struct.unpack(byteorder + "Q", head[8:16])
    (count,) = struct.unpack(byteorder + "Q", os.pread(fd, 8, ifd))
    entries = os.pread(fd, 20 * count, ifd + 8)
    for i in range(count):
        (code,) = struct.unpack(byteorder + "H", entries[20 * i : 20 * i + 2])
        if code == _TAG_DESCRIPTION:
            return ifd + 8 + 20 * i, byteorder
    raise ValueError("the first page has no ImageDescription")


def replace_description(path: Path, xml: str) -> None:
    """Make `xml` the first page's description of a closed BigTIFF file.

    The text is appended to the file, then the tag is repointed with one
    write: a process killed meanwhile leaves the old description in place
    (`tifffile.tiffcomment` overwrites the old value where it fits).
    """
    data = xml.encode() + b"\0"
    with open(path, "r+b") as f:
        fd = f.fileno()
        entry, byteorder = description_entry(fd)
        end = os.fstat(fd).st_size
        end += -end % 16
        os.pwrite(fd, data, end)
        os.pwrite(fd, struct.pack(byteorder + "HQQ", _ASCII, len(data), end), entry + 2)


class Linker:
    """Links each page into its file's page chain once it is complete.

    tifffile writes the offset of a new page into the previous page's next-IFD
    field before the page itself; pointed at a scratch word instead
    (`TiffWriter._ifdoffset`), it writes it there, and `link` copies it into
    the previous page once the page and its SubIFDs are written. Without that
    attribute (another tifffile), pages are linked as tifffile does.
    """

    def __init__(self, fd: int, scratch: int, byteorder: str) -> None:
        self.fd = fd  # the file, open for reading and writing
        self.scratch = scratch
        self.byteorder = byteorder

    def defer(self, writer: Any) -> int | None:
        """Before a page: divert tifffile's link; the field to fill later."""
        previous = getattr(writer, "_ifdoffset", None)
        if not isinstance(previous, int):
            return None
        writer._ifdoffset = self.scratch  # noqa: SLF001
        return previous

    def written(self, writer: Any) -> int:
        """After the page: its IFD offset (which tifffile linked into the
        scratch word)."""
        writer.filehandle.flush()
        raw = os.pread(self.fd, 8, self.scratch)
        return int(struct.unpack(self.byteorder + "Q", raw)[0])

    def link_to(self, writer: Any, previous: int, ifd: int) -> None:
        """After a page tifffile did not write: point the previous page's
        next-IFD field at its IFD (at `ifd`)."""
        writer.filehandle.flush()
        os.pwrite(self.fd, struct.pack(self.byteorder + "Q", ifd), previous)


class ProvisionalXml:
    """The text of provisional descriptions (no ome-types: string building)."""

    def __init__(
        self,
        settings: AcquisitionSettings,
        axes: TiffAxes,
        files: TiffFileSet,
        created: datetime,
    ) -> None:
        self.files = files
        self.images = ImageText(settings, axes)
        self.created = created.isoformat()
        # the channels' display settings the descriptions show, by index
        self.shown: dict[int, ChannelSetting] = {}

    def root(self, file_uuid: str) -> str:
        return root(file_uuid)

    def header(self, file_uuid: str, recovery: str | None) -> str:
        """XML declaration, recovery record (a comment) and the OME start tag."""
        comment = f"\n{recovery}" if recovery else ""
        declaration = '<?xml version="1.0" encoding="UTF-8"?>'
        return f"{declaration}{comment}\n{self.root(file_uuid)}"

    def footer(self) -> str:
        """A note that the description is provisional (the progress record
        and the end tag follow)."""
        return (
            "<StructuredAnnotations>"
            f'<MapAnnotation ID="Annotation:Provisional" Namespace="{PROVISIONAL}">'
            "<Description>Written during acquisition: complete outer indices "
            "only; the full OME-XML is written at close</Description>"
            '<Value><M K="state">acquiring</M></Value></MapAnnotation>'
        )

    def binary_only(
        self, file_uuid: str, metadata_file: str, target: str, recovery: str
    ) -> str:
        """The description of a file whose metadata lives in another file."""
        return (
            f'<?xml version="1.0" encoding="UTF-8"?>\n{recovery}\n'
            f"{self.root(file_uuid)}<BinaryOnly "
            f"MetadataFile={quoteattr(metadata_file)} UUID={quoteattr(target)}/>"
            "</OME>"
        )

    def image_open(self, position: int, sizes: dict[str, int]) -> str:
        """Image start tag to the last Channel of one position's image."""
        images = self.images
        return (
            f"<Image{images.image_attributes(position)}>"
            f"<AcquisitionDate>{self.created}</AcquisitionDate>"
            f"<Pixels{images.pixels_attributes(position, sizes)}>"
            f"{''.join(images.channels(position, sizes['c'], self.shown))}"
        )

    def run(
        self, ifd: int, zct: tuple[int, int, int], count: int, file: int | None
    ) -> str:
        """One TiffData: `count` pages from `ifd` on, planes from `zct` on."""
        z, c, t = zct
        attrs = (
            f'IFD="{ifd}" FirstZ="{z}" FirstC="{c}" FirstT="{t}" PlaneCount="{count}"'
        )
        if file is None:
            return f"<TiffData {attrs}/>"
        name = self.files.paths[file].name
        uuid = self.files.uuids[file]
        return (
            f"<TiffData {attrs}><UUID FileName={quoteattr(name)}>"
            f"{escape(uuid)}</UUID></TiffData>"
        )


class _Image:
    """The progress of one image: complete outer indices and their runs."""

    __slots__ = (
        "close",
        "counts",
        "described",
        "extent",
        "head",
        "newest",
        "pending",
        "runs",
        "text",
    )

    def __init__(self) -> None:
        self.newest = -1  # the page written last (its IFD's number in the file)
        self.extent = 0  # complete outer indices (all their pages in `runs`)
        self.described = 0  # the extent the text describes
        self.counts: dict[int, int] = {}  # outer index -> pages, until complete
        # outer index -> (ifd, plane key, zct) of its pages, until complete
        self.pending: dict[int, list[tuple[int, int, tuple[int, int, int]]]] = {}
        # runs: first ifd, first zct, pages, next ifd, next plane key
        self.runs: list[list[Any]] = []
        self.head = Section()  # Image start to the last Channel
        self.text = Section()  # TiffData elements of `runs`
        self.close = Section()


class Provisional:
    """The provisional descriptions of one file set (see the module docstring).

    The writer thread reports every page (`page_written`) and, at each
    `make_readable`, after the pages queued before it, calls `update`.
    """

    def __init__(
        self,
        settings: AcquisitionSettings,
        axes: TiffAxes,
        files: TiffFileSet,
        router: FrameRouter,
        created: datetime,
        recovery: Callable[[int], str],
        progress: ProgressRecord | None = None,
        display: DisplaySettings | None = None,
    ) -> None:
        self.files = files
        self.settings = settings
        self.axes = axes
        self.display = display
        self._display_version = 0  # of the display settings described
        self.router = router
        self.xml = ProvisionalXml(settings, axes, files, created)
        self.recovery = recovery
        self.multi_file = not files.single_file
        counts = axes.counts
        # the outer axis: where the acquisition's outermost index dimension is
        # stored (None: 2-D images, one page each)
        index_dims = settings.index_dimensions
        self.outer: int | None = None
        if index_dims:
            names = [d.name for d in axes.dims]
            self.outer = names.index(index_dims[0].name)
        self.inner = math.prod(c or 1 for i, c in enumerate(counts) if i != self.outer)
        # plane keys in DimensionOrder, the outer extent taken as unbounded
        letters_sizes = {"z": 1, "c": 1, "t": 1}
        for i, (letter, count) in enumerate(zip(axes.letters, counts, strict=True)):
            letters_sizes[letter] *= _HUGE if i == self.outer else (count or 1)
        self._key_order = [a.lower() for a in axes.order[2:]]
        self._key_sizes = [letters_sizes[a] for a in self._key_order]
        self.images = [_Image() for _ in files.images]
        self._close = "</Pixels></Image>"
        # the progress record (`_progress_annotation.py`): the footer's last part
        self.progress = progress or ProgressRecord(settings)
        plane_sizes = {
            a.upper(): None if size >= _HUGE else size
            for a, size in zip(self._key_order, self._key_sizes, strict=True)
        }
        self._static = static_entries(settings, axes, files, plane_sizes)
        self.footer = Section(self.xml.footer())
        self.footer.append(self._progress_text(0))
        self.full = files.provisional_keys()  # (-1: companion) the full text
        self.sections: dict[int, list[Section]] = {}
        for key in self.full:
            parts = [Section()]  # the header, made when first needed
            for image in self.images:
                parts += [image.head, image.text, image.close]
            self.sections[key] = [*parts, self.footer]
        self.slots: dict[int, Slots] = {}
        self.linkers: dict[int, Linker] = {}
        self.fds: list[int] = []
        self._planned: list[dict[int, int]] = [{} for _ in self.images]

    # ------------------------------------------------------------ the files

    def initial_description(self, file_index: int) -> str:
        """The first page's description: the provisional text as it is, or
        the BinaryOnly pointer of a file without the full metadata."""
        files = self.files
        if file_index in self.sections:
            sections = self._with_header(file_index)
            text = b"".join(s.data() for s in sections)
            return _ascii(text.decode())
        if files.companion is not None:
            target, uuid = files.companion.name, files.companion_uuid
        else:
            target, uuid = files.paths[0].name, files.uuids[0]
        own = files.uuids[file_index]
        recovery = self.recovery(file_index)
        return _ascii(self.xml.binary_only(own, target, uuid, recovery))

    def prepare_text(self, file_index: int) -> None:
        """Build what file `file_index`'s first page needs (its header and the
        sizes of its description rooms) before the page is written: the build
        holds the interpreter, which the acquisition thread would wait for at
        its first frames."""
        if file_index in self.sections:
            self._rooms(self._with_header(file_index))

    def _with_header(self, key: int) -> list[Section]:
        """The sections of file `key` (-1: companion), the header made."""
        sections = self.sections[key]
        if not sections[0].elements:
            files = self.files
            uuid = files.companion_uuid if key == -1 else files.uuids[key]
            recovery = None if key == -1 else self.recovery(key)
            sections[0].set(self.xml.header(uuid, recovery))
        return sections

    def file_opened(self, file_index: int, writer: Any) -> Linker:
        """Before a file's first page: a scratch word for linking pages."""
        fh = writer.filehandle
        fh.flush()
        fd = os.open(self.files.paths[file_index], os.O_RDWR)
        self.fds.append(fd)
        byteorder = "<" if os.pread(fd, 2, 0) == b"II" else ">"
        fh.seek(0, os.SEEK_END)
        pos = fh.tell()
        fh.write(b"\0" * (-pos % 8 + 8))
        fh.flush()
        linker = self.linkers[file_index] = Linker(fd, pos + (-pos % 8), byteorder)
        return linker

    def file_started(self, file_index: int, writer: Any, ifd: int) -> None:
        """After a file's first page (at `ifd`, not linked yet): room for the
        descriptions, the tag pointing into it."""
        if file_index in self.sections:
            linker = self.linkers[file_index]
            entry, byteorder = description_entry(linker.fd, ifd)
            sections = self._with_header(file_index)
            slots = Slots(sections, entry, byteorder)
            slots.allocate(writer.filehandle, self._rooms(sections))
            # repointed before the page is reachable: a reader that sized the
            # file when it found the page finds the slots inside it
            slots.update(writer.filehandle, linker.fd)
            self.slots[file_index] = slots

    def close(self) -> None:
        """Stop: close the descriptors (the files are closed)."""
        self.slots.clear()
        self.linkers.clear()
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()

    def _rooms(self, sections: list[Section]) -> list[int]:
        """Room for each section: what it holds with the largest sizes the
        settings allow (outer extent: its count, or a 13-digit number), and
        one run per image (more move the slots; see `Slots.update`)."""
        # the progress record's room: its pages grow within an outer index
        footer = sections[-1].length + _PROGRESS_ROOM
        return [sections[0].length + 16, *self._image_rooms, footer]

    @cached_property
    def _image_rooms(self) -> list[int]:
        """The rooms of every image's sections: the same in every file with
        the full text (built once: a plate's 384 files each need them)."""
        probe = self.axes.counts[self.outer] if self.outer is not None else None
        sizes = self.axes.sizes(probe or 1, self.outer or 0)
        big = (1 << 40) - 1
        rooms: list[int] = []
        for position in range(len(self.images)):
            head = self.xml.image_open(position, sizes)
            file = self.files.file_of(position) if self.multi_file else None
            run = self.xml.run(big, (big, big, big), big, file)
            rooms += [len(head.encode()) + 96, 4 * len(run), len(self._close)]
        return rooms

    # ----------------------------------------------------------- the pages

    def page_written(self, position: int, index: Index, ifd: int) -> None:
        """Count a page just written; an outer index it completes joins the
        image's runs (writer thread; the text waits for `update`)."""
        image = self.images[position]
        image.newest = max(image.newest, ifd)
        outer = index[self.outer] if self.outer is not None else 0
        if outer < image.extent:  # complete already (a rewritten cell)
            return
        image.counts[outer] = image.counts.get(outer, 0) + 1
        zct = self.axes.zct(index)
        image.pending.setdefault(outer, []).append((ifd, self._key(zct), zct))
        while image.counts.get(image.extent, 0) >= self.inner:
            del image.counts[image.extent]
            self._add_runs(image, image.pending.pop(image.extent))
            image.extent += 1

    @staticmethod
    def _add_runs(
        image: _Image, pages: list[tuple[int, int, tuple[int, int, int]]]
    ) -> None:
        """Add the pages of a complete outer index to the image's runs."""
        runs = image.runs
        for ifd, key, zct in pages:
            run = runs[-1] if runs else None
            if run is not None and run[3] == ifd and run[4] == key:
                run[2] += 1
                run[3] += 1
                run[4] += 1
            else:
                runs.append([ifd, zct, 1, ifd + 1, key + 1])

    def _key(self, zct: tuple[int, int, int]) -> int:
        by = {"z": zct[0], "c": zct[1], "t": zct[2]}
        key = 0
        for letter, size in zip(
            reversed(self._key_order), reversed(self._key_sizes), strict=True
        ):
            key = key * size + by[letter]
        return key

    def holes(self) -> list[tuple[int, Index]]:
        """Cells a jagged acquisition never acquires, in outer indices whose
        acquired cells have all arrived: (position, storage index) to pad."""
        if not self.router.jagged or self.outer is None:
            return []
        out = []
        for position, image in enumerate(self.images):
            planned = self._planned[position]
            for outer in [k for k in planned if k < image.extent]:
                del planned[outer]  # complete: never asked again
            last = max(image.counts, default=-1)
            written = self.files.ifd_of[position]
            outer = image.extent
            while outer <= last and image.counts.get(outer, 0) >= self._planned_count(
                position, outer
            ):
                out += [(position, c) for c in self._cells(outer) if c not in written]
                outer += 1
        return out

    def _cells(self, outer: int) -> list[Index]:
        ranges = [
            range(outer, outer + 1) if i == self.outer else range(c or 1)
            for i, c in enumerate(self.axes.counts)
        ]
        return list(itertools.product(*ranges))

    def _planned_count(self, position: int, outer: int) -> int:
        planned = self._planned[position]
        if outer not in planned:
            is_planned = self.router.is_planned
            planned[outer] = sum(is_planned(position, c) for c in self._cells(outer))
        return planned[outer]

    # ------------------------------------------------------------ updating

    def _progress_text(
        self, frames: int, strips: Sequence[StripLocations] | None = None
    ) -> str:
        """The progress record of `frames` frames whose pages are written
        (`strips`: where, in each file), and the end tag."""
        pending = (
            (position, [page for pages in image.pending.values() for page in pages])
            for position, image in enumerate(self.images)
        )
        extra = {
            **self._static,
            "pages": page_runs(pending),
            "newest": self._newest_pages(strips),
        }
        return progress_element(self.progress.record(frames, WRITING, extra)) + END

    def _newest_pages(
        self, strips: Sequence[StripLocations] | None
    ) -> list[list[int] | None]:
        """Each image's page written last: [IFD number, strip offset, strip
        bytes] (null before its first, or where its strip is not known)."""
        out: list[list[int] | None] = []
        for position, image in enumerate(self.images):
            location = None
            if strips is not None and image.newest >= 0:
                location = strips[self.files.file_of(position)].get(image.newest)
            out.append(None if location is None else [image.newest, *location])
        return out

    def update(
        self, writers: Sequence[Any], frames: int, strips: Sequence[StripLocations]
    ) -> None:
        """Describe the outer indices completed since the last update, state
        that the first `frames` frames have their pages (`strips`: where, in
        each file), and write the descriptions (writer thread, pages
        flushed)."""
        self._show_display()
        for position, image in enumerate(self.images):
            if image.extent != image.described:
                self._describe(position, image)
        self.footer.replace_last(self._progress_text(frames, strips))
        for key, slots in self.slots.items():
            slots.update(writers[key].filehandle, self.linkers[key].fd)
        companion = self.files.companion
        if companion is not None and -1 in self.sections:
            data = b"".join(s.data() for s in self._with_header(-1))
            replace_file(companion, data, aside=f".{companion.name}.writing")

    def _show_display(self) -> None:
        """Take display settings changed since the last update: the channels'
        colours in every image described, and the record's channels."""
        if self.display is None or self.display.version == self._display_version:
            return
        self._display_version, shown = self.display.snapshot()
        self.xml.shown = shown
        self._static["channels"] = channel_entries(self.settings, self.axes, shown)
        for image in self.images:
            if image.extent:  # described: its channels again
                image.described = -1

    def _describe(self, position: int, image: _Image) -> None:
        """Bring the text of an image up to its complete outer indices: its
        sizes, and the runs added or grown since (the last written may have)."""
        image.described = image.extent
        sizes = self.axes.sizes(image.extent, self.outer or 0)
        image.head.set(self.xml.image_open(position, sizes))
        image.close.set(self._close)
        file = self.files.file_of(position) if self.multi_file else None
        text = image.text
        for k in range(max(0, len(text.elements) - 1), len(image.runs)):
            first, zct, count = image.runs[k][:3]
            run = self.xml.run(first, zct, count, file)
            if k < len(text.elements):
                if text.elements[k] != run.encode():
                    text.replace_last(run)
            else:
                text.append(run)
