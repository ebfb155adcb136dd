"""Where acquire-zarr's staging store lives, and moving documents out of it.

acquire-zarr writes each array's ``zarr.json`` itself, at times that are not
safe for a reader (`_acquire_zarr` explains why), so it writes into a staging
store whose arrays' ``c`` directories are links to the dataset's arrays. The
store holds nothing but acquire-zarr's documents and those links, so where
the shared-memory filesystem exists (``/dev/shm`` on Linux) it lives there: its
directories, links and documents (per array one of each, and acquire-zarr
rewrites the document at rollovers) cost no disk journal commits, and at close
each final document is copied into the dataset. Elsewhere, or when shared
memory is short of room, it is a directory inside the dataset
(`ACQUIRE_ZARR_STAGING`), removed at close or, after a crash, by ``repair``.

A store in shared memory is locked (``flock``) by its stream for as long as it
is open (it is built under a hidden name and renamed once locked); the next
acquire-zarr stream created removes the stores whose owners ended without
closing them (the lock is the kernel's, so it also ends with a killed
process).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import IO

from ome_writers._io._paths import ACQUIRE_ZARR_STAGING, replace_file

SHARED_MEMORY = Path("/dev/shm")
PREFIX = "ome-writers-acquire-zarr-"
BUILDING = "." + PREFIX  # a store being built: not locked yet
LOCK_NAME = ".lock"
# a store being built (or without its lock file) is left alone this long
GRACE_SECONDS = 60.0
# shared memory must have room for this much per array (acquire-zarr's
# documents are small, a page each), and at least `MIN_FREE_BYTES`
BYTES_PER_ARRAY = 64 * 1024
MIN_FREE_BYTES = 64 * 1024**2

try:
    import fcntl
except ImportError:  # Windows: no shared-memory filesystem either
    fcntl = None  # type: ignore[assignment]


class StagingStore:
    """acquire-zarr's store for the dataset at `root`, with `arrays` arrays.

    Attributes
    ----------
    path : Path
        The store's directory (it may not exist yet when inside the dataset).
    inside_dataset : bool
        True when `path` is inside the dataset.
    """

    def __init__(self, root: Path, arrays: int) -> None:
        self._lock: IO[bytes] | None = None
        shared = _shared_memory_store(max(MIN_FREE_BYTES, arrays * BYTES_PER_ARRAY))
        if shared is None:
            self.path = root / ACQUIRE_ZARR_STAGING
            self.inside_dataset = True
        else:
            self.path, self._lock = shared
            self.inside_dataset = False

    def remove(self) -> None:
        """Remove the store (if it was made) and release its lock."""
        try:
            if not self.inside_dataset:
                shutil.rmtree(self.path, ignore_errors=True)
            elif self.path.exists():  # made with the first array's link
                shutil.rmtree(self.path)
        finally:
            if self._lock is not None:
                self._lock.close()
                self._lock = None


def move_document(staged: Path, target: Path) -> None:
    """Replace `target` with `staged` atomically, also across filesystems."""
    try:
        os.replace(staged, target)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        replace_file(target, staged.read_bytes())


def _shared_memory_store(free_bytes: int) -> tuple[Path, IO[bytes]] | None:
    """A new, locked store in shared memory, or None where there is none (or
    less than `free_bytes` free).

    The store is built under a hidden name (`BUILDING`), locked, and only then
    renamed to its own: a store named `PREFIX` is locked for as long as its
    stream is open, so a store found unlocked is abandoned.
    """
    if fcntl is None or not SHARED_MEMORY.is_dir():
        return None
    try:
        remove_abandoned()
        space = os.statvfs(SHARED_MEMORY)
        if space.f_bavail * space.f_frsize < free_bytes:
            return None
        building = Path(tempfile.mkdtemp(prefix=BUILDING, dir=SHARED_MEMORY))
    except OSError:  # not writable here
        return None
    lock = open(building / LOCK_NAME, "wb")  # noqa: SIM115 (held while the store is used)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = SHARED_MEMORY / (PREFIX + building.name.removeprefix(BUILDING))
        os.rename(building, path)
    except OSError:
        lock.close()
        shutil.rmtree(building, ignore_errors=True)
        return None
    return path, lock


def remove_abandoned() -> None:
    """Remove the shared-memory stores of streams that ended without closing
    (and stores left half built, once `GRACE_SECONDS` old)."""
    assert fcntl is not None
    with os.scandir(SHARED_MEMORY) as entries:
        names = [e.name for e in entries if e.name.startswith((PREFIX, BUILDING))]
    for name in names:
        store = os.path.join(SHARED_MEMORY, name)
        try:
            lock = open(os.path.join(store, LOCK_NAME), "rb")  # noqa: SIM115
        except FileNotFoundError:  # being built, or its builder died
            lock = None
        except OSError:  # another user's
            continue
        if lock is None or name.startswith(BUILDING):
            if lock is not None:
                lock.close()
            with contextlib.suppress(OSError):
                if time.time() - os.stat(store).st_mtime > GRACE_SECONDS:
                    shutil.rmtree(store, ignore_errors=True)
            continue
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # its stream is open
                continue
            shutil.rmtree(store, ignore_errors=True)
