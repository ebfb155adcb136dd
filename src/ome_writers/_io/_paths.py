"""Filesystem safety: what may be created, replaced or removed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ome_writers._io._object_store import DatasetPath, ObjectPath
    from ome_writers._schema._object_storage import S3Options


def resolve_output(path: str) -> Path:
    """Expand ``~`` and make `path` absolute."""
    return Path(os.path.expanduser(path)).resolve()


def resolve_root(path: str, options: S3Options | None = None) -> DatasetPath:
    """A dataset's location: an `ObjectPath` for ``s3://``, else an absolute Path."""
    from ome_writers._schema._object_storage import url_scheme

    if url_scheme(path) == "s3":
        from ome_writers._io._object_store import resolve_s3

        return resolve_s3(path, options)
    return resolve_output(path)


def written_path(path: Path) -> Path:
    """The path a dataset named `path` was written at.

    An OME-TIFF name that does not exist (``run.ome.tiff``) whose stem is a
    directory (``run/``) names the files of several positions written there;
    any other path is itself.
    """
    if path.exists() or path.suffix.lower() not in (".tif", ".tiff"):
        return path
    from ome_writers._schema._format import ome_stem_suffix

    folder = Path(ome_stem_suffix(str(path))[0])
    return folder if folder.is_dir() else path


def refuse_dangerous(path: Path) -> None:
    """Raise if `path` is a filesystem root or the home directory."""
    home = Path.home().resolve()
    if path == Path(path.anchor) or path == home or path in home.parents:
        raise ValueError(f"Refusing to overwrite {path}: it is not a dataset path.")


def remove_dataset(path: Path | ObjectPath, *, is_dataset: bool) -> None:
    """Remove an existing dataset at `path` (only if it is one of ours)."""
    if isinstance(path, Path):
        refuse_dangerous(path)
    if not is_dataset:
        raise FileExistsError(
            f"Destination {path} exists, but is not a dataset this library writes. "
            "Refusing to overwrite. Please delete it manually."
        )
    if not isinstance(path, Path):  # the dataset's keys, nothing beside them
        path.remove_tree()
    elif path.is_dir() and not path.is_symlink():
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


# the store acquire-zarr writes into, inside a dataset it writes (its backend
# module explains why); `repair` removes one left by a crash
ACQUIRE_ZARR_STAGING = "__acquire_zarr__"


def replace_file(path: Path, data: str | bytes, *, aside: str | None = None) -> None:
    """Replace `path` whole with `data` (text as UTF-8).

    The data goes into a file beside it (``<name>.tmp``, or `aside`) that is
    then renamed over it: a reader, or the dataset after a crash, has the old
    file or the new one, never part of either.
    """
    tmp = path.with_name(aside or path.name + ".tmp")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)
