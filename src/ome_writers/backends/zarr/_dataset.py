"""What every OME-Zarr backend shares: layout, growth, chunk assembly, metadata.

A concrete backend only creates, resizes, writes and reads arrays.

Unbounded first dimension: arrays start with room for 64 MiB of frames (at
most 128 indices, at least one chunk) and grow geometrically (doubling, in
whole chunks), so ``zarr.json`` is rewritten O(log n) times, not per frame; at
close every array is cut to exactly the frames written.

Durability: chunk files are written without per-file fsync; checkpoints and close
sync the filesystem holding the dataset once (`sync_filesystem`), and a
`Flusher` starts write-back of the chunk (or shard) files in the background
so that the final sync does not have to write the whole dataset: every
16-64 MiB, as much as the library may have in flight (`flush_every`). With
zarr-python's few writes in flight, batches of 16 rather than 64 MiB cut its
close from 73-84 to 24-42 ms (8 positions x 2 channels x 10 t of 1024²).
"""

from __future__ import annotations

import copy
import math
from abc import abstractmethod
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ome_writers._io._durable import sync_filesystem
from ome_writers._io._object_store import ObjectPath, object_store_error
from ome_writers._io._paths import remove_dataset, resolve_root
from ome_writers._io._writeback import FLUSH_EVERY_BYTES, Flusher, flush_every
from ome_writers.backends._base import Backend, StorageKey, json_safe, read_padded
from ome_writers.backends.zarr._array_creation import (
    FIRST_USE_LIMIT,
    ArraysAhead,
    first_use_order,
)
from ome_writers.backends.zarr._chunk_assembly import ChunkAssembler
from ome_writers.backends.zarr._chunk_directories import WAKE_EVERY, DirectoryPreparer
from ome_writers.backends.zarr._group_documents import GroupsAhead
from ome_writers.metadata._frame_metadata import JOURNAL_NAME, FrameMetadataJournal
from ome_writers.metadata._ngff_axes import check_axes
from ome_writers.metadata._ome_xml_text import collection_text
from ome_writers.metadata._zarr_groups import set_windows, write_group, write_groups
from ome_writers.metadata._zarr_layout import check_plate, plan_layout

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import numpy as np

    from ome_writers._io._object_store import DatasetPath
    from ome_writers._schema import AcquisitionSettings
    from ome_writers.backends._base import BackendContext

BLOSC = {"blosc-zstd": ("zstd", 3), "blosc-lz4": ("lz4", 5)}
#: per-frame metadata records of an image kept in its ``zarr.json``; more stay
#: in the journal file beside it (see `ZarrBackend._write_frame_metadata`)
INLINE_FRAME_RECORDS = 10_000
#: an unbounded array starts with room for this many bytes along its growing
#: axis, and at most this many indices (at least one chunk), and never grows by
#: less; it is cut to the frames written by a loss-window visit once its frames
#: stopped arriving, by checkpoints and at close
INITIAL_GROWTH_BYTES = 64 * 1024**2
INITIAL_GROWTH_INDICES = 128


class ZarrBackend(Backend):
    """Base of the OME-Zarr backends."""

    grow_ahead: ClassVar[bool] = False  # `_resize` returns before it is done
    # can write the arrays of pyramid levels 1..N (`_zarr_levels.LevelArrays`)
    writes_level_arrays: ClassVar[bool] = True

    @classmethod
    def check_settings(cls, settings: AcquisitionSettings) -> str | None:
        return (
            super().check_settings(settings)
            or check_axes(settings)
            or check_plate(settings)
        )

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        settings = context.settings
        self.root = resolve_root(settings.output_path, settings.s3)
        # a local directory (chunk files, directories ahead, write-back, syncs)
        # or a key prefix in a bucket (each acknowledged object is durable)
        local = isinstance(self.root, Path)
        self.layout = plan_layout(settings)
        # group documents: built and written in the background (`prepare`)
        self._groups = GroupsAhead(settings, self.layout)
        image_paths = self.layout.image_paths
        self.journal = FrameMetadataJournal(
            context.frame_metadata,
            lambda position: self.root / image_paths[position] / JOURNAL_NAME,
        )
        dims = settings.array_storage_dimensions
        n_index = len(dims) - 2
        big = 2**62  # stands for the extent of an unbounded dimension
        counts = [d.count or big for d in dims]
        self.chunks: tuple[int, ...] = tuple(
            min(d.chunk_size or (n if i >= n_index else 1), n)
            for i, (d, n) in enumerate(zip(dims, counts, strict=True))
        )
        self.shards: tuple[int, ...] | None = None
        if any(d.shard_size_chunks for d in dims):
            # a shard holds whole chunks: cap it at the chunks covering the array
            self.shards = tuple(
                c * min(d.shard_size_chunks or 1, math.ceil(n / c))
                for c, d, n in zip(self.chunks, dims, counts, strict=True)
            )
        self.compression = settings.compression or "none"
        # the library writes chunk files below ``c/`` of a local array directory;
        # once it falls behind, make their directories ahead (`_ahead`)
        self._directories_ahead = self.record().makes_directories_ahead and local
        self.frame_shape = (int(dims[-2].count or 0), int(dims[-1].count or 0))
        self.frame_bytes = math.prod(self.frame_shape) * self.dtype.itemsize
        self.grow_axis = next((i for i, d in enumerate(dims) if d.count is None), None)
        step = self.shards or self.chunks
        self.grow_step: int = step[self.grow_axis] if self.grow_axis is not None else 0
        self.allocated = [self._initial_shape() for _ in range(self.num_positions)]
        self.extent = [0] * self.num_positions  # written extent on the grow axis
        # growing never leaves less room than the array started with
        self._initial_room = (
            self.allocated[0][self.grow_axis] if self.grow_axis is not None else 0
        )
        # extents at the last loss-window visit: an array is cut only once
        # no frame reached it since (`start_readable`)
        self._visited_extent = [0] * self.num_positions
        self._room_declared = False  # an array declares room past its frames
        # the unit written at once: a shard when sharding, else a chunk
        unit = (self.shards or self.chunks)[:n_index]
        self.assembler: ChunkAssembler | None = None
        if ChunkAssembler.needed(unit):
            self.assembler = ChunkAssembler(
                self.storage_shape[:n_index],
                unit,
                self.frame_shape,
                self.dtype,
                self._write_block_at,
                planned=self.router.is_planned if self.router.jagged else None,
                allocate=self._reuse_block,
            )
        grid = self.shards or self.chunks
        # chunk (or shard) counts along Y and X: the last two parts of a chunk key
        self._yx_chunks = [
            math.ceil(n / g) for n, g in zip(self.frame_shape, grid[-2:], strict=True)
        ]
        self._chunk_roots = [
            str(self.root / self._array_path(p) / "c")
            for p in range(self.num_positions)
        ]
        self.finalized = False
        self.flusher = Flusher(
            self.root if isinstance(self.root, Path) else None,
            flush_every(self._max_bytes_in_flight()),
            locate=self._unit_files,
        )
        self.preparer: DirectoryPreparer | None = None
        # positions whose array exists (all but the first are made in the
        # background when there are several: `_arrays_ahead`)
        self.arrays_ahead: ArraysAhead | None = None
        self._array_ready = [True] * self.num_positions
        self._frames_seen = 0  # frames written or skipped
        self._wake_preparer_at = WAKE_EVERY

    @property
    def attributes(self) -> dict[str, dict[str, Any]]:
        """Group path -> attributes (waits until the group documents exist)."""
        return self._groups.documents()

    def explain_failure(self, error: BaseException) -> BaseException:
        """A failed write's error; in a bucket, an OSError naming the dataset
        (an OSError is one already: ours, or explained by the library)."""
        if (
            isinstance(self.root, ObjectPath)
            and isinstance(error, Exception)
            and (not isinstance(error, OSError))
        ):
            return object_store_error(error, self.root)
        return error

    def _array_path(self, position: int) -> str:
        """Where one position's array goes, relative to the root."""
        return self.layout.array_path(position)

    def _initial_shape(self) -> list[int]:
        shape = [int(c) if c is not None else 0 for c in self.storage_shape]
        if self.grow_axis is not None:
            # room for `INITIAL_GROWTH_BYTES` of frames at once, in whole steps:
            # growing from one chunk resized the array at frames 1, 2, 3, 5, 9,
            # ..., each resize queued behind the writes in flight, which the
            # first frames then waited for
            index_bytes = self.dtype.itemsize * math.prod(
                n for i, n in enumerate(shape) if i != self.grow_axis
            )
            room = min(
                INITIAL_GROWTH_INDICES, INITIAL_GROWTH_BYTES // max(1, index_bytes)
            )
            steps = max(1, room // self.grow_step)
            shape[self.grow_axis] = self.grow_step * steps
        return shape

    # --------------------------------------------------------------- creation

    def prepare(self) -> None:
        root = self.root
        if root.exists() or root.is_symlink():
            if not self.settings.overwrite:
                raise FileExistsError(
                    f"Zarr group already exists at {root}. "
                    "Use overwrite=True to replace it."
                )
            remove_dataset(root, is_dataset=(root / "zarr.json").is_file())
        # a placeholder root document at once, replaced by the real one in the
        # background: a process killed before then leaves a Zarr group, which
        # `overwrite=True` recognizes as a dataset of ours and replaces
        write_group(root, ".", {}, atomic=False)
        targets = [
            (root / self._array_path(p), self.allocated[p])
            for p in range(self.num_positions)
        ]

        def create(positions: list[int]) -> None:
            self._create_arrays([(p, *targets[p]) for p in positions])

        if self.num_positions == 1:
            create([0])
            self._groups.start(root, self._ome_xml_ahead())
            return
        total = self.router.total
        order = first_use_order(
            self.num_positions,
            self.router.route,
            min(total if total is not None else FIRST_USE_LIMIT, FIRST_USE_LIMIT),
        )
        self.arrays_ahead = ArraysAhead(order, create)
        self._array_ready = self.arrays_ahead.ready
        self.arrays_ahead.start()
        self._groups.start(root, self._ome_xml_ahead())

    def _await_array(self, position: int) -> None:
        if self.arrays_ahead is not None:
            self.arrays_ahead.wait(position)

    def _await_arrays(self) -> None:
        if self.arrays_ahead is not None:
            self.arrays_ahead.wait_all()

    def _await_ahead(self) -> None:
        """Wait for every array and group document made in the background."""
        self._await_arrays()
        self._groups.wait()

    # ---------------------------------------------------------------- writing

    def _count_frame(self) -> None:
        self._frames_seen += 1
        seen = self._frames_seen
        if seen < self._wake_preparer_at:
            return
        self._wake_preparer_at = seen + WAKE_EVERY
        if self.preparer is not None:
            self.preparer.advance(seen)
        elif self._directories_ahead and self._falling_behind():
            self._start_preparer(seen)

    def _falling_behind(self) -> bool:
        """Whether an append had to wait for the library's writes."""
        return False

    def _start_preparer(self, seen: int) -> None:
        self.preparer = DirectoryPreparer(
            self._frame_directories, self.router.total, start=seen
        )

    def _chunk_prefixes(self, position: int, index: tuple[int, ...]) -> list[str]:
        """``c``, ``c/<i>``, ... ``c/<i>/.../<k>``: the key of `index` but Y, X.

        The arrays use Zarr v3's default chunk keys (``c/<index...>/<y>/<x>``);
        strings keep this cheap on the background threads that use it.
        """
        path = self._chunk_roots[position]
        prefixes = [path]
        for i, g in zip(index, self.shards or self.chunks, strict=False):
            path = f"{path}/{i // g}"
            prefixes.append(path)
        return prefixes

    def _frame_directories(self, n: int) -> list[str]:
        """Directories frame `n`'s chunk (or shard) files go into, parents first."""
        prefixes = self._chunk_prefixes(*self.router.route(n))
        head = prefixes[-1]
        return [*prefixes, *(f"{head}/{y}" for y in range(self._yx_chunks[0]))]

    def write(self, position: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        self._write(position, index, frame, None)

    def write_owned(
        self,
        position: int,
        index: tuple[int, ...],
        frame: np.ndarray,
        release: Callable[[], None],
    ) -> None:
        """`write` a buffer nobody writes to until `release()` is called.

        The library may then keep the buffer instead of copying it; `release`
        is called exactly once, when it is no longer needed (after the write
        finished or failed).
        """
        self._write(position, index, frame, release)

    def _write(
        self,
        position: int,
        index: tuple[int, ...],
        frame: np.ndarray,
        release: Callable[[], None] | None,
    ) -> None:
        if not self._array_ready[position]:  # still being created (`prepare`)
            self._await_array(position)
        self._count_frame()
        axis = self.grow_axis
        extent = self.extent[position]
        try:
            if axis is not None:
                self._track_growth(position, index[axis])
            if self.assembler is not None:
                self.assembler.add(position, index, frame)
            elif release is None:
                self._write_frame(position, index, frame)
            else:
                self._write_frame_owned(position, index, frame, release)
                release = None  # handed over
        except BaseException:
            # the append fails: close cuts the array before this frame
            self.extent[position] = extent
            raise
        finally:
            if release is not None:
                release()
        if self.assembler is None:
            self._handed_over(frame.nbytes, (position, index))

    def _handed_over(self, nbytes: int, unit: tuple[int, tuple[int, ...]]) -> None:
        """A frame's bytes went to the library: count them for write-back."""
        self.flusher.add(nbytes, unit)

    def skip(self, position: int, index: tuple[int, ...]) -> None:
        if not self._array_ready[position]:
            self._await_array(position)
        self._count_frame()
        if self.grow_axis is not None:
            self._track_growth(position, index[self.grow_axis])
        if self.assembler is not None:
            self.assembler.skip(position, index)

    def _track_growth(self, position: int, i: int) -> None:
        if i < self.extent[position]:
            return
        self.extent[position] = i + 1
        shape = self.allocated[position]
        axis = self.grow_axis
        assert axis is not None
        # a backend that resizes asynchronously grows once half full, so the
        # larger shape is in place before a write needs it
        if i >= (shape[axis] + 1) // 2 if self.grow_ahead else i >= shape[axis]:
            step = self.grow_step
            target = max(i + 1, 2 * shape[axis], self._initial_room)
            shape[axis] = math.ceil(target / step) * step
            self._resize(position, tuple(shape))

    def _max_bytes_in_flight(self) -> int:
        """At most this many bytes are written but not yet on the file (the
        library's writes in flight; called once, from `__init__`)."""
        return FLUSH_EVERY_BYTES

    def _reuse_block(self, shape: tuple[int, ...]) -> np.ndarray | None:
        """A block handed to `_write_block` earlier and written since, to
        assemble the next one in (None: none to reuse)."""
        return None

    def _write_block_at(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        self._write_block(position, origin, block)
        self.flusher.add(block.nbytes, (position, origin))

    def _unit_files(self, unit: tuple[int, tuple[int, ...]]) -> Iterator[str]:
        """Chunk (or shard) files written for a frame or block at `unit`."""
        head = self._chunk_prefixes(*unit)[-1]
        for y, x in product(*map(range, self._yx_chunks)):
            yield f"{head}/{y}/{x}"

    def finalize(self, frames_done: int) -> None:
        """Write what is pending, cut, describe and sync the dataset.

        After a failed write every step is still attempted, so the metadata
        describes what reached the disk; the first error is raised at the end.
        """
        if self.finalized:
            return
        self.finalized = True
        self.flusher.close()
        if self.preparer is not None:
            self.preparer.close(frames_done)
        errors: list[Exception] = []

        def attempt(step: Callable[[], None]) -> None:
            try:
                step()
            except Exception as e:  # describe what exists; report the failure
                errors.append(e)

        attempt(self._await_ahead)

        if self.assembler is not None:
            attempt(self.assembler.flush_all)
        attempt(self._drain)
        if self.grow_axis is not None:
            attempt(self._cut_to_extent)
            attempt(self._drain)
        attempt(self._write_frame_metadata)
        attempt(self._write_ome_xml_at_close)
        attempt(self._close_arrays)
        attempt(lambda: sync_filesystem(self.root))
        if errors:
            raise errors[0]

    def final_first_extent(self, position: int) -> int | None:
        """Extent of one array's first dimension after close, if it is cut.

        None: the declared count stays (bounded arrays keep their shape).
        """
        return self.extent[position] if self.grow_axis == 0 else None

    def _cut_to_extent(self) -> None:
        assert self.grow_axis is not None
        for position in range(self.num_positions):
            shape = self.allocated[position]
            shape[self.grow_axis] = self.extent[position]
            self._resize(position, tuple(shape))

    def _ome_xml_ahead(self) -> Callable[[], None] | None:
        """A bounded acquisition's collection OME-XML depends on the settings
        alone: it is written after the group documents, in the background."""
        return self._write_ome_xml if self.grow_axis is None else None

    def _write_ome_xml_at_close(self) -> None:
        """The OME-XML unless the background wrote it: an unbounded
        acquisition's (its extents are known now), or a bounded one's whose
        background write failed (raised here)."""
        if not self._groups.then_done:
            self._write_ome_xml()

    def _write_ome_xml(self) -> None:
        """Write ``OME/METADATA.ome.xml`` of a collection (text: no ome-types)."""
        if self.layout.kind != "collection":
            return
        xml = collection_text(
            self.settings, self.extent if self.grow_axis is not None else None
        )
        if xml is not None:
            (self.root / "OME" / "METADATA.ome.xml").write_text(xml, encoding="utf-8")

    def checkpoint(self, frames_done: int) -> None:
        """`make_readable`, then hand the data to the disk (one sync)."""
        self.make_readable(frames_done)
        sync_filesystem(self.root)

    def make_readable(self, frames_done: int) -> None:
        """Pending writes land, partially filled chunks are written as they
        are (missing frames as zeros; rewritten when complete), an unbounded
        array declares the frames written, per-frame metadata is journaled."""
        finish = self._start_readable(cut_all=True)
        if finish is not None:
            finish()

    def start_readable(self, frames_done: int) -> Callable[[], object] | None:
        """`make_readable` in two parts. Under the stream's lock: provisional
        writes and array extents. What is returned, without it: waiting for the
        writes in flight to land, and the per-frame metadata journal (its own
        lock).

        An unbounded array that received frames since the previous visit
        keeps the room it grew ahead (it declares its frames and zeros past
        them); it is cut to the frames written at the first visit after they
        stopped arriving (`needs_visit`), so a steady acquisition does not
        cut and regrow its arrays, rewriting ``zarr.json`` twice, every visit.
        """
        return self._start_readable(cut_all=False)

    def needs_visit(self) -> bool:
        return self._room_declared

    def _start_readable(self, *, cut_all: bool) -> Callable[[], object] | None:
        self._await_ahead()  # a dataset after a crash has all it names
        provisional = False
        if self.assembler is not None:
            for position, origin, block in self.assembler.provisional():
                self._write_block_at(position, origin, block)
                provisional = True
        cuts = self._arrays_to_cut(cut_all)
        land: Callable[[], None] | None = None
        if provisional or cuts:
            # orders a provisional write before its chunk's final one, and
            # every write before an array is cut
            self._drain()
        else:
            land = self._writes_in_flight()
        if cuts:
            self._declare_extents(cuts)
        self._describe_not_acquired()
        journal = self.journal

        def finish() -> None:
            if land is not None:
                land()
            journal.append_new()

        return finish

    def _writes_in_flight(self) -> Callable[[], None] | None:
        """What waits (from another thread) for the writes issued so far to
        land; None: they have landed (`_drain`, under the stream's lock)."""
        self._drain()
        return None

    def _arrays_to_cut(self, cut_all: bool) -> list[int]:
        """Positions whose array declares room past its frames and is to be
        cut now: all of them, or (a visit) those no frame reached since the
        previous visit."""
        axis = self.grow_axis
        if axis is None:
            return []
        grown = [
            position
            for position, (shape, extent) in enumerate(
                zip(self.allocated, self.extent, strict=True)
            )
            if shape[axis] != extent
        ]
        visited = self._visited_extent
        cuts = [p for p in grown if cut_all or self.extent[p] == visited[p]]
        self._visited_extent = list(self.extent)
        self._room_declared = len(cuts) < len(grown)
        return cuts

    def _declare_extents(self, positions: list[int]) -> None:
        """Cut arrays grown ahead to the frames written (they grow again as
        frames arrive), so their ``zarr.json`` describes what is there."""
        axis = self.grow_axis
        assert axis is not None
        for position in positions:
            shape = self.allocated[position]
            shape[axis] = self.extent[position]
            self._resize(position, tuple(shape))
        self._drain()

    def _checkpoint_metadata(self) -> None:
        """Per-frame metadata since the last checkpoint, appended to each image's
        ``frame_metadata.jsonl`` (consolidated into ``zarr.json`` at close)."""
        self.journal.append_new()
        self._describe_not_acquired()

    def _describe_not_acquired(self) -> None:
        if self.router.jagged:  # the cells not acquired, as far as acquired
            for position, path in enumerate(self.layout.image_paths):
                self._set_image_attributes(path, position)
            write_groups(self.root, self._image_documents(), atomic=True)

    def _write_frame_metadata(self) -> None:
        """Every frame's metadata into the images' ``zarr.json`` (at close),
        with display windows from the observed pixel ranges.

        The journal holds what arrived (the stream keeps only the entries of
        the last loss window). Up to `INLINE_FRAME_RECORDS` records of an image
        go into its ``zarr.json``; more stay in its local journal file, which
        ``zarr.json`` names (``ome_writers.frame_metadata_file``), so close
        does not grow with the length of the run.
        """
        ranges = self.display_ranges
        journal = self.journal
        journal.append_new()
        kept = []
        for position, path in enumerate(self.layout.image_paths):
            if ranges is not None:
                set_windows(self.attributes[path], ranges.windows(position))
            file = self.root / path / JOURNAL_NAME
            count = journal.count(file)
            if count > INLINE_FRAME_RECORDS and isinstance(file, Path):
                kept.append(file)
                reference = {"path": JOURNAL_NAME, "records": count}
                self._set_image_attributes(path, position, file=reference)
            else:
                self._set_image_attributes(path, position, journal.read(file))
        # a plate's hundreds of documents are replaced on a few threads
        write_groups(self.root, self._image_documents(), atomic=True)
        if "." not in self.layout.image_paths:
            write_group(self.root, ".", self.attributes["."])
        journal.remove(keep=kept)

    def _set_image_attributes(
        self,
        path: str,
        position: int,
        records: list[dict[str, Any]] | None = None,
        file: dict[str, Any] | None = None,
    ) -> None:
        from ome_writers._version import __version__

        own: dict[str, Any] = {}
        if records:
            own["frame_metadata"] = records
        if file is not None:
            own["frame_metadata_file"] = file
        if self.router.jagged:  # cells that are never acquired, by design
            own["not_acquired"] = self._not_acquired(position)
        if own:
            kept = self.attributes[path].get("ome_writers", {})
            self.attributes[path]["ome_writers"] = {
                **kept,
                "version": __version__,
                **own,
            }

    def _image_documents(self) -> dict[str, dict[str, Any]]:
        return {path: self.attributes[path] for path in self.layout.image_paths}

    def _not_acquired(self, position: int) -> list[list[int]]:
        """Storage indices (index dims) of the array's cells no frame is for."""
        shape = list(self.allocated[position][:-2])
        if self.grow_axis is not None:
            shape[self.grow_axis] = self.extent[position]
        planned = self.router.is_planned
        return [
            list(index)
            for index in product(*(range(n) for n in shape))
            if not planned(position, index)
        ]

    # ---------------------------------------------------------------- reading

    def read(self, position: int, key: StorageKey) -> np.ndarray:
        if not self._array_ready[position]:
            self._await_array(position)
        out = read_padded(
            _Reader(self, position), self.allocated[position], key, self.dtype
        )
        if self.assembler is not None:
            self.assembler.overlay(position, key, out)
        return out

    # --------------------------------------------------------------- metadata

    def get_metadata(self) -> dict[str, dict[str, Any]]:
        """Image group path ("." for a single image) -> copy of its attributes."""
        return {
            path: copy.deepcopy(
                {k: v for k, v in self.attributes[path].items() if k != "ome_writers"}
            )
            for path in self.layout.image_paths
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
            if "ome_writers" in self.attributes[path]:
                new["ome_writers"] = self.attributes[path]["ome_writers"]
            self.attributes[path] = new
            write_group(self.root, path, new)

    def set_global_metadata(self, namespace: str, metadata: dict[str, Any]) -> None:
        self.global_metadata[namespace] = json_safe(metadata)
        self.attributes["."][namespace] = self.global_metadata[namespace]
        write_group(self.root, ".", self.attributes["."])

    # ------------------------------------------------------- library-specific

    @abstractmethod
    def _create_arrays(self, arrays: list[tuple[int, DatasetPath, list[int]]]) -> None:
        """Create arrays: (position, path, initial shape) each.

        Called for the first position, then (on a background thread) for the
        others in batches; libraries that can should create a batch
        concurrently.
        """

    @abstractmethod
    def _write_frame(
        self, position: int, index: tuple[int, ...], frame: np.ndarray
    ) -> None:
        """Write one frame (chunks hold one frame along the index dims)."""

    def _write_frame_owned(
        self,
        position: int,
        index: tuple[int, ...],
        frame: np.ndarray,
        release: Callable[[], None],
    ) -> None:
        """`_write_frame` of a buffer the library may keep until `release()`.

        Must call `release` exactly once, also when the write fails.
        """
        try:
            self._write_frame(position, index, frame)
        finally:
            release()

    @abstractmethod
    def _write_block(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        """Write a block of frames (index dims + Y, X) starting at `origin`."""

    @abstractmethod
    def _resize(self, position: int, shape: tuple[int, ...]) -> None:
        """Change one array's shape."""

    @abstractmethod
    def _read_array(self, position: int, key: tuple[Any, ...]) -> np.ndarray:
        """Read `key` (inside the allocated shape) from one array."""

    def share_with(self, other: ZarrBackend, memory_fraction: float) -> None:
        """Write through `other`'s library resources (threads, pools), before
        `prepare`; keep at most `memory_fraction` of its in-flight bytes.

        Used by pyramid levels, whose arrays belong to the same dataset; a
        library without shareable resources ignores it.
        """

    def _drain(self) -> None:
        """Wait for every pending write; raise the first error."""

    def _close_arrays(self) -> None:
        """Release library resources (arrays stay readable)."""


class _Reader:
    """numpy-style `[key]` access to one backend array, for `read_padded`."""

    def __init__(self, backend: ZarrBackend, position: int) -> None:
        self._backend = backend
        self._position = position

    def __getitem__(self, key: tuple[Any, ...]) -> np.ndarray:
        return self._backend._read_array(self._position, key)  # noqa: SLF001


def codec_configs(compression: str, itemsize: int) -> list[dict[str, Any]]:
    """Zarr v3 codec documents after the `bytes` codec for `compression`."""
    if compression in BLOSC:
        cname, clevel = BLOSC[compression]
        return [
            {
                "name": "blosc",
                "configuration": {
                    "cname": cname,
                    "clevel": clevel,
                    "shuffle": "shuffle",
                    "typesize": itemsize,
                    "blocksize": 0,
                },
            }
        ]
    if compression == "zstd":
        return [{"name": "zstd", "configuration": {"level": 3, "checksum": False}}]
    return []
