"""``OME/METADATA.ome.xml`` of an OME-Zarr dataset, kept true while it is written.

The document (`metadata/_zarr_ome_xml.py`) describes the frames on disk. A
loss-window visit, a checkpoint and close each take the per-frame metadata
that arrived (before the stream forgets it), add the Plane of every frame
that is on disk by then (the others wait for a later visit), and replace the
file whole when what it says changed: written beside it and renamed over it
(in a bucket, one PUT), so a reader, or the dataset of a process that died,
has a complete document describing at most the frames on disk. A bounded
acquisition's first document (no Planes yet) is written with the group
documents, in the background.

It runs at loss-window visits, checkpoints and close, never per frame; each
Plane's text is made once. A document's rewrite takes time in proportion to
its Planes, so once it has `SPACED_FROM_PLANES`, a visit or checkpoint skips
it while less than `REWRITE_SPACING` times what the last one took has passed
since it ended (the per-frame metadata is journaled meanwhile; close always
writes): a long run of small frames spends at most about a tenth of a thread
on it instead of work growing with the square of its frames. While the file
lags behind the frames, a recovery record beside it (`RECOVERY_PATH`: the
settings and what the document says besides its Planes; removed at close)
lets ``ome-writers repair`` rebuild it from the journals after a crash
(`rebuild`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ome_writers._io._paths import replace_file
from ome_writers._router import FrameRouter
from ome_writers.metadata._zarr_ome_xml import ZarrOmeXml, unbounded_axis

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ome_writers._io._object_store import DatasetPath
    from ome_writers._schema import AcquisitionSettings
    from ome_writers.metadata._display import DisplaySettings
    from ome_writers.metadata._frame_metadata import FrameMetadataLog

#: where the document goes, below the dataset's root
OME_XML_PATH = ("OME", "METADATA.ome.xml")
#: a visit or checkpoint rewrites the document only when at least this many
#: times what its last write took has passed since that write ended
REWRITE_SPACING = 10.0
#: documents of fewer Planes are rewritten at every visit that changes them
SPACED_FROM_PLANES = 10_000
#: the recovery record, below the dataset's root: written when a rewrite is
#: skipped (and again when what the document says besides Planes changed)
RECOVERY_PATH = ("OME", "METADATA.recovery.json")


class OmeXmlFile:
    """The ``OME/METADATA.ome.xml`` of one dataset.

    Parameters
    ----------
    settings : AcquisitionSettings
        The stream's settings.
    root : DatasetPath
        The dataset's root directory or key prefix.
    frame_metadata : FrameMetadataLog
        Per-frame metadata as it arrives.
    enabled : bool
        False: no document (OME-XML cannot describe the settings, see
        `ome_xml_problem`, or another writer describes the dataset).
    display : DisplaySettings, optional
        The channels' display settings: each write describes them as they
        are then.
    """

    def __init__(
        self,
        settings: AcquisitionSettings,
        root: DatasetPath,
        frame_metadata: FrameMetadataLog,
        *,
        enabled: bool = True,
        display: DisplaySettings | None = None,
    ) -> None:
        self.settings = settings
        self._display = display
        self._display_version = 0  # of the display settings described
        self.path = root / OME_XML_PATH[0] / OME_XML_PATH[1]
        self.recovery_path = root / RECOVERY_PATH[0] / RECOVERY_PATH[1]
        self._recorded: int | None = None  # `_changes` the recovery record has
        self.enabled = enabled
        self._log = frame_metadata
        self._lock = threading.Lock()
        self._document: ZarrOmeXml | None = None  # made at its first use
        self._taken = 0  # log entries taken
        # (frame, position, storage index, metadata) of frames not on disk yet
        self._waiting: list[tuple[int, int, tuple[int, ...], dict[str, Any]]] = []
        self._planes = 0  # Planes in the document
        self._changes = 0  # other changes to what it says
        self._written: tuple[Any, ...] | None = None  # what the file says
        self._closed = False
        self.clock = time.monotonic
        self._last_took = 0.0  # seconds the last write took
        self._last_end = 0.0  # when it ended (`clock`)

    def _doc(self) -> ZarrOmeXml:
        if self._document is None:
            self._document = ZarrOmeXml(self.settings)
        return self._document

    def take(self) -> None:
        """Take the per-frame metadata that arrived (the stream forgets it
        once the visit or checkpoint in progress is done)."""
        if not self.enabled:
            return
        with self._lock:
            self._take()

    def _take(self) -> None:
        stop = len(self._log)
        if stop > self._taken:
            self._waiting += self._log.numbered(self._taken, stop)
            self._taken = stop

    def update(
        self,
        frames_on_disk: int,
        extents: Sequence[int] | None = None,
        *,
        final: bool = False,
    ) -> None:
        """Describe the first `frames_on_disk` frames (acquisition order);
        `extents`: each image's extent along an unbounded dimension on disk.
        Writes the file when what it says changed (unless its last write was
        too recent, see `REWRITE_SPACING`; `final`: whatever the time)."""
        if not self.enabled:
            return
        with self._lock:
            self._take()
            doc = self._doc()
            waiting = self._waiting
            done = 0
            for frame, position, index, metadata in waiting:
                if frame >= frames_on_disk:
                    break
                doc.add_plane(position, index, metadata)
                done += 1
            if done:
                del waiting[:done]
                self._planes += done
            self._show_display()
            self._write(extents, final=final)

    def _show_display(self) -> None:
        """Take the display settings when they changed since last taken."""
        if self._display is None or self._display.version == self._display_version:
            return
        self._display_version, self._doc().display = self._display.snapshot()
        self._changes += 1

    def _write(self, extents: Sequence[int] | None, *, final: bool = True) -> None:
        state = (self._planes, self._changes, None if extents is None else [*extents])
        if state == self._written:
            return
        start = self.clock()
        if (
            not final
            and self._written is not None
            and self._planes >= SPACED_FROM_PLANES
            and start - self._last_end < REWRITE_SPACING * self._last_took
        ):
            # a later visit, or close, writes it; until then a crash leaves
            # the journals and the recovery record to rebuild it from
            self._record()
            return
        write_document(self.path, self._doc(), extents)
        self._written = state
        self._last_end = self.clock()
        self._last_took = self._last_end - start

    def _record(self) -> None:
        """Write the recovery record, unless it is up to date."""
        if self._recorded == self._changes:
            return
        record = {
            "settings": self.settings.model_dump(mode="json"),
            **self._doc().recovery_state(),
        }
        path, text = self.recovery_path, json.dumps(record)
        if isinstance(path, Path):
            replace_file(path, text)
        else:
            path.write_text(text)
        self._recorded = self._changes

    def set_not_acquired(self, position: int, indices: Iterable[Sequence[int]]) -> None:
        """Name the cells of image `position` no frame is for (from the next
        write on)."""
        if not self.enabled:
            return
        with self._lock:
            if self._doc().set_not_acquired(position, indices):
                self._changes += 1

    def set_global_metadata(self, namespace: str, metadata: dict[str, Any]) -> None:
        """Dataset-level metadata: written at the next visit or close (at
        once, after close)."""
        if not self.enabled:
            return
        with self._lock:
            self._doc().global_metadata[namespace] = metadata
            self._changes += 1
            if self._closed:
                self._write(self._written[2] if self._written else None)

    def close(self, frames_on_disk: int, extents: Sequence[int] | None) -> None:
        """The final document: every frame on disk."""
        self.update(frames_on_disk, extents, final=True)
        self._closed = True
        if self._recorded is not None:  # the document is whole again
            self.recovery_path.unlink(missing_ok=True)
            self._recorded = None


def write_document(
    path: DatasetPath, doc: ZarrOmeXml, extents: Sequence[int] | None
) -> None:
    """Replace the file at `path` whole with `doc` (`ZarrOmeXml.text`)."""
    parts = doc.parts(extents)
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_with_parts(path, parts)
    else:  # an object is replaced whole by one PUT
        path.write_text("".join(parts))


def rebuild(
    settings: AcquisitionSettings,
    record: Mapping[str, Any],
    frames: int,
    metadata: Sequence[Mapping[tuple[int, ...], dict[str, Any]]],
) -> tuple[ZarrOmeXml, list[int] | None, int]:
    """The document of a run that died with `frames` frames on disk, from
    its recovery record (`settings` validated from it) and each image's
    journaled per-frame metadata (storage index -> metadata): the document,
    each image's extent along an unbounded dimension (or None), and how many
    Planes it has. Planes are added in frame order, as the writer adds them
    (so their annotations keep their IDs)."""
    doc = ZarrOmeXml.recovered(settings, record)
    route = FrameRouter(settings).route
    axis = unbounded_axis(settings)
    extents = None if axis is None else [0] * len(settings.positions)
    planes = 0
    for n in range(frames):
        position, index = route(n)
        if extents is not None and axis is not None:
            extents[position] = max(extents[position], index[axis] + 1)
        meta = metadata[position].get(tuple(index))
        if meta is not None:
            doc.add_plane(position, index, meta)
            planes += 1
    return doc, extents, planes


def _replace_with_parts(path: Path, parts: Iterable[str]) -> None:
    """`replace_file` with text written part by part (never joined whole)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(parts)
    os.replace(tmp, path)
