"""useq MDASequence -> dimensions: a case table, and every regular axis order."""

from __future__ import annotations

import itertools
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


@dataclass
class Case:
    """A sequence and the dimensions it must produce (name: count, extras)."""

    seq: dict[str, Any]
    dims: list[tuple[str, int | None]]
    checks: dict[str, Any] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)


PLATE = useq.WellPlatePlan(
    plate=96,
    a1_center_xy=(0, 0),
    selected_wells=([0, 1], [0, 2]),
    well_points_plan=useq.GridRowsColumns(rows=1, columns=2),
)
CASES: dict[str, Case] = {
    "empty": Case({}, [("y", 6), ("x", 8)]),
    "time": Case(
        {"time_plan": {"interval": 2, "loops": 3}},
        [("t", 3), ("y", 6), ("x", 8)],
        {"t.scale": 2.0, "t.unit": "second"},
    ),
    "time-duration-interval-0": Case(
        {"time_plan": {"interval": 0, "duration": 5}},
        [("t", None), ("y", 6), ("x", 8)],
        {"t.scale": None},
    ),
    "time-multiphase": Case(
        {
            "time_plan": {
                "phases": [{"interval": 1, "loops": 2}, {"interval": 2, "loops": 3}]
            }
        },
        [("t", 4), ("y", 6), ("x", 8)],  # useq's own count for these phases
    ),
    "channels": Case(
        {"channels": ["DAPI", "FITC"]},
        [("c", 2), ("y", 6), ("x", 8)],
        {"c.coords": ["DAPI", "FITC"]},
    ),
    "duplicate-channels": Case(
        {"channels": ["DAPI", {"config": "DAPI", "exposure": 5}]},
        [("c", 2), ("y", 6), ("x", 8)],
        {"c.coords": ["DAPI", "DAPI-1"]},
    ),
    "z-range": Case(
        {"z_plan": {"range": 4, "step": 1}},
        [("z", 5), ("y", 6), ("x", 8)],
        {"z.scale": 1.0, "z.unit": "micrometer"},
    ),
    "z-absolute": Case(
        {"z_plan": {"absolute": [0, 1, 5]}}, [("z", 3), ("y", 6), ("x", 8)]
    ),
    "tpcz": Case(
        {
            "time_plan": {"interval": 1, "loops": 2},
            "stage_positions": [(1, 2, 3), {"name": "pos2", "x": 5}],
            "channels": ["DAPI", "FITC"],
            "z_plan": {"range": 2, "step": 1},
            "axis_order": "tpcz",
        },
        [("t", 2), ("p", 2), ("c", 2), ("z", 3), ("y", 6), ("x", 8)],
        {"p.names": ["0", "pos2"]},
    ),
    "ctzp": Case(
        {
            "time_plan": {"interval": 1, "loops": 2},
            "stage_positions": [(0, 0), (1, 1)],
            "channels": ["DAPI"],
            "z_plan": {"range": 1, "step": 1},
            "axis_order": "ctzp",
        },
        [("c", 1), ("t", 2), ("z", 2), ("p", 2), ("y", 6), ("x", 8)],
    ),
    "grid-only": Case(
        {"grid_plan": {"rows": 2, "columns": 2}},
        [("p", 4), ("y", 6), ("x", 8)],
        {"p.names": ["0000", "0001", "0002", "0003"]},
    ),
    "positions-and-grid": Case(
        {
            "stage_positions": [{"x": 0, "name": "a"}, {"x": 9, "name": "a"}],
            "grid_plan": {"rows": 1, "columns": 2},
            "axis_order": "tpgcz",
        },
        [("p", 4), ("y", 6), ("x", 8)],
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
            "axis_order": "tpgcz",
        },
        [("p", 3), ("y", 6), ("x", 8)],
        {"p.names": ["a", "a", "1"]},
    ),
    "random-points": Case(
        {
            "stage_positions": [{"x": 0, "name": "R"}],
            "grid_plan": useq.RandomPoints(num_points=2),
        },
        [("p", 2), ("y", 6), ("x", 8)],
        {"p.names": ["R_g0000", "R_g0001"]},
    ),
    "well-plate-plan": Case(
        {"stage_positions": PLATE},
        [("p", 4), ("y", 6), ("x", 8)],
        {
            "p.names": ["fov0", "fov1", "fov0", "fov1"],
            "plate.rows": 8,
            "plate.name": "96-well",
        },
    ),
    "plate-rows-from-ints": Case(
        {
            "stage_positions": [
                {"x": 0, "plate_row": 0, "plate_col": 0},
                {"x": 1, "plate_row": 27, "plate_col": 2},
            ]
        },
        [("p", 2), ("y", 6), ("x", 8)],
        {"p.rows": ["A", "AB"], "plate.rows": 28},
    ),
    "units-and-chunks": Case(
        {"time_plan": {"interval": 0.5, "loops": 2}, "z_plan": {"range": 1, "step": 1}},
        [("t", 2), ("z", 2), ("y", 6), ("x", 8)],
        {
            "t.unit": "millisecond",
            "t.scale": 1.5,
            "z.chunk_size": 2,
            "y.shard_size_chunks": 2,
        },
        {
            "units": {"t": (1.5, "ms")},
            "chunk_shapes": {"z": 2},
            "shard_shapes": {"y": 2},
        },
    ),
    "pixel-size": Case(
        {}, [("y", 6), ("x", 8)], {"x.scale": 0.25}, {"pixel_size_um": 0.25}
    ),
    "pixel-size-zero": Case(
        {}, [("y", 6), ("x", 8)], {"x.scale": None}, {"pixel_size_um": 0.0}
    ),
}


def _get(result: dict[str, Any], key: str) -> Any:
    what, attr = key.split(".")
    if what == "plate":
        plate = result["plate"]
        return len(plate.row_names) if attr == "rows" else getattr(plate, attr)
    dim = next(d for d in result["dimensions"] if d.name == what)
    if attr == "coords":
        return [c.name for c in dim.coords]
    if attr == "names":
        return [c.name for c in dim.coords]
    if attr == "rows":
        return [c.plate_row for c in dim.coords]
    return getattr(dim, attr)


@pytest.mark.parametrize("name", list(CASES))
def test_case(name: str) -> None:
    case = CASES[name]
    seq = useq.MDASequence(**case.seq)
    result = useq_to_acquisition_settings(seq, 8, 6, **case.kwargs)
    assert [(d.name, d.count) for d in result["dimensions"]] == case.dims
    for key, expected in case.checks.items():
        assert _get(result, key) == expected, key
    _stream_round_trip(seq, result)


def _stream_round_trip(seq: Any, result: dict[str, Any]) -> None:
    """The result makes valid settings and a scratch stream of the right size."""
    settings = AcquisitionSettings(**result, dtype="uint16")
    n_events = len(list(seq.iter_events())) if settings.num_frames is not None else 4
    with create_stream(settings) as stream:
        for _ in range(n_events):
            stream.append(np.zeros((6, 8), "uint16"))
        if settings.num_frames is not None and n_events:  # an empty seq has none
            assert settings.num_frames == n_events
            with pytest.raises(IndexError):
                stream.append(np.zeros((6, 8), "uint16"))


AXES = {
    "t": {"time_plan": {"interval": 0, "loops": 2}},
    "p": {"stage_positions": [(0, 0, 0), (5, 5, 0)]},
    "g": {"grid_plan": {"rows": 1, "columns": 3}},
    "c": {"channels": ["DAPI", "FITC"]},
    "z": {"z_plan": {"range": 1, "step": 1}},
}


@pytest.mark.parametrize("order", ["".join(p) for p in itertools.permutations("tpgcz")])
def test_every_axis_order(order: str) -> None:
    plan: dict[str, Any] = {"axis_order": order}
    for spec in AXES.values():
        plan.update(spec)
    seq = useq.MDASequence(**plan)
    if abs(order.index("p") - order.index("g")) != 1:
        with pytest.raises(NotImplementedError, match="non-adjacent position and grid"):
            useq_to_acquisition_settings(seq, 8, 6)
        return
    result = useq_to_acquisition_settings(seq, 8, 6)
    names = [d.name for d in result["dimensions"]]
    expected = [
        a
        for a in order.replace("g", "p")
        if a != "p" or "p" not in order[: order.index(a)]
    ]
    assert names == [*dict.fromkeys(expected), "y", "x"]
    assert next(d for d in result["dimensions"] if d.name == "p").count == 6
    # frames in event order land where each event's index says
    settings = AcquisitionSettings(**result, dtype="uint16")
    events = list(seq.iter_events())
    flat: dict[tuple[int, int], int] = {}
    for e in events:
        flat.setdefault((e.index.get("p", 0), e.index.get("g", 0)), len(flat))
    with create_stream(settings) as stream:
        for k in range(len(events)):
            stream.append(np.full((6, 8), k, "uint16"))
        view = stream.view()
        for k, e in enumerate(events):
            idx = tuple(
                flat[(e.index.get("p", 0), e.index.get("g", 0))]
                if n == "p"
                else e.index.get(n, 0)
                for n in view.dims[:-2]
            )
            assert int(view[idx][0, 0]) == k


@pytest.mark.parametrize(
    ("seq", "message"),
    [
        (
            {
                "z_plan": {"range": 1, "step": 1},
                "channels": [{"config": "A", "do_stack": False}],
            },
            "do_stack=False",
        ),
        ({"channels": [{"config": "A", "acquire_every": 2}]}, "acquire_every > 1"),
        (
            {"stage_positions": PLATE, "grid_plan": {"rows": 1, "columns": 2}},
            "WellPlatePlan with grid_plan",
        ),
        (
            {"stage_positions": [{"x": 0, "sequence": {"channels": ["A"]}}]},
            "Ragged dimensions",
        ),
        (
            {
                "stage_positions": [(0, 0), (1, 1)],
                "grid_plan": {"rows": 1, "columns": 2},
                "axis_order": "ptgcz",
            },
            "non-adjacent position and grid",
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
    with pytest.raises(NotImplementedError, match=message):
        useq_to_acquisition_settings(useq.MDASequence(**seq), 8, 6)


def test_bad_inputs_and_deprecation() -> None:
    with pytest.raises(ValueError, match=r"seq must be a useq\.MDASequence"):
        useq_to_acquisition_settings({"channels": []}, 8, 6)
    with pytest.warns(UserWarning, match="Invalid pixel_size_um=-1"):
        result = useq_to_acquisition_settings(
            useq.MDASequence(), 8, 6, pixel_size_um=-1
        )
    assert result["dimensions"][-1].scale is None
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        dims = dims_from_useq(useq.MDASequence(channels=["A"]), 8, 6)
    assert [d.name for d in dims] == ["c", "y", "x"]
    assert any(issubclass(w.category, DeprecationWarning) for w in record)
    result = useq_to_acquisition_settings(useq.MDASequence(), 8, 6)
    result["dimensions"] = list(result["dimensions"])  # a fresh mutable dict
    assert isinstance(result, dict)
