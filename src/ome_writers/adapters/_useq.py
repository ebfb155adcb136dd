"""useq-schema `MDASequence` -> ome-writers dimensions and plate.

Sequences that cannot be one regular array raise `NotImplementedError`
(pymmcore-plus then falls back to an unbounded t-y-x stream); nothing else
should escape for a valid sequence. Positions are listed by iterating only the
sequence's position and grid plans, so their order is exactly the order in
which frames arrive.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import TYPE_CHECKING, Any

from ome_writers._schema import (
    Channel,
    Dimension,
    Plate,
    Position,
    StandardAxis,
)

if TYPE_CHECKING:
    from collections.abc import Mapping


def excel_row(index: int) -> str:
    """Row letters of a 0-based index: A..Z, AA, AB, ... (as useq names wells)."""
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(ord("A") + rem) + name
    return name


def _unique(names: list[str]) -> list[str]:
    """Suffix repeated names: ["a", "a"] -> ["a", "a-1"]."""
    seen: Counter[str] = Counter()
    taken = set(names)
    out = []
    for name in names:
        if seen[name]:
            candidate = f"{name}-{seen[name]}"
            while candidate in taken:
                seen[name] += 1
                candidate = f"{name}-{seen[name]}"
            taken.add(candidate)
            out.append(candidate)
        else:
            out.append(name)
        seen[name] += 1
    return out


def _check_regular(seq: Any, useq: Any, used: set[str]) -> None:
    order = "".join(str(a) for a in seq.axis_order)
    has_sub_grid = False
    for pos in seq.stage_positions:
        sub = getattr(pos, "sequence", None)
        if sub is None:
            continue
        if sub.time_plan is not None or sub.channels or sub.z_plan is not None:
            raise NotImplementedError(
                "Ragged dimensions detected: a stage position's sub-sequence has its "
                "own time plan, channels or z plan, so the data is not one regular "
                "array. Position subsequences may only contain grid_plan."
            )
        has_sub_grid |= sub.grid_plan is not None
    p_or_g = [
        a for a in order if a in "pg" and (a in used or (a == "g" and has_sub_grid))
    ]
    if len(p_or_g) == 2 and abs(order.index("p") - order.index("g")) != 1:
        raise NotImplementedError(
            f"Cannot handle axis_order={order!r} with non-adjacent position and grid "
            "axes: they are stored as one position dimension."
        )
    if has_sub_grid and order.index("g") < order.index("p"):
        raise NotImplementedError(
            "Position sub-sequence grids with the grid axis before the position axis "
            f"(axis_order={order!r}) do not form a regular array."
        )
    if seq.z_plan is not None and any(not ch.do_stack for ch in seq.channels):
        raise NotImplementedError(
            "Sequences with Channel.do_stack=False values are not supported: "
            "channels would have different z sizes."
        )
    if any(ch.acquire_every != 1 for ch in seq.channels):
        raise NotImplementedError(
            "Sequences with Channel.acquire_every > 1 are not supported: channels "
            "would have different time sizes."
        )
    if (
        isinstance(seq.stage_positions, useq.WellPlatePlan)
        and seq.grid_plan is not None
    ):
        raise NotImplementedError(
            "WellPlatePlan with grid_plan is not supported. Use well_points_plan."
        )


def _positions(seq: Any, useq: Any) -> tuple[list[Position], Plate | None]:
    """One Position per (position, grid point), in acquisition order."""
    plan = seq.stage_positions
    stage = list(plan)
    is_plate_plan = isinstance(plan, useq.WellPlatePlan)
    reduced = useq.MDASequence(
        axis_order=[a for a in seq.axis_order if str(a) in "pg"],
        stage_positions=plan,
        grid_plan=seq.grid_plan,
    )
    n_fovs = int(plan.num_points_per_well) if is_plate_plan else 1
    well_points = list(plan.well_points_plan) if is_plate_plan else []
    rows: list[dict[str, Any]] = []
    for event in reduced.iter_events():
        p = int(event.index.get("p", 0))
        g = int(event.index.get("g", 0))
        src = stage[p] if stage else None
        row: dict[str, Any] = {
            "x_coord": event.x_pos,
            "y_coord": event.y_pos,
            "z_coord": event.z_pos,
        }
        grid_point = None
        if is_plate_plan:
            k = p % n_fovs
            grid_point = well_points[k] if k < len(well_points) else None
            name = f"fov{k}"
        elif src is not None:
            sub = getattr(src, "sequence", None)
            grid = sub.grid_plan if sub is not None and sub.grid_plan else seq.grid_plan
            points = list(grid) if grid is not None else []
            grid_point = points[g] if g < len(points) else None
            plate_info = src.plate_row is not None and src.plate_col is not None
            name = src.name or (
                f"fov{g if grid_point else 0}" if plate_info else str(p)
            )
            if grid_point is not None and getattr(grid_point, "grid_row", None) is None:
                name += f"_g{g:04d}" if len(stage) == 1 else f"_p{p:04d}_g{g:04d}"
        else:  # a grid plan alone
            points = list(seq.grid_plan)
            grid_point = points[g]
            name = f"{g:04d}"
        row["name"] = name
        if grid_point is not None and getattr(grid_point, "grid_row", None) is not None:
            row["grid_row"] = int(grid_point.grid_row)
            row["grid_column"] = int(grid_point.grid_col)
        if src is not None and src.plate_row is not None:
            if src.plate_col is None:
                warnings.warn(
                    f"Position {src.name} has plate_row={src.plate_row} but "
                    "plate_col=None. Both must be set. Ignoring plate info.",
                    UserWarning,
                    stacklevel=3,
                )
            else:
                row["plate_row"] = excel_row(int(src.plate_row))
                row["plate_column"] = str(int(src.plate_col) + 1)
        elif src is not None and src.plate_col is not None:
            warnings.warn(
                f"Position {src.name} has plate_col={src.plate_col} but "
                "plate_row=None. Both must be set. Ignoring plate info.",
                UserWarning,
                stacklevel=3,
            )
        rows.append(row)

    # names must be unique within each (well, grid cell) group
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, row in enumerate(rows):
        key = tuple(
            row.get(k) for k in ("plate_row", "plate_column", "grid_row", "grid_column")
        )
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        for i, name in zip(
            members, _unique([rows[i]["name"] for i in members]), strict=True
        ):
            rows[i]["name"] = name
    positions = [Position(**row) for row in rows]

    plate = None
    if is_plate_plan:
        plate = Plate(
            row_names=[excel_row(i) for i in range(plan.plate.rows)],
            column_names=[str(j + 1) for j in range(plan.plate.columns)],
            name=plan.plate.name or None,
        )
    elif any(p.plate_row is not None for p in positions):
        max_row = max(
            int(s.plate_row)
            for s in stage
            if s.plate_row is not None and s.plate_col is not None
        )
        max_col = max(
            int(s.plate_col)
            for s in stage
            if s.plate_row is not None and s.plate_col is not None
        )
        plate = Plate(
            row_names=[excel_row(i) for i in range(max_row + 1)],
            column_names=[str(j + 1) for j in range(max_col + 1)],
        )
    return positions, plate


def _time_scale(seq: Any) -> float | None:
    plan = seq.time_plan
    interval = getattr(plan, "interval", None)
    if interval is None:
        return None
    seconds = (
        interval.total_seconds()
        if hasattr(interval, "total_seconds")
        else float(interval)
    )
    return seconds if seconds > 0 else None


def _z_step(seq: Any) -> float | None:
    step = getattr(seq.z_plan, "step", None)
    return float(step) if step else None


def useq_to_acquisition_settings(
    seq: Any,
    image_width: int,
    image_height: int,
    *,
    units: Mapping[str, tuple[float, str] | None] | None = None,
    pixel_size_um: float | None = None,
    chunk_shapes: Mapping[str, int] | None = None,
    shard_shapes: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Dimensions (and plate) of an acquisition described by a `useq.MDASequence`.

    Parameters
    ----------
    seq : useq.MDASequence
        The sequence.
    image_width, image_height : int
        Frame size in pixels.
    units : Mapping, optional
        Dimension name -> (scale, unit), overriding the sequence's own.
    pixel_size_um : float, optional
        Pixel size; 0, None or negative mean unknown (no scale is written).
    chunk_shapes, shard_shapes : Mapping, optional
        Dimension name -> elements per chunk / chunks per shard.

    Returns
    -------
    dict
        ``{"dimensions": list[Dimension], "plate": Plate | None}``, a new mutable
        dict that can be spread into `AcquisitionSettings`.

    Raises
    ------
    NotImplementedError
        The sequence cannot be stored as one regular array.
    """
    try:
        import useq
    except ImportError:
        raise ValueError(
            "seq must be a useq.MDASequence (useq-schema is not installed)"
        ) from None
    if not isinstance(seq, useq.MDASequence):
        raise ValueError(f"seq must be a useq.MDASequence, got {type(seq).__name__}")
    if (
        not hasattr(useq.Position, "model_fields")
        or "plate_row" not in useq.Position.model_fields
    ):
        raise ImportError("useq-schema >= 0.9.2 is required")
    units = units or {}
    chunks = dict(chunk_shapes or {})
    shards = dict(shard_shapes or {})
    try:
        sizes = {str(k): v for k, v in seq.sizes.items()}
        unbounded_t = False
    except ZeroDivisionError:  # e.g. a duration with interval 0: no fixed count
        sizes = {str(k): v for k, v in seq.replace(time_plan=None).sizes.items()}
        sizes["t"] = 1
        unbounded_t = True
    used = [str(a) for a in seq.axis_order if sizes.get(str(a), 0) > 0]
    _check_regular(seq, useq, set(used))
    if unbounded_t and "t" not in used:
        used.insert(0, "t")
    has_sub_grid = any(
        getattr(getattr(p, "sequence", None), "grid_plan", None)
        for p in seq.stage_positions
    )
    if has_sub_grid and "g" not in used and "p" in used:
        used.insert(used.index("p") + 1, "g")
    if unbounded_t and used[0] != "t":
        raise NotImplementedError(
            "A time plan without a fixed number of time points must be the outermost "
            f"axis (axis_order={''.join(str(a) for a in seq.axis_order)!r})."
        )

    dims: list[Dimension] = []
    plate = None
    for axis in used:
        if axis in ("p", "g"):
            if any(d.type == "position" for d in dims):
                continue
            positions, plate = _positions(seq, useq)
            dims.append(StandardAxis.POSITION.to_dimension(coords=positions))
            continue
        fields: dict[str, Any] = {
            "name": axis,
            "type": StandardAxis(axis).dimension_type(),
            "count": None if (axis == "t" and unbounded_t) else sizes[axis],
            "chunk_size": chunks.get(axis),
            "shard_size_chunks": shards.get(axis),
        }
        override = units.get(axis)
        if override:
            fields["scale"], fields["unit"] = override
        elif axis == "t":
            fields["unit"] = "second"
            fields["scale"] = _time_scale(seq)
        elif axis == "z":
            fields["unit"] = "micrometer"
            fields["scale"] = _z_step(seq)
        elif axis == "c":
            names = _unique([ch.config for ch in seq.channels])
            fields["coords"] = [Channel(name=n) for n in names]
        dims.append(Dimension(**fields))

    if pixel_size_um is not None and pixel_size_um < 0:
        warnings.warn(
            f"Invalid pixel_size_um={pixel_size_um}. Must be positive. "
            "Ignoring pixel size.",
            UserWarning,
            stacklevel=2,
        )
    scale = pixel_size_um if pixel_size_um and pixel_size_um > 0 else None
    for axis, count in (("y", image_height), ("x", image_width)):
        override = units.get(axis)
        dims.append(
            Dimension(
                name=axis,
                count=count,
                type="space",
                unit=override[1] if override else "micrometer",
                scale=override[0] if override else scale,
                chunk_size=chunks.get(axis),
                shard_size_chunks=shards.get(axis),
            )
        )
    return {"dimensions": dims, "plate": plate}


def dims_from_useq(
    seq: Any,
    image_width: int,
    image_height: int,
    *,
    units: Mapping[str, tuple[float, str] | None] | None = None,
    pixel_size_um: float | None = None,
    chunk_shapes: Mapping[str, int] | None = None,
    shard_shapes: Mapping[str, int] | None = None,
) -> list[Dimension]:
    """Deprecated: use `useq_to_acquisition_settings` (this returns only dimensions)."""
    warnings.warn(
        "`dims_from_useq` is deprecated and will be removed in a future version. "
        "Use `useq_to_acquisition_settings` instead.",
        DeprecationWarning,
        stacklevel=2,
    )
    result = useq_to_acquisition_settings(
        seq,
        image_width,
        image_height,
        units=units,
        pixel_size_um=pixel_size_um,
        chunk_shapes=chunk_shapes,
        shard_shapes=shard_shapes,
    )
    dims: list[Dimension] = result["dimensions"]
    return dims
