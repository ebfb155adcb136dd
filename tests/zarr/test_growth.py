"""Unbounded arrays: room for the first frames at once, cut to what was written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.backends import _zarr_base
from tests.backends.params import backend_params

# acquire-zarr sizes its arrays itself
GROWING = [
    p for p in backend_params(format="ome-zarr") if p.values[0] != "acquire-zarr"
]


def _settings(
    root: Path, backend: str, size: int, chunk: int | None = None
) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(root),
        format=backend,
        dtype="uint16",
        dimensions=[
            Dimension(name="t", count=None, type="time", chunk_size=chunk),
            Dimension(name="y", count=size),
            Dimension(name="x", count=size),
        ],
        loss_window=None,
    )


@pytest.mark.parametrize("backend", GROWING)
@pytest.mark.parametrize(
    ("size", "room"),
    [(512, 128), (2048, 8), (16, 128)],  # 64 MiB of frames, at most 128
)
def test_first_frames_need_no_resize(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, size: int, room: int
) -> None:
    # each resize waited for the writes in flight; growing from one chunk
    # resized at frames 1, 2, 3, 5, 9, ...
    resizes: list[tuple[int, ...]] = []
    stream = create_stream(_settings(tmp_path / "g.ome.zarr", backend, size))
    backend_ = stream._backend
    real = type(backend_)._resize

    def counted(self: object, position: int, shape: tuple[int, ...]) -> None:
        resizes.append(shape)
        real(self, position, shape)  # type: ignore[arg-type]

    monkeypatch.setattr(type(backend_), "_resize", counted)
    assert backend_.allocated[0][0] == room
    frame = np.ones((size, size), "uint16")
    for _ in range(room // 2):
        stream.append(frame)
    assert resizes == []
    stream.close()
    doc = json.loads((tmp_path / "g.ome.zarr" / "0" / "zarr.json").read_text())
    assert doc["shape"][0] == room // 2  # cut to the frames written at close


def test_room_is_whole_chunks(tmp_path: Path) -> None:
    stream = create_stream(_settings(tmp_path / "c.ome.zarr", "tensorstore", 512, 48))
    assert stream._backend.allocated[0][0] == 96  # 128 frames, in chunks of 48
    assert _zarr_base.INITIAL_GROWTH_INDICES == 128
    stream.close()
