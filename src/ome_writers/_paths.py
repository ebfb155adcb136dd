"""Filesystem safety: what may be created, replaced or removed."""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import sys
from pathlib import Path
from typing import Any


def resolve_output(path: str) -> Path:
    """Expand ``~`` and make `path` absolute."""
    return Path(os.path.expanduser(path)).resolve()


def refuse_dangerous(path: Path) -> None:
    """Raise if `path` is a filesystem root or the home directory."""
    home = Path.home().resolve()
    if path == Path(path.anchor) or path == home or path in home.parents:
        raise ValueError(f"Refusing to overwrite {path}: it is not a dataset path.")


def remove_dataset(path: Path, *, is_dataset: bool) -> None:
    """Remove an existing dataset at `path` (only if it is one of ours)."""
    refuse_dangerous(path)
    if not is_dataset:
        raise FileExistsError(
            f"Destination {path} exists, but is not a dataset this library writes. "
            "Refusing to overwrite. Please delete it manually."
        )
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def safe_segment(name: str) -> str:
    """Turn a user-given name into one portable, safe path segment.

    Characters other than ASCII letters, digits, ``.``, ``_`` and ``-`` become
    ``_``; names that are empty or made only of dots get a ``_`` prefix, so a
    segment can never leave its parent directory; a leading ``__`` (reserved by
    Zarr v3) becomes ``n_``. At most 200 characters.
    """
    cleaned = "".join(
        ch if (ch.isascii() and (ch.isalnum() or ch in "._-")) else "_" for ch in name
    )
    if cleaned.strip(".") == "":
        cleaned = "_" + cleaned
    if cleaned.startswith("__"):
        cleaned = "n_" + cleaned.lstrip("_")
    return cleaned[:200]


def sync_filesystem(path: Path) -> None:
    """Make everything written below `path` durable.

    On Linux one ``syncfs`` call flushes the filesystem holding `path`, which
    is much cheaper than an fsync per chunk file; elsewhere every file and
    directory is fsynced.
    """
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
    commit and no wait, so writers of other files are not stalled (a
    filesystem-wide sync stalls them for tens of milliseconds). Elsewhere the
    file is fsynced. A file that does not exist (yet) is skipped.
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
