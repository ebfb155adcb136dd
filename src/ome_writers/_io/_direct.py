"""Direct I/O: large frames written to the disk without the page cache.

A buffered write copies each frame into the page cache, and the kernel writes
it to the disk later: for frames of hundreds of KiB or more that copy, the
page allocation behind it and the write-back throttling cost a writer thread
more CPU time than the disk needs, and a sync at a checkpoint or close still
waits for every byte. With ``O_DIRECT`` the disk reads the frame from our
buffer, and the bytes are on the disk when the write returns. It needs the
buffer's address, the file offset and the size aligned to the device's
block, which the frame pools' buffers of such frames are (`aligned`); a
filesystem that refuses it (tmpfs) answers EINVAL, and the writers fall back
to buffered writes.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: frames from this size on are written with direct I/O where they can be:
#: smaller ones arrive faster than one synchronous disk write per frame allows
DIRECT_MIN_BYTES = 256 * 1024
#: the same for OME-TIFF strips: a file's strips are written one after another
#: (only different files' are in flight together), so in a single file each
#: direct write's wait for the disk is the stream's; below a few MiB the page
#: cache's copy costs less than that wait
TIFF_DIRECT_MIN_BYTES = 2 * 1024 * 1024
#: offsets, sizes and buffers of direct writes align to this (a multiple of
#: every common logical block size; a device that needs more refuses them)
DIRECT_ALIGN = 4096
O_DIRECT: int = getattr(os, "O_DIRECT", 0)


def direct_io_suits(frame_bytes: int, min_bytes: int = DIRECT_MIN_BYTES) -> bool:
    """Whether frames of `frame_bytes` are written with direct I/O (where the
    platform has it): at least `min_bytes`, in whole blocks."""
    return (
        bool(O_DIRECT) and frame_bytes >= min_bytes and frame_bytes % DIRECT_ALIGN == 0
    )


def aligned(data: np.ndarray) -> bool:
    """Whether `data` can be written directly: contiguous, at an aligned
    address, whole blocks."""
    return (
        data.flags.c_contiguous
        and data.ctypes.data % DIRECT_ALIGN == 0
        and data.nbytes % DIRECT_ALIGN == 0
    )


def refused(error: BaseException) -> bool:
    """Whether `error` is a filesystem (or device) refusing direct I/O."""
    return isinstance(error, OSError) and error.errno == errno.EINVAL


def pwrite_all(fd: int, data: np.ndarray | bytes, offset: int) -> None:
    """Every byte of `data` (contiguous) at `offset` of `fd` (a short direct
    write ends on a block boundary, so the rest stays aligned)."""
    view = (memoryview(data) if isinstance(data, bytes) else data.data).cast("B")
    done = 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], offset + done)


def pwritev_all(fd: int, buffers: list[np.ndarray], offset: int) -> None:
    """Every byte of `buffers` (each contiguous), one after another from
    `offset` of `fd`, in as few writes as the system takes."""
    views = [b.data.cast("B") for b in buffers]
    while views:
        done = os.pwritev(fd, views, offset)
        if not done:
            raise OSError(errno.EIO, "nothing written")
        offset += done
        while views and done >= len(views[0]):
            done -= len(views[0])
            views.pop(0)
        if views and done:
            views[0] = views[0][done:]
