"""Free space for a dataset, checked before anything of it is written.

The settings' `SizeEstimate` is compared with the free space of the
filesystem the output goes to (its nearest existing parent directory), plus
what an existing dataset that `overwrite` replaces occupies. Every file is
given one more filesystem block: its last block is partly filled, and chunk
files sit in directories of their own.

Object storage is not checked: S3 has no free space or quota a client can read.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import warnings
from typing import TYPE_CHECKING

from ome_writers._io._paths import resolve_output
from ome_writers._schema._object_storage import url_scheme
from ome_writers._schema._size_estimate import format_bytes
from ome_writers._schema._storage import effective_type
from ome_writers._schema._units import TIME_SECONDS, time_unit
from ome_writers.errors import DiskSpaceWarning

if TYPE_CHECKING:
    from pathlib import Path

    from ome_writers._schema import AcquisitionSettings, Dimension
    from ome_writers._schema._size_estimate import SizeEstimate

#: an unbounded acquisition warns when free space holds less than this (s)
UNBOUNDED_WARNING_SECONDS = 3600.0
#: the interval assumed between indices of an unbounded dimension that states
#: none (s)
ASSUMED_INTERVAL = 1.0
_BLOCK = 4096  # where the filesystem does not say


def check_free_space(settings: AcquisitionSettings) -> None:
    """Refuse, or warn about, an acquisition its filesystem has no room for.

    Raises ``OSError(ENOSPC)`` when even the estimate with compression does
    not fit; warns (`DiskSpaceWarning`) when only the uncompressed bound does
    not, or when an unbounded acquisition would fill the free space within
    `UNBOUNDED_WARNING_SECONDS`. Writes nothing.
    """
    if url_scheme(settings.root_path) is not None or not settings.root_path:
        return  # a bucket (no quota to read), or memory
    target = resolve_output(settings.output_path)
    if target.exists() and not settings.overwrite:
        return  # the backend refuses it: that is the error to report
    estimate = settings.estimated_size
    where = _existing_parent(target)
    free = shutil.disk_usage(where).free
    block = _block_size(where)
    mount = _mount_point(where)
    total, bound = estimate.estimated_bytes, estimate.uncompressed_bytes
    if total is None or bound is None:
        _check_unbounded(settings, estimate, free, mount, target)
        return
    slack = (estimate.files or 0) * block
    total, bound = total + slack, bound + slack
    if bound > free and settings.overwrite and target.exists():
        free += _occupied(target)  # removed before the new dataset is written
    if total > free:
        raise OSError(
            errno.ENOSPC,
            f"Not enough space for {target}: it needs about {format_bytes(total)}"
            f"{_assumed(estimate, bound)}, {format_bytes(free)} free on {mount}. Free "
            "some space, write elsewhere, or pass check_space=False to "
            "create_stream (or OMEWriterHandler) to start anyway.",
        )
    if bound > free:
        warnings.warn(
            DiskSpaceWarning(
                f"{target} may not fit: it needs about {format_bytes(total)} "
                f"with {estimate.compression} compression (an estimate), up to "
                f"{format_bytes(bound)} uncompressed, and {format_bytes(free)} "
                f"are free on {mount}."
            ),
            stacklevel=3,
        )


def _check_unbounded(
    settings: AcquisitionSettings,
    estimate: SizeEstimate,
    free: int,
    mount: Path,
    target: Path,
) -> None:
    """Warn when `free` holds less than `UNBOUNDED_WARNING_SECONDS` of frames."""
    grow = settings.dimensions[0]
    per_index = math.prod(int(d.count or 1) for d in settings.dimensions[1:-2])
    step = estimate.estimated_bytes_per_frame * per_index
    if step <= 0:
        return
    indices = int(free // step)
    interval = _interval(grow)
    seconds = indices * (interval or ASSUMED_INTERVAL)
    if seconds >= UNBOUNDED_WARNING_SECONDS:
        return
    rate = (
        f"one {grow.name!r} index every {interval:g} s (its scale)"
        if interval
        else f"an assumed one {grow.name!r} index per second (no interval is known)"
    )
    warnings.warn(
        DiskSpaceWarning(
            f"The unbounded acquisition at {target} may fill its disk soon: "
            f"{format_bytes(free)} free on {mount} hold about {indices} "
            f"{grow.name!r} indices of {format_bytes(step)}, {_duration(seconds)} "
            f"at {rate}."
        ),
        stacklevel=4,
    )


def _interval(dim: Dimension) -> float | None:
    """Seconds between indices of a time dimension with a positive scale."""
    if effective_type(dim) != "time" or not dim.scale or dim.scale <= 0:
        return None
    unit = time_unit(dim.unit) if dim.unit else "second"
    if unit is None:
        return None
    return float(dim.scale) * TIME_SECONDS[unit]


def _assumed(estimate: SizeEstimate, bound: int) -> str:
    """How the estimate was made, when frames are compressed."""
    if estimate.compression_ratio == 1.0:
        return ""
    return (
        f" with {estimate.compression} compression (assuming "
        f"{estimate.compression_ratio:g}x; {format_bytes(bound)} uncompressed)"
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def _existing_parent(path: Path) -> Path:
    """`path`, or its nearest parent that exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return path.parents[-1]


def _mount_point(path: Path) -> Path:
    """The mount point of the filesystem holding `path` (for messages)."""
    for candidate in (path, *path.parents):
        if os.path.ismount(candidate):
            return candidate
    return path


def _block_size(path: Path) -> int:
    statvfs = getattr(os, "statvfs", None)  # not on Windows
    if statvfs is None:
        return _BLOCK
    return int(statvfs(path).f_frsize) or _BLOCK


def _occupied(path: Path) -> int:
    """Bytes the file or tree at `path` occupies on its filesystem."""
    if not path.is_dir() or path.is_symlink():
        return _allocated(path)
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            total += _allocated(os.path.join(folder, name))
    return total


def _allocated(path: str | os.PathLike[str]) -> int:
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    blocks = getattr(st, "st_blocks", None)  # not on Windows
    return int(blocks) * 512 if blocks is not None else int(st.st_size)
