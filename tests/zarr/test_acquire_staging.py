"""acquire-zarr's staging store, linked to the arrays ahead of their frames.

The first position's link is made by `create_stream`, the others on a
background thread; an append to a position waits for its link. Where links
cannot be made at all, acquire-zarr writes in place.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import zarr

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._paths import ACQUIRE_ZARR_STAGING
from ome_writers.backends import _acquire_zarr

pytest.importorskip("acquire_zarr")


def _settings(root: Path, positions: int) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(root),
        format="acquire-zarr",
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="p", count=positions, type="position"),
            Dimension(name="y", count=16),
            Dimension(name="x", count=16),
        ],
        dtype="uint16",
    )


def _frame(n: int) -> np.ndarray:
    return np.full((16, 16), n + 1, "uint16")


def _stored(root: Path, positions: int) -> list[list[int]]:
    names = None
    if positions > 1:
        series = zarr.open_group(str(root / "OME"), mode="r").attrs["ome"]
        names = list(series["series"])
    out = []
    for p in range(positions):
        array = zarr.open_array(str(root / (names[p] if names else ".") / "0"))
        out.append([int(array[t].max()) for t in range(array.shape[0])])
    return out


def test_every_position_gets_its_frames(tmp_path: Path) -> None:
    root = tmp_path / "many.ome.zarr"
    settings = _settings(root, 40)
    with create_stream(settings) as stream:
        for n in range(settings.num_frames):
            stream.append(_frame(n))
    # frame n is (t, p) = divmod(n, 40)
    expected = [[p + 1, 40 + p + 1] for p in range(40)]
    assert _stored(root, 40) == expected
    assert not (root / ACQUIRE_ZARR_STAGING).exists()


def test_without_links_acquire_zarr_writes_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("links are not allowed here")

    monkeypatch.setattr(_acquire_zarr.os, "symlink", refuse)
    root = tmp_path / "nolinks.ome.zarr"
    settings = _settings(root, 3)
    with create_stream(settings) as stream:
        assert not (root / ACQUIRE_ZARR_STAGING).exists()
        for n in range(settings.num_frames):
            stream.append(_frame(n))
    assert _stored(root, 3) == [[1, 4], [2, 5], [3, 6]]


def test_a_failed_link_after_the_first_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real = os.symlink

    def second_fails(src: str, dst: str, target_is_directory: bool = False) -> None:
        if made:
            raise OSError("the disk refused this link")
        made.append(dst)
        real(src, dst, target_is_directory=target_is_directory)

    monkeypatch.setattr(_acquire_zarr.os, "symlink", second_fails)
    root = tmp_path / "broken.ome.zarr"
    stream = create_stream(_settings(root, 3))
    stream.append(_frame(0))  # position 0: linked at create
    with pytest.raises(OSError, match="the disk refused this link"):
        stream.append(_frame(1))  # position 1 waits for its link, which failed
    stream.close()
    # what was appended before the failure is on disk
    names = zarr.open_group(str(root / "OME"), mode="r").attrs["ome"]["series"]
    first = zarr.open_array(str(root / names[0] / "0"), mode="r")
    assert int(first[0].max()) == 1
