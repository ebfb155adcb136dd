"""The rules a geometry obeys: series dimensions, positions' own dimensions and
the frame order. `AcquisitionSettings` runs them when it is validated."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ome_writers._schema._geometry import is_extra
from ome_writers._schema._storage import effective_type

if TYPE_CHECKING:
    from ome_writers._schema._geometry import AcquisitionGeometry


def check_series(geometry: AcquisitionGeometry) -> None:
    """Series dimensions are named, of a kind that may be one, and bounded."""
    dims = geometry.dimensions
    listed = geometry.series_dimensions
    names = [d.name for d in dims[:-2]]
    if isinstance(listed, list):
        for name in listed:
            if name not in names:
                raise ValueError(
                    f"series_dimensions names {name!r}, which is not a "
                    f"non-frame dimension {names}."
                )
            dim = dims[names.index(name)]
            if not is_extra(dim) and dim.type != "position":
                raise ValueError(
                    f"series_dimensions: {name!r} is a {effective_type(dim)} "
                    "dimension; only dimensions other than time, channel and "
                    "space can be stored as series."
                )
    series = geometry.series_dimension_indices
    for i in series:
        if dims[i].count is None:
            raise ValueError(
                f"Dimension {dims[i].name!r} is stored as series (one image per "
                "index) and cannot be unbounded."
            )
    n_array = len(dims) - len(series)
    if n_array > 5:
        raise ValueError(
            "At most 5 non-position dimensions are allowed for both OME-Zarr "
            f"and OME-TIFF, got {n_array}: time, channel and space dimensions "
            "beyond five cannot be stored as series."
        )
    if len(series) > 1 and geometry.is_ragged:
        raise ValueError(
            "Positions with their own dimensions cannot be combined with other "
            "series dimensions."
        )


def check_position_dimensions(geometry: AcquisitionGeometry) -> None:
    """Each position's own dimensions are a bounded subset of the acquisition's,
    in its order, optionally closed by frame dimensions of their own."""
    if not geometry.is_ragged:
        return
    index_dims = geometry.index_dimensions
    by_name = {d.name: i for i, d in enumerate(index_dims)}
    if any(d.count is None for d in geometry.dimensions[:-2]):
        raise ValueError(
            "Positions with their own dimensions need bounded dimensions; "
            "an unbounded first dimension is not supported with them."
        )
    frame_names = [d.name for d in geometry.frame_dimensions]
    for position in geometry.positions:
        own = position.dimensions
        if own is None:
            continue
        framed = [d.name for d in own if d.name in frame_names]
        if framed and [d.name for d in own[-2:]] != frame_names:
            raise ValueError(
                f"Position {position.name!r}: its own frame dimensions must be "
                f"both {frame_names}, last and in that order; got "
                f"{[d.name for d in own]}."
            )
        for dim in own[-2:] if framed else ():
            if dim.count is None:
                raise ValueError(
                    f"Position {position.name!r}: frame dimension {dim.name!r} "
                    "needs a count."
                )
        own = own[:-2] if framed else own
        names = [d.name for d in own]
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValueError(
                f"Position {position.name!r} has dimensions {unknown} that are "
                "not among the acquisition's non-position, non-frame dimensions "
                f"{list(by_name)}."
            )
        if len(set(names)) != len(names):
            raise ValueError(
                f"Position {position.name!r} lists a dimension twice: {names}."
            )
        if [by_name[n] for n in names] != sorted(by_name[n] for n in names):
            raise ValueError(
                f"Position {position.name!r} lists its dimensions {names} in "
                f"another order than the acquisition's {list(by_name)}."
            )
        for dim in own:
            limit = index_dims[by_name[dim.name]].count
            if dim.count is None or limit is None or dim.count > limit:
                raise ValueError(
                    f"Position {position.name!r}: dimension {dim.name!r} has "
                    f"count={dim.count}; it must be set and at most the "
                    f"acquisition's count ({limit})."
                )
            if dim.type == "position":
                raise ValueError(
                    f"Position {position.name!r}: a position's own dimensions "
                    "cannot include a position dimension."
                )


def check_frame_order(geometry: AcquisitionGeometry) -> None:
    """`frame_order` lists distinct cells of the dimensions, each in range."""
    order = geometry.frame_order
    if order is None:
        return
    if geometry.is_ragged:
        cells = set(geometry.frame_cells)
        wrong = next((e for e in order if e not in cells), None)
        if wrong is not None or len(set(order)) != len(order):
            detail = (
                f"{wrong} is not a cell of its position's own dimensions"
                if wrong is not None
                else "a cell is listed twice"
            )
            raise ValueError(
                f"frame_order must list frames of the positions' own "
                f"dimensions, each once ({detail})."
            )
        if len(order) != len(cells):
            raise ValueError(
                "frame_order leaves out frames of the positions' own "
                "dimensions: cells never acquired are not supported together "
                "with per-position dimensions."
            )
        return
    all_dims = geometry.dimensions[:-2]
    n_dims = len(order[0]) if order else 0
    if not 0 < n_dims <= len(all_dims):
        raise ValueError(
            f"frame_order entries must give one index per non-frame dimension "
            f"{[d.name for d in all_dims]} (trailing ones may be left out); "
            f"got {order[0] if order else 'no entries'}."
        )
    dims = all_dims[:n_dims]
    counts = [d.count for d in dims]
    for n, entry in enumerate(order):
        if len(entry) != n_dims:
            raise ValueError(
                f"frame_order[{n}] = {entry} has {len(entry)} indices; every "
                f"entry must have {n_dims} (one per dimension "
                f"{[d.name for d in dims]})."
            )
        for i, (value, limit) in enumerate(zip(entry, counts, strict=True)):
            if value < 0 or (limit is not None and value >= limit):
                what = f"in [0, {limit})" if limit is not None else ">= 0"
                raise ValueError(
                    f"frame_order[{n}] = {entry}: index {value} of dimension "
                    f"{dims[i].name!r} must be {what}."
                )
    if len(set(order)) != len(order):
        seen: set[tuple[int, ...]] = set()
        dupe = next(e for e in order if e in seen or seen.add(e))  # type: ignore[func-returns-value]
        raise ValueError(
            f"frame_order lists the cell {dupe} more than once; every frame "
            "must have its own cell."
        )
    # fewer entries than cells: the cells left out are never acquired (they
    # read as the fill value and are recorded as not acquired)
