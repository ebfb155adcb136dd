"""Where a dataset is read from: a local path, or a key prefix in a bucket."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ome_writers._io._paths import resolve_root
from ome_writers._schema._object_storage import url_scheme

if TYPE_CHECKING:
    from ome_writers._io._object_store import DatasetPath
    from ome_writers._schema._object_storage import S3Options


class Location:
    """A dataset's root, and reading its documents and arrays.

    Documents are read whole (a writer replaces them whole); a document that
    does not exist reads as None.
    """

    #: `stamp` is the whole dataset's (a file holding it all): when it
    #: changes, every array may have changed
    replaced_whole = False

    def __init__(self, root: DatasetPath) -> None:
        self.root = root

    @classmethod
    def of(cls, path_or_url: str | os.PathLike[str], s3: S3Options | None) -> Location:
        """The location of a path or ``s3://`` URL; other URLs are refused."""
        text = os.fspath(path_or_url)
        scheme = url_scheme(text)
        if scheme not in (None, "s3", "file"):
            raise ValueError(
                f"Cannot open {text!r}: only local paths and s3:// URLs are read "
                f"(not {scheme}://)"
            )
        if scheme == "file":
            text = text.split("://", 1)[1]
        return cls(resolve_root(text, s3))

    @property
    def is_local(self) -> bool:
        return isinstance(self.root, Path)

    def __str__(self) -> str:
        return str(self.root)

    def path(self, relative: str = "") -> DatasetPath:
        """The path of `relative` (``"a/b"``) below the root."""
        out = self.root
        for part in relative.split("/"):
            if part not in ("", "."):
                out = out / part
        return out

    def read_bytes(self, relative: str) -> bytes | None:
        """The bytes of a document, or None when it does not exist."""
        try:
            return self.path(relative).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def read_json(self, relative: str) -> dict[str, Any] | None:
        """A JSON document (an object), or None when it does not exist."""
        data = self.read_bytes(relative)
        if data is None:
            return None
        try:
            doc = json.loads(data)
        except ValueError as e:
            raise ValueError(f"{self.path(relative)} is not valid JSON: {e}") from e
        if not isinstance(doc, dict):
            raise ValueError(f"{self.path(relative)} is not a JSON object")
        return doc

    def stamp(self, relative: str) -> tuple[int, int, int] | None:
        """What changes when a local document is replaced (inode, size, mtime);
        None in a bucket or when it does not exist."""
        path = self.path(relative)
        if not isinstance(path, Path):
            return None
        try:
            st = path.stat()
        except OSError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    def zarr_store(self, relative: str) -> Any:
        """A zarr-python store whose root is `relative` (an array)."""
        from ome_writers._io._object_store import zarr_store

        return zarr_store(self.path(relative))

    def zarr_array(self, relative: str) -> Any:
        """The zarr-python array at `relative`, opened read-only."""
        import zarr

        return zarr.open_array(self.zarr_store(relative), mode="r")

    def close(self) -> None:
        """Release files held open (none here)."""
