"""Space before the first frame, on a real 4 MB tmpfs: an acquisition too big
fails at `create_stream` with both sizes and nothing written; one that only
exceeds the uncompressed bound warns; one that fits is silent.

(`tests/reliability/test_full_disk.py`: a disk that fills anyway.)
"""

from __future__ import annotations

import errno
import shutil
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pytest
import tifffile
import zarr

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._registry import BY_NAME
from ome_writers._schema._size_estimate import format_bytes
from ome_writers.errors import DiskSpaceWarning
from tests.backends.params import backend_params, suffix

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

SHAPE = (256, 256)  # 128 kiB frames: 32 fill a 4 MB tmpfs
BACKENDS = backend_params(writes_files=True)


def _settings(
    root: Path, backend: str, t: int | None, **kwargs: object
) -> AcquisitionSettings:
    time = {k: kwargs.pop(k) for k in ("scale", "unit") if k in kwargs}
    return AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=t, type="time", **time),  # type: ignore[arg-type]
            Dimension(name="y", count=SHAPE[0]),
            Dimension(name="x", count=SHAPE[1]),
        ],
        dtype="uint16",
        format=backend,
        **kwargs,  # type: ignore[arg-type]
    )


def _frames_on_disk(settings: AcquisitionSettings) -> np.ndarray:
    """The frames as an independent reader reads them."""
    if settings.format.name == "ome-tiff":
        return np.asarray(tifffile.imread(settings.output_path))
    return np.asarray(zarr.open_array(f"{settings.output_path}/0", mode="r")[:])


def _write(settings: AcquisitionSettings, frames: list[np.ndarray]) -> None:
    with create_stream(settings) as stream:
        for frame in frames:
            stream.append(frame)


def _block(n: int) -> np.ndarray:
    """A frame that compresses to almost nothing."""
    return np.full(SHAPE, n + 1, "uint16")


@pytest.mark.parametrize("backend", BACKENDS)
def test_too_big_fails_at_create_stream_with_both_sizes_and_nothing_written(
    mount_tmpfs: Callable[[str], Path], backend: str
) -> None:
    disk = mount_tmpfs("4m")
    settings = _settings(disk / "run" / f"data{suffix(backend)}", backend, t=100)
    estimate = settings.estimated_size
    assert estimate.uncompressed_bytes is not None and estimate.files is not None
    needed = estimate.uncompressed_bytes + estimate.files * 4096  # a block per file
    free = shutil.disk_usage(disk).free
    with pytest.raises(OSError, match="Not enough space") as caught:
        create_stream(settings)
    assert caught.value.errno == errno.ENOSPC
    message = str(caught.value)
    assert f"needs about {format_bytes(needed)}, " in message
    assert f"{format_bytes(free)} free on {disk}" in message
    assert list(disk.iterdir()) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_only_the_uncompressed_bound_too_big_warns(
    mount_tmpfs: Callable[[str], Path], backend: str
) -> None:
    disk = mount_tmpfs("4m")
    codecs = BY_NAME[backend].compressions
    codec = "zstd" if "zstd" in codecs else "blosc-zstd"
    # 5.2 MB of pixels, about 3.3 MB compressed
    settings = _settings(
        disk / f"data{suffix(backend)}", backend, 40, compression=codec
    )
    estimate = settings.estimated_size
    assert estimate.uncompressed_bytes is not None and estimate.files is not None
    bound = estimate.uncompressed_bytes + estimate.files * 4096
    with pytest.warns(DiskSpaceWarning, match="may not fit") as caught:
        stream = create_stream(settings)
    assert len(caught) == 1
    expected = f"with {codec} compression (an estimate), up to {format_bytes(bound)}"
    assert expected in str(caught[0].message)
    with stream:
        for n in range(40):
            stream.append(_block(n))
    np.testing.assert_array_equal(
        _frames_on_disk(settings), np.stack([_block(n) for n in range(40)])
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_what_fits_is_silent(mount_tmpfs: Callable[[str], Path], backend: str) -> None:
    disk = mount_tmpfs("4m")
    settings = _settings(disk / f"data{suffix(backend)}", backend, t=20)
    rng = np.random.default_rng(0)
    frames = [rng.integers(1, 60000, SHAPE, dtype="uint16") for _ in range(20)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _write(settings, frames)
    assert [str(w.message) for w in caught] == []
    np.testing.assert_array_equal(_frames_on_disk(settings), np.stack(frames))


@pytest.mark.parametrize("backend", BACKENDS)
def test_overwrite_counts_the_dataset_it_replaces_as_free(
    mount_tmpfs: Callable[[str], Path], backend: str
) -> None:
    disk = mount_tmpfs("4m")
    root = disk / f"data{suffix(backend)}"
    _write(_settings(root, backend, t=20), [_block(n) for n in range(20)])
    # 2.6 MB of 4.2 MB used: only with the old dataset's space does it fit
    assert shutil.disk_usage(disk).free < 2_000_000
    again = [_block(n + 100) for n in range(20)]
    _write(_settings(root, backend, t=20, overwrite=True), again)
    np.testing.assert_array_equal(_frames_on_disk(_settings(root, backend, 20)), again)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unbounded_warns_when_the_disk_holds_less_than_an_hour(
    mount_tmpfs: Callable[[str], Path], backend: str
) -> None:
    disk = mount_tmpfs("4m")
    root = disk / f"data{suffix(backend)}"
    with pytest.warns(DiskSpaceWarning, match="an assumed one 't' index per second"):
        create_stream(_settings(root, backend, t=None)).close()
    # one frame every 10 minutes: the 30 that fit take five hours
    hourly = _settings(root, backend, t=None, scale=10, unit="min", overwrite=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        create_stream(hourly).close()
    assert [str(w.message) for w in caught] == []
