"""useq MDASequence -> dimensions: a case table, and every axis order.

Every accepted sequence is also checked end to end: the result validates into
`AcquisitionSettings`, a scratch stream takes exactly one frame per event, and
each event's frame lands at the index the event names. An independent oracle
(does the event order equal a C-order walk over some order of the axes?)
decides which sequences are regular, so `NotImplementedError` is checked to
be raised exactly for the irregular ones.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

useq = pytest.importorskip("useq")

from ome_writers import (  # noqa: E402
    AcquisitionSettings,
    create_stream,
    dims_from_useq,
    useq_to_acquisition_settings,
)
from ome_writers._useq import AcquisitionSettingsDict  # noqa: E402
from ome_writers.adapters._useq import excel_row  # noqa: E402

W, H = 8, 6
Dims = list[tuple[str, int | None, str]]
YX: Dims = [("y", H, "space"), ("x", W, "space")]
PosRow = tuple[str, str | None, str | None, int | None, int | None]


@dataclass
class Case:
    """A sequence and everything it must produce."""

    seq: dict[str, Any]
    dims: Dims  # (name, count, type), y/x included
    plate: tuple[int, int, str | None] | None = None  # (n_rows, n_cols, name)
    channels: list[str] | None = None
    positions: list[PosRow] | None = None  # (name, row, column, grid_row, grid_col)
    attrs: dict[str, Any] = field(default_factory=dict)  # "dim.attr" -> value
    kwargs: dict[str, Any] = field(default_factory=dict)
    warns: str | None = None


def _plate(**kwargs: Any) -> Any:
    return useq.WellPlatePlan(plate=96, a1_center_xy=(0, 0), **kwargs)


WELLS = ([0, 1], [0, 2])  # A1 and B3
RANDOM_TWO = ["0_p0000_g0000", "0_p0000_g0001", "1_p0001_g0000", "1_p0001_g0001"]
TWO_POS = [(1, 2, 3), {"name": "pos2", "x": 5}]
CASES: dict[str, Case] = {
    "empty": Case({}, YX),
    "time-interval": Case(
        {"time_plan": {"interval": 2, "loops": 3}},
        [("t", 3, "time"), *YX],
        attrs={"t.scale": 2.0, "t.unit": "second"},
    ),
    "time-duration-loops": Case(
        {"time_plan": {"duration": 4, "loops": 3}},
        [("t", 3, "time"), *YX],
        attrs={"t.scale": 2.0},
    ),
    "time-interval-0": Case(
        {"time_plan": {"interval": 0, "loops": 3}},
        [("t", 3, "time"), *YX],
        attrs={"t.scale": None, "t.unit": "second"},
    ),
    "time-duration-interval-0": Case(
        {"time_plan": {"interval": 0, "duration": 5}},
        [("t", None, "time"), *YX],
        attrs={"t.scale": None},
    ),
    "time-duration-interval-0-with-channels": Case(
        {"time_plan": {"interval": 0, "duration": 5}, "channels": ["A", "B"]},
        [("t", None, "time"), ("c", 2, "channel"), *YX],
    ),
    "time-multiphase-same-interval": Case(
        {"time_plan": {"phases": [{"interval": 1, "loops": 2}] * 2}},
        [("t", 3, "time"), *YX],  # useq's own count for these phases
        attrs={"t.scale": 1.0},
    ),
    "time-multiphase": Case(
        {
            "time_plan": {
                "phases": [{"interval": 1, "loops": 2}, {"interval": 2, "loops": 3}]
            }
        },
        [("t", 4, "time"), *YX],
        attrs={"t.scale": None},  # no single interval
    ),
    "channels": Case(
        {"channels": ["DAPI", {"config": "FITC", "group": "Filter", "exposure": 5}]},
        [("c", 2, "channel"), *YX],
        channels=["DAPI", "FITC"],
        attrs={"c.scale": 1.0, "c.unit": None},  # 0.3.x: channel scale 1.0
    ),
    "duplicate-channels": Case(
        {"channels": ["DAPI", {"config": "DAPI", "exposure": 5}, "DAPI-1"]},
        [("c", 3, "channel"), *YX],
        channels=["DAPI", "DAPI-2", "DAPI-1"],
    ),
    "do-stack-false-without-z": Case(
        {"channels": [{"config": "A", "do_stack": False}]},
        [("c", 1, "channel"), *YX],
    ),
    "z-range": Case(
        {"z_plan": {"range": 4, "step": 1}},
        [("z", 5, "space"), *YX],
        attrs={"z.scale": 1.0, "z.unit": "micrometer"},
    ),
    "z-above-below-down": Case(
        {"z_plan": {"above": 1, "below": 1, "step": 0.5, "go_up": False}},
        [("z", 5, "space"), *YX],
        attrs={"z.scale": 0.5},
    ),
    "z-absolute-even": Case(
        {"z_plan": {"absolute": [0, 2, 4]}},
        [("z", 3, "space"), *YX],
        attrs={"z.scale": 2.0},
    ),
    "z-absolute-uneven": Case(
        {"z_plan": {"absolute": [0, 1, 5]}},
        [("z", 3, "space"), *YX],
        attrs={"z.scale": None, "z.unit": "micrometer"},
    ),
    "z-relative": Case(
        {"z_plan": {"relative": [-1, 0, 1]}},
        [("z", 3, "space"), *YX],
        attrs={"z.scale": 1.0},
    ),
    "positions-named-and-unnamed": Case(
        {"stage_positions": TWO_POS},
        [("p", 2, "position"), *YX],
        positions=[("0", None, None, None, None), ("pos2", None, None, None, None)],
        attrs={"p.x_coord": [1.0, 5.0], "p.z_coord": [3.0, None]},
    ),
    "duplicate-position-names": Case(
        {"stage_positions": [{"name": "a"}, {"name": "a", "x": 1}, {"name": "a"}]},
        [("p", 3, "position"), *YX],
        positions=[(n, None, None, None, None) for n in ("a", "a-1", "a-2")],
    ),
    "single-position": Case({"stage_positions": [(1, 2)]}, [("p", 1, "position"), *YX]),
    "tpcz": Case(
        {
            "time_plan": {"interval": 1, "loops": 2},
            "stage_positions": TWO_POS,
            "channels": ["DAPI", "FITC"],
            "z_plan": {"range": 2, "step": 1},
            "axis_order": "tpcz",
        },
        [
            ("t", 2, "time"),
            ("p", 2, "position"),
            ("c", 2, "channel"),
            ("z", 3, "space"),
            *YX,
        ],
    ),
    "ctzp": Case(
        {
            "time_plan": {"interval": 1, "loops": 2},
            "stage_positions": [(0, 0), (1, 1)],
            "channels": ["DAPI"],
            "z_plan": {"range": 1, "step": 1},
            "axis_order": "ctzp",
        },
        [
            ("c", 1, "channel"),
            ("t", 2, "time"),
            ("z", 2, "space"),
            ("p", 2, "position"),
            *YX,
        ],
    ),
    "plan-not-in-axis-order-is-ignored": Case(
        {"channels": ["A"], "z_plan": {"range": 2, "step": 1}, "axis_order": "tc"},
        [("c", 1, "channel"), *YX],
    ),
    "grid-only": Case(
        {"grid_plan": {"rows": 2, "columns": 2}},
        [("p", 4, "position"), *YX],
        positions=[
            ("0000", None, None, 0, 0),
            ("0001", None, None, 0, 1),
            ("0002", None, None, 1, 1),  # snake order
            ("0003", None, None, 1, 0),
        ],
    ),
    "positions-then-grid": Case(
        {
            "stage_positions": [{"x": 0, "name": "a"}, {"x": 9, "name": "a"}],
            "grid_plan": {"rows": 1, "columns": 2},
            "axis_order": "tpgcz",
        },
        [("p", 4, "position"), *YX],
        positions=[
            ("a", None, None, 0, 0),
            ("a", None, None, 0, 1),
            ("a-1", None, None, 0, 0),
            ("a-1", None, None, 0, 1),
        ],
    ),
    "grid-then-positions": Case(
        {
            "stage_positions": [{"x": 0, "name": "a"}, {"x": 9, "name": "b"}],
            "grid_plan": {"rows": 1, "columns": 2},
            "channels": ["A"],
            "axis_order": "tgpcz",
        },
        [("p", 4, "position"), ("c", 1, "channel"), *YX],
        positions=[
            ("a", None, None, 0, 0),
            ("b", None, None, 0, 0),
            ("a", None, None, 0, 1),
            ("b", None, None, 0, 1),
        ],
    ),
    "sub-sequence-grid": Case(
        {
            "stage_positions": [
                {
                    "x": 0,
                    "name": "a",
                    "sequence": {"grid_plan": {"rows": 1, "columns": 2}},
                },
                (5, 5),
            ],
            "time_plan": {"interval": 1, "loops": 2},
            "axis_order": "tpgcz",
        },
        [("t", 2, "time"), ("p", 3, "position"), *YX],
        positions=[
            ("a", None, None, 0, 0),
            ("a", None, None, 0, 1),
            ("1", None, None, None, None),
        ],
    ),
    "random-points-one-position": Case(
        {
            "stage_positions": [{"x": 0, "name": "R"}],
            "grid_plan": useq.RandomPoints(num_points=2, random_seed=1),
        },
        [("p", 2, "position"), *YX],
        positions=[("R_g0000", None, None, None, None), ("R_g0001",) + (None,) * 4],
    ),
    # 0.3.2's own test_useq_to_dims[random_points_grid]: "p" left out of the
    # axis order, the one position still names the points
    "random-points-position-not-in-axis-order": Case(
        {
            "axis_order": "gc",
            "stage_positions": [{"x": 1, "y": 2, "z": 3, "name": "rp"}],
            "grid_plan": useq.RandomPoints(num_points=3, random_seed=42),
            "channels": ["DAPI"],
        },
        [("p", 3, "position"), ("c", 1, "channel"), *YX],
        positions=[(f"rp_g000{g}", None, None, None, None) for g in range(3)],
        attrs={"p.z_coord": [None] * 3},
    ),
    "random-points-unnamed-position-not-in-axis-order": Case(
        {
            "axis_order": "gc",
            "stage_positions": [(1, 2)],
            "grid_plan": useq.RandomPoints(num_points=2, random_seed=42),
        },
        [("p", 2, "position"), *YX],
        positions=[("0_g0000",) + (None,) * 4, ("0_g0001",) + (None,) * 4],
    ),
    "random-points-two-positions-not-in-axis-order": Case(
        {
            "axis_order": "gc",
            "stage_positions": [(1, 2), (3, 4)],
            "grid_plan": useq.RandomPoints(num_points=2, random_seed=42),
        },
        [("p", 2, "position"), *YX],
        positions=[("0000",) + (None,) * 4, ("0001",) + (None,) * 4],
    ),
    "random-points-two-positions": Case(
        {
            "stage_positions": [(0, 0), (1, 1)],
            "grid_plan": useq.RandomPoints(num_points=2, random_seed=1),
        },
        [("p", 4, "position"), *YX],
        positions=[(n, None, None, None, None) for n in RANDOM_TWO],
    ),
    "well-plate-plan": Case(
        {"stage_positions": _plate(selected_wells=WELLS)},
        [("p", 2, "position"), *YX],
        plate=(8, 12, "96-well"),
        positions=[("fov0", "A", "1", None, None), ("fov0", "B", "3", None, None)],
        attrs={"p.x_coord": [0.0, 18000.0], "p.z_coord": [None, None]},
    ),
    "well-plate-plan-with-well-points": Case(
        {
            "stage_positions": _plate(
                selected_wells=WELLS,
                well_points_plan=useq.GridRowsColumns(rows=1, columns=2),
            ),
            "channels": ["A", "B"],
        },
        [("p", 4, "position"), ("c", 2, "channel"), *YX],
        plate=(8, 12, "96-well"),
        positions=[
            ("fov0", "A", "1", 0, 0),
            ("fov1", "A", "1", 0, 1),
            ("fov0", "B", "3", 0, 0),
            ("fov1", "B", "3", 0, 1),
        ],
    ),
    "well-plate-plan-random-well-points": Case(
        {
            "stage_positions": _plate(
                selected_wells=WELLS,
                well_points_plan=useq.RandomPoints(num_points=2, random_seed=0),
            )
        },
        [("p", 4, "position"), *YX],
        plate=(8, 12, "96-well"),
        positions=[
            ("fov0", "A", "1", None, None),
            ("fov1", "A", "1", None, None),
            ("fov0", "B", "3", None, None),
            ("fov1", "B", "3", None, None),
        ],
    ),
    "plate-rows-from-ints": Case(
        {
            "stage_positions": [
                {"x": 0, "plate_row": 0, "plate_col": 0},
                {"x": 1, "name": "w", "plate_row": 27, "plate_col": 2},
            ]
        },
        [("p", 2, "position"), *YX],
        plate=(28, 3, None),
        positions=[("fov0", "A", "1", None, None), ("w", "AB", "3", None, None)],
    ),
    "plate-positions-with-grid-never-collide": Case(
        {
            "stage_positions": [
                {"plate_row": 0, "plate_col": 0},
                {"x": 100, "plate_row": 0, "plate_col": 0},
                {"name": "B1", "plate_row": 1, "plate_col": 0},
            ],
            "grid_plan": {"rows": 1, "columns": 2},
        },
        [("p", 6, "position"), *YX],
        plate=(2, 1, None),
        positions=[
            ("fov0", "A", "1", 0, 0),
            ("fov1", "A", "1", 0, 1),
            ("fov2", "A", "1", 0, 0),
            ("fov3", "A", "1", 0, 1),
            ("B1_0000", "B", "1", 0, 0),
            ("B1_0001", "B", "1", 0, 1),
        ],
    ),
    "plate-sub-sequence-grid": Case(
        {
            "stage_positions": [
                {
                    "plate_row": 0,
                    "plate_col": 0,
                    "sequence": {"grid_plan": {"rows": 1, "columns": 2}},
                },
                {"plate_row": 0, "plate_col": 1},
            ]
        },
        [("p", 3, "position"), *YX],
        plate=(1, 2, None),
        positions=[
            ("fov0", "A", "1", 0, 0),
            ("fov1", "A", "1", 0, 1),
            ("fov0", "A", "2", None, None),
        ],
    ),
    "plate-info-on-some-positions": Case(
        {"stage_positions": [{"plate_row": 0, "plate_col": 0}, {"x": 1}]},
        [("p", 2, "position"), *YX],
        positions=[("0", None, None, None, None), ("1", None, None, None, None)],
        warns="Only some stage positions have plate_row/plate_col",
    ),
    "plate-row-without-column": Case(
        {"stage_positions": [{"plate_row": 0}]},
        [("p", 1, "position"), *YX],
        positions=[("0", None, None, None, None)],
        warns="plate_row=0 but plate_col=None",
    ),
    "units-chunks-shards": Case(
        {"time_plan": {"interval": 0.5, "loops": 2}, "z_plan": {"range": 1, "step": 1}},
        [("t", 2, "time"), ("z", 2, "space"), *YX],
        attrs={
            "t.unit": "millisecond",  # normalised from "ms"
            "t.scale": 1.5,
            "z.scale": 1.0,
            "z.chunk_size": 2,
            "y.shard_size_chunks": 2,
            "y.chunk_size": 3,
            "x.unit": "nanometer",
            "x.scale": 200.0,
        },
        kwargs={
            "units": {"t": (1.5, "ms"), "x": (200, "nm"), "z": None},
            "chunk_shapes": {"z": 2, "y": 3},
            "shard_shapes": {"y": 2},
        },
    ),
    "pixel-size": Case(
        {},
        YX,
        attrs={"x.scale": 0.25, "y.scale": 0.25, "x.unit": "micrometer"},
        kwargs={"pixel_size_um": 0.25},
    ),
    "pixel-size-zero": Case(
        {}, YX, attrs={"x.scale": None}, kwargs={"pixel_size_um": 0}
    ),
    "pixel-size-none": Case(
        {}, YX, attrs={"y.scale": None}, kwargs={"pixel_size_um": None}
    ),
    "pixel-size-negative": Case(
        {},
        YX,
        attrs={"x.scale": None},
        kwargs={"pixel_size_um": -1},
        warns="Invalid pixel_size_um=-1",
    ),
}


def _attr(result: dict[str, Any], key: str) -> Any:
    name, attr = key.split(".")
    dim = next(d for d in result["dimensions"] if d.name == name)
    if name == "p":
        return [getattr(c, attr) for c in dim.coords]
    return getattr(dim, attr)


@pytest.mark.parametrize("name", list(CASES))
def test_case(name: str) -> None:
    case = CASES[name]
    seq = useq.MDASequence(**case.seq)
    if case.warns:
        with pytest.warns(UserWarning, match=case.warns):
            result = useq_to_acquisition_settings(seq, W, H, **case.kwargs)
    else:
        result = useq_to_acquisition_settings(seq, W, H, **case.kwargs)
    assert set(result) == {"dimensions", "plate"}
    assert [(d.name, d.count, d.type) for d in result["dimensions"]] == case.dims
    dims = {d.name: d for d in result["dimensions"]}
    if case.channels is not None:
        assert [c.name for c in dims["c"].coords] == case.channels
    if case.positions is not None:
        got = [
            (p.name, p.plate_row, p.plate_column, p.grid_row, p.grid_column)
            for p in dims["p"].coords
        ]
        assert got == case.positions
    for key, expected in case.attrs.items():
        assert _attr(result, key) == expected, key
    plate = result["plate"]
    if case.plate is None:
        assert plate is None
    else:
        assert (len(plate.row_names), len(plate.column_names), plate.name) == case.plate
    check_frames(seq, result)


# ------------------------------------------------------------------ oracle


def _flat_positions(events: list[Any]) -> dict[tuple[int, int], int]:
    flat: dict[tuple[int, int], int] = {}
    for e in events:
        flat.setdefault((e.index.get("p", 0), e.index.get("g", 0)), len(flat))
    return flat


def _event_keys(events: list[Any]) -> list[dict[str, int]]:
    """Per event: t/c/z index and the flattened (p, g) index as "p"."""
    flat = _flat_positions(events)
    keys = []
    for e in events:
        key = {str(k): int(v) for k, v in e.index.items() if str(k) in "tcz"}
        if "p" in e.index or "g" in e.index:
            key["p"] = flat[(e.index.get("p", 0), e.index.get("g", 0))]
        keys.append(key)
    return keys


def walks_in_c_order(seq: Any) -> bool:
    """Do the events walk one array in C order for some order of the axes?"""
    keys = _event_keys(list(seq.iter_events()))
    names = sorted({n for k in keys for n in k})
    sizes = {n: max(k.get(n, 0) for k in keys) + 1 for n in names}
    got = [tuple(k.get(n, 0) for n in names) for k in keys]
    for order in itertools.permutations(names):
        walk = itertools.product(*(range(sizes[n]) for n in order))
        expected = [
            tuple(dict(zip(order, idx, strict=True))[n] for n in names) for idx in walk
        ]
        if got == expected:
            return True
    return False


def fills_one_array(seq: Any) -> bool:
    """Is every event its own cell of one regular array, every cell used once?"""
    keys = _event_keys(list(seq.iter_events()))
    names = sorted({n for k in keys for n in k})
    sizes = [max(k.get(n, 0) for k in keys) + 1 for n in names]
    cells = {tuple(k.get(n, 0) for n in names) for k in keys}
    return len(cells) == len(keys) == int(np.prod(sizes))


def check_frames(seq: Any, result: dict[str, Any]) -> None:
    """Each event's frame lands where the event's index says; no slot is left."""
    settings = AcquisitionSettings(**result, dtype="uint16")
    if settings.num_frames is None:  # unbounded: events never end
        per_t = int(np.prod([d.count or 1 for d in settings.dimensions[1:-2]]))
        with create_stream(settings) as stream:
            for k in range(3 * per_t):
                stream.append(np.full((H, W), k, "uint16"))
            view = stream.view()
            assert view.shape[view.dims.index("t")] == 3
            assert int(np.prod(view.shape)) == 3 * per_t * H * W
        return
    events = list(seq.iter_events())
    keys = _event_keys(events)
    assert settings.num_frames == max(len(events), 1)
    with create_stream(settings) as stream:
        for k in range(len(events)):
            stream.append(np.full((H, W), k, "uint16"))
        view = stream.view()
        assert dict(zip(view.dims, view.shape, strict=True)) == {
            d.name: d.count for d in settings.dimensions
        }
        for k, key in enumerate(keys):
            idx = tuple(key.get(n, 0) for n in view.dims[:-2])
            assert int(view[idx][0, 0]) == k, (k, key)
        if events:
            with pytest.raises(IndexError):
                stream.append(np.zeros((H, W), "uint16"))


# ------------------------------------------------------------------ axis orders

PLANS: dict[str, dict[str, Any]] = {
    "t": {"time_plan": {"interval": 0, "loops": 2}},
    "p": {"stage_positions": [(0, 0, 0), {"x": 5, "name": "b"}]},
    "g": {"grid_plan": {"rows": 1, "columns": 3}},
    "c": {"channels": ["DAPI", "FITC"]},
    "z": {"z_plan": {"range": 1, "step": 1}},
}
ALL_PLANS = {k: v for plan in PLANS.values() for k, v in plan.items()}
SUB_GRID = {
    "stage_positions": [
        {"x": 1, "name": "a", "sequence": {"grid_plan": {"rows": 1, "columns": 2}}},
        {"x": 5, "name": "b"},
    ]
}


def _orders(axes: str) -> list[str]:
    return [
        "".join(p)
        for n in range(1, len(axes) + 1)
        for sub in itertools.combinations(axes, n)
        for p in itertools.permutations(sub)
    ]


def _check_order(seq: Any, order: str) -> None:
    """Every event's frame at its own cell, whatever order the events come in."""
    assert fills_one_array(seq)
    result = useq_to_acquisition_settings(seq, W, H)
    names = [d.name for d in result["dimensions"]]
    expected = "".join(dict.fromkeys(order.replace("g", "p")))
    assert names == [*expected, "y", "x"]
    # an explicit order only where the events are not C order
    assert ("frame_order" in result) != walks_in_c_order(seq)
    check_frames(seq, result)


@pytest.mark.parametrize("order", _orders("tpgcz"))
def test_every_axis_order(order: str) -> None:
    """All plans present, axis_order any permutation of any subset of tpgcz.

    With position and grid apart (e.g. "ptgcz") the events are not C order over
    (p, t, ...), but each still has its own cell: written in place.
    """
    seq = useq.MDASequence(axis_order=order, **ALL_PLANS)
    p_g_apart = (
        "p" in order and "g" in order and abs(order.index("p") - order.index("g")) != 1
    )
    assert walks_in_c_order(seq) != p_g_apart
    _check_order(seq, order)


@pytest.mark.parametrize("order", [o for o in _orders("tpgcz") if "p" in o])
def test_every_axis_order_with_sub_sequence_grid(order: str) -> None:
    """A position's own grid runs inside its t/c/z loops: written in place."""
    seq = useq.MDASequence(axis_order=order, **{**ALL_PLANS, **SUB_GRID})
    _check_order(seq, order)


@pytest.mark.parametrize(
    ("seq", "message"),
    [
        (
            {
                "time_plan": {"interval": 0, "duration": 5},
                "stage_positions": [(0, 0), {"sequence": {"channels": ["A", "B"]}}],
            },
            "fixed number of time points",
        ),
        (
            {
                "time_plan": {"interval": 0, "duration": 5},
                "channels": ["A"],
                "axis_order": "ctpz",
            },
            "must be the outermost axis",
        ),
    ],
)
def test_not_implemented(seq: dict[str, Any], message: str) -> None:
    sequence = useq.MDASequence(**seq)
    with pytest.raises(NotImplementedError, match=message):
        useq_to_acquisition_settings(sequence, W, H)


# ------------------------------------------------------------------ the rest


def test_plate_rows_agree_with_useq() -> None:
    """Rows of a WellPlatePlan and of plate_row ints use useq's own names."""
    plan = useq.WellPlatePlan(
        plate=1536, a1_center_xy=(0, 0), selected_wells=([27], [0])
    )
    result = useq_to_acquisition_settings(useq.MDASequence(stage_positions=plan), W, H)
    rows = result["plate"].row_names
    assert rows[25:28] == ["Z", "AA", "AB"]
    assert rows == [excel_row(i) for i in range(32)]
    assert result["dimensions"][0].coords[0].plate_row == "AB"
    assert plan.selected_well_names == ["AB1"]


def test_like_pymmcore_plus() -> None:
    """The sink's path: dump deferred settings, merge the result, validate."""
    seq = useq.MDASequence(
        channels=["DAPI", "DAPI"], stage_positions=[{"name": "a"}, {"name": "a"}]
    )
    result: AcquisitionSettingsDict = useq_to_acquisition_settings(  # type: ignore[assignment]
        seq, image_width=W, image_height=H, pixel_size_um=0.0
    )
    result["dimensions"] = list(result["dimensions"])  # the sink reassigns it
    dump = AcquisitionSettings(format="scratch").model_dump()
    settings = AcquisitionSettings.model_validate({**dump, **result, "dtype": "uint16"})
    assert settings.format.name == "scratch"
    assert [d.name for d in settings.dimensions] == ["p", "c", "y", "x"]
    # pixel size 0 means unknown (no scale); channels carry 1.0 as in 0.3.x
    assert [d.scale for d in settings.dimensions] == [None, 1.0, None, None]


def test_bad_inputs_and_deprecation() -> None:
    with pytest.raises(ValueError, match=r"seq must be a useq\.MDASequence"):
        useq_to_acquisition_settings({"channels": []}, W, H)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        dims = dims_from_useq(useq.MDASequence(channels=["A"]), W, H)
    assert [d.name for d in dims] == ["c", "y", "x"]
    assert any(issubclass(w.category, DeprecationWarning) for w in record)
    first = useq_to_acquisition_settings(useq.MDASequence(), W, H)
    second = useq_to_acquisition_settings(useq.MDASequence(), W, H)
    assert type(first) is dict
    assert first is not second


def test_importing_ome_writers_does_not_import_useq() -> None:
    code = (
        "import sys, ome_writers, ome_writers._useq, ome_writers.adapters._useq\n"
        "assert 'useq' not in sys.modules, 'useq imported'\n"
        "assert ome_writers._useq.AcquisitionSettingsDict.__required_keys__ == "
        "frozenset({'dimensions', 'plate'})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------ ragged

RAGGED = {
    "own-channels": {"stage_positions": [{"x": 0, "sequence": {"channels": ["A"]}}]},
    "own-z-beside-plain": {
        "stage_positions": [(0, 0), {"sequence": {"z_plan": {"range": 2, "step": 1}}}]
    },
    "own-time": {
        "stage_positions": [
            {"sequence": {"time_plan": {"interval": 1, "loops": 2}}},
            (5, 5),
        ]
    },
    "z-stack-beside-3-channels": {
        "time_plan": {"interval": 1, "loops": 2},
        "channels": ["DAPI"],
        "axis_order": "tpgcz",
        "stage_positions": [
            {"name": "A", "sequence": {"z_plan": {"range": 2, "step": 0.5}}},
            {"name": "B", "x": 10, "sequence": {"channels": ["DAPI", "FITC", "Cy5"]}},
        ],
    },
    "own-z-with-grid-ptgcz": {
        "channels": ["DAPI", "FITC"],
        "axis_order": "ptgcz",
        "stage_positions": [
            {
                "name": "tiled",
                "sequence": {
                    "grid_plan": {"rows": 1, "columns": 2},
                    "z_plan": {"range": 1, "step": 1},
                },
            },
            {"name": "flat"},
        ],
    },
}


@pytest.mark.parametrize("case", list(RAGGED))
def test_ragged_positions(case: str) -> None:
    """Positions with their own plans: each event at its cell of its own array."""
    seq = useq.MDASequence(**RAGGED[case])
    events = list(seq.iter_events())
    result = useq_to_acquisition_settings(seq, W, H)
    settings = AcquisitionSettings(**result, dtype="uint16")
    assert settings.is_ragged
    assert settings.num_frames == len(events)
    flat = _flat_positions(events)
    positions = settings.positions
    with create_stream(settings) as stream:
        for k in range(len(events)):
            stream.append(np.full((H, W), k + 1, "uint16"))
        flat_view = stream.view()
        assert flat_view.dims == ("frame", "y", "x")
        assert flat_view.shape == (len(events), H, W)
    for k, event in enumerate(events):
        assert int(flat_view[k][0, 0]) == k + 1
        p = flat[(event.index.get("p", 0), event.index.get("g", 0))]
        view = stream.view(position=p)
        own = positions[p].dimensions
        assert own is not None
        assert view.dims == (*(d.name for d in own), "y", "x")
        idx = tuple(int(event.index.get(d.name, 0)) for d in own)
        assert int(view[idx][0, 0]) == k + 1, (k, dict(event.index))
        if event.channel is not None and "c" in view.dims:
            assert view.coords["c"][idx[view.dims.index("c")]] == event.channel.config


def test_ragged_dimension_values() -> None:
    """The z-stack position keeps its step; the 3-channel one its names."""
    seq = useq.MDASequence(**RAGGED["z-stack-beside-3-channels"])
    result = useq_to_acquisition_settings(seq, W, H)
    names = [d.name for d in result["dimensions"]]
    assert names == ["t", "p", "c", "z", "y", "x"]
    a, b = result["dimensions"][1].coords
    assert [(d.name, d.count, d.scale) for d in a.dimensions] == [
        ("t", 2, 1.0),
        ("c", 1, 1.0),
        ("z", 5, 0.5),
    ]
    assert [(d.name, d.count) for d in b.dimensions] == [("t", 2), ("c", 3)]
    assert b.dimensions[1].coord_names == ["DAPI", "FITC", "Cy5"]


@pytest.mark.parametrize("order", ["tpgcz", "tgpcz", "ptgcz"])
def test_well_plate_plan_with_grid(order: str) -> None:
    """Each well's tiles are fields of the well (fov0, fov1), every event in place."""
    seq = useq.MDASequence(
        axis_order=order,
        stage_positions=_plate(selected_wells=WELLS),
        grid_plan={"rows": 1, "columns": 2},
        time_plan={"interval": 0, "loops": 2},
    )
    assert fills_one_array(seq)
    result = useq_to_acquisition_settings(seq, W, H)
    positions = result["dimensions"][[d.name for d in result["dimensions"]].index("p")]
    wells = [(p.plate_row, p.plate_column) for p in positions.coords]
    assert sorted(set(wells)) == [("A", "1"), ("B", "3")]
    for well in set(wells):
        names = [
            p.name for p, w in zip(positions.coords, wells, strict=True) if w == well
        ]
        assert names == ["fov0", "fov1"]
    assert result["plate"] is not None
    check_frames(seq, result)


JAGGED = {
    "do-stack-false": {
        "z_plan": {"range": 2, "step": 1},
        "channels": ["DAPI", {"config": "FITC", "do_stack": False}],
        "time_plan": {"interval": 0, "loops": 2},
    },
    "acquire-every-2": {
        "channels": ["DAPI", {"config": "FITC", "acquire_every": 2}],
        "time_plan": {"interval": 0, "loops": 5},
    },
    "both-with-positions-ptcz": {
        "axis_order": "ptcz",
        "stage_positions": [(0, 0), (5, 5)],
        "z_plan": {"range": 1, "step": 1},
        "channels": [
            "DAPI",
            {"config": "FITC", "do_stack": False, "acquire_every": 2},
        ],
        "time_plan": {"interval": 0, "loops": 3},
    },
}


@pytest.mark.parametrize("case", list(JAGGED))
def test_jagged_sequences_are_one_array_with_holes(case: str) -> None:
    """Events a subset of the t/c/z grid: one array, each event at its cell."""
    seq = useq.MDASequence(**JAGGED[case])
    events = list(seq.iter_events())
    result = useq_to_acquisition_settings(seq, W, H)
    assert "frame_order" in result
    settings = AcquisitionSettings(**result, dtype="uint16")
    cells = int(np.prod([d.count for d in settings.dimensions[:-2]]))
    assert settings.num_frames == len(events) < cells
    check_frames(seq, result)


def test_jagged_unbounded_time_repeats_the_channel_pattern() -> None:
    seq = useq.MDASequence(
        channels=["DAPI", {"config": "FITC", "acquire_every": 2}],
        time_plan={"interval": 0, "duration": 3},
    )
    result = useq_to_acquisition_settings(seq, W, H)
    assert result["frame_order"] == ((0, 0), (0, 1), (1, 0))  # two time points
    settings = AcquisitionSettings(**result, dtype="uint16")
    with create_stream(settings) as stream:
        for k in range(7):  # t0 DAPI FITC, t1 DAPI, t2 DAPI FITC, t3 DAPI, t4 DAPI
            stream.append(np.full((H, W), k + 1, "uint16"))
        view = stream.view()
        assert view.shape[:2] == (5, 2)
    data = np.asarray(view)[..., 0, 0]
    assert data.tolist() == [[1, 2], [3, 0], [4, 5], [6, 0], [7, 0]]
