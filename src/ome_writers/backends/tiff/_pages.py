"""The pages of an OME-TIFF file set: written, padded and read back.

`TiffPages` owns the tifffile writers of a file set. It writes each frame as
one page (a file's later uncompressed pages as copies of a page tifffile
wrote, `PageStamp`), its reduced copies as SubIFDs, and links each page into
its file only once it is complete (through the provisional description's
linker); it remembers where every page's strip is, so that live reads are
one ``pread`` per page. Strips written with direct I/O are written on
threads of their own: those of several files several at once
(`DirectStrips`), those of a single file one after another, smaller frames
in runs of pages written as one block (`RunWriter`); `flush` finishes them.
"""

from __future__ import annotations

import itertools
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import tifffile

from ome_writers._io._direct import (
    O_DIRECT,
    TIFF_DIRECT_MIN_BYTES,
    aligned,
    direct_io_suits,
    pwrite_all,
    refused,
)
from ome_writers.backends.tiff._direct_strips import DirectStrips, Strip
from ome_writers.backends.tiff._page_runs import RunPage, RunTarget, RunWriter
from ome_writers.backends.tiff._page_stamp import PageStamp
from ome_writers.backends.tiff._page_tables import StripLocations
from ome_writers.backends.tiff._subifd_levels import SubIfdLevels

if TYPE_CHECKING:
    from collections.abc import Callable

    from ome_writers._io._writeback import Flusher
    from ome_writers._schema import AcquisitionSettings
    from ome_writers.backends._base import StorageKey
    from ome_writers.backends.tiff._file_set import TiffFileSet
    from ome_writers.backends.tiff._provisional_xml import Provisional
    from ome_writers.metadata._tiff_axes import TiffAxes

COMPRESSION = {"none": None, "lzw": "lzw", "zlib": "zlib", "zstd": "zstd"}
# TIFF resolution is given per centimetre; lengths in centimetres
_CM = {
    "nanometer": 1e-7,
    "micrometer": 1e-4,
    "millimeter": 0.1,
    "centimeter": 1.0,
    "meter": 100.0,
}


def _resolution(settings: AcquisitionSettings) -> tuple[float, float] | None:
    """Pixels per centimetre in x and y, or None when the pixel size is unknown."""
    y, x = settings.frame_dimensions
    out = []
    for dim in (x, y):
        if not dim.scale or dim.scale <= 0:
            return None
        out.append(1.0 / (dim.scale * _CM.get(dim.unit or "micrometer", 1e-4)))
    return out[0], out[1]


class TiffPages:
    """Writes and reads the pages of one file set.

    Parameters
    ----------
    settings : AcquisitionSettings
        The acquisition (frame shape, dtype, compression, pixel size, pyramid).
    files : TiffFileSet
        The files, and the pages written to each.
    axes : TiffAxes
        Z/C/T of each storage index.
    flusher : Flusher
        Write-back of the pages written.
    """

    def __init__(
        self,
        settings: AcquisitionSettings,
        files: TiffFileSet,
        axes: TiffAxes,
        flusher: Flusher,
    ) -> None:
        self.axes = axes
        self.flusher = flusher
        self.dtype = np.dtype(settings.dtype)
        self.compression = COMPRESSION[settings.compression or "none"]
        y, x = settings.frame_dimensions
        self.frame_shape = (int(y.count or 1), int(x.count or 1))
        self.resolution = _resolution(settings)
        self.levels: SubIfdLevels | None = None
        if settings.pyramid is not None and settings.pyramid_levels > 1:
            self.levels = SubIfdLevels(
                self.frame_shape,
                self.dtype,
                settings.pyramid.method,
                settings.pyramid_levels,
            )
        self.writers: list[tifffile.TiffWriter] = []
        # file -> its later pages' stamp (None: every page through tifffile)
        self.stamps: dict[int, PageStamp | None] = {}
        self.stampable = (
            self.compression is None and self.levels is None and self.dtype.isnative
        )
        # file -> the file opened for direct I/O, for stamped pages' strips
        self.direct_fds: dict[int, int] = {}
        self.strips = DirectStrips()
        # files whose chain ends before a page whose strip failed
        self.broken: set[int] = set()
        frame_bytes = self.frame_shape[0] * self.frame_shape[1] * self.dtype.itemsize
        # large frames: each strip written directly from the frame's buffer
        self.direct = self.stampable and direct_io_suits(
            frame_bytes, TIFF_DIRECT_MIN_BYTES
        )
        # smaller ones (of a single file): in runs of pages (`PageRun`)
        self._runs_suit = (
            self.stampable and not self.direct and direct_io_suits(frame_bytes)
        )
        self.runs = RunWriter(self._strip_written, self._record_run)
        # the provisional descriptions, kept current while `live`
        self.provisional: Provisional | None = None
        self.live = False
        self.use(files)

    def use(self, files: TiffFileSet) -> None:
        """Write and read the pages of `files` (no page's strip known yet)."""
        self.files = files
        self.broken.clear()
        # level -> file -> ifd -> (data offset, byte count) of its single strip
        self.level_offsets = _strips(len(files.paths), self.level_count)

    @property
    def page_runs(self) -> bool:
        """Whether pages are written in runs: their frames suit it and the
        runs have not gone buffered (`RunWriter.buffered`)."""
        return self._runs_suit and not self.runs.buffered

    @property
    def level_count(self) -> int:
        """Resolution levels per page (1: no SubIFDs)."""
        return 1 if self.levels is None else self.levels.count + 1

    def open(self, *, append: bool = False) -> None:
        """Open every file (`append`: to complete an interrupted set)."""
        # "force": tifffile appends to no file with OME-XML (ours, here)
        mode = "force" if append else False
        self.writers = [
            tifffile.TiffWriter(p, bigtiff=True, append=mode) for p in self.files.paths
        ]
        if self.direct:
            self.strips.start()
        if self.direct or self._runs_suit:
            self.runs.strips.start()

    def flush(self) -> None:
        """Finish every page, and hand the pages written to the operating
        system."""
        self.drain()
        for writer in self.writers:
            writer.filehandle.flush()

    def hand_back(self) -> None:
        """Finish the pages handed to the disk (not the run laid out), so
        that their frames' buffers go back to the pool: those written, or
        else the oldest, once written."""
        try:
            self.runs.finish_written(wait=True)
        finally:
            self.strips.finish_written(wait=True)

    def drain(self) -> None:
        """Write the run of pages laid out, and finish every page."""
        try:
            self.runs.drain()
        finally:
            self.strips.drain()

    def close(self) -> None:
        try:
            try:
                self.runs.close()
            finally:
                self.strips.close()
        finally:
            for fd in self.direct_fds.values():
                os.close(fd)
            self.direct_fds.clear()
            for writer in self.writers:
                writer.close()

    def _direct_fd(self, f: int) -> int | None:
        """File `f` opened for direct I/O (None: not for these frames, or
        the filesystem refuses it)."""
        if not (self.direct or self.page_runs):
            return None
        fd = self.direct_fds.get(f)
        if fd is None:
            try:
                fd = os.open(self.files.paths[f], os.O_WRONLY | O_DIRECT | os.O_CLOEXEC)
            except OSError as e:
                if not refused(e):
                    raise
                self.direct = False
                self.runs.buffered = True
                return None
            self.direct_fds[f] = fd
        return fd

    def page_options(
        self, file_index: int, first: bool, level: int = 0
    ) -> dict[str, Any]:
        """tifffile `write` arguments of one page of file `file_index`."""
        if level:  # a reduced copy (SubIFD) of the page just written
            factor = 2**level
            resolution = self.resolution
            return {
                "photometric": "minisblack",
                "compression": self.compression,
                "rowsperstrip": self.levels.shapes[level][0] if self.levels else None,
                "subfiletype": 1,
                "metadata": None,
                "resolution": (
                    (resolution[0] / factor, resolution[1] / factor)
                    if resolution
                    else None
                ),
                "resolutionunit": "CENTIMETER" if resolution else None,
                "contiguous": False,
                "returnoffset": True,
            }
        return {
            "subifds": self.levels.count if self.levels else None,
            "photometric": "minisblack",
            "compression": self.compression,
            "rowsperstrip": self.frame_shape[0],
            "description": (
                self.provisional.initial_description(file_index)
                if first and self.provisional is not None
                else None
            ),
            "metadata": None,
            "software": "ome-writers",
            "resolution": self.resolution,
            "resolutionunit": "CENTIMETER" if self.resolution else None,
            "contiguous": False,
            "returnoffset": True,
        }

    def write_page(
        self,
        position: int,
        index: tuple[int, ...],
        data: np.ndarray,
        release: Callable[[], object] | None = None,
    ) -> None:
        """Write `data` as the page of cell `index` of `position`.

        `release` (if given) is called once `data` is no longer needed: at
        once, or, when its strip is written in the background
        (`DirectStrips`), when the page is finished; also when this raises.
        """
        files = self.files
        f = files.file_of(position)
        writer = self.writers[f]
        first = files.pages[f] == 0
        provisional = self.provisional if self.live else None
        linker = provisional.linkers.get(f) if provisional is not None else None
        if linker is None and provisional is not None and first:
            linker = provisional.file_opened(f, writer)
        previous = linker.defer(writer) if linker is not None else None
        stamp = self._stamp(f, first) if previous is not None else None
        if stamp is not None and linker is not None and previous is not None:
            if (
                self.page_runs
                and len(files.paths) == 1
                and (fd := self._direct_fd(f)) is not None
            ):
                try:
                    target = RunTarget(f, writer, linker, fd)
                    self.runs.add(target, stamp, position, index, data, previous)
                finally:
                    if release is not None:
                        release()
                return
            fd = self._direct_fd(f) if self.direct and aligned(data) else None
            if fd is not None and release is not None:
                if len(files.paths) > 1:  # other files' strips meanwhile
                    self._write_in_background(position, index, data, release, previous)
                    return
                if not self.runs.buffered:  # one after another, from `data`
                    target = RunTarget(f, writer, linker, fd)
                    self.runs.add(
                        target, stamp, position, index, data, previous, release
                    )
                    return
        try:
            self.runs.drain()  # a file's pages are finished in order
            self.strips.drain(f)
            self._write_page(position, index, data, f, first, previous, stamp)
        finally:
            if release is not None:
                release()

    def _stamp(self, f: int, first: bool) -> PageStamp | None:
        """The stamp of file `f`'s next page: its own, or from its second
        page on a copy of another file's (the later pages of every file of a
        set have the same tags), so that only first pages pass through
        tifffile."""
        stamp = self.stamps.get(f)
        if stamp is None and not first and f not in self.stamps:
            other = next((s for s in self.stamps.values() if s is not None), None)
            if other is not None:
                stamp = self.stamps[f] = other.copy()
        return stamp

    def _write_page(
        self,
        position: int,
        index: tuple[int, ...],
        data: np.ndarray,
        f: int,
        first: bool,
        previous: int | None,
        stamp: PageStamp | None,
    ) -> None:
        files = self.files
        writer = self.writers[f]
        provisional = self.provisional if self.live else None
        linker = provisional.linkers.get(f) if provisional is not None else None
        strip: Any
        if stamp is not None:  # tifffile's page of this file, moved
            direct_fd = self._direct_fd(f) if self.direct else None
            stamped, *strip = stamp.write(writer, data, direct_fd)
            if stamp.refused:  # buffered from now on
                self.direct = False
        else:
            strip = writer.write(data, **self.page_options(f, first))
        ifd = files.add_page(position, index, self.axes.zct(index))
        self.flusher.add(data.nbytes, f)
        self._note_strip(writer, strip, 0, f, ifd)
        for level, location in self.write_levels(writer, data, f):
            self._note_strip(writer, location, level, f, ifd)
        if linker is not None and previous is not None:
            if stamp is not None:
                linker.link_to(writer, previous, stamped)
            else:
                page = linker.written(writer)
                if first and provisional is not None:
                    provisional.file_started(f, writer, page)
                linker.link_to(writer, previous, page)
                if not first and f not in self.stamps and self.stampable:
                    self.stamps[f] = PageStamp.read(
                        linker.fd, page, strip[0], linker.byteorder
                    )
        if provisional is not None:
            provisional.page_written(position, index, ifd)

    def _write_in_background(
        self,
        position: int,
        index: tuple[int, ...],
        data: np.ndarray,
        release: Callable[[], object],
        previous: int,
    ) -> None:
        """A stamped page whose strip `DirectStrips` writes with direct I/O.

        Nothing goes into the file meanwhile (a buffered write would wait for
        the direct one): once the strip is on the disk, the page's IFD is
        written, the page linked at `previous` (the next-IFD field of the
        page laid out before it) and counted in the file set.
        """
        files = self.files
        f = files.file_of(position)
        writer = self.writers[f]
        provisional = self.provisional
        assert provisional is not None
        linker = provisional.linkers[f]
        stamp = self.stamps[f]
        assert stamp is not None
        try:
            start, head, ifd_offset, data_offset = stamp.lay_out(
                writer, data.nbytes, True
            )
        except BaseException:
            release()
            raise

        def finish(strip: Strip) -> None:
            try:
                if not self._strip_written(f, strip):
                    return
                if strip.refused:  # buffered from now on
                    self.direct = False
                pwrite_all(linker.fd, np.frombuffer(head, np.uint8), start)
                self.flusher.add(len(head), f)
                ifd = files.add_page(position, index, self.axes.zct(index))
                self.level_offsets[0][f][ifd] = (data_offset, data.nbytes)
                linker.link_to(writer, previous, ifd_offset)
                if self.live:
                    provisional.page_written(position, index, ifd)
            finally:
                release()

        strip = Strip(self.direct_fds[f], linker.fd, data, data_offset)
        self.strips.submit(strip, finish, f)

    def _strip_written(self, f: int, strip: Strip) -> bool:
        """Whether the pages of `strip` (in file `f`) are to be finished:
        not after a page of `f` that failed; raises its own failure (and
        marks `f` broken)."""
        if f in self.broken:
            return False
        if strip.error is not None:
            self.broken.add(f)
            raise strip.error
        return True

    def _record_run(self, f: int, pages: list[RunPage]) -> None:
        """Count the pages of a run written and linked into file `f`."""
        files, provisional = self.files, self.provisional
        for page in pages:
            ifd = files.add_page(page.position, page.index, self.axes.zct(page.index))
            self.level_offsets[0][f][ifd] = (page.data_offset, page.nbytes)
            if self.live and provisional is not None:
                provisional.page_written(page.position, page.index, ifd)

    def write_levels(
        self, writer: tifffile.TiffWriter, data: np.ndarray, file_index: int
    ) -> list[tuple[int, Any]]:
        """Write the SubIFDs of the page of `data` just written: (level, strip)."""
        if self.levels is None:
            return []
        return [
            (level, writer.write(plane, **self.page_options(file_index, False, level)))
            for level, plane in enumerate(self.levels.reduce(data), 1)
        ]

    def _note_strip(
        self, writer: Any, location: Any, level: int, f: int, ifd: int
    ) -> None:
        """Remember where the strip of a page (or its SubIFD) just written is."""
        if location is None:  # compressed: the strip tifffile just wrote
            offset = getattr(writer, "_dataoffset", None)
            counts = getattr(writer, "_databytecounts", None)
            if isinstance(offset, int) and counts and len(counts) == 1:
                location = (offset, int(counts[0]))
        if location is not None:
            self.level_offsets[level][f][ifd] = (int(location[0]), int(location[1]))

    def pad_incomplete(self) -> None:
        """Add zero pages so each image holds whole outer indices.

        The outer extent is one past the largest outer index written. A
        position that got no frame at all (while others did) gets one outer
        index of zero pages, so every image the OME-XML declares has pages.
        Cells a jagged acquisition never acquires get zero pages too (Bio-Formats
        reads an image with unmapped planes with the wrong sizes), and so does
        a stream closed before its first frame (one outer index), so the output
        always exists and opens; the OME-XML lists every padded plane as not
        acquired.
        """
        zeros = np.zeros(self.frame_shape, dtype=self.dtype)
        counts = [c or 1 for c in self.axes.counts]
        files = self.files
        for position in range(len(files.images)):
            outer = files.outer_extent(position)
            shape = [] if outer is None else [outer, *counts[1:]]
            written = files.ifd_of[position]
            for index in np.ndindex(*shape):
                if index not in written:
                    self.write_page(position, index, zeros)
                    files.padded[position].add(index)

    def read_level(self, level: int, position: int, key: StorageKey) -> np.ndarray:
        """Read a region of pyramid `level` of one position from the files."""
        if not 0 <= level < self.level_count:
            raise IndexError(f"pyramid level {level} does not exist")
        index_key, frame_key = key[:-2], key[-2:]
        axes = [
            [k] if isinstance(k, int) else list(range(k.start, k.stop, k.step))
            for k in index_key
        ]
        out_shape = [
            len(a)
            for a, k in zip(axes, index_key, strict=True)
            if not isinstance(k, int)
        ]
        frame_out = [
            len(range(k.start, k.stop, k.step))
            for k in frame_key
            if isinstance(k, slice)
        ]
        out = np.zeros((*out_shape, *frame_out), dtype=self.dtype)
        if out.size == 0:
            return out
        flat = out.reshape(-1, *frame_out)
        ifds = self.files.ifd_of[position]
        wanted = [
            (k, ifd)
            for k, index in enumerate(itertools.product(*axes))
            if (ifd := ifds.get(index)) is not None
        ]
        if not wanted:
            return out
        f = self.files.file_of(position)
        with open(self.files.paths[f], "rb") as fh:
            for k, ifd in wanted:
                flat[k] = self._read_page(fh.fileno(), f, ifd, level)[frame_key]
        return out

    def _read_page(self, fd: int, f: int, ifd: int, level: int = 0) -> np.ndarray:
        shape = self.levels.shapes[level] if self.levels else self.frame_shape
        location = self.level_offsets[level][f].get(ifd)
        if location is None:  # strip location unknown: parse the file
            try:
                with tifffile.TiffFile(self.files.paths[f]) as tif:
                    page = tif.pages[ifd]
                    if level and page.subifds:
                        tif.filehandle.seek(page.subifds[level - 1])
                        page = tifffile.TiffPage(tif, index=ifd)
                    data: np.ndarray = page.asarray()
                    return data
            except Exception:  # page not complete on disk yet
                return np.zeros(shape, dtype=self.dtype)
        offset, nbytes = location
        buf: Any = os.pread(fd, nbytes, offset)
        if self.compression is not None:
            buf = _decoder(self.compression)(buf)
        return np.frombuffer(buf, dtype=self.dtype).reshape(shape)


def _strips(files: int, levels: int) -> list[list[StripLocations]]:
    """Empty strip locations (file -> ifd -> offset, bytes) of `levels` levels."""
    return [[StripLocations() for _ in range(files)] for _ in range(levels)]


def _decoder(compression: str) -> Any:
    """imagecodecs' decoder of a TIFF compression (lzw, zlib, zstd)."""
    import imagecodecs

    return getattr(imagecodecs, f"{compression}_decode")
