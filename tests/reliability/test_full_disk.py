"""A full filesystem: a clear error, and what was checkpointed stays readable.

Uses a 3 MB tmpfs mounted for the test (needs root, as on the CI machines).
The acquisition is unbounded: `create_stream` warns that the space is short,
and the disk fills while frames arrive.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

from ome_writers import LabelImage, create_stream
from ome_writers._registry import BY_NAME
from ome_writers.errors import BackendError, DiskSpaceWarning, StreamClosedError
from tests.backends.params import backend_params, suffix
from tests.conftest import time_series_settings

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

SHAPE = (64, 128)  # 16 KiB frames


def _frame(n: int) -> np.ndarray:
    return np.full(SHAPE, n + 1, "uint16")


def _is_disk_full(error: BaseException) -> bool:
    chain: BaseException | None = error
    while chain is not None:
        if isinstance(chain, OSError) and chain.errno in (errno.ENOSPC, errno.EFBIG):
            return True
        if "No space left" in str(chain) or "ENOSPC" in str(chain):
            return True
        chain = chain.__cause__ or chain.__context__
    return False


@pytest.mark.parametrize("backend", backend_params())
def test_full_disk(mount_tmpfs: Callable[[str], Path], backend: str) -> None:
    root = mount_tmpfs("3m") / f"full{suffix(backend)}"
    fmt = BY_NAME[backend].format
    settings = time_series_settings(root, SHAPE, format=backend)
    checkpointed = 0
    error: BaseException | None = None
    with pytest.warns(DiskSpaceWarning, match="may fill its disk soon"):
        stream = create_stream(settings, checkpoint_seconds=None)
    try:
        for n in range(1000):  # 16 MB: far more than fits
            stream.append(_frame(n))
            if n % 20 == 19:
                stream.checkpoint()
                checkpointed = n + 1
    except (OSError, BackendError) as e:
        error = e
    assert error is not None, "filling the disk raised nothing"
    assert _is_disk_full(error), f"unclear error: {error!r}"
    assert checkpointed > 0
    close_error: BaseException | None = None
    try:
        stream.close()
    except (OSError, BackendError) as e:  # closing on a full disk may fail too
        close_error = e
    assert close_error is None or _is_disk_full(close_error)
    with pytest.raises(StreamClosedError):
        stream.append(_frame(0))
    # everything up to the last checkpoint is intact
    if fmt == "scratch":
        data = np.asarray(stream.view()).reshape(-1, *SHAPE)
    elif fmt == "ome-tiff":
        import tifffile

        with tifffile.TiffFile(root) as tif:
            data = np.stack([p.asarray() for p in tif.pages[:checkpointed]])
    else:
        data = zarr.open_array(str(root / "0"), mode="r")[:checkpointed]
    for n in range(checkpointed):
        np.testing.assert_array_equal(data[n], _frame(n))


def _label(n: int) -> np.ndarray:
    plane = np.zeros(SHAPE, "uint16")
    plane[n % SHAPE[0]] = n + 1
    return plane


@pytest.mark.parametrize(
    "backend",
    [b for b in backend_params(format="ome-zarr") if b.values[0] != "acquire-zarr"],
)
def test_full_disk_with_labels(
    mount_tmpfs: Callable[[str], Path], backend: str
) -> None:
    """Label planes fill the disk with the frames: a clear error, and frames
    and labels up to the last checkpoint read back."""
    root = mount_tmpfs("3m") / "full.ome.zarr"
    settings = time_series_settings(root, SHAPE, format=backend)
    settings.labels = (LabelImage(name="cells", dtype="uint16", compression="none"),)
    checkpointed = 0
    error: BaseException | None = None
    with pytest.warns(DiskSpaceWarning):
        stream = create_stream(settings, checkpoint_seconds=None)
    try:
        for n in range(1000):
            stream.append(_frame(n))
            stream.write_label("cells", _label(n), frame=n)
            if n % 20 == 19:
                stream.checkpoint()
                checkpointed = n + 1
    except (OSError, BackendError) as e:
        error = e
    assert error is not None, "filling the disk raised nothing"
    assert _is_disk_full(error), f"unclear error: {error!r}"
    assert checkpointed > 0
    close_error: BaseException | None = None
    try:
        stream.close()
    except (OSError, BackendError) as e:  # closing on a full disk may fail too
        close_error = e
    assert close_error is None or _is_disk_full(close_error)
    frames = zarr.open_array(str(root / "0"), mode="r")
    labels = zarr.open_array(str(root / "labels" / "cells" / "0"), mode="r")
    assert labels.shape[0] >= checkpointed
    for n in range(checkpointed):
        np.testing.assert_array_equal(frames[n], _frame(n))
        np.testing.assert_array_equal(labels[n], _label(n))
