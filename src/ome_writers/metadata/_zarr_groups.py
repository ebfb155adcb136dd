"""Group documents (``zarr.json`` of groups): writing them, editing them.

No NGFF models here: these run on the path of every stream, the documents are
built from the models elsewhere (`_ngff`).
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


def set_windows(
    attributes: dict[str, Any], windows: list[tuple[float, float] | None]
) -> None:
    """Set each ``omero`` channel's display window (start, end) where known
    (min/max widened to hold it: pixels beyond the significant bits)."""
    omero = attributes.get("ome", {}).get("omero")
    if not omero:
        return
    for channel, window in zip(omero["channels"], windows, strict=False):
        if window is not None:
            set_omero_window(channel, *window)


def write_groups(
    root: DatasetPath, groups: dict[str, dict[str, Any]], *, atomic: bool = False
) -> None:
    """Write many groups' documents; a plate's hundreds on a few threads.

    Creating directories and files waits for the filesystem, not for Python,
    so threads overlap those waits (a 96-well plate with 4 fields per well has
    489 groups). New groups (the default) are written in place; existing ones
    are replaced atomically (`write_group`).
    """
    overlapped(
        lambda group: write_group(root, *group, atomic=atomic),
        list(groups.items()),
        threads=_GROUP_THREADS,
        serial_up_to=_SERIAL_GROUPS,
    )


_SERIAL_GROUPS = 16
_GROUP_THREADS = 8


def write_group(
    root: DatasetPath, path: str, attributes: dict[str, Any], *, atomic: bool = True
) -> None:
    """Write a group's zarr.json, atomically (temp file + rename) unless told not.

    A reader never sees a half-written document of a group that exists; a new
    group (`atomic=False`) has no earlier document to protect. In a bucket,
    one PUT replaces an object atomically.
    """
    directory = root if path == "." else root / path
    directory.mkdir(parents=True, exist_ok=True)
    doc = {"zarr_format": 3, "node_type": "group", "attributes": attributes}
    try:
        # compact: without `indent`, json uses its C encoder
        text = json.dumps(doc, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise ValueError(f"Failed to serialize zarr.json for {directory}: {e}") from e
    if atomic and isinstance(directory, Path):
        replace_file(directory / "zarr.json", text)
    else:
        (directory / "zarr.json").write_text(text)
