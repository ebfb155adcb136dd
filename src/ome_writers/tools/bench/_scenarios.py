"""The scenarios: what is written, in which layout, and the frames written.

Plain data (dimensions as keyword dicts), so that a worker can build them
under any ome-writers version (see the package's docstring).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

RAW = ["tensorstore", "acquire-zarr", "tifffile"]  # libraries driven directly


def file_backends() -> list[str]:
    """Every registered backend that writes files (the registry's order).

    Read when the parent process needs it: a ``--compare`` worker runs under
    other ome-writers versions, which have no such registry.
    """
    from ome_writers._registry import BACKENDS

    return [r.name for r in BACKENDS if r.writes_files]


DESCRIPTIONS = {
    "a": "200 frames 2048², chunk = frame, uncompressed",
    "b": "t4 c2 z16 1024², chunks (1,1,16,256,256)",
    "c": "100 frames 2048², 512² chunks, one shard per frame",
    "d": "(a) with blosc-zstd",
    "e": "t10 x 8 positions x c2, 1024²",
    "f": "unbounded t, 500 frames 512²",
    "g": "demo camera, mda.run at top rate",
    "h": "96-well plate x 4 fields x c2, 256²",
    "k": "150 frames 2304² (a camera's frame of no whole 2 MiB), chunk = frame",
    "p": "(a) with a 4-level mean pyramid",
    "w": "unbounded t, 3000 frames 512², loss window 1 s (÷off: over n)",
    "n": "(w) without the loss window",
    "m": "unbounded t in chunks of 1024, 16² frames, 6 metadata keys per frame",
}
TIFF_SCENARIOS = "abefhkpwnm"  # c and d differ from (a) only in chunks and blosc
OURS_ONLY = "pn"  # features no raw library row or older version has
#: scenarios with ``--readers`` rows: one image whose frames follow its first axis
READER_SCENARIOS = "acdfpwnm"
#: the scenarios of ``--quick`` unless -s names others: a smoke test
QUICK_SCENARIOS = "a"
#: frames of scenario m unless --metadata-frames says otherwise
METADATA_FRAMES = 10_000
#: scenarios whose frames are one time axis, so that ``--frames`` may set their count
TIME_SERIES_SCENARIOS = "acdfkpwnm"


def scenario(name: str, quick: bool = False) -> dict[str, Any]:
    """Plain-data description of a scenario (dimensions as keyword dicts)."""
    div = 8 if quick else 1

    def yx(
        size: int, chunk: int | None = None, shard: int | None = None
    ) -> list[dict[str, Any]]:
        size //= div
        chunk = chunk // div if chunk else None
        return [
            {"name": n, "count": size, "chunk_size": chunk, "shard_size_chunks": shard}
            for n in "yx"
        ]

    def t(count: int | None) -> dict[str, Any]:
        return {"name": "t", "count": count, "type": "time"}

    compression = None
    if name == "p":  # (a) plus a pyramid
        return {**scenario("a", quick), "name": "p", "pyramid": 4}
    if name in "ad":
        dims = [t(200 // (4 if quick else 1)), *yx(2048)]
        compression = "blosc-zstd" if name == "d" else None
    elif name == "k":
        dims = [t(150 // (4 if quick else 1)), *yx(2304)]
    elif name == "b":
        dims = [
            t(4),
            {"name": "c", "count": 2, "type": "channel"},
            {"name": "z", "count": 16, "type": "space", "chunk_size": 16},
            *yx(1024, 256),
        ]
    elif name == "c":
        dims = [t(100 // (4 if quick else 1)), *yx(2048, 512, 2048 // 512)]
    elif name == "e":
        dims = [
            t(10),
            {"name": "p", "count": 8, "type": "position"},
            {"name": "c", "count": 2, "type": "channel"},
            *yx(1024),
        ]
    elif name in "fg":
        dims = [t(None), *yx(512)]
    elif name in "wn":
        return {
            **scenario("f", quick),
            "name": name,
            "frames": 3000 // (4 if quick else 1),
            **({"loss_window": None} if name == "n" else {}),
        }
    elif name == "m":
        return {
            "name": name,
            # 1024 frames per chunk: the figures are of the metadata, not of
            # a million chunk files
            "dims": [{**t(None), "chunk_size": 1024}, *yx(16 * div)],
            "compression": None,
            "frames": METADATA_FRAMES,
            "frame_shape": (16, 16),
            "frame_metadata": True,
        }
    elif name == "h":
        rows, columns, fields = "ABCDEFGH", range(1, 13), 4
        wells = [(r, str(c)) for r in rows for c in columns]
        positions = [
            {"name": f"fov{k}", "plate_row": r, "plate_column": c}
            for r, c in wells
            for k in range(fields)
        ]
        dims = [
            {"name": "p", "count": len(positions), "type": "position"},
            {"name": "c", "count": 2, "type": "channel"},
            *yx(256),
        ]
        plate = {"row_names": list(rows), "column_names": [str(c) for c in columns]}
        return {
            "name": name,
            "dims": dims,
            "compression": None,
            "frames": len(positions) * 2,
            "frame_shape": (int(dims[-2]["count"]), int(dims[-1]["count"])),
            "positions": positions,
            "plate": plate,
        }
    else:
        raise ValueError(f"unknown scenario {name!r}")
    frames = 500 // (4 if quick else 1) if name in "fg" else 1
    if name not in "fg":
        frames = math.prod(int(d["count"]) for d in dims[:-2])
    return {
        "name": name,
        "dims": dims,
        "compression": compression,
        "frames": frames,
        "frame_shape": (int(dims[-2]["count"]), int(dims[-1]["count"])),
    }


def with_frames(spec: dict[str, Any], frames: int) -> dict[str, Any]:
    """`spec` of a `TIME_SERIES_SCENARIOS` scenario with `frames` frames."""
    if spec["name"] not in TIME_SERIES_SCENARIOS:
        raise ValueError(f"scenario {spec['name']!r} has no single time axis")
    dims = [dict(d) for d in spec["dims"]]
    if dims[0]["count"] is not None:  # bounded: the axis holds exactly the frames
        dims[0]["count"] = frames
    return {**spec, "dims": dims, "frames": frames}


def make_frames(shape: tuple[int, int], n_unique: int = 8) -> list[np.ndarray]:
    """Structured, noisy uint16 frames (cycled during a run)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype("float32")
    base = 800 + 400 * np.sin(xx / shape[1] * 6) * np.cos(yy / shape[0] * 4)
    return [
        (base + rng.poisson(40, shape) + 10 * i).astype("uint16")
        for i in range(n_unique)
    ]
