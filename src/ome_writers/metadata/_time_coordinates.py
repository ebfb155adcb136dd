"""The acquisition time of each time point, collected from per-frame metadata
and written as an image's time coordinates (NGFF 0.6rc0).

Each frame's ``delta_t`` (seconds since the acquisition started) arrives with
its metadata; a time point's time is the earliest ``delta_t`` of its frames in
that image. The times of an image are a small float64 Zarr array of shape
(time points, 1) below the image group (`_ngff06.TIME_FIELD`), written in
chunks of `CHUNK` time points: a loss-window visit rewrites only the chunks
whose times changed, so its cost does not grow with the run's length. Time
points without a known time read as NaN (the array's fill value).
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers._io._paths import replace_file
from ome_writers.metadata import _ngff06
from ome_writers.metadata._zarr_groups import write_group

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ome_writers._io._object_store import DatasetPath

#: time points per chunk of a time-coordinates array
CHUNK = 1024


class TimeCoordinates:
    """Each image's time-point times, and their arrays below its group.

    Parameters
    ----------
    root : DatasetPath
        The dataset's root.
    image_paths : sequence of str
        Image group path per position.
    time_axis : int
        The time axis's index in a frame's storage index (and the image's axes).
    count : int or None
        Time points of every image (None: unbounded).
    """

    def __init__(
        self,
        root: DatasetPath,
        image_paths: Sequence[str],
        time_axis: int,
        count: int | None,
    ) -> None:
        self.root = root
        self.image_paths = list(image_paths)
        self.time_axis = time_axis
        self.count = count
        self.chunk = min(count, CHUNK) if count else CHUNK
        n = len(self.image_paths)
        # per position: chunk number -> its times (NaN: not known)
        self._chunks: list[dict[int, np.ndarray]] = [{} for _ in range(n)]
        self._extent = [0] * n  # time points up to the last with a time
        self._changed: list[set[int]] = [set() for _ in range(n)]  # chunk numbers
        self._shape = [0] * n  # time points each array declares
        self._names = ["t", "coordinate"]  # the arrays' dimension names
        self._lock = threading.Lock()

    def add(self, position: int, index: Sequence[int], meta: dict[str, Any]) -> None:
        """Take the time of one frame's metadata (a journal record)."""
        value = meta.get("delta_t")
        if value.__class__ not in (int, float) or not math.isfinite(value):
            return
        t = int(index[self.time_axis])
        k, i = divmod(t, self.chunk)
        with self._lock:  # a visit and a checkpoint may journal at once
            chunk = self._chunks[position].get(k)
            if chunk is None:
                chunk = self._chunks[position][k] = np.full(self.chunk, np.nan, "<f8")
            if not chunk[i] <= value:  # none yet (NaN), or a later one
                chunk[i] = value
                self._changed[position].add(k)
                self._extent[position] = max(self._extent[position], t + 1)

    def write(
        self, image_documents: dict[str, dict[str, Any]], extents: Sequence[int] | None
    ) -> list[int]:
        """Write the changed times; the positions whose first times these are.

        `image_documents` are the images' ``ome`` metadata (for the group
        describing the times); `extents`: each image's time points, when known
        (close), else as far as times are known.
        """
        with self._lock:
            first = []
            for position, path in enumerate(self.image_paths):
                if not self._extent[position]:
                    continue
                shape = self.count or self._extent[position]
                if extents is not None and self.count is None:
                    shape = max(shape, int(extents[position]))
                field = self._field(path)
                if self._shape[position] == 0:
                    group = _ngff06.time_field_group(image_documents.get(path, {}))
                    if group is None:  # replaced by the user: not an image of ours
                        continue
                    first.append(position)
                    self._write_groups(path, group)
                chunks = self._chunks[position]
                for k in sorted(self._changed[position]):
                    directory = field / "c" / str(k)
                    directory.mkdir(parents=True, exist_ok=True)
                    _write_document(directory / "0", chunks[k].tobytes())
                self._changed[position] = set()
                if shape != self._shape[position]:
                    _write_document(field / "zarr.json", self._array_document(shape))
                    self._shape[position] = shape
            return first

    def _write_groups(self, image: str, group: dict[str, Any]) -> None:
        """The field's group and the (plain) group above it."""
        above, _ = self._relative(image).rsplit("/", 1)
        write_group(self.root, above, {})
        write_group(self.root, self._relative(image), {"ome": group})
        axes = group["multiscales"][0]["coordinateSystems"][0]["axes"]
        self._names = [str(axis["name"]) for axis in axes]

    def _relative(self, image: str) -> str:
        return _ngff06.TIME_FIELD if image == "." else f"{image}/{_ngff06.TIME_FIELD}"

    def _field(self, image: str) -> DatasetPath:
        return self.root / self._relative(image) / _ngff06.TIME_FIELD_ARRAY

    def _array_document(self, shape: int) -> str:
        doc = {
            "zarr_format": 3,
            "node_type": "array",
            "shape": [shape, 1],
            "data_type": "float64",
            "chunk_grid": {
                "name": "regular",
                "configuration": {"chunk_shape": [self.chunk, 1]},
            },
            "chunk_key_encoding": {
                "name": "default",
                "configuration": {"separator": "/"},
            },
            "fill_value": "NaN",
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
            "attributes": {},
            "dimension_names": self._names,
        }
        return json.dumps(doc, separators=(",", ":"))


def _write_document(path: DatasetPath, data: str | bytes) -> None:
    """Replace a file whole: a reader sees the old one or the new one."""
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, data)
    elif isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
