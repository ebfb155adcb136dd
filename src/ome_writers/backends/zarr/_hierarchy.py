"""An OME-Zarr dataset's hierarchy: its groups, their documents, the OME-XML.

Every Zarr library writes the same hierarchy: the group documents (NGFF
metadata from yaozarrs), per-frame metadata (journaled at loss-window visits,
consolidated into each image's ``zarr.json`` at close), the cells a jagged
acquisition never fills, ``OME/METADATA.ome.xml`` (`_ome_xml_file.py`), and
in NGFF 0.6rc0 the time points' acquisition times (written with the journal).
"""

from __future__ import annotations

import copy
import math
import threading
import time
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ome_writers._io._paths import remove_dataset, resolve_root
from ome_writers._schema import effective_type
from ome_writers._version import __version__
from ome_writers.backends._base import json_safe
from ome_writers.backends.zarr._group_documents import GroupsAhead
from ome_writers.backends.zarr._ome_xml_file import OmeXmlFile
from ome_writers.metadata import _ngff06
from ome_writers.metadata._display import (
    DisplaySettings,
    apply_to_omero,
    omero_defaults,
)
from ome_writers.metadata._frame_metadata import JOURNAL_NAME, FrameMetadataJournal
from ome_writers.metadata._progress import HEARTBEAT, PROGRESS_KEY, WRITING
from ome_writers.metadata._time_coordinates import TimeCoordinates
from ome_writers.metadata._zarr_groups import (
    is_group,
    set_windows,
    write_group,
    write_groups,
)
from ome_writers.metadata._zarr_layout import plan_layout

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ome_writers._io._object_store import DatasetPath
    from ome_writers._router import FrameRouter
    from ome_writers._schema import AcquisitionSettings
    from ome_writers.backends._base import BackendContext
    from ome_writers.metadata._display_ranges import DisplayRanges
    from ome_writers.metadata._frame_metadata import FrameMetadataLog
    from ome_writers.metadata._progress import ProgressRecord, Status

#: per-frame metadata records of an image kept in its ``zarr.json``; more stay
#: in the journal file beside it, so close does not grow with the run's length
INLINE_FRAME_RECORDS = 10_000


class ZarrHierarchy:
    """The groups of one dataset and what their documents say.

    Parameters
    ----------
    settings : AcquisitionSettings
        The stream's settings.
    root : DatasetPath
        The dataset's root directory or key prefix.
    router : FrameRouter
        Frame order (which cells a jagged acquisition fills).
    frame_metadata : FrameMetadataLog
        Per-frame metadata as it arrives.
    display_ranges : DisplayRanges or None
        Observed pixel ranges, for display windows at close.
    progress : ProgressRecord or None
        The dataset's progress record, kept in the root group's attributes
        (``ome_writers.progress``); None: the dataset states none.
    display : DisplaySettings or None
        What the user set for displaying each channel (NGFF ``omero``).
    ome_xml : bool
        Whether the dataset has its ``OME/METADATA.ome.xml`` (False: this is
        a part of a dataset that another writer describes).
    """

    def __init__(
        self,
        settings: AcquisitionSettings,
        root: DatasetPath,
        router: FrameRouter,
        frame_metadata: FrameMetadataLog,
        display_ranges: DisplayRanges | None,
        progress: ProgressRecord | None = None,
        display: DisplaySettings | None = None,
        *,
        ome_xml: bool = True,
    ) -> None:
        self.settings = settings
        self.display = display or DisplaySettings()
        self._display_version = 0  # of the display settings last written
        self.root = root
        self.router = router
        self.display_ranges = display_ranges
        self.layout = plan_layout(settings)
        if not ome_xml:
            self.layout.ome_xml = False
        self.ome_xml = OmeXmlFile(
            settings,
            root,
            frame_metadata,
            enabled=self.layout.ome_xml,
            display=self.display,
        )
        self.image_paths = self.layout.image_paths
        #: 2 for OME-Zarr 0.4, 3 for 0.5
        self.zarr_format: int = getattr(settings.format, "zarr_format", 3)
        self.progress = progress
        # the root document is written from several threads (a visit's
        # progress, metadata calls, close): one at a time, each whole
        self._root_lock = threading.RLock()
        self._progress_frames = -1  # frames of the progress last written
        self._progress_at = -math.inf  # when it was written (monotonic)
        # group documents: built and written in the background (`prepare`)
        self._groups = GroupsAhead(
            settings, self.layout, self._root_extra, zarr_format=self.zarr_format
        )
        image_paths = self.image_paths
        self.times = _times_of(settings, root, image_paths)
        self.journal = FrameMetadataJournal(
            frame_metadata,
            lambda position: root / image_paths[position] / JOURNAL_NAME,
            observe=None if self.times is None else self.times.add,
        )

    @classmethod
    def for_context(cls, context: BackendContext) -> ZarrHierarchy:
        """The hierarchy of the dataset a backend is created for."""
        settings = context.settings
        return cls(
            settings,
            resolve_root(settings.output_path, settings.s3),
            context.router,
            context.frame_metadata,
            context.display_ranges,
            context.progress,
            context.display,
            ome_xml=context.ome_xml,
        )

    @property
    def attributes(self) -> dict[str, dict[str, Any]]:
        """Group path -> attributes (waits until the group documents exist)."""
        return self._groups.documents()

    def array_paths(self, level: int = 0) -> list[str]:
        """Each position's array path at pyramid `level`."""
        count = len(self.image_paths)
        return [self.layout.array_path(p, level) for p in range(count)]

    def prepare(self) -> None:
        """Replace an existing dataset (with ``overwrite``), write a placeholder
        root group at once and the real documents in the background."""
        root = self.root
        if root.exists() or root.is_symlink():
            if not self.settings.overwrite:
                raise FileExistsError(
                    f"Zarr group already exists at {root}. "
                    "Use overwrite=True to replace it."
                )
            remove_dataset(root, is_dataset=is_group(root))
        # a process killed before the real documents exist leaves a Zarr
        # group, which `overwrite=True` recognizes as a dataset of ours; a
        # reader finds it being written
        write_group(
            root, ".", self._root_extra(), atomic=False, zarr_format=self.zarr_format
        )

    def start(self, *, ome_xml_ahead: bool) -> None:
        """Build and write the group documents in the background (and a
        bounded acquisition's first OME-XML, which depends on the settings
        alone)."""
        then = (lambda: self.ome_xml.update(0)) if ome_xml_ahead else None
        self._groups.start(self.root, then)

    def wait(self) -> None:
        """Wait for the documents written in the background; raise a failure."""
        self._groups.wait()

    # ---------------------------------------------------------------- progress

    def _root_extra(self) -> dict[str, Any]:
        """The root attributes of ours before the first frame: the progress
        record of nothing written yet."""
        if self.progress is None:
            return {}
        record = self.progress_record(0, WRITING)
        return {"ome_writers": {"version": __version__, PROGRESS_KEY: record}}

    def progress_record(self, frames: int, status: Status) -> dict[str, Any]:
        """The progress record of `frames` frames on disk."""
        assert self.progress is not None
        extra = None
        if self.layout.kind != "image":  # which image each position is
            extra = {"image_paths": list(self.image_paths)}
        if status == WRITING:
            return self.progress.record(frames, status, extra)
        return self.progress.final(frames, failed=status != "complete", extra=extra)

    def set_progress(self, frames: int, status: Status) -> None:
        """Put the progress record in the root attributes (written with them)."""
        if self.progress is None:
            return
        record = self.progress_record(frames, status)
        with self._root_lock:
            attributes = self.attributes["."]
            kept = attributes.get("ome_writers", {})
            attributes["ome_writers"] = {
                **kept,
                "version": __version__,
                PROGRESS_KEY: record,
            }
            self._progress_frames = max(self._progress_frames, int(record["frames"]))

    def write_progress(self, frames: int) -> None:
        """State in the root group's ``zarr.json`` that `frames` frames are on
        disk (one document write; none when that was stated already)."""
        if self.progress is None:
            return
        with self._root_lock:
            if frames < self._progress_frames:  # a later visit said more
                return
            now = time.monotonic()
            if frames == self._progress_frames and now - self._progress_at < (
                HEARTBEAT / 2
            ):
                return  # said already, and recently (not a heartbeat)
            self.set_progress(frames, WRITING)
            write_group(
                self.root, ".", self.attributes["."], zarr_format=self.zarr_format
            )
            self._progress_at = now

    # ----------------------------------------------------------------- display

    def write_display(self) -> None:
        """Write the images' documents again when the display settings
        changed since they were last written (a loss-window visit)."""
        if self.display.version == self._display_version:
            return
        with self._root_lock:
            self._apply_display()
            write_groups(
                self.root,
                self._image_documents(),
                atomic=True,
                zarr_format=self.zarr_format,
            )

    def _apply_display(self) -> None:
        """The current display settings into every image's ``omero``."""
        version, channels = self.display.snapshot()
        self._display_version = version
        if not channels:
            return
        defaults = omero_defaults(self.settings)
        for path in self.image_paths:
            apply_to_omero(self.attributes[path], channels, defaults)

    # ---------------------------------------------------------- frame metadata

    def journal_new(self) -> None:
        """Append the per-frame metadata that arrived to the images' journals
        (hand it to the OME-XML: the stream forgets it after the visit) and
        write the acquisition times it brought."""
        self.journal.append_new()
        self.ome_xml.take()
        changed = self._write_times(None)
        if changed:  # an image's first times: its document names them
            with self._root_lock:
                write_groups(
                    self.root, {p: self.attributes[p] for p in changed}, atomic=True
                )

    def _write_times(self, extents: list[int] | None) -> list[str]:
        """Write the acquisition times that changed; the image groups whose
        documents now name their times (the caller writes them)."""
        times = self.times
        if times is None:
            return []
        attributes = self.attributes
        documents = {p: attributes[p].get("ome", {}) for p in self.image_paths}
        first = times.write(documents, extents)
        return [
            path
            for path in (self.image_paths[p] for p in first)
            if _ngff06.add_time_coordinates(documents[path])
        ]

    def describe_not_acquired(self, shape_of: Callable[[int], Sequence[int]]) -> None:
        """A jagged acquisition's images name the cells never acquired, as far
        as acquired (`shape_of(position)`: the index shape written so far)."""
        if not self.router.jagged:
            return
        with self._root_lock:
            for position, path in enumerate(self.image_paths):
                self._set_image_attributes(path, position, shape_of)
            write_groups(
                self.root,
                self._image_documents(),
                atomic=True,
                zarr_format=self.zarr_format,
            )

    def write_frame_metadata(self, shape_of: Callable[[int], Sequence[int]]) -> None:
        """Every frame's metadata into the images' ``zarr.json`` (at close),
        with display windows from the observed pixel ranges and what the user
        set for displaying the channels.

        Up to `INLINE_FRAME_RECORDS` records of an image go into its
        ``zarr.json``; more stay in its local journal file, which ``zarr.json``
        names (``ome_writers.frame_metadata_file``).
        """
        ranges = self.display_ranges
        journal = self.journal
        journal.append_new()
        failure: Exception | None = None
        if self.times is not None:  # the time axis's final extents
            axis = self.times.time_axis
            extents = [shape_of(p)[axis] for p in range(len(self.image_paths))]
            try:
                self._write_times(extents)
            except Exception as e:  # the frame metadata is written all the same
                failure = e
        kept = []
        for position, path in enumerate(self.image_paths):
            if ranges is not None:
                set_windows(self.attributes[path], ranges.windows(position))
        self._apply_display()  # what the user set wins over what was seen
        for position, path in enumerate(self.image_paths):
            file = self.root / path / JOURNAL_NAME
            count = journal.count(file)
            if count > INLINE_FRAME_RECORDS and isinstance(file, Path):
                kept.append(file)
                reference = {"path": JOURNAL_NAME, "records": count}
                self._set_image_attributes(path, position, shape_of, file=reference)
            else:
                self._set_image_attributes(
                    path, position, shape_of, records=journal.read(file)
                )
        # a plate's hundreds of documents are replaced on a few threads
        with self._root_lock:
            write_groups(
                self.root,
                self._image_documents(),
                atomic=True,
                zarr_format=self.zarr_format,
            )
            if "." not in self.image_paths:
                write_group(
                    self.root, ".", self.attributes["."], zarr_format=self.zarr_format
                )
        journal.remove(keep=kept)
        if failure is not None:
            raise failure

    def _set_image_attributes(
        self,
        path: str,
        position: int,
        shape_of: Callable[[int], Sequence[int]],
        *,
        records: list[dict[str, Any]] | None = None,
        file: dict[str, Any] | None = None,
    ) -> None:
        own: dict[str, Any] = {}
        if records:
            own["frame_metadata"] = records
        if file is not None:
            own["frame_metadata_file"] = file
        if self.router.jagged:  # cells that are never acquired, by design
            cells = self._not_acquired(position, shape_of(position))
            own["not_acquired"] = cells
            self.ome_xml.set_not_acquired(position, cells)
        if own:
            kept = self.attributes[path].get("ome_writers", {})
            self.attributes[path]["ome_writers"] = {
                **kept,
                "version": __version__,
                **own,
            }

    def _image_documents(self) -> dict[str, dict[str, Any]]:
        return {path: self.attributes[path] for path in self.image_paths}

    def _not_acquired(self, position: int, shape: Sequence[int]) -> list[list[int]]:
        """Storage indices (index dims) of the array's cells no frame is for."""
        planned = self.router.is_planned
        return [
            list(index)
            for index in product(*(range(n) for n in shape))
            if not planned(position, index)
        ]

    # ---------------------------------------------------------------- OME-XML

    def write_ome_xml(
        self, frames_on_disk: int, extents: Sequence[int] | None = None
    ) -> None:
        """``OME/METADATA.ome.xml`` describes the first `frames_on_disk`
        frames; `extents`: each image's extent on disk along an unbounded
        dimension."""
        self.ome_xml.update(frames_on_disk, extents)

    def write_ome_xml_at_close(
        self, frames_done: int, extents: Sequence[int] | None
    ) -> None:
        """The final ``OME/METADATA.ome.xml``: every frame."""
        self.ome_xml.close(frames_done, extents)

    # --------------------------------------------------------------- metadata

    def get_metadata(self) -> dict[str, dict[str, Any]]:
        """Image group path ("." for a single image) -> copy of its attributes."""
        return {
            path: copy.deepcopy(
                {k: v for k, v in self.attributes[path].items() if k != "ome_writers"}
            )
            for path in self.image_paths
        }

    def update_metadata(self, metadata: Any) -> None:
        """Replace the attributes of the given groups and write them now."""
        if not isinstance(metadata, dict):
            raise TypeError(
                f"Expected dict[str, dict] metadata, got {type(metadata).__name__}"
            )
        for path, attributes in metadata.items():
            if path not in self.attributes:
                raise KeyError(f"Unknown path: {path}")
            new = json_safe(attributes)
            with self._root_lock:
                if "ome_writers" in self.attributes[path]:
                    new["ome_writers"] = self.attributes[path]["ome_writers"]
                self.attributes[path] = new
                write_group(self.root, path, new, zarr_format=self.zarr_format)

    def set_global_metadata(self, namespace: str, metadata: dict[str, Any]) -> None:
        """Store a namespaced mapping in the root group's attributes (and in
        the OME-XML, as OME-TIFF does)."""
        with self._root_lock:
            self.attributes["."][namespace] = metadata
            write_group(
                self.root, ".", self.attributes["."], zarr_format=self.zarr_format
            )
        self.ome_xml.set_global_metadata(namespace, metadata)

    def rewrite_groups(self) -> None:
        """Write every group document that is not an image's again (after a
        library wrote documents of its own over them)."""
        with self._root_lock:
            for group, attributes in self.attributes.items():
                if group not in self.image_paths:
                    write_group(
                        self.root, group, attributes, zarr_format=self.zarr_format
                    )


def _times_of(
    settings: AcquisitionSettings, root: DatasetPath, image_paths: list[str]
) -> TimeCoordinates | None:
    """Where an NGFF 0.6rc0 dataset's acquisition times go (None: it names
    none, being of another version or without a time axis)."""
    if getattr(settings.format, "ngff_version", None) != _ngff06.VERSION:
        return None
    dims = settings.array_storage_dimensions[:-2]
    axis = next((i for i, d in enumerate(dims) if effective_type(d) == "time"), None)
    if axis is None:
        return None
    return TimeCoordinates(root, image_paths, axis, dims[axis].count)
