"""The part of an OME-Zarr dataset each library implements: its arrays.

`ZarrArrays` decides what is written where and when (growth, chunk assembly,
write-back); an `ArrayWriter` makes, writes, resizes and reads arrays with one
library. Both see the same `ArrayGrid`.

An unbounded array has two shapes: the room its writer's handle has (grown
ahead of the frames, in memory only) and the shape its ``zarr.json``
declares (the frames that landed, `ArrayWriter.declare`). So a process
killed at any moment leaves every array declaring only frames on disk.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    import numpy as np

    from ome_writers._io._object_store import DatasetPath

BLOSC = {"blosc-zstd": ("zstd", 3), "blosc-lz4": ("lz4", 5)}
#: bytes of a blosc block: blosc's automatic size (128 KiB for 16-bit frames)
#: compresses camera frames more slowly on one core, at about the same ratio
BLOSC_BLOCK_BYTES = 512 * 1024
ZSTD_LEVEL = 3


@dataclass(frozen=True)
class ArrayGrid:
    """The arrays of one resolution level, one per position, all alike.

    Attributes
    ----------
    root : DatasetPath
        The dataset's root directory or key prefix.
    paths : tuple of str
        Each position's array, relative to `root`.
    names : tuple of str
        Dimension names in storage order (index dimensions, then Y, X).
    dtype : numpy.dtype
        The pixel type.
    chunks : tuple of int
        Chunk shape.
    shards : tuple of int or None
        Shard shape (whole chunks), or None without sharding.
    compression : str
        ``"none"`` or a compression the backend supports.
    frame_shape : tuple of int
        Y, X of the frames written at this level.
    grow_axis : int or None
        The unbounded dimension, if any.
    block_bytes : int
        The most bytes handed to a writer at once: a frame, or an assembled
        chunk (or shard) of several frames.
    assembled : bool
        Chunks (or shards) span several frames and arrive as blocks.
    zarr_format : int
        3 (OME-Zarr 0.5) or 2 (OME-Zarr 0.4: no shards, ``/``-separated
        chunk keys without the ``c`` prefix).
    """

    root: DatasetPath
    paths: tuple[str, ...]
    names: tuple[str, ...]
    dtype: np.dtype
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None
    compression: str
    frame_shape: tuple[int, int]
    grow_axis: int | None
    block_bytes: int
    assembled: bool
    zarr_format: int = 3

    @property
    def frame_bytes(self) -> int:
        return math.prod(self.frame_shape) * self.dtype.itemsize

    @property
    def unit(self) -> tuple[int, ...]:
        """The grid written at once: shards when sharding, else chunks."""
        return self.shards or self.chunks

    def chunk_prefixes(self, position: int, index: tuple[int, ...]) -> list[str]:
        """``c``, ``c/<i>``, ... ``c/<i>/.../<k>``: the key of `index` but Y, X.

        The arrays use Zarr v3's default chunk keys (``c/<index...>/<y>/<x>``),
        or Zarr v2's with ``/`` (``<index...>/<y>/<x>``: the array directory
        comes first).
        """
        path = str(self.root / self.paths[position])
        if self.zarr_format == 3:
            path += "/c"
        prefixes = [path]
        for i, g in zip(index, self.unit, strict=False):
            path = f"{path}/{i // g}"
            prefixes.append(path)
        return prefixes

    @property
    def yx_units(self) -> tuple[int, int]:
        """How many chunks (or shards) a frame spans along Y and X."""
        unit = self.unit
        return (
            math.ceil(self.frame_shape[0] / unit[-2]),
            math.ceil(self.frame_shape[1] / unit[-1]),
        )

    def unit_files(self, unit: tuple[int, tuple[int, ...]]) -> Iterator[str]:
        """Chunk (or shard) files written for a frame or block at `unit`."""
        head = self.chunk_prefixes(*unit)[-1]
        for y, x in product(*map(range, self.yx_units)):
            yield f"{head}/{y}/{x}"


def codec_configs(
    compression: str, itemsize: int, blocksize: int = BLOSC_BLOCK_BYTES
) -> list[dict[str, Any]]:
    """Zarr v3 codec documents after the `bytes` codec for `compression`
    (`blocksize`: blosc's, 0 for its automatic size)."""
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
                    "blocksize": blocksize,
                },
            }
        ]
    if compression == "zstd":
        return [
            {"name": "zstd", "configuration": {"level": ZSTD_LEVEL, "checksum": False}}
        ]
    return []


def v2_compressor(compression: str) -> dict[str, Any] | None:
    """The Zarr v2 ``compressor`` of `compression` (numcodecs' configuration)."""
    if compression in BLOSC:
        cname, clevel = BLOSC[compression]
        return {
            "id": "blosc",
            "cname": cname,
            "clevel": clevel,
            "shuffle": 1,  # byte shuffle
            "blocksize": BLOSC_BLOCK_BYTES,
        }
    if compression == "zstd":
        return {"id": "zstd", "level": ZSTD_LEVEL}
    return None


#: the file holding an array's metadata, by Zarr format
ARRAY_METADATA_FILE = {3: "zarr.json", 2: ".zarray"}


class ArrayWriter(ABC):
    """Makes, writes, resizes and reads one level's arrays with one library.

    Writes are issued in storage indices; a writer may complete them on its own
    threads, raising a failure from a later call (`write_*`, `drain`).
    """

    #: `make_room` returns before the new room is in place, so arrays grow
    #: when half full rather than when full
    grows_ahead: bool = False
    #: the writes of one chunk or shard land in the order they were issued
    #: (a partly filled one written provisionally, then the whole)
    lands_in_order: bool = False

    def __init__(
        self, grid: ArrayGrid, explain: Callable[[BaseException], BaseException]
    ) -> None:
        self.grid = grid
        self.explain = explain  # a failed write's error, as the user sees it

    @property
    def max_bytes_in_flight(self) -> int:
        """At most this many bytes are handed over but not yet in a file."""
        return 64 * 1024**2

    @property
    def writes_back(self) -> bool:
        """Whether the writer starts write-back of its files itself."""
        return False

    @property
    def makes_directories(self) -> bool:
        """Whether the writer makes its chunk directories itself, cheaply
        enough that none are made ahead (`DirectoryPreparer`)."""
        return False

    def start(self) -> None:
        """Start what writing needs (threads), before arrays are made."""

    @abstractmethod
    def create(self, arrays: list[tuple[int, DatasetPath, list[int]]]) -> None:
        """Make arrays: (position, path, room) each.

        The writer's handle of each has room for `room`; its ``zarr.json``
        declares `room` but for the grow axis, which declares no index yet
        (`declare`). Called for the first position, then (on a background
        thread) for the others in batches; libraries that can should make a
        batch concurrently.
        """

    def first_declared(self, room: Sequence[int]) -> list[int]:
        """What a new array's ``zarr.json`` declares: `room`, but no index on
        the grow axis."""
        shape = list(room)
        if self.grid.grow_axis is not None:
            shape[self.grid.grow_axis] = 0
        return shape

    @abstractmethod
    def write_frame(
        self, position: int, index: tuple[int, ...], frame: np.ndarray
    ) -> None:
        """Write one frame (chunks hold one frame along the index dims). The
        caller may reuse `frame` on return."""

    def write_frame_owned(
        self,
        position: int,
        index: tuple[int, ...],
        frame: np.ndarray,
        release: Callable[[], None],
    ) -> None:
        """`write_frame` of a buffer the writer may keep until `release()`,
        which it calls exactly once, also when the write fails."""
        try:
            self.write_frame(position, index, frame)
        finally:
            release()

    @abstractmethod
    def write_block(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        """Write an assembled block (index dims + Y, X) starting at `origin`;
        nobody writes to `block` again."""

    def write_block_borrowed(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        """`write_block` of a view into a buffer still being assembled: its
        own cells never change again, but the buffer is not the writer's to
        recycle (a writer that recycles blocks overrides this)."""
        self.write_block(position, origin, block)

    def reuse_block(self, shape: tuple[int, ...]) -> np.ndarray | None:
        """A block written earlier, to assemble the next one in (None: none)."""
        return None

    def reserve_blocks(self, shape: tuple[int, ...]) -> None:
        """Blocks of `shape` (the first chunk's) will be assembled: a writer
        that keeps blocks sets them up now, before the first frame."""

    @abstractmethod
    def make_room(self, position: int, shape: tuple[int, ...]) -> None:
        """Give the handle of one array room for `shape`; its ``zarr.json``
        is not written."""

    @abstractmethod
    def declare(self, shapes: Mapping[int, tuple[int, ...]]) -> None:
        """Position -> the shape its array's ``zarr.json`` declares from now
        on: one small document write each (the writes it covers have landed;
        the handles keep their room)."""

    @abstractmethod
    def read(self, position: int, key: tuple[Any, ...]) -> np.ndarray:
        """Read `key` (inside the array's room) from one array."""

    def falling_behind(self) -> bool:
        """Whether an append had to wait for the library's writes."""
        return False

    def writes_in_flight(self) -> Callable[[], None] | None:
        """What waits (from another thread) for the writes issued so far;
        None: they have landed (waited for here)."""
        self.drain()
        return None

    def drain(self) -> None:
        """Wait for every write issued; raise the first failure."""

    def close(self) -> None:
        """Release the library's resources (the arrays stay readable)."""

    def share_with(self, other: ArrayWriter | None, memory_fraction: float) -> None:
        """Write through `other`'s resources (threads, pools; None: another
        library's), keeping at most `memory_fraction` of its bytes in flight
        (pyramid levels of the same dataset)."""


WriterFactory = Callable[
    [ArrayGrid, Callable[[BaseException], BaseException]], ArrayWriter
]


@dataclass(frozen=True)
class ZarrLibrary:
    """How one library writes a dataset's arrays.

    Attributes
    ----------
    writer : callable
        ``(grid, explain) -> ArrayWriter`` for level 0's arrays.
    level_writer : callable
        The same for pyramid levels' arrays, fed from a reducer's thread.
    """

    writer: WriterFactory
    level_writer: WriterFactory
