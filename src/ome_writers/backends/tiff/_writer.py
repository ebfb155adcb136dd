"""OME-TIFF through tifffile, with OME-XML from ome-types.

Writing
    Frames go to one writer thread per stream through a fixed pool of frame
    buffers: `write` copies the frame once into a free buffer (blocking while
    every buffer is in flight, so memory stays bounded) and returns; the thread
    writes one page per frame, in arrival order. Strips written with direct
    I/O go to threads of their own, several at once, and hand their buffer
    back when written (`_direct_strips`). `skip` queues a zero page the same
    way. An error in the thread is raised from the next `write` and from
    `finalize`, which always waits for every queued frame.

Page order
    Pages stay in acquisition order. When they are also in DimensionOrder (the
    default ``storage_order="ome"`` keeps acquisition order, and DimensionOrder
    is derived from it), one ``TiffData`` describes an image; otherwise (an
    explicit ``storage_order`` list that differs from the acquisition order,
    folded axes that are not adjacent, or several positions interleaved in one
    file) every page gets its own ``TiffData`` with its IFD and FirstZ/C/T, which
    Bio-Formats and tifffile follow. So no frame is ever held back.

Files
    BigTIFF always: an unbounded acquisition cannot know its size, and the
    8-byte offsets cost a few bytes per page. One strip per page; compression
    none/lzw/zlib/zstd (imagecodecs); XResolution/YResolution from the pixel
    size (omitted when unknown). Until close, the first page's ImageDescription
    holds a provisional OME-XML, kept current within the loss window
    (`make_readable`, see `_provisional_xml.py`): the complete outer indices,
    a recovery record for ``ome-writers repair``. The full OME-XML is written
    once at close, appended to the file and the tag repointed in one write (a
    process killed meanwhile leaves the provisional one). An acquisition closed
    early is padded with zero pages up to whole outer indices, so the OME-XML
    matches the pages on disk; a stream closed before its first frame leaves
    no file behind.

Per-frame metadata
    Journaled at each `make_readable` and `checkpoint` (only what arrived
    since) to a hidden JSON-lines file beside the first file (the stream then
    forgets it), read back at close into the OME-XML's Plane elements and
    removed; ``repair`` takes it from there after a crash.

Several positions
    One file per position (``<dir>/<dir>_p000<suffix>``) forming a multi-file
    set (per-file UUIDs, ``TiffData`` with UUID and FileName), or every position
    as a series of one file with ``prefer_single_file="always"``. Metadata
    modes: "redundant" puts the full OME-XML in every file; "master-tiff" in the
    first file, the others holding ``BinaryOnly`` with its *relative* file name;
    "companion-file" in ``<dir>.companion.ome`` when the default companion name
    is used (Bio-Formats recognises companions by the ``.companion.ome``
    ending), else in the given name. Frame metadata is kept in every mode.
    Until close, a set is described as in "master-tiff" mode (or the
    companion): one provisional description, not one in every file.
"""

from __future__ import annotations

import contextlib
import errno
import queue
import shutil
import threading
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers._io._durable import fsync_files
from ome_writers._io._frame_pool import POOL_BYTES, POOL_FRAMES, FramePool
from ome_writers._io._writeback import WRITEBACK_EVERY_BYTES, Flusher
from ome_writers.backends._base import Backend, StorageKey, json_safe
from ome_writers.backends.tiff._deferred_import import ImportWhenIdle
from ome_writers.backends.tiff._file_set import TiffFileSet
from ome_writers.backends.tiff._pages import TiffPages
from ome_writers.backends.tiff._provisional_xml import Provisional
from ome_writers.metadata._frame_metadata import FrameMetadataJournal, read_journal
from ome_writers.metadata._tiff_axes import TiffAxes, check_tiff_settings

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ome_types import model as m

    from ome_writers._schema import AcquisitionSettings, OmeTiffFormat
    from ome_writers.backends._base import BackendContext
    from ome_writers.backends.tiff._ome_models import TiffModels


#: an append waits for a buffer: pages written may hold the ones it wants
_WANTED = object()


class _Describe:
    """Work item: update the provisional descriptions (after the pages before
    it, the first `frames` frames)."""

    __slots__ = ("done", "frames")

    def __init__(self, frames: int) -> None:
        self.done = threading.Event()
        self.frames = frames


def _journal_entry(
    position: int, index: tuple[int, ...], meta: dict[str, Any]
) -> dict[str, Any]:
    return {"position": position, "storage_index": list(index), "metadata": meta}


def frame_metadata_records(
    path: Path,
) -> list[tuple[int, tuple[int, ...], dict[str, Any]]]:
    """(position, storage index, metadata) of every record of a journal (none
    when there is no journal)."""
    out: list[tuple[int, tuple[int, ...], dict[str, Any]]] = []
    if not path.is_file():
        return out
    for record in read_journal(path):
        try:
            out.append(
                (
                    int(record["position"]),
                    tuple(int(i) for i in record["storage_index"]),
                    dict(record["metadata"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return out


class TiffBackend(Backend):
    """OME-TIFF files written page by page."""

    name = "tifffile"

    @classmethod
    def check_settings(cls, settings: AcquisitionSettings) -> str | None:
        problem = super().check_settings(settings)
        if problem is None and (tiff := check_tiff_settings(settings)):
            problem = f"the tifffile backend cannot write this: {tiff}"
        return problem

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        settings = context.settings
        fmt: OmeTiffFormat = settings.format  # type: ignore[assignment]
        self.fmt = fmt
        self.progress = context.progress
        # the OME-XML models are built at close; before the first frame only the
        # axes are needed (ome-types is slow to import)
        self.axes = TiffAxes(settings)
        self.created = datetime.now(timezone.utc)  # the acquisition date
        self.files = files = TiffFileSet.plan(
            settings, has_outer=bool(self.axes.letters)
        )
        paths = files.paths
        # pages are on the file when `add` is called: no lag needed
        self.flusher = Flusher(
            paths[0],
            WRITEBACK_EVERY_BYTES,
            locate=lambda f: (paths[f],),
            lag=False,
            commit=True,
        )
        self.pages = TiffPages(settings, files, self.axes, self.flusher)
        self.frame_shape = self.pages.frame_shape
        self.frames = FramePool.within(
            POOL_BYTES, POOL_FRAMES, self.frame_shape, self.dtype
        )
        self.pool = self.frames.buffers
        # at most len(pool) frames (+ barriers and the stop sentinel) in flight
        self.work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        # frames queued, and queued before the last barrier (written, flushed):
        # a read sees every frame appended before it
        self.queued = 0
        self.settled = 0
        self.error: BaseException | None = None
        self._meta: TiffModels | None = None
        self._models_import: ImportWhenIdle | None = None
        self.finalized = False
        self._track_files()

    def output_paths(self) -> tuple[str, ...]:
        """The files: one per position when there are several, then the
        companion file (if any)."""
        files = self.files
        companion = () if files.companion is None else (files.companion,)
        return tuple(str(path) for path in (*files.paths, *companion))

    def _track_files(self) -> None:
        """The provisional descriptions and the metadata journal of `files`."""
        files = self.files
        self.provisional = Provisional(
            self.settings,
            self.axes,
            files,
            self.router,
            self.created,
            lambda f: files.recovery_comment(self.settings, f),
            self.progress,
            self.display,
        )
        self.journal = FrameMetadataJournal(
            self.frame_metadata, lambda _: files.journal, entry=_journal_entry
        )
        self.pages.use(files)
        self.pages.provisional = self.provisional

    @classmethod
    def reopen(
        cls, context: BackendContext, names: list[str], uuids: list[str]
    ) -> TiffBackend:
        """A backend that completes an interrupted file set (for `repair`).

        `names` and `uuids` come from the set's recovery record. The caller
        records the pages found on disk in `files` (`TiffFileSet.add_page`);
        `complete_interrupted` then pads the last outer index and writes the
        OME-XML.
        """
        self = cls(context)
        files = TiffFileSet.plan(
            context.settings, bool(self.axes.letters), names=names, uuids=uuids
        )
        self.files = files
        self._track_files()
        return self

    @property
    def meta(self) -> TiffModels:
        """The OME models of the file set (ome-types is imported on first use)."""
        if self._meta is None:
            from ome_writers.backends.tiff._ome_models import TiffModels
            from ome_writers.metadata._ome_model import OmeXmlBuilder

            builder = OmeXmlBuilder(
                self.settings, created=self.created, display=self.display
            )
            self._meta = TiffModels(self.files, builder, self.global_metadata)
        return self._meta

    def complete_interrupted(self) -> None:
        """Pad with zero pages to whole outer indices and write the OME-XML."""
        self.pages.open(append=True)
        try:
            self.pages.pad_incomplete()
        finally:
            self.pages.close()
        self.meta.build()
        self.meta.write()

    @property
    def models(self) -> dict[int, m.OME]:
        """File index (-1: companion) -> OME model written there (after close)."""
        return self.meta.models

    # ------------------------------------------------------------- lifecycle

    def prepare(self) -> None:
        files = self.files
        targets = [*files.paths, *([files.companion] if files.companion else [])]
        for path in targets:
            if path.exists():
                if not self.settings.overwrite:
                    raise FileExistsError(
                        f"File {path} already exists. "
                        "Use overwrite=True to overwrite it."
                    )
                path.unlink()
        if self.settings.overwrite:
            files.remove_stale(self.fmt.suffix)
        files.paths[0].parent.mkdir(parents=True, exist_ok=True)
        files.journal.unlink(missing_ok=True)  # of an earlier run, never ours
        # the descriptions are kept current from here on (not in `repair`)
        self.pages.live = True
        self.pages.open()
        self.thread = threading.Thread(
            target=self._run, name="ome-writers-tiff", daemon=True
        )
        self.thread.start()
        self.frames.start()  # buffers made resident ahead of use
        self.flusher.start()
        # for the OME-XML at close (needs ome-types, slow to import, and its
        # bindings, slow to build)
        self._models_import = ImportWhenIdle(
            "ome_writers.backends.tiff._ome_models",
            lambda: self.queued,
            then="prepare_ome_xml",
        )

    def _wanted(self) -> None:
        """An append waits for a buffer (see `_WANTED`)."""
        self.work.put(_WANTED)

    def write(self, position: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        if self.error is not None:
            raise self.error
        slot = self.frames.take(self._wanted)  # waits while every one is in flight
        self.frames.fill(slot, frame)
        self.work.put((position, index, slot, False))
        self.queued += 1

    def skip(self, position: int, index: tuple[int, ...]) -> None:
        if self.error is not None:
            raise self.error
        self.work.put((position, index, self.frames.take(self._wanted), True))
        self.queued += 1

    def _explain(self, error: BaseException, position: int) -> BaseException:
        """Name a full disk when a short write is all tifffile reports."""
        if isinstance(error, OSError) and error.errno is None:
            path = self.files.paths[self.files.file_of(position)]
            if shutil.disk_usage(path.parent).free < self.pool[0].nbytes:
                return OSError(errno.ENOSPC, f"No space left on device writing {path}")
        return error

    def checkpoint(self, frames_done: int) -> None:
        """`make_readable`, then fsync the files (and journal, companion)."""
        self.make_readable(frames_done)
        self._sync_files()

    def start_checkpoint(self, frames_done: int) -> Callable[[], object] | None:
        """`checkpoint` in two parts: `start_readable`, then (without the
        stream's lock) its finisher and the fsyncs."""
        return self._readable_then(frames_done, self._sync_files)

    def _sync_files(self) -> None:
        files = self.files
        paths = [*files.paths, files.journal, files.companion]
        fsync_files(p for p in paths if p is not None and p.exists())

    def make_readable(self, frames_done: int) -> None:
        """Journal the new per-frame metadata; have the writer thread write the
        pages queued so far, flush them to the operating system and update the
        provisional descriptions (this waits for it)."""
        finish = self.start_readable(frames_done)
        if finish is not None:
            finish()

    def start_readable(self, frames_done: int) -> Callable[[], object] | None:
        """`make_readable`: the writer thread's work item (under the stream's
        lock); what is returned journals the metadata and waits for the item."""
        if self.error is not None:
            raise self.error
        if self.thread is None or not self.thread.is_alive():
            return self.journal.append_new
        queued = self.queued
        item = _Describe(frames_done)
        self.work.put(item)

        def finish() -> None:
            self.journal.append_new()
            item.done.wait()
            self.settled = max(self.settled, queued)
            if self.error is not None:
                raise self.error

        return finish

    def _settle(self) -> None:
        """Wait until every frame queued so far is written and flushed."""
        queued = self.queued
        if self.thread is None or not self.thread.is_alive():
            return
        barrier = threading.Event()
        self.work.put(barrier)
        barrier.wait()
        self.settled = queued

    def _run(self) -> None:
        zeros = np.zeros(self.frame_shape, dtype=self.dtype)
        release = self.frames.release
        # while no frame has arrived yet; a failure here recurs, and is
        # reported, when the first page builds the same text
        with contextlib.suppress(Exception):
            self.provisional.prepare_text(0)
        while True:
            item = self.work.get()
            if item is _WANTED:
                # pages written from their frames' buffers hand them back
                # only once finished: when the writer comes to need a run's
                # block again, or now, for an append that waits
                if self.frames.free.empty():
                    try:
                        self.pages.hand_back()
                    except BaseException as e:
                        self.error = self.error or e
                continue
            if item is None:
                try:  # every page finished, every buffer handed back
                    self.pages.drain()
                except BaseException as e:
                    self.error = self.error or e
                return
            if isinstance(item, threading.Event):  # barrier (reads)
                try:
                    self.pages.flush()
                except BaseException as e:
                    self.error = self.error or e
                finally:
                    item.set()
                continue
            if isinstance(item, _Describe):
                try:
                    if self.error is None:
                        self._describe(zeros, item.frames)
                except BaseException as e:
                    self.error = e
                finally:
                    item.done.set()
                continue
            position, index, slot, empty = item
            if self.error is not None:
                self.frames.release(slot)
                continue
            data = zeros if empty else self.pool[slot]
            try:  # the pages hand the buffer back once it is written
                self.pages.write_page(position, index, data, partial(release, slot))
            except BaseException as e:
                self.error = self._explain(e, position)

    def _describe(self, zeros: np.ndarray, frames: int) -> None:
        """Flush the pages written, and update the provisional descriptions
        (writer thread): the first `frames` frames have their pages."""
        pages = self.pages
        pages.flush()
        provisional = self.provisional
        for position, index in provisional.holes():  # never acquired: zeros
            pages.write_page(position, index, zeros)
            self.files.padded[position].add(index)
        pages.drain()  # zero pages laid out in a run: in the file before described
        provisional.update(pages.writers, frames, pages.level_offsets[0])

    def finalize(self, frames_done: int) -> None:
        if self.finalized:
            return
        self.finalized = True
        if self._models_import is not None:
            self._models_import.now()  # meanwhile, the writer finishes
        self.work.put(None)
        if self.thread is not None:
            self.thread.join()
        self.frames.close()
        self.flusher.close()
        error = self.error
        try:
            # describe whatever reached the disk, even after a writer error
            if error is None:
                self.pages.pad_incomplete()
        finally:
            self.pages.live = False
            self.pages.close()  # its pages use the provisional's descriptors
            self.provisional.close()
        files = self.files
        if not any(files.pages):  # nothing acquired: leave no unreadable file
            for path in files.paths:
                path.unlink(missing_ok=True)
            self.journal.remove()
            if not files.single_file:
                with contextlib.suppress(OSError):
                    files.paths[0].parent.rmdir()  # only if empty
        else:
            try:
                self.journal.append_new()
                self.attach_frame_metadata(frame_metadata_records(files.journal))
                self.meta.build()
                self.meta.write()
                companion = [] if files.companion is None else [files.companion]
                fsync_files([*files.paths, *companion])  # durable at close
                self.journal.remove()
            except Exception:
                if error is None:
                    raise
        if error is not None:
            raise error

    def attach_frame_metadata(
        self, records: list[tuple[int, tuple[int, ...], dict[str, Any]]]
    ) -> int:
        """Give the planes their metadata (position, storage index, metadata);
        how many planes got some."""
        files = self.files
        by_ifd = [{p.ifd: p for p in image.planes} for image in files.images]
        attached = 0
        for position, index, meta in records:
            if not 0 <= position < len(by_ifd):
                continue
            ifd = files.ifd_of[position].get(index)
            if ifd is not None:
                by_ifd[position][ifd].metadata = meta
                attached += 1
        return attached

    # ------------------------------------------------------------- metadata

    def set_global_metadata(self, namespace: str, metadata: dict[str, Any]) -> None:
        self.global_metadata[namespace] = json_safe(metadata)
        if self.finalized:
            self.meta.set_global(namespace, self.global_metadata[namespace])

    def get_metadata(self) -> dict[int, m.OME]:
        """File index (-1: companion file) -> copy of its OME model.

        Empty until close (the OME-XML is written at close) and after a stream
        that wrote no frame.
        """
        return self.meta.copies()

    def update_metadata(self, metadata: Any) -> None:
        """Replace OME models after close and rewrite those files' OME-XML."""
        from ome_writers.metadata._ome_model import check_ome_update

        check_ome_update(metadata, self.finalized, self.models)
        self.meta.replace(metadata)

    # --------------------------------------------------------------- reading

    def read(self, position: int, key: StorageKey) -> np.ndarray:
        return self.read_level(0, position, key)

    def read_level(self, level: int, position: int, key: StorageKey) -> np.ndarray:
        if not 0 <= level < self.pages.level_count:
            raise IndexError(f"pyramid level {level} does not exist")
        if self.settled != self.queued:  # frames still queued or not flushed
            self._settle()
        return self.pages.read_level(level, position, key)
