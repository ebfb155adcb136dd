"""Group documents: writing them, editing them, reading them back.

A Zarr v3 group (OME-Zarr 0.5) is one ``zarr.json`` holding its attributes; a
Zarr v2 group (OME-Zarr 0.4) is a ``.zgroup`` beside a ``.zattrs`` holding
them. No NGFF models here: these run on the path of every stream, the
documents are built from the models elsewhere (`_ngff`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ome_writers._io._overlap import overlapped
from ome_writers._io._paths import replace_file
from ome_writers.metadata._display import set_omero_window

if TYPE_CHECKING:
    from ome_writers._io._object_store import DatasetPath


#: the file holding a group's attributes, by Zarr format
ATTRIBUTES_FILE = {3: "zarr.json", 2: ".zattrs"}


def ngff_part(attributes: dict[str, Any]) -> dict[str, Any]:
    """The NGFF documents among a group's attributes: ``attributes["ome"]``
    (0.5), or the attributes themselves (0.4)."""
    ome = attributes.get("ome")
    return ome if isinstance(ome, dict) else attributes


def is_group(directory: DatasetPath) -> bool:
    """Whether `directory` holds a Zarr group (either format)."""
    return (directory / "zarr.json").is_file() or (directory / ".zgroup").is_file()


def set_windows(
    attributes: dict[str, Any], windows: list[tuple[float, float] | None]
) -> None:
    """Set each ``omero`` channel's display window (start, end) where known
    (min/max widened to hold it: pixels beyond the significant bits)."""
    omero = ngff_part(attributes).get("omero")
    if not omero:
        return
    for channel, window in zip(omero["channels"], windows, strict=False):
        if window is not None:
            set_omero_window(channel, *window)


def write_groups(
    root: DatasetPath,
    groups: dict[str, dict[str, Any]],
    *,
    atomic: bool = False,
    zarr_format: int = 3,
) -> None:
    """Write many groups' documents; a plate's hundreds on a few threads.

    Creating directories and files waits for the filesystem, not for Python,
    so threads overlap those waits (a 96-well plate with 4 fields per well has
    489 groups). New groups (the default) are written in place; existing ones
    are replaced atomically (`write_group`).
    """
    overlapped(
        lambda group: write_group(root, *group, atomic=atomic, zarr_format=zarr_format),
        list(groups.items()),
        threads=_GROUP_THREADS,
        serial_up_to=_SERIAL_GROUPS,
    )


_SERIAL_GROUPS = 16
_GROUP_THREADS = 8


def write_group(
    root: DatasetPath,
    path: str,
    attributes: dict[str, Any],
    *,
    atomic: bool = True,
    zarr_format: int = 3,
) -> None:
    """Write a group's document, atomically (temp file + rename) unless told not.

    A reader never sees a half-written document of a group that exists; a new
    group (`atomic=False`) has no earlier document to protect. In a bucket,
    one PUT replaces an object atomically. Zarr v2: the ``.zgroup`` of a new
    group, then its ``.zattrs`` (replaced as a v3 ``zarr.json`` is).
    """
    directory = root if path == "." else root / path
    directory.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = attributes
    if zarr_format == 3:
        doc = {"zarr_format": 3, "node_type": "group", "attributes": attributes}
    name = ATTRIBUTES_FILE[zarr_format]
    try:
        # compact: without `indent`, json uses its C encoder
        text = json.dumps(doc, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise ValueError(f"Failed to serialize {name} for {directory}: {e}") from e
    if zarr_format == 2 and not (atomic and (directory / ".zgroup").is_file()):
        (directory / ".zgroup").write_text('{"zarr_format":2}')
    if atomic and isinstance(directory, Path):
        replace_file(directory / name, text)
    else:
        (directory / name).write_text(text)


def read_group_attributes(directory: DatasetPath) -> dict[str, Any]:
    """The attributes of the group at `directory` (either Zarr format)."""
    document = directory / "zarr.json"
    if document.is_file():
        doc = json.loads(document.read_text(encoding="utf-8"))
        attributes: dict[str, Any] = doc.get("attributes") or {}
        return attributes
    if not (directory / ".zgroup").is_file():
        raise FileNotFoundError(f"{directory}: no Zarr group there")
    zattrs = directory / ".zattrs"
    if not zattrs.is_file():
        return {}
    attrs: dict[str, Any] = json.loads(zattrs.read_text(encoding="utf-8"))
    return attrs
