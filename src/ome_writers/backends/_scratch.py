"""Scratch backend: numpy arrays in memory, or memory-mapped files on disk."""

from __future__ import annotations

import atexit
import json
import math
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers._io._paths import remove_dataset, replace_file, resolve_output
from ome_writers.backends._base import Backend, StorageKey, json_safe, read_padded
from ome_writers.metadata._frame_metadata import FrameMetadataJournal

if TYPE_CHECKING:
    from ome_writers.backends._base import BackendContext

MANIFEST = "manifest.json"
FRAME_METADATA = "frame_metadata.jsonl"


class ScratchBackend(Backend):
    """Arrays for live viewing; with a `root_path`, a crash-recoverable directory.

    Disk layout: ``pos_<i>.dat`` (raw C-order memmap of the storage array, possibly
    over-allocated along an unbounded axis), ``manifest.json`` (settings, dtype,
    the written ``position_shapes``) and ``frame_metadata.jsonl``.
    """

    name = "scratch"

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        shape = self.storage_shape
        self._grow_axis = next((i for i, c in enumerate(shape) if c is None), None)
        self._initial = tuple(1 if c is None else c for c in shape)
        self._arrays: list[np.ndarray] = []
        self._extents = [0] * self.num_positions  # written extent on the grow axis
        self._dir: Path | None = None
        self._journal: FrameMetadataJournal | None = None  # frame metadata file
        self._finalized = False

    def output_paths(self) -> tuple[str, ...]:
        """The directory of a `root_path`; nothing in memory (a directory
        spilled to beyond the memory limit is temporary, not an output)."""
        root = self.settings.root_path
        return (str(resolve_output(root)),) if root else ()

    # lifecycle ------------------------------------------------------------

    def prepare(self) -> None:
        fmt = self.settings.format
        nbytes = self.num_positions * math.prod(self._initial) * self.dtype.itemsize
        root = self.settings.root_path
        if root:
            self._dir = self._make_dir(resolve_output(root))
        elif nbytes > getattr(fmt, "max_memory_bytes", nbytes):
            gb = nbytes / 1e9
            if not getattr(fmt, "spill_to_disk", True):
                raise MemoryError(
                    f"Scratch arrays would require ~{gb:.2f} GB, exceeding "
                    f"max_memory_bytes={fmt.max_memory_bytes}. Set root_path "  # type: ignore[union-attr]
                    "or spill_to_disk=True."
                )
            tmp = Path(tempfile.mkdtemp(prefix="ome_scratch_"))
            atexit.register(shutil.rmtree, tmp, ignore_errors=True)
            warnings.warn(
                f"Scratch arrays would require ~{gb:.2f} GB in memory. "
                f"Using disk-backed storage at {tmp}",
                UserWarning,
                stacklevel=4,
            )
            self._dir = tmp
        for i in range(self.num_positions):
            if self._dir is None:
                self._arrays.append(np.zeros(self._initial, dtype=self.dtype))
            else:
                path = self._dir / f"pos_{i}.dat"
                nbytes = math.prod(self._initial) * self.dtype.itemsize
                _reserve(path, nbytes)
                self._arrays.append(
                    np.memmap(path, mode="r+", dtype=self.dtype, shape=self._initial)
                )
        if self._dir is not None:
            self._write_manifest()

    def _make_dir(self, path: Path) -> Path:
        if path.exists():
            if not self.settings.overwrite:
                raise FileExistsError(
                    f"{path} already exists. Use overwrite=True to overwrite it."
                )
            is_ours = (path / MANIFEST).is_file() or (
                path.is_dir() and not any(path.iterdir())
            )
            remove_dataset(path, is_dataset=is_ours)
        path.mkdir(parents=True)
        return path

    def write(self, position: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        axis = self._grow_axis
        if axis is not None:
            i = index[axis]
            if i >= self._extents[position]:
                if i >= self._arrays[position].shape[axis]:
                    self._grow(position, i + 1)
                self._extents[position] = i + 1
        self._arrays[position][index] = frame

    def skip(self, position: int, index: tuple[int, ...]) -> None:
        axis = self._grow_axis
        if axis is not None and index[axis] >= self._extents[position]:
            if index[axis] >= self._arrays[position].shape[axis]:
                self._grow(position, index[axis] + 1)
            self._extents[position] = index[axis] + 1

    def _grow(self, position: int, needed: int) -> None:
        axis = self._grow_axis
        assert axis is not None
        old = self._arrays[position]
        new_len = max(needed, math.ceil(old.shape[axis] * 1.5))
        shape = list(old.shape)
        shape[axis] = new_len
        region = tuple(slice(0, n) for n in old.shape)
        if self._dir is None:
            new = np.zeros(shape, dtype=self.dtype)
            new[region] = old
            self._arrays[position] = new
            return
        path = self._dir / f"pos_{position}.dat"
        assert isinstance(old, np.memmap)
        old.flush()
        if axis == 0:  # C order: growing the first axis only extends the file
            # reserve first: if the disk is full, the old mapping stays usable
            _reserve(path, math.prod(shape) * self.dtype.itemsize)
            del old
            self._arrays[position] = np.memmap(
                path, mode="r+", dtype=self.dtype, shape=tuple(shape)
            )
            return
        tmp = path.with_suffix(".tmp")
        _reserve(tmp, math.prod(shape) * self.dtype.itemsize)
        new = np.memmap(tmp, mode="r+", dtype=self.dtype, shape=tuple(shape))
        new[region] = old
        new.flush()
        del old, new
        os.replace(tmp, path)
        self._arrays[position] = np.memmap(
            path, mode="r+", dtype=self.dtype, shape=tuple(shape)
        )

    def finalize(self, frames_done: int) -> None:
        self._finalized = True
        if self._dir is None:
            return
        self.checkpoint(frames_done)
        self._arrays = [
            np.memmap(
                self._dir / f"pos_{i}.dat", mode="r", dtype=self.dtype, shape=a.shape
            )
            for i, a in enumerate(self._arrays)
        ]

    def checkpoint(self, frames_done: int) -> None:
        if self._dir is None:
            return
        for array in self._arrays:
            if isinstance(array, np.memmap):
                array.flush()
        self.make_readable(frames_done)

    def make_readable(self, frames_done: int) -> None:
        # memory-mapped pages are the operating system's as soon as written
        if self._dir is None:
            return
        if self._journal is None:
            path = self._dir / FRAME_METADATA
            self._journal = FrameMetadataJournal(
                self.frame_metadata,
                lambda position: path,
                lambda pos, idx, meta: {"_pos": pos, "_idx": list(idx), **meta},
            )
        self._journal.append_new()
        self._write_manifest()

    # reading --------------------------------------------------------------

    def position_shape(self, position: int) -> tuple[int, ...]:
        """Written shape of one position (the grow axis cut to what was written)."""
        shape = list(self._arrays[position].shape)
        if self._grow_axis is not None:
            shape[self._grow_axis] = self._extents[position]
        return tuple(shape)

    def read(self, position: int, key: StorageKey) -> np.ndarray:
        array = self._arrays[position]
        return read_padded(array, array.shape, key, self.dtype)

    # metadata -------------------------------------------------------------

    def set_global_metadata(self, namespace: str, metadata: dict[str, Any]) -> None:
        self.global_metadata[namespace] = json_safe(metadata)
        if self._dir is not None and self._finalized:
            self._write_manifest()

    def _write_manifest(self) -> None:
        assert self._dir is not None
        from ome_writers._version import __version__

        manifest = {
            "version": __version__,
            **self.settings.model_dump(mode="json", exclude_unset=True),
            "format": self.settings.format.model_dump(mode="json"),
            "dtype": self.dtype.name,
            "storage_dimensions": list(self.storage_names),
            "position_shapes": [
                list(self.position_shape(i)) for i in range(self.num_positions)
            ],
            "allocated_shapes": [list(a.shape) for a in self._arrays],
            "global_metadata": self.global_metadata,
        }
        replace_file(self._dir / MANIFEST, json.dumps(manifest, indent=2))


def _reserve(path: Path, nbytes: int) -> None:
    """Create or extend `path` to `nbytes` with its blocks allocated.

    Writing into a sparse memory-mapped file on a full disk kills the process
    (SIGBUS); allocating the blocks first turns that into an `OSError` here.
    """
    with open(path, "ab") as fh:
        size = os.fstat(fh.fileno()).st_size
        if nbytes > size:
            try:
                os.posix_fallocate(fh.fileno(), size, nbytes - size)
            except OSError:
                os.truncate(fh.fileno(), size)
                raise
