"""Shards of one-frame chunks written by a thread of ours (tensorstore's
default layout of small frames): read back by zarr-python and tensorstore,
while being written and after close; the index and its checksum checked
against an independent CRC-32C."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.backends.zarr._shard_file_writer import (
    ShardFileWriter,
    _crc32c_python,
    crc32c,
    shard_index,
)
from tests.backends.params import backend_params
from tests.backends.readers import array_layout, read_zarr

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("tensorstore")
Y, X = 32, 32


def _frame(n: int) -> np.ndarray:
    return np.full((Y, X), n + 1, "uint16") + np.arange(X, dtype="uint16")


def _time_lapse(
    root: Path, backend: str, *, channels: int, shape: tuple[int, int]
) -> AcquisitionSettings:
    """Unbounded time x `channels` of `shape` uint16 frames, default layout."""
    return AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=None, type="time"),
            Dimension(name="c", count=channels, type="channel"),
            Dimension(name="y", count=shape[0]),
            Dimension(name="x", count=shape[1]),
        ],
        dtype="uint16",
        format=backend,
    )


def test_crc32c_check_value() -> None:
    # the CRC-32C check value of the standard test string
    assert crc32c(b"123456789") == 0xE3069283
    assert _crc32c_python(b"123456789") == 0xE3069283
    data = np.random.default_rng(0).integers(0, 256, 4096, dtype="uint8").tobytes()
    assert _crc32c_python(data) == crc32c(data)


def test_index_of_a_partly_filled_block() -> None:
    from numcodecs import CRC32C

    block = np.stack([_frame(0), np.zeros((Y, X), "uint16"), _frame(2)])
    tail = shard_index(block, (8,))
    CRC32C().decode(tail)  # raises on a wrong checksum
    index = np.frombuffer(tail[:-4], "<u8").reshape(8, 2)
    absent = [2**64 - 1, 2**64 - 1]
    nbytes = Y * X * 2
    assert index.tolist() == [
        [0, nbytes],
        absent,  # all zeros: the fill value, as tensorstore leaves it
        [2 * nbytes, nbytes],
        *[absent] * 5,
    ]


def test_shards_readable_while_written_and_after_close(tmp_path: Path) -> None:
    root = tmp_path / "shards.ome.zarr"
    settings = _time_lapse(root, "tensorstore", channels=3, shape=(Y, X))
    shard_t = settings.array_storage_dimensions[0].shard_size_chunks
    assert shard_t == 512  # 3 channels of 2 KiB frames: about 4 MiB a shard
    frames = 2 * 3 * shard_t + 9  # two whole shards and part of a third
    expected = np.stack([_frame(n) for n in range(frames)])
    expected[5] = 0  # skipped
    stream = create_stream(settings, checkpoint_seconds=None)
    try:
        assert isinstance(stream._backend.arrays.writer, ShardFileWriter)  # type: ignore[attr-defined]
        for n in range(frames):
            if n == 5:
                stream.skip()
                continue
            stream.append(_frame(n))
            if n == 100:  # a partly filled first shard, on disk
                stream.checkpoint()
                early = read_zarr(root / "0").data.reshape(-1, Y, X)
                np.testing.assert_array_equal(early[:101], expected[:101])
        stream.checkpoint()
        during = read_zarr(root / "0").data.reshape(-1, Y, X)
        np.testing.assert_array_equal(during[:frames], expected)
    finally:
        stream.close()
    stored = read_zarr(root / "0").data.reshape(-1, Y, X)
    np.testing.assert_array_equal(stored, expected)
    layout = array_layout(root / "0")
    assert layout.chunks == [1, 1, Y, X]
    assert layout.shards is not None
    assert (root / "0" / "c" / "2" / "0" / "0" / "0").is_file()
    assert not list(root.rglob("*.partial"))


@pytest.mark.parametrize(
    "backend", backend_params(names=("tensorstore", "zarr-python", "zarrs-python"))
)
@pytest.mark.parametrize(
    ("shape", "writer"),
    [((256, 256), "ShardFileWriter"), ((512, 1024), "ChunkFileWriter")],
)
def test_every_library_has_our_threads_write_raw_frames(
    tmp_path: Path, backend: str, shape: tuple[int, int], writer: str
) -> None:
    """Default shards of small frames and frame-sized chunks of larger ones
    are written by threads of ours whichever library makes the array; the
    library and an independent reader read them back."""
    root = tmp_path / "a.ome.zarr"
    settings = _time_lapse(root, backend, channels=2, shape=shape)
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 65535, (2 * 5 + 1, *shape), dtype="uint16")
    with create_stream(settings) as stream:
        assert type(stream._backend.arrays.writer).__name__ == writer  # type: ignore[attr-defined]
        for frame in frames:
            stream.append(frame)
        live = np.asarray(stream.view()[:]).reshape(-1, *shape)
    np.testing.assert_array_equal(live[: len(frames)], frames)
    stored = read_zarr(root / "0").data.reshape(-1, *shape)
    np.testing.assert_array_equal(stored[: len(frames)], frames)
    assert not stored[len(frames) :].any()  # the last time point's other channel
    assert not list(root.rglob("*.partial"))


def test_blocks_are_set_up_before_the_first_frame(tmp_path: Path) -> None:
    """The blocks shards are assembled in exist once `create_stream` returns,
    in the first shard's shape: the first append does not allocate them."""
    settings = _time_lapse(
        tmp_path / "ahead.ome.zarr", "tensorstore", channels=2, shape=(Y, X)
    )
    shard_t = settings.array_storage_dimensions[0].shard_size_chunks
    with create_stream(settings) as stream:
        writer = stream._backend.arrays.writer  # type: ignore[attr-defined]
        assert isinstance(writer, ShardFileWriter)
        pending = writer._pending
        shape = (shard_t, 2, Y, X)
        assert pending.pooled > 0 and set(pending._free) == {shape}
        pooled = pending.pooled
        stream.append(_frame(0))
        assert pending.pooled == pooled - 1  # taken from them, none made
        for n in range(1, 2 * shard_t):
            stream.append(_frame(n))
    np.testing.assert_array_equal(
        read_zarr(tmp_path / "ahead.ome.zarr" / "0").data.reshape(-1, Y, X),
        np.stack([_frame(n) for n in range(2 * shard_t)]),
    )
