"""Shared helpers of the label tests: a naive reduction and two readers."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

if TYPE_CHECKING:
    from pathlib import Path

HAS_TENSORSTORE = importlib.util.find_spec("tensorstore") is not None


def naive_reduce(plane: np.ndarray, method: str) -> np.ndarray:
    """One 2x2 block at a time: its top-left pixel ("nearest"), or the most
    frequent of its existing pixels, ties to the first in row order."""
    h, w = plane.shape
    out = np.zeros(((h + 1) // 2, (w + 1) // 2), plane.dtype)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            block = [
                plane[y, x]
                for y in (2 * i, 2 * i + 1)
                for x in (2 * j, 2 * j + 1)
                if y < h and x < w
            ]
            if method == "nearest":
                out[i, j] = block[0]
                continue
            counts = Counter(block)
            best = max(counts.values())
            out[i, j] = next(v for v in block if counts[v] == best)
    return out


def naive_levels(level0: np.ndarray, levels: int, method: str) -> list[np.ndarray]:
    """`level0` (..., Y, X) and each lower level, reduced plane by plane."""
    out = [level0]
    for _ in range(1, levels):
        previous = out[-1]
        planes = previous.reshape(-1, *previous.shape[-2:])
        reduced = np.stack([naive_reduce(p, method) for p in planes])
        out.append(reduced.reshape(*previous.shape[:-2], *reduced.shape[-2:]))
    return out


def read_both(path: Path) -> np.ndarray:
    """The array at `path` read by zarr-python, and checked equal as read by
    tensorstore (the driver of its Zarr format)."""
    v3 = (path / "zarr.json").is_file()
    data = np.asarray(zarr.open_array(str(path), mode="r")[...])
    if HAS_TENSORSTORE:
        import tensorstore as ts

        spec = {
            "driver": "zarr3" if v3 else "zarr",
            "kvstore": {"driver": "file", "path": str(path)},
        }
        other = ts.open(spec).result().read().result()
        np.testing.assert_array_equal(other, data)
    return data


def group_attributes(path: Path) -> dict[str, Any]:
    """The attributes of a Zarr v3 or v2 group."""
    if (path / "zarr.json").is_file():
        attrs: dict[str, Any] = json.loads((path / "zarr.json").read_text())[
            "attributes"
        ]
        return attrs
    out: dict[str, Any] = json.loads((path / ".zattrs").read_text())
    return out


#: the frame shape of the small label datasets
H, W = 8, 6


def tpc_dimensions(t: int | None = 3, **t_fields: Any) -> list[Any]:
    """t (`t_fields` on it) x positions A, B x channels DAPI, FITC of H x W
    frames: the dimensions of the small label datasets."""
    from ome_writers import Dimension

    return [
        Dimension(name="t", count=t, type="time", **t_fields),
        Dimension(name="p", type="position", coords=["A", "B"]),
        Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
        Dimension(name="y", count=H, type="space"),
        Dimension(name="x", count=W, type="space"),
    ]
