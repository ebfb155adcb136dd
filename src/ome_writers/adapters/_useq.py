"""useq-schema `MDASequence` -> ome-writers dimensions and plate.

Sequences that cannot be one regular array raise `NotImplementedError` with
the reason (pymmcore-plus then falls back to an unbounded t-y-x stream);
nothing else should escape for a valid sequence. useq is imported lazily.

Naming rules (stable, documented for users):

- Channels: the channel config names; a config used twice (e.g. the same
  config with two exposures) keeps all its data under unique names:
  ``DAPI``, ``DAPI-1``, ...
- Positions are listed by iterating only the sequence's position and grid
  plans, so their order is exactly the order in which frames arrive.
- A position is named after the stage position (``pos.name``, else its index);
  tiles of a grid plan with rows/columns keep that name and carry
  ``grid_row``/``grid_column``; random grid points get ``_g<gggg>`` (one
  position, also when ``axis_order`` leaves ``p`` out) or ``_p<pppp>_g<gggg>``
  appended; a grid without positions gives ``0000``, ``0001``, ...
- Plate fields never collide within a well: unnamed plate positions (all fields
  of a `WellPlatePlan`, and stage positions with ``plate_row``/``plate_col``)
  are named ``fov<k>``, k counting the fields of that well in acquisition
  order; named plate positions with a grid get ``_<gggg>`` per tile.
- Any remaining duplicate (same name in the same well and grid cell) gets a
  ``-1``, ``-2``, ... suffix rather than an error.
- Plate rows: a `WellPlatePlan` uses the row names of its own plate (useq's
  Excel-style ``A..Z, AA, AB``); integer ``plate_row`` values on stage
  positions are named with the same scheme, so both paths agree with useq.
  (`Plate.from_standard_wells` keeps its own ``AA, BB`` scheme.)
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import Counter
from typing import TYPE_CHECKING, Any

from ome_writers._schema import Channel, Dimension, Plate, Position, StandardAxis

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


def _sub_sequences(seq: Any) -> list[Any]:
    return [p.sequence for p in seq.stage_positions if p.sequence is not None]


def _needs_frame_order(seq: Any, used: list[str], sub_grid: bool) -> bool:
    """Whether events may arrive in other than C order over the dimensions.

    Position and grid are stored as one position dimension; when they are not
    adjacent in `axis_order`, or a position's own grid is iterated inside its
    t/c/z loops, every event still has its own cell, but not in C order.
    """
    order = "".join(str(a) for a in seq.axis_order)
    if "p" in used and "g" in used and abs(order.index("p") - order.index("g")) != 1:
        return True
    return sub_grid or _is_jagged(seq)


def _is_ragged(seq: Any, used: list[str]) -> bool:
    """Whether a position's sub-sequence has its own time plan, channels or z plan."""
    return "p" in used and any(
        sub.time_plan or sub.channels or sub.z_plan for sub in _sub_sequences(seq)
    )


def _check_regular(seq: Any, useq: Any, used: list[str]) -> None:
    """Raise NotImplementedError if the events do not form regular arrays."""
    for sub in _sub_sequences(seq) if "p" in used else []:
        if sub.stage_positions:
            raise NotImplementedError(
                "A stage position's sub-sequence has stage positions of its own: "
                "nested positions are not stored as arrays."
            )


def _is_jagged(seq: Any) -> bool:
    """Whether some channel skips planes of the t/c/z grid.

    ``do_stack=False`` takes one plane of a z-stack, ``acquire_every=k`` every
    k-th time point: the events are a subset of one regular array.
    """
    return any(
        ch.acquire_every != 1 or (seq.z_plan is not None and not ch.do_stack)
        for ch in seq.channels
    )


def _grid_points(plan: Any, useq: Any) -> list[Any]:
    """Points of a grid / well-points plan (empty for a single relative position)."""
    if plan is None or isinstance(plan, useq.RelativePosition):
        return []
    return list(plan)


def _plate_info(src: Any) -> tuple[int, int] | None:
    """(row, col) of a stage position, or None (warns when only one is set)."""
    row, col = src.plate_row, src.plate_col
    if row is not None and col is not None:
        return int(row), int(col)
    if row is not None or col is not None:
        warnings.warn(
            f"Position {src.name} has plate_row={row} but plate_col={col}. "
            "Both must be set. Ignoring plate info.",
            UserWarning,
            stacklevel=4,
        )
    return None


def _well(src: Any) -> tuple[int, int]:
    return int(src.plate_row), int(src.plate_col)


def _positions(
    seq: Any, useq: Any, used: list[str]
) -> tuple[list[Position], Plate | None, list[tuple[int, int]]]:
    """One Position per (position, grid point), in acquisition order.

    Also returns the (p, g) event indices of each position.
    """
    plan: Any = seq.stage_positions if "p" in used else []
    is_plate_plan = isinstance(plan, useq.WellPlatePlan)
    stage = list(plan)
    grid_plan = seq.grid_plan if "g" in used else None
    if not is_plate_plan:  # positions and tiles only: drop sub-sequences' t/c/z
        plan = [
            src.model_copy(
                update={
                    "sequence": useq.MDASequence(grid_plan=src.sequence.grid_plan)
                    if src.sequence is not None and src.sequence.grid_plan
                    else None
                }
            )
            for src in stage
        ]
    reduced = useq.MDASequence(
        axis_order=[a for a in used if a in "pg"],
        stage_positions=plan,
        grid_plan=grid_plan,
    )
    if is_plate_plan:
        row_names = [str(n)[:-1] for n in plan.plate.all_well_names[:, 0]]
        col_names = [str(j + 1) for j in range(plan.plate.columns)]
    well_points = _grid_points(plan.well_points_plan, useq) if is_plate_plan else []
    global_points = _grid_points(grid_plan, useq)
    sub_points = {
        p: _grid_points(src.sequence.grid_plan, useq)
        for p, src in enumerate(stage)
        if src.sequence is not None and src.sequence.grid_plan is not None
    }
    # one stage position that the axis order leaves out: the events visit the
    # grid alone, but random points are named after it (as 0.3.2 does)
    lone: Any = None
    if "p" not in used and not isinstance(seq.stage_positions, useq.WellPlatePlan):
        positions = list(seq.stage_positions)
        lone = positions[0] if len(positions) == 1 else None
    wells = [None if is_plate_plan else _plate_info(src) for src in stage]
    if any(wells) and not all(wells):
        warnings.warn(
            "Only some stage positions have plate_row/plate_col: the positions are "
            "stored as a plain collection, not as a plate.",
            UserWarning,
            stacklevel=3,
        )
        wells = [None] * len(stage)
    fields_in_well: Counter[tuple[str, str]] = Counter()
    rows: list[dict[str, Any]] = []
    keys: list[tuple[int, int]] = []
    for event in reduced.iter_events():
        p = int(event.index.get("p", 0))
        g = int(event.index.get("g", 0))
        keys.append((p, g))
        row: dict[str, Any] = {
            "x_coord": event.x_pos,
            "y_coord": event.y_pos,
            # a plate plan has no focus of its own (useq reports 0.0)
            "z_coord": None if is_plate_plan else event.z_pos,
        }
        src = stage[p] if stage else None
        points = sub_points.get(p, global_points)
        point: Any = points[g] if g < len(points) else None
        if is_plate_plan and not global_points:  # a field of the well points
            point = well_points[p % len(well_points)] if well_points else None
        has_cell = point is not None and getattr(point, "grid_row", None) is not None
        if has_cell:
            row["grid_row"] = int(point.grid_row)
            row["grid_column"] = int(point.grid_col)
        if src is None and lone is not None and point is not None and not has_cell:
            name = f"{lone.name or 0}_g{g:04d}"
        elif src is None:  # a grid plan alone
            name = f"{g:04d}"
        elif (well := _well(src) if is_plate_plan else wells[p]) is not None:
            r = row_names[well[0]] if is_plate_plan else excel_row(well[0])
            c = col_names[well[1]] if is_plate_plan else str(well[1] + 1)
            row["plate_row"], row["plate_column"] = r, c
            k = fields_in_well[(r, c)]
            fields_in_well[(r, c)] += 1
            if is_plate_plan or not src.name:
                name = f"fov{k}"
            else:
                name = src.name if point is None else f"{src.name}_{g:04d}"
        else:
            name = src.name or str(p)
            if point is not None and not has_cell:
                name += f"_g{g:04d}" if len(stage) == 1 else f"_p{p:04d}_g{g:04d}"
        row["name"] = name
        rows.append(row)

    # names must be unique within each (well, grid cell) group
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, row in enumerate(rows):
        key = tuple(
            row.get(k) for k in ("plate_row", "plate_column", "grid_row", "grid_column")
        )
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        names = _unique([rows[i]["name"] for i in members])
        for i, name in zip(members, names, strict=True):
            rows[i]["name"] = name
    positions = [Position(**row) for row in rows]

    plate = None
    if is_plate_plan:
        plate = Plate(
            row_names=row_names, column_names=col_names, name=plan.plate.name or None
        )
    elif wells and all(wells):
        n_rows = max(w[0] for w in wells if w) + 1
        n_cols = max(w[1] for w in wells if w) + 1
        plate = Plate(
            row_names=[excel_row(i) for i in range(n_rows)],
            column_names=[str(j + 1) for j in range(n_cols)],
        )
    return positions, plate, keys


def _event_order(
    seq: Any, dims: list[Dimension], keys: list[tuple[int, int]], unbounded_t: bool
) -> tuple[tuple[int, ...], ...] | None:
    """Each event's cell along the non-frame dims, in event order.

    None when the events arrive in C order. With an unbounded time plan, one
    cycle of time points (the one that repeats). Cells no event is for are
    never acquired (a jagged sequence). Raises NotImplementedError when two
    events share a cell.
    """
    source = seq
    if unbounded_t:  # one cycle: as many time points as the channels repeat over
        span = (
            math.lcm(*(ch.acquire_every for ch in seq.channels)) if seq.channels else 1
        )
        plan = {"interval": 0, "loops": span} if span > 1 else None
        source = seq.replace(time_plan=plan)
    names = [d.name for d in dims[:-2]]
    position_of = {key: i for i, key in enumerate(keys)}
    entries: list[tuple[int, ...]] = []
    for event in source.iter_events():
        index = event.index
        entry = []
        for name in names:
            if name == "p":
                key = (int(index.get("p", 0)), int(index.get("g", 0)))
                if key not in position_of:
                    raise NotImplementedError(
                        f"An event at position/grid index {key} is not one of the "
                        "sequence's positions: the data is not one regular array."
                    )
                entry.append(position_of[key])
            else:
                entry.append(int(index.get(name, 0)))
        entries.append(tuple(entry))
    counts = [1 if d.count is None else d.count for d in dims[:-2]]
    cells = list(itertools.product(*(range(c) for c in counts)))
    if entries == cells:
        return None
    # cells no event is for (do_stack=False, acquire_every) stay unacquired
    if len(set(entries)) != len(entries):
        raise NotImplementedError(
            f"Some of the sequence's {len(entries)} events share a cell of the "
            f"{dict(zip(names, counts, strict=True))} array, so it cannot be "
            "stored as one array."
        )
    return tuple(entries)


def _axis_dimension(
    axis: str,
    source: Any,
    count: int | None,
    units: Mapping[str, tuple[float, str] | None],
    chunks: Mapping[str, int],
    shards: Mapping[str, int],
) -> Dimension:
    """The t, c or z dimension of a sequence (`source`: its plans)."""
    fields: dict[str, Any] = {
        "name": axis,
        "type": StandardAxis(axis).dimension_type(),
        "count": count,
        "chunk_size": chunks.get(axis),
        "shard_size_chunks": shards.get(axis),
    }
    if axis == "t":
        fields["unit"], fields["scale"] = "second", _time_scale(source)
    elif axis == "z":
        fields["unit"], fields["scale"] = "micrometer", _z_scale(source)
    else:
        fields["scale"] = 1.0  # as ome-writers 0.3.x: one channel per index
        names = _unique([ch.config for ch in source.channels])
        if count is None or len(names) >= count:  # else positions differ in channels
            fields["coords"] = [Channel(name=n) for n in names[: count or None]]
    if override := units.get(axis):
        fields["scale"], fields["unit"] = override
    return Dimension(**fields)


def _effective(seq: Any, stage: Any) -> Any:
    """The plans a stage position is acquired with (its sub-sequence's first)."""
    sub = getattr(stage, "sequence", None)
    if sub is None:
        return seq
    own = {k: getattr(sub, k) for k in ("time_plan", "channels", "z_plan")}
    return seq.replace(**{k: v for k, v in own.items() if v})


def _ragged_dimensions(
    seq: Any, useq: Any, used: list[str], axis_dimension: Any
) -> tuple[list[Dimension], Plate | None, tuple[tuple[int, ...], ...] | None]:
    """Dimensions of positions whose sub-sequences give them their own shapes.

    The acquisition's t/c/z dimensions span every position (counts: the
    largest); each position lists its own, from its events; the frame order
    follows the events when they are not the default order.
    """
    pg = [a for a in used if a in "pg"] or ["p"]
    positions, plate, keys = _positions(seq, useq, pg)
    position_of = {key: i for i, key in enumerate(keys)}
    events = list(seq.iter_events())
    seen: list[dict[str, int]] = [{} for _ in positions]  # axis -> largest index
    cells: list[dict[str, int]] = []
    for event in events:
        key = (int(event.index.get("p", 0)), int(event.index.get("g", 0)))
        p = position_of[key]
        cell = {str(k): int(v) for k, v in event.index.items() if str(k) in "tcz"}
        for axis, i in cell.items():
            seen[p][axis] = max(seen[p].get(axis, 0), i + 1)
        cells.append({**cell, "p": p})
    order = "".join(str(a) for a in seq.axis_order).replace("g", "p")
    axes = [a for a in dict.fromkeys(order) if a == "p" or any(a in s for s in seen)]
    stages = list(seq.stage_positions)
    own_dims = []
    for p, (position, key) in enumerate(zip(positions, keys, strict=True)):
        source = _effective(seq, stages[key[0]] if stages else None)
        own = [axis_dimension(a, source, seen[p][a]) for a in axes if a in seen[p]]
        own_dims.append(own)
        n_events = sum(1 for c in cells if c["p"] == p)
        if (
            n_events != math.prod(d.count or 1 for d in own)
            or len({tuple(sorted(c.items())) for c in cells if c["p"] == p}) != n_events
        ):
            raise NotImplementedError(
                f"The events of position {position.name!r} do not fill a regular "
                f"{[(d.name, d.count) for d in own]} array once each."
            )
    counts = {a: max(s.get(a, 0) for s in seen) for a in axes if a != "p"}
    dims: list[Dimension] = []
    for axis in axes:
        if axis == "p":
            coords = [
                pos.model_copy(update={"dimensions": tuple(own)})
                for pos, own in zip(positions, own_dims, strict=True)
            ]
            dims.append(StandardAxis.POSITION.to_dimension(coords=coords))
        else:
            dims.append(axis_dimension(axis, seq, counts[axis]))
    names = [d.name for d in dims]
    listed = tuple(tuple(c.get(n, 0) for n in names) for c in cells)
    return dims, plate, listed


def _seconds(value: Any) -> float:
    return float(value.total_seconds() if hasattr(value, "total_seconds") else value)


def _time_scale(seq: Any) -> float | None:
    """The interval in seconds: one positive interval for the whole plan, or None."""
    plan = seq.time_plan
    if plan is None:
        return None
    phases = getattr(plan, "phases", None) or [plan]
    intervals = {_seconds(getattr(ph, "interval", None) or 0) for ph in phases}
    if len(intervals) != 1:
        return None
    (seconds,) = intervals
    return seconds if seconds > 0 else None


def _z_scale(seq: Any) -> float | None:
    """The z step in µm: the plan's step, or the spacing of evenly spaced lists."""
    plan = seq.z_plan
    if plan is None:  # only some positions have a z plan of their own
        return None
    step = getattr(plan, "step", None)
    if step is not None:
        return abs(float(step)) or None
    values = [float(v) for v in plan]
    diffs = [b - a for a, b in itertools.pairwise(values)]
    if not diffs or not all(math.isclose(d, diffs[0], abs_tol=1e-9) for d in diffs):
        return None
    return abs(diffs[0]) or None


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
        Dimension name -> (scale, unit), overriding the sequence's own; units
        are normalised (``"ms"`` -> ``"millisecond"``).
    pixel_size_um : float, optional
        Pixel size; 0, None or negative mean unknown (no scale is written).
    chunk_shapes, shard_shapes : Mapping, optional
        Dimension name -> elements per chunk / chunks per shard.

    Returns
    -------
    dict
        ``{"dimensions": list[Dimension], "plate": Plate | None}``, a new mutable
        dict that can be spread into `AcquisitionSettings`; plus ``"frame_order"``
        when the events fill the array in another than C order (a position's own
        grid iterated inside the t/c/z loops, position and grid axes apart).

    Raises
    ------
    NotImplementedError
        The sequence cannot be stored as one regular array (the message says why).
    """
    try:
        import useq
    except ImportError:
        raise ValueError(
            "seq must be a useq.MDASequence (useq-schema is not installed)"
        ) from None
    if not isinstance(seq, useq.MDASequence):
        raise ValueError(f"seq must be a useq.MDASequence, got {type(seq).__name__}")
    if "plate_row" not in getattr(useq.Position, "model_fields", {}):
        raise ImportError("useq-schema >= 0.9.2 is required")
    units = units or {}
    chunks = dict(chunk_shapes or {})
    shards = dict(shard_shapes or {})
    try:
        sizes = {str(k): v for k, v in seq.sizes.items()}
        unbounded_t = False
    except ZeroDivisionError:  # a duration with interval 0: no fixed count
        sizes = {str(k): v for k, v in seq.replace(time_plan=None).sizes.items()}
        sizes["t"] = 1
        unbounded_t = True
    used = [str(a) for a in seq.axis_order if sizes.get(str(a), 0) > 0]
    sub_grid = "p" in used and any(s.grid_plan for s in _sub_sequences(seq))
    _check_regular(seq, useq, used)
    if unbounded_t and used[0] != "t":
        raise NotImplementedError(
            "A time plan without a fixed number of time points must be the outermost "
            f"axis (axis_order={''.join(str(a) for a in seq.axis_order)!r})."
        )

    def axis_dimension(axis: str, source: Any, count: int | None) -> Dimension:
        return _axis_dimension(axis, source, count, units, chunks, shards)

    ragged = _is_ragged(seq, used)
    keys: list[tuple[int, int]] = [(0, 0)]
    if ragged:
        if unbounded_t:
            raise NotImplementedError(
                "Positions with their own sub-sequence plans need a fixed number of "
                "time points."
            )
        dims, plate, frame_order = _ragged_dimensions(seq, useq, used, axis_dimension)
    else:
        dims, plate = [], None
        for axis in used:
            if axis in ("p", "g"):
                if not any(d.name == "p" for d in dims):
                    positions, plate, keys = _positions(seq, useq, used)
                    dims.append(StandardAxis.POSITION.to_dimension(coords=positions))
                continue
            t_open = axis == "t" and unbounded_t
            dims.append(axis_dimension(axis, seq, None if t_open else sizes[axis]))
        frame_order = None

    if pixel_size_um is not None and pixel_size_um < 0:
        warnings.warn(
            f"Invalid pixel_size_um={pixel_size_um}. Must be positive. "
            "Ignoring pixel size.",
            UserWarning,
            stacklevel=2,
        )
    scale = float(pixel_size_um) if pixel_size_um and pixel_size_um > 0 else None
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
    if not ragged and _needs_frame_order(seq, used, sub_grid):
        frame_order = _event_order(seq, dims, keys, unbounded_t)
    result: dict[str, Any] = {"dimensions": dims, "plate": plate}
    if frame_order is not None:
        result["frame_order"] = frame_order
    return result


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
