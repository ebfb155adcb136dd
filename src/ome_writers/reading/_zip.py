"""An OME-Zarr inside a ZIP archive (a single-file ``.ozx``), read in place.

Documents are read from the archive's entries with `zipfile`, arrays through
zarr-python's read-only `ZipStore`; nothing is extracted. An archive is
written whole and renamed into place, so it is complete as it is: a stamp
that changes (the archive replaced) reopens it.
"""

from __future__ import annotations

import threading
import zipfile
from typing import TYPE_CHECKING, Any

from ome_writers.reading._location import Location

if TYPE_CHECKING:
    from pathlib import Path

# the signatures a ZIP archive starts with: a local file header, or the end
# of the central directory of an archive without entries
_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def is_zip_archive(path: Path) -> bool:
    """Whether `path` is a regular file holding a ZIP archive (by its first
    bytes: a TIFF file never starts so)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) in _MAGIC
    except OSError:
        return False


class ZipLocation(Location):
    """The root of the hierarchy inside the ZIP archive at `archive`."""

    replaced_whole = True

    def __init__(self, archive: Path) -> None:
        super().__init__(archive)
        self.archive = archive
        self._lock = threading.Lock()
        self._zip: zipfile.ZipFile | None = None
        self._store: Any = None
        self._opened: tuple[int, int, int] | None = None

    def _archive_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.archive.stat()
        except OSError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    def _open(self) -> zipfile.ZipFile:
        """The archive, opened anew when it was replaced (call with the lock)."""
        stamp = self._archive_stamp()
        if self._zip is None or stamp != self._opened:
            if self._zip is not None:
                self._zip.close()
                self._zip = None
            # arrays opened on the replaced archive read it until dropped
            self._store = None
            try:
                self._zip = zipfile.ZipFile(self.archive)
            except zipfile.BadZipFile as e:
                raise ValueError(
                    f"{self.archive}: not a readable ZIP archive: {e}"
                ) from e
            self._opened = stamp
        return self._zip

    def read_bytes(self, relative: str) -> bytes | None:
        name = "/".join(p for p in relative.split("/") if p not in ("", "."))
        with self._lock:
            archive = self._open()
            try:
                return archive.read(name)
            except KeyError:
                return None

    def stamp(self, relative: str) -> tuple[int, int, int] | None:
        """The archive's stamp: an entry changes only with the archive."""
        return self._archive_stamp()

    def zarr_array(self, relative: str) -> Any:
        import zarr
        from zarr.storage import ZipStore

        with self._lock:
            self._open()
            if self._store is None:
                self._store = ZipStore(self.archive, mode="r")
            store = self._store
        return zarr.open_array(store, path=relative, mode="r")

    def _close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def close(self) -> None:
        with self._lock:
            self._close()
