"""The default OME-Zarr layout of small frames: frames grouped into shards
(Zarr v3) or chunks (Zarr v2) of a few MiB when no chunks or shards are chosen."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ome_writers import AcquisitionSettings, Dimension, OmeTiffFormat, OmeZarrFormat
from ome_writers._schema._storage import GROUP_BYTES, SMALL_FRAME_BYTES, chunk_grid


def _settings(
    dims: list[Dimension], *, backend: str = "tensorstore", version: str = "0.5"
) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path="unused.ome.zarr",
        dimensions=dims,
        dtype="uint16",
        format=OmeZarrFormat(backend=backend, ngff_version=version),
    )


def _yx(size: int, **extra: Any) -> list[Dimension]:
    return [Dimension(name="y", count=size, **extra), Dimension(name="x", count=size)]


def _layout(settings: AcquisitionSettings) -> list[tuple[str, int | None, int | None]]:
    return [
        (d.name, d.chunk_size, d.shard_size_chunks)
        for d in settings.array_storage_dimensions
    ]


T = Dimension(name="t", count=None, type="time")


def test_zarr_v3_groups_small_frames_into_shards() -> None:
    settings = _settings([T, *_yx(32)])
    # chunks of one frame, shards of 2048 chunks: 4 MiB
    assert _layout(settings) == [
        ("t", None, 2048),
        ("y", None, None),
        ("x", None, None),
    ]
    chunks, shards = chunk_grid(settings.array_storage_dimensions)
    assert chunks == (1, 32, 32)
    assert shards == (2048, 32, 32)
    assert math.prod(shards) * 2 == GROUP_BYTES


def test_zarr_v2_groups_small_frames_into_chunks() -> None:
    settings = _settings([T, *_yx(32)], version="0.4")
    chunks, shards = chunk_grid(settings.array_storage_dimensions)
    assert chunks == (2048, 32, 32)
    assert shards is None


def test_grouping_goes_from_the_innermost_dimension_outward() -> None:
    dims = [
        T,
        Dimension(name="c", count=3, type="channel"),
        Dimension(name="z", count=5, type="space"),
        *_yx(64),  # 8 KiB frames
    ]
    chunks, shards = chunk_grid(_settings(dims).array_storage_dimensions)
    # a chunk per frame; a shard of all z and c, and 32 time points
    assert chunks == (1, 1, 1, 64, 64)
    assert shards == (32, 3, 5, 64, 64)
    assert math.prod(shards[:3]) * 8192 <= 2 * GROUP_BYTES
    chunks, _ = chunk_grid(_settings(dims, version="0.4").array_storage_dimensions)
    assert chunks == (32, 3, 5, 64, 64)


def test_bounded_array_shards_cover_the_array() -> None:
    dims = [Dimension(name="t", count=100, type="time"), *_yx(32)]
    chunks, shards = chunk_grid(_settings(dims).array_storage_dimensions)
    assert chunks == (1, 32, 32)
    assert shards == (100, 32, 32)  # one shard holds every frame


def test_large_frames_keep_one_frame_per_chunk() -> None:
    # 512 x 1024 uint16: a frame of SMALL_FRAME_BYTES, the smallest not grouped
    assert SMALL_FRAME_BYTES == 512 * 1024 * 2
    for y, x in ((512, 1024), (2048, 2048)):
        frame = [Dimension(name="y", count=y), Dimension(name="x", count=x)]
        for version in ("0.5", "0.4"):
            settings = _settings([T, *frame], version=version)
            assert _layout(settings) == [
                ("t", None, None),
                ("y", None, None),
                ("x", None, None),
            ]
            assert chunk_grid(settings.array_storage_dimensions) == ((1, y, x), None)
    # one pixel less is grouped
    frame = [Dimension(name="y", count=512), Dimension(name="x", count=1023)]
    assert chunk_grid(_settings([T, *frame]).array_storage_dimensions)[1] is not None


@pytest.mark.parametrize(
    "dims",
    [
        [Dimension(name="t", count=None, type="time", chunk_size=1), *_yx(32)],
        [T, *_yx(32, chunk_size=16)],
        [Dimension(name="t", count=None, type="time", shard_size_chunks=4), *_yx(32)],
    ],
    ids=["t-chunk", "y-chunk", "t-shard"],
)
def test_a_chosen_chunk_or_shard_is_kept(dims: list[Dimension]) -> None:
    settings = _settings(dims)
    stored = settings.array_storage_dimensions
    assert [(d.chunk_size, d.shard_size_chunks) for d in stored] == [
        (d.chunk_size, d.shard_size_chunks) for d in dims
    ]


def test_acquire_zarr_keeps_one_frame_per_chunk() -> None:
    # it writes a shard only once every frame of it arrived: a crash would
    # lose a whole shard of frames, not a loss window of them
    settings = _settings([T, *_yx(32)], backend="acquire-zarr")
    assert chunk_grid(settings.array_storage_dimensions) == ((1, 32, 32), None)


def test_ome_tiff_is_not_changed() -> None:
    settings = AcquisitionSettings(
        root_path="unused.ome.tiff",
        dimensions=[Dimension(name="t", count=10, type="time"), *_yx(32)],
        dtype="uint16",
        format=OmeTiffFormat(),
    )
    assert all(d.chunk_size is None for d in settings.array_storage_dimensions)


def test_many_positions_share_the_memory_of_groups_being_filled() -> None:
    one = _settings([T, *_yx(32)])
    many = _settings([T, Dimension(name="p", count=96, type="position"), *_yx(32)])
    _, shards_one = chunk_grid(one.array_storage_dimensions)
    _, shards_many = chunk_grid(many.array_storage_dimensions)
    assert shards_one is not None and shards_many is not None
    assert shards_many[0] < shards_one[0]
    assert 96 * shards_many[0] * 2048 <= 64 * 1024 * 1024


def test_estimated_size_counts_the_layout() -> None:
    dims = [Dimension(name="t", count=20_000, type="time"), *_yx(32)]
    grouped = _settings(dims).estimated_size
    per_frame = _settings(
        [Dimension(name="t", count=20_000, type="time", chunk_size=1), *_yx(32)]
    ).estimated_size
    # 10 shards (2048 frames each) instead of 20,000 chunk files
    assert grouped.files is not None and per_frame.files is not None
    assert grouped.files < 50 < 20_000 <= per_frame.files
