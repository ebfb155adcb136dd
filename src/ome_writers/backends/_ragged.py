"""Positions of different shapes: one single-image backend per position.

When a `Position` has dimensions of its own, the positions' arrays differ in
shape and axes, so no one array layout fits them all. This layout gives every
position a regular single-position acquisition of its own (`position_settings`)
written by the chosen backend, and ties them together:

- OME-Zarr: a bioformats2raw collection (or HCS plate) whose image groups are
  the children's datasets, each with its own axes and shape;
- OME-TIFF: one file per position; at close every file's OME-XML is replaced
  by the description of the whole set (one Image per position, each with its
  own Pixels sizes and DimensionOrder, TiffData pointing at its file);
- scratch: one set of arrays per position.

The stream routes frames as usual; this class hands each one to its
position's backend with the position's own storage index.
"""

from __future__ import annotations

import bisect
import copy
import threading
from typing import TYPE_CHECKING, Any

from ome_writers._io._paths import remove_dataset, resolve_output
from ome_writers._router import FrameRouter
from ome_writers._schema import AcquisitionSettings, Dimension, OmeTiffFormat
from ome_writers._version import __version__
from ome_writers.backends._base import Backend, BackendContext, StorageKey, json_safe
from ome_writers.metadata._frame_metadata import FrameMetadataLog
from ome_writers.metadata._ngff import build_layout
from ome_writers.metadata._progress import (
    COMPLETE,
    FAILED,
    PROGRESS_KEY,
    WRITING,
    Status,
)
from ome_writers.metadata._zarr_groups import is_group, write_group

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from ome_writers.backends.tiff._ragged_files import RaggedTiffSet


def position_settings(
    settings: AcquisitionSettings, position: int, root_path: str
) -> AcquisitionSettings:
    """A regular single-position acquisition holding one position's frames.

    Its dimensions are the position's own (or the acquisition's) non-frame
    dimensions and the frame dimensions, behind a position dimension of one
    (the position itself, so names and stage coordinates reach the metadata).
    """
    geometry = settings.geometry
    pos = geometry.positions[position]
    own = geometry.position_index_dimensions(position)
    pname = settings.dimensions[geometry.position_dimension_index or 0].name
    frame = geometry.position_frame_dimensions(position)
    kept = {pname, *(d.name for d in (*own, *frame))}
    order: Any = settings.storage_order
    if isinstance(order, list):  # the acquisition's list, cut to this position
        order = [n for n in order if n in kept]
    fmt: Any = settings.format
    if fmt.name == "ome-zarr":
        fmt = fmt.model_copy(update={"suffix": ""})
    elif fmt.name == "ome-tiff":
        fmt = OmeTiffFormat(backend=fmt.backend, prefer_single_file="always")
    pdim = Dimension(
        name=pname,
        type="position",
        coords=[pos.model_copy(update={"dimensions": None, "dtype": None})],
    )
    dims = [*own, *frame]
    if fmt.name == "ome-zarr":
        # the acquisition's layout (the default of small frames is chosen for
        # all positions together): stated, so the position's is not chosen anew
        stored = geometry.position_storage_dimensions(position)
        layout = {
            d.name: {
                "chunk_size": d.chunk_size or (1 if i < len(stored) - 2 else None),
                "shard_size_chunks": d.shard_size_chunks,
            }
            for i, d in enumerate(stored)
        }
        dims = [d.model_copy(update=layout[d.name]) for d in dims]
    return AcquisitionSettings(
        root_path=root_path,
        dimensions=[pdim, *dims],
        dtype=geometry.position_dtype(position),
        format=fmt,
        compression=settings.compression,
        storage_order=order,
        overwrite=settings.overwrite,
    )


class _PositionFrames(FrameMetadataLog):
    """One position's frame metadata, read from the acquisition's log."""

    __slots__ = ("_parent", "_position")

    def __init__(self, parent: FrameMetadataLog, position: int) -> None:
        self._parent = parent
        self._position = position

    def __len__(self) -> int:  # entries of the parent log (`start` counts them)
        return len(self._parent)

    @property
    def forgotten(self) -> int:
        return self._parent.forgotten

    def forget(self, end: int) -> None:  # the stream forgets the parent's
        pass

    def records(
        self, position: int | None = None, start: int = 0, stop: int | None = None
    ) -> list[tuple[int, tuple[int, ...], dict[str, Any]]]:
        if position not in (None, 0):
            return []
        own = self._parent.records(self._position, start, stop)
        return [(0, i, meta) for _, i, meta in own]


class RaggedBackend(Backend):
    """Writes each position through its own single-image backend."""

    name = "ragged"

    def __init__(self, context: BackendContext, child_cls: type[Backend]) -> None:
        super().__init__(context)
        settings, router = context.settings, context.router
        self.child_cls = child_cls
        self.kind = settings.format.name
        self.root = resolve_output(settings.output_path) if settings.root_path else None
        self.layout = build_layout(settings) if self.kind == "ome-zarr" else None
        self.zarr_format: int = getattr(settings.format, "zarr_format", 3)
        self.children: list[Backend] = []
        self.child_settings = [
            position_settings(settings, p, self._child_root(p))
            for p in range(self.num_positions)
        ]
        for p, child in enumerate(self.child_settings):
            frames = _PositionFrames(context.frame_metadata, p)
            self.children.append(
                child_cls(
                    BackendContext(
                        child,
                        FrameRouter(child),
                        frames,
                        ome_xml=False,
                        display=context.display,
                    )
                )
            )
        # frame numbers of each position, for per-position frame counts
        self.frames_of: list[list[int]] = [[] for _ in range(self.num_positions)]
        total = router.total or 0
        for n in range(total):
            self.frames_of[router.route(n)[0]].append(n)
        self.tiff_set: RaggedTiffSet | None = None  # OME-TIFF: the joined models
        if self.kind == "ome-tiff":
            from ome_writers.backends.tiff._ragged_files import RaggedTiffSet

            self.tiff_set = RaggedTiffSet(
                settings,
                self.children,  # type: ignore[arg-type]
                self.global_metadata,
            )
        self.attributes: dict[str, Any] = {}
        if self.layout is not None:
            self.attributes = dict(self.layout.groups["."])
        self.progress = context.progress
        self._root_lock = threading.Lock()  # root documents written whole, in turn
        self.finalized = False

    @property
    def label(self) -> str:
        """The library writing each position."""
        return f"{self.child_cls.name} per position"

    def output_paths(self) -> tuple[str, ...]:
        """OME-Zarr: the root; OME-TIFF: each position's file."""
        if self.kind == "ome-tiff":
            return tuple(p for child in self.children for p in child.output_paths())
        return () if self.root is None else (str(self.root),)

    @classmethod
    def problem(
        cls, settings: AcquisitionSettings, child_cls: type[Backend]
    ) -> str | None:
        """Why `child_cls` cannot write some position of `settings`, or None."""
        for p in range(len(settings.positions)):
            child = position_settings(settings, p, "unused")
            reason = child_cls.check_settings(child)
            if reason:
                return f"position {settings.positions[p].name!r}: {reason}"
        return None

    def _child_root(self, position: int) -> str:
        if self.root is None:
            return ""
        if self.layout is not None:  # the position's image group
            return str(self.root / self.layout.image_paths[position])
        if self.kind == "ome-tiff":
            return str(self.root / f"{self.root.name}_p{position:03d}.ome.tiff")
        return str(self.root / f"position_{position:03d}")

    def frames_done(self, position: int, frames_done: int) -> int:
        """How many of the first `frames_done` frames went to `position`."""
        return bisect.bisect_left(self.frames_of[position], frames_done)

    # ------------------------------------------------------------- lifecycle

    def prepare(self) -> None:
        root = self.root
        if root is not None:
            if root.exists() or root.is_symlink():
                if not self.settings.overwrite:
                    raise FileExistsError(
                        f"{root} already exists. Use overwrite=True to replace it."
                    )
                ours = is_group(root) or (self.kind != "ome-zarr" and root.is_dir())
                remove_dataset(root, is_dataset=ours)
            root.mkdir(parents=True)
            if self.layout is not None:
                self._set_progress(0, WRITING)
                for path, attributes in self.layout.groups.items():
                    if path == ".":
                        attributes = self.attributes
                    if path not in self.layout.image_paths:
                        write_group(
                            root, path, attributes, zarr_format=self.zarr_format
                        )
        for child in self.children:
            child.prepare()

    def write(self, position: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        self.children[position].write(0, index, frame)

    def skip(self, position: int, index: tuple[int, ...]) -> None:
        self.children[position].skip(0, index)

    def read(self, position: int, key: StorageKey) -> np.ndarray:
        return self.children[position].read(0, key)

    def enable_live_reads(self) -> None:
        for child in self.children:
            child.enable_live_reads()

    def checkpoint(self, frames_done: int) -> None:
        for p, child in enumerate(self.children):
            child.checkpoint(self.frames_done(p, frames_done))

    def make_readable(self, frames_done: int) -> None:
        for p, child in enumerate(self.children):
            child.make_readable(self.frames_done(p, frames_done))

    def start_readable(self, frames_done: int) -> Callable[[], object] | None:
        # every child starts under the stream's lock; what they then wait for
        # (their writes in flight) is waited for without it
        started = [
            child.start_readable(self.frames_done(p, frames_done))
            for p, child in enumerate(self.children)
        ]
        waits = [finish for finish in started if finish is not None]

        def finish() -> None:
            first: Exception | None = None
            for wait in waits:  # every child's, then the first failure
                try:
                    wait()
                except Exception as e:
                    first = first or e
            if first is not None:
                raise first
            self._write_progress(frames_done, WRITING)

        return finish

    def closing(self) -> None:
        for child in self.children:
            child.closing()

    def finalize(self, frames_done: int) -> None:
        self.finalized = True
        errors: list[BaseException] = []
        for p, child in enumerate(self.children):
            try:
                child.finalize(self.frames_done(p, frames_done))
            except Exception as e:  # close every child, report the first error
                errors.append(e)
        if self.tiff_set is not None:
            self.tiff_set.write()
        self._write_progress(frames_done, FAILED if errors else COMPLETE)
        if errors:
            raise errors[0]

    def _set_progress(self, frames: int, status: Status) -> None:
        """The progress record in the root's attributes (OME-Zarr)."""
        if self.progress is None or self.layout is None:
            return
        if status == WRITING:
            record = self.progress.record(frames, status)
        else:
            record = self.progress.final(frames, failed=status == FAILED)
        record["image_paths"] = list(self.layout.image_paths)
        self.attributes["ome_writers"] = {"version": __version__, PROGRESS_KEY: record}

    def _write_progress(self, frames: int, status: Status) -> None:
        """State the progress in the root's attributes (OME-Zarr)."""
        if self.progress is None or self.layout is None or self.root is None:
            return
        with self._root_lock:
            self._set_progress(frames, status)
            write_group(self.root, ".", self.attributes, zarr_format=self.zarr_format)

    # -------------------------------------------------------------- metadata

    def set_global_metadata(self, namespace: str, metadata: dict[str, Any]) -> None:
        self.global_metadata[namespace] = json_safe(metadata)
        if self.layout is not None and self.root is not None:
            with self._root_lock:
                self.attributes[namespace] = self.global_metadata[namespace]
                write_group(
                    self.root, ".", self.attributes, zarr_format=self.zarr_format
                )
        elif self.kind == "ome-tiff":
            for child in self.children:
                child.set_global_metadata(namespace, metadata)
            if self.finalized and self.tiff_set is not None:
                self.tiff_set.write()

    def get_metadata(self) -> Any:
        if self.layout is not None:
            out: dict[str, Any] = {}
            for p, child in enumerate(self.children):
                (attrs,) = child.get_metadata().values()
                out[self.layout.image_paths[p]] = attrs
            return out
        if self.tiff_set is not None:
            return copy.deepcopy(self.tiff_set.file_models())
        return None

    def update_metadata(self, metadata: Any) -> None:
        if self.layout is not None:
            if not isinstance(metadata, dict):
                raise TypeError(
                    f"Expected dict[str, dict] metadata, got {type(metadata).__name__}"
                )
            paths = self.layout.image_paths
            for path, attributes in metadata.items():
                if path not in paths:
                    raise KeyError(f"Unknown path: {path}")
                self.children[paths.index(path)].update_metadata({".": attributes})
        elif self.tiff_set is not None:
            self.tiff_set.replace(metadata, self.finalized)
