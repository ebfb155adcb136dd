"""Durability: making what a backend wrote reach the disk.

One ``syncfs`` per dataset where Linux has it (much cheaper than an fsync per
chunk file), asynchronous per-file write-back while frames arrive, and a plain
fsync of every file and directory elsewhere.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ome_writers._io._object_store import ObjectPath


def sync_filesystem(path: Path | ObjectPath) -> None:
    """Make everything written below `path` durable.

    On Linux one ``syncfs`` call flushes the filesystem holding `path`, which
    is much cheaper than an fsync per chunk file; elsewhere every file and
    directory is fsynced. An object a store acknowledged is durable already.
    """
    if not isinstance(path, Path):
        return
    syncfs = _libc_function("syncfs")
    if syncfs is not None:
        fd = os.open(path, os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    fsync_tree(path)


def start_writeback(path: str | Path) -> None:
    """Start writing `path`'s cached data to the disk, without waiting for it.

    On Linux this is ``sync_file_range(SYNC_FILE_RANGE_WRITE)``: no journal
    commit and no wait, so writers of other files are not stalled as a
    filesystem-wide sync stalls them. Elsewhere the file is fsynced. A file
    that does not exist (yet) is skipped.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        sync_range = _libc_function("sync_file_range")
        if sync_range is None or sync_range(fd, 0, 0, _SYNC_FILE_RANGE_WRITE) != 0:
            os.fsync(fd)
    finally:
        os.close(fd)


def commit_file(path: str | Path) -> bool:
    """Write `path`'s cached data to the disk and wait until it is durable
    (``fdatasync``; fsync where that is missing). A file that does not exist
    (yet) is skipped: returns whether `path` was committed."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        getattr(os, "fdatasync", os.fsync)(fd)
    finally:
        os.close(fd)
    return True


_SYNC_FILE_RANGE_WRITE = 2


@functools.cache
def _libc_function(name: str) -> Any:
    """A Linux libc function through ctypes, or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    if name == "sync_file_range":
        function.argtypes = [
            ctypes.c_int,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_uint,
        ]
    return function


def fsync_files(paths: Iterable[Path]) -> None:
    """fsync several files, their write-back started together first: each
    fsync then finds its data written or on its way, and the first one's
    journal commit takes the others' metadata along."""
    paths = list(paths)
    for path in paths:
        start_writeback(path)
    for path in paths:
        fsync_tree(path)


def fsync_tree(path: Path) -> None:
    """fsync a file, or every file below a directory (and the directories)."""
    if path.is_file():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return
    for directory, _, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
