"""OME-Zarr rules for a multiscale's axes (0.5 and 0.4 alike), checked without
the NGFF models.

`create_stream` must reject a storage order that no NGFF reader accepts before
it creates anything, but importing the models (yaozarrs) costs more than the
rest of creating a stream, so the group documents are built after the first
frame can be written (`backends/zarr/_group_documents.py`). These are the same rules
the models enforce (a test compares the two on every axis list of up to six
axes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ome_writers._schema import effective_type

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ome_writers._schema import AcquisitionSettings

#: where an axis type may stand: time first, channel and custom types, then space
_RANK = {"time": 0, "channel": 1, "space": 2}


def axes_problem(axes: Sequence[tuple[str, str | None]]) -> str | None:
    """Why (name, type) axes are not a valid NGFF ``axes`` list, or None."""
    names = [name for name, _ in axes]
    if not 2 <= len(axes) <= 5:
        return f"an image has 2 to 5 axes, not {len(axes)} ({names})"
    if len(set(names)) != len(names):
        return f"axis names must be unique, got {names}"
    kinds = [kind for _, kind in axes]
    if not 2 <= kinds.count("space") <= 3:
        return "there must be 2 or 3 axes of type 'space'"
    for kind in ("time", "channel"):
        if kinds.count(kind) > 1:
            return f"there can be at most one axis of type {kind!r}"
    ranks = [_RANK.get(kind or "", 1) for kind in kinds]
    if ranks != sorted(ranks):
        return (
            "axes must be ordered by type: time first, then channel and "
            f"custom types, then space (got types {kinds})"
        )
    return None


def check_axes(settings: AcquisitionSettings) -> str | None:
    """Why the storage order is not a valid NGFF axis order, or None."""
    dims = settings.array_storage_dimensions
    problem = axes_problem([(d.name, effective_type(d)) for d in dims])
    if problem is None:
        return None
    order = [d.name for d in dims]
    return f"storage order {order} is not a valid OME-Zarr axis order: {problem}"
