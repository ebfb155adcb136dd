"""Shared test helpers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension


def frame_for(n: int, shape: tuple[int, int], dtype: str = "uint16") -> np.ndarray:
    """A frame whose pixels encode its frame number (n + 1) and position in it."""
    y, x = shape
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "ui" else None
    base = np.arange(y * x, dtype="int64").reshape(shape) % 97
    values = base + (n + 1) * 100
    if info is not None:
        values %= int(info.max) + 1
    return values.astype(dtype)


def time_series_settings(
    root: object,
    shape: tuple[int, int],
    count: int | None = None,
    *,
    y_chunk: int | None = None,
    **kwargs: Any,
) -> AcquisitionSettings:
    """uint16 frames of `shape` along t (`count` None: unbounded), at `root`
    (`y_chunk`: rows per chunk, default the frame's)."""
    return AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=count),
            Dimension(name="y", count=shape[0], chunk_size=y_chunk),
            Dimension(name="x", count=shape[1]),
        ],
        dtype="uint16",
        **kwargs,
    )


@pytest.fixture
def tczyx() -> list[Dimension]:
    return [
        Dimension(name="t", count=2, type="time", scale=2.5),
        Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
        Dimension(name="z", count=3, unit="um", scale=0.5),
        Dimension(name="y", count=8, unit="um", scale=0.1),
        Dimension(name="x", count=6, unit="um", scale=0.1),
    ]


@pytest.fixture
def scratch_settings(tczyx: list[Dimension]) -> AcquisitionSettings:
    return AcquisitionSettings(dimensions=tczyx, dtype="uint16", format="scratch")
