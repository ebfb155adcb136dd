"""Which of acquire-zarr's shards are complete, and the documents declaring them.

acquire-zarr has no flush: it writes a shard once every frame of it has
arrived. A checkpoint or loss-window visit finds the complete shards along
the first dimension (each shard file's index checksum is valid) and writes
the array's ``zarr.json`` with that extent; frames of an incomplete shard are
not declared until it is complete, or until close.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING

from ome_writers._io._paths import replace_file
from ome_writers.backends.zarr._array_writer import codec_configs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ome_writers.backends.zarr._array_writer import ArrayGrid


class CompleteShards:
    """Declares the complete first-dimension shards of each array.

    Parameters
    ----------
    grid : ArrayGrid
        The arrays acquire-zarr writes.
    counts : sequence of int or None
        Storage dimension counts (None: unbounded).
    """

    def __init__(self, grid: ArrayGrid, counts: Sequence[int | None]) -> None:
        self.grid = grid
        self.counts = list(counts)
        self.declared = [0] * len(grid.paths)  # first-dimension extent on disk
        self._lock = threading.Lock()  # one declaration at a time
        self._documents: dict[tuple[int, ...], str] = {}

    def target_extent(self, frames: int) -> int:
        """First-dimension extent of the shards that hold `frames` frames."""
        counts = self.counts
        per_step = math.prod(c or 1 for c in counts[1:-2])  # frames per dim-0 index
        steps = frames // per_step
        if counts[0] is not None and steps >= counts[0]:
            return counts[0]  # the last, possibly short, shard is full too
        step = self.grid.unit[0]
        return steps // step * step

    def declare(
        self,
        targets: Sequence[int],
        wait_seconds: float,
        stop: threading.Event | None = None,
    ) -> None:
        """Each array's ``zarr.json`` declares its complete shards up to its
        target, waiting up to `wait_seconds` for acquire-zarr to write them;
        stops once `stop` is set."""
        with self._lock:
            for position, key in enumerate(self.grid.paths):
                if stop is not None and stop.is_set():
                    return
                target = targets[position]
                deadline = time.monotonic() + wait_seconds
                extent = self._complete_extent(position, target)
                while extent < target and time.monotonic() < deadline:
                    time.sleep(0.005)  # acquire-zarr writes shards on its threads
                    extent = self._complete_extent(position, target)
                if extent > self.declared[position]:
                    shape = [c or 0 for c in self.counts]
                    shape[0] = extent
                    self.write_array_doc(key, shape)
                    self.declared[position] = extent

    def _complete_extent(self, position: int, target: int) -> int:
        """First-dimension extent (up to `target`) of shards found on disk."""
        unit = self.grid.unit
        step = unit[0]
        grid = [
            range(math.ceil((c or 1) / s))
            for c, s in zip(self.counts[1:], unit[1:], strict=True)
        ]
        done = self.declared[position]
        while done < target:
            shard = done // step
            shard_files = ((shard, *rest) for rest in product(*grid))
            if not all(self._shard_complete(position, c) for c in shard_files):
                break
            done = min(done + step, target)
        return done

    def _shard_complete(self, position: int, coords: tuple[int, ...]) -> bool:
        """Whether one shard file exists with a valid (checksummed) index."""
        from numcodecs import CRC32C

        grid = self.grid
        n_chunks = math.prod(
            s // c for s, c in zip(grid.unit, grid.chunks, strict=True)
        )
        index_bytes = 16 * n_chunks + 4
        path = grid.root / grid.paths[position] / "c" / "/".join(map(str, coords))
        try:
            if isinstance(path, Path):
                with open(path, "rb") as fh:
                    fh.seek(-index_bytes, os.SEEK_END)
                    tail = fh.read(index_bytes)
            else:
                tail = path.read_tail(index_bytes)
            CRC32C().decode(tail)
        except (OSError, RuntimeError, ValueError):
            return False
        return True

    def array_doc(self, shape: Sequence[int]) -> str:
        """The array metadata acquire-zarr writes at close, for `shape`."""
        key = tuple(shape)
        if key not in self._documents:
            self._documents[key] = _array_doc(self.grid, list(shape))
        return self._documents[key]

    def write_array_doc(self, key: str, shape: list[int]) -> None:
        """Replace an array's metadata with `array_doc` for `shape`."""
        root = self.grid.root
        text = self.array_doc(shape)
        if not isinstance(root, Path):  # one PUT replaces it atomically
            (root / key / "zarr.json").write_text(text)
            return
        (root / key).mkdir(parents=True, exist_ok=True)
        replace_file(root / key / "zarr.json", text)


def _array_doc(grid: ArrayGrid, shape: list[int]) -> str:
    codecs = [{"name": "bytes", "configuration": {"endian": "little"}}]
    # acquire-zarr compresses the chunks, with blosc's automatic block size
    compressed = codec_configs(grid.compression, grid.dtype.itemsize, blocksize=0)
    doc = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": shape,
        "data_type": grid.dtype.name,
        "chunk_grid": {
            "name": "regular",
            "configuration": {"chunk_shape": list(grid.unit)},
        },
        "chunk_key_encoding": {
            "name": "default",
            "configuration": {"separator": "/"},
        },
        "fill_value": 0,
        "codecs": [
            {
                "name": "sharding_indexed",
                "configuration": {
                    "chunk_shape": list(grid.chunks),
                    "codecs": codecs + compressed,
                    "index_codecs": [*codecs, {"name": "crc32c"}],
                    "index_location": "end",
                },
            }
        ],
        "dimension_names": list(grid.names),
        "attributes": {},
    }
    return json.dumps(doc, indent=2)
