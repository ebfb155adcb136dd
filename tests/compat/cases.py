"""Cases replayed against the released ome-writers 0.3.2 and against this package.

Pure data plus a few tiny helpers. This module is imported both by the test
suite (our interpreter) and by ``tools/compat/record_v032.py`` run with a
separate interpreter that has ome-writers 0.3.2 installed, so it imports only
the standard library at module level (``useq``/``numpy`` and the
``Dimension`` class are imported or passed in inside the helpers) and never
imports ``ome_writers`` itself.

Every case is JSON-serialisable: plans are given in the plain-dict form that
``useq.MDASequence`` accepts.
"""

from __future__ import annotations

import math
from typing import Any

IMAGE_WIDTH = 8
IMAGE_HEIGHT = 6

# ---------------------------------------------------------------------------
# useq adapter cases: name -> {"seq": MDASequence kwargs, "kwargs": adapter kwargs}
# ---------------------------------------------------------------------------

_PLATE = {"plate": 96, "a1_center_xy": [0.0, 0.0]}
_TWO_WELLS = [[0, 1], [0, 1]]  # A1 and B2

USEQ_CASES: dict[str, dict[str, Any]] = {
    "empty": {"seq": {}, "kwargs": {}},
    "time_interval_loops": {
        "seq": {"time_plan": {"interval": 2, "loops": 3}},
        "kwargs": {},
    },
    "time_interval0_duration_unbounded": {
        "seq": {"time_plan": {"interval": 0, "duration": 10}},
        "kwargs": {},
    },
    "time_multiphase": {
        "seq": {
            "time_plan": {
                "phases": [
                    {"interval": 1, "loops": 2},
                    {"interval": 2, "loops": 3},
                ]
            }
        },
        "kwargs": {},
    },
    "time_duration_interval": {
        "seq": {"time_plan": {"duration": 6, "interval": 2}},
        "kwargs": {},
    },
    "channels_2": {"seq": {"channels": ["DAPI", "FITC"]}, "kwargs": {}},
    "channels_same_config_twice": {
        "seq": {"channels": ["DAPI", "DAPI"]},
        "kwargs": {},
    },
    "z_range_step": {"seq": {"z_plan": {"range": 4, "step": 1}}, "kwargs": {}},
    "z_above_below": {
        "seq": {"z_plan": {"above": 2, "below": 1, "step": 0.5}},
        "kwargs": {},
    },
    "z_absolute_even": {
        "seq": {"z_plan": {"absolute": [0.0, 1.5, 3.0]}},
        "kwargs": {},
    },
    "z_absolute_uneven": {
        "seq": {"z_plan": {"absolute": [0.0, 1.0, 3.0]}},
        "kwargs": {},
    },
    "z_relative": {"seq": {"z_plan": {"relative": [-1.0, 0.0, 2.0]}}, "kwargs": {}},
    "tpcz": {
        "seq": {
            "axis_order": "tpcz",
            "time_plan": {"interval": 1, "loops": 2},
            "stage_positions": [
                {"x": 1.0, "y": 2.0, "z": 3.0, "name": "A"},
                {"x": 4.0, "y": 5.0},
            ],
            "channels": ["DAPI", "FITC"],
            "z_plan": {"range": 2, "step": 1},
        },
        "kwargs": {},
    },
    "ctzp": {
        "seq": {
            "axis_order": "ctzp",
            "time_plan": {"interval": 1, "loops": 2},
            "stage_positions": [{"x": 1.0, "y": 2.0}, {"x": 3.0, "y": 4.0}],
            "channels": ["DAPI", "FITC"],
            "z_plan": {"range": 2, "step": 1},
        },
        "kwargs": {},
    },
    "grid_rows_cols_only": {
        "seq": {
            "grid_plan": {"rows": 2, "columns": 3, "fov_width": 10, "fov_height": 10}
        },
        "kwargs": {},
    },
    "positions_then_grid": {
        "seq": {
            "axis_order": "tpgcz",
            "stage_positions": [
                {"x": 100.0, "y": 200.0, "z": 1.0, "name": "P1"},
                {"x": 300.0, "y": 400.0},
            ],
            "grid_plan": {"rows": 1, "columns": 2, "fov_width": 10, "fov_height": 10},
            "channels": ["DAPI"],
        },
        "kwargs": {},
    },
    "grid_before_positions_tgpcz": {
        "seq": {
            "axis_order": "tgpcz",
            "stage_positions": [
                {"x": 100.0, "y": 200.0, "name": "P1"},
                {"x": 300.0, "y": 400.0, "name": "P2"},
            ],
            "grid_plan": {"rows": 1, "columns": 2, "fov_width": 10, "fov_height": 10},
        },
        "kwargs": {},
    },
    "subsequence_grid_one_position": {
        "seq": {
            "stage_positions": [
                {"x": 0.0, "y": 0.0, "name": "plain"},
                {
                    "x": 50.0,
                    "y": 60.0,
                    "name": "gridded",
                    "sequence": {
                        "grid_plan": {
                            "rows": 2,
                            "columns": 1,
                            "fov_width": 10,
                            "fov_height": 10,
                        }
                    },
                },
            ],
        },
        "kwargs": {},
    },
    "grid_from_edges_one_position": {
        "seq": {
            "stage_positions": [{"x": 5.0, "y": 5.0, "z": 1.0, "name": "pos"}],
            "grid_plan": {
                "top": 0,
                "left": 0,
                "bottom": 10,
                "right": 20,
                "fov_width": 10,
                "fov_height": 10,
            },
        },
        "kwargs": {},
    },
    "grid_width_height": {
        "seq": {
            "grid_plan": {"width": 20, "height": 10, "fov_width": 10, "fov_height": 10}
        },
        "kwargs": {},
    },
    "random_points_one_named_position": {
        "seq": {
            "stage_positions": [{"x": 10.0, "y": 20.0, "name": "site"}],
            "grid_plan": {
                "num_points": 3,
                "max_width": 100,
                "max_height": 100,
                "random_seed": 1,
                "fov_width": 1,
                "fov_height": 1,
            },
        },
        "kwargs": {},
    },
    "random_points_two_unnamed_positions": {
        "seq": {
            "stage_positions": [{"x": 10.0, "y": 20.0}, {"x": 30.0, "y": 40.0}],
            "grid_plan": {
                "num_points": 2,
                "max_width": 100,
                "max_height": 100,
                "random_seed": 1,
                "fov_width": 1,
                "fov_height": 1,
            },
        },
        "kwargs": {},
    },
    # 0.3.2's own test_useq_to_dims case "random_points_grid": the axis
    # order leaves the one stage position out
    "random_points_grid": {
        "seq": {
            "axis_order": "gc",
            "stage_positions": [{"x": 1.0, "y": 2.0, "z": 3.0, "name": "rp"}],
            "grid_plan": {
                "num_points": 3,
                "max_width": 100,
                "max_height": 100,
                "shape": "ellipse",
                "random_seed": 42,
            },
            "channels": ["DAPI"],
        },
        "kwargs": {},
    },
    "grid_from_polygon": {
        "seq": {
            "grid_plan": {
                "vertices": [[0, 0], [20, 0], [20, 20], [0, 20]],
                "fov_width": 10,
                "fov_height": 10,
            }
        },
        "kwargs": {},
    },
    "wellplate_96_selected": {
        "seq": {
            "stage_positions": {**_PLATE, "selected_wells": [[0, 1, 2], [0, 3, 11]]}
        },
        "kwargs": {},
    },
    "wellplate_points_1x2": {
        "seq": {
            "stage_positions": {
                **_PLATE,
                "selected_wells": _TWO_WELLS,
                "well_points_plan": {
                    "rows": 1,
                    "columns": 2,
                    "fov_width": 10,
                    "fov_height": 10,
                },
            }
        },
        "kwargs": {},
    },
    "wellplate_points_2x2_two_wells": {
        "seq": {
            "channels": ["DAPI"],
            "stage_positions": {
                **_PLATE,
                "selected_wells": _TWO_WELLS,
                "well_points_plan": {
                    "rows": 2,
                    "columns": 2,
                    "fov_width": 10,
                    "fov_height": 10,
                },
            },
        },
        "kwargs": {},
    },
    "positions_plate_row_col": {
        "seq": {
            "stage_positions": [
                {"x": 0.0, "y": 0.0, "name": "w1", "plate_row": 0, "plate_col": 0},
                {"x": 9.0, "y": 0.0, "name": "w2", "plate_row": 1, "plate_col": 2},
            ]
        },
        "kwargs": {},
    },
    "units_override": {
        "seq": {
            "time_plan": {"interval": 2, "loops": 3},
            "z_plan": {"range": 2, "step": 1},
        },
        "kwargs": {"units": {"t": [0.5, "ms"], "z": [2.0, "um"]}},
    },
    "pixel_size_0.5": {
        "seq": {"channels": ["DAPI"]},
        "kwargs": {"pixel_size_um": 0.5},
    },
    "pixel_size_0": {"seq": {"channels": ["DAPI"]}, "kwargs": {"pixel_size_um": 0}},
    "pixel_size_neg1": {
        "seq": {"channels": ["DAPI"]},
        "kwargs": {"pixel_size_um": -1},
    },
    "pixel_size_none": {
        "seq": {"channels": ["DAPI"]},
        "kwargs": {"pixel_size_um": None},
    },
    "chunk_and_shard_shapes": {
        "seq": {
            "time_plan": {"interval": 1, "loops": 4},
            "channels": ["DAPI", "FITC"],
            "z_plan": {"range": 3, "step": 1},
        },
        "kwargs": {
            "chunk_shapes": {"t": 2, "z": 2, "y": 3, "x": 4},
            "shard_shapes": {"t": 2, "y": 2, "x": 2},
        },
    },
}


def build_sequence(case: dict[str, Any]) -> Any:
    """The `useq.MDASequence` of a USEQ_CASES entry."""
    import useq

    return useq.MDASequence(**case["seq"])


def adapter_kwargs(case: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for `useq_to_acquisition_settings` (units as tuples)."""
    kwargs = dict(case["kwargs"])
    if units := kwargs.get("units"):
        kwargs["units"] = {k: None if v is None else tuple(v) for k, v in units.items()}
    return kwargs


# ---------------------------------------------------------------------------
# view cases
# ---------------------------------------------------------------------------

Y = {"name": "y", "count": 3, "type": "space"}
X = {"name": "x", "count": 4, "type": "space"}
VIEW_DTYPE = "uint16"
VIEW_FRAME_SHAPE = (3, 4)


def _t(n: int) -> dict[str, Any]:
    return {"name": "t", "count": n, "type": "time"}


def _c(n: int) -> dict[str, Any]:
    return {
        "name": "c",
        "count": n,
        "type": "channel",
        "coords": ["DAPI", "FITC", "TRITC"][:n],
    }


def _z(n: int) -> dict[str, Any]:
    return {"name": "z", "count": n, "type": "space"}


def _p_named() -> dict[str, Any]:
    return {"name": "p", "count": 2, "type": "position", "coords": ["A", "B"]}


def _p(n: int) -> dict[str, Any]:
    return {"name": "p", "count": n, "type": "position"}


VIEW_DIMS: dict[str, list[dict[str, Any]]] = {
    "t2_p2named_c2": [_t(2), _p_named(), _c(2), Y, X],
    "p2_t2_c2_z3": [_p(2), _t(2), _c(2), _z(3), Y, X],
    "t2_c3_z2": [_t(2), _c(3), _z(2), Y, X],
    "c2_t3": [_c(2), _t(3), Y, X],
    "z2_c2_t2": [_z(2), _c(2), _t(2), Y, X],
}

# An explicit storage order that differs from the acquisition order. 0.3.2
# requires the list to name every dimension (position and y/x included) and
# to end with the two frame dimensions; the position entry's place is ignored.
EXPLICIT_STORAGE_ORDER: dict[str, list[str]] = {
    "t2_p2named_c2": ["c", "p", "t", "y", "x"],
    "p2_t2_c2_z3": ["p", "z", "c", "t", "y", "x"],
    "t2_c3_z2": ["z", "t", "c", "y", "x"],
    "c2_t3": ["t", "c", "y", "x"],
    "z2_c2_t2": ["c", "t", "z", "y", "x"],
}


def _order_label(order: str | list[str]) -> str:
    return order if isinstance(order, str) else "".join(order)


VIEW_CASES: list[dict[str, Any]] = [
    {
        "name": f"{base}/{_order_label(order)}",
        "dims": dims,
        "storage_order": order,
    }
    for base, dims in VIEW_DIMS.items()
    for order in ("ome", "acquisition", EXPLICIT_STORAGE_ORDER[base])
]


def view_dimensions(case: dict[str, Any], dimension_cls: Any) -> list[Any]:
    """Dimension objects of a VIEW_CASES entry, built with the given class."""
    return [dimension_cls(**d) for d in case["dims"]]


def view_num_frames(case: dict[str, Any]) -> int:
    """Number of frames a full acquisition of a VIEW_CASES entry takes."""
    return math.prod(d["count"] for d in case["dims"][:-2])


def view_frame(k: int) -> Any:
    """Frame k (0-based): filled with k + 1, so 0 in a read means unwritten."""
    import numpy as np

    return np.full(VIEW_FRAME_SHAPE, k + 1, dtype=VIEW_DTYPE)


# ---------------------------------------------------------------------------
# plate path cases: sequences written to disk, group paths recorded
# ---------------------------------------------------------------------------

PLATE_PATH_CASES: dict[str, dict[str, Any]] = {
    "wellplate_points_1x2_A1_B2": USEQ_CASES["wellplate_points_1x2"],
    "wellplate_points_2x2_two_wells": {
        "seq": {
            "stage_positions": {
                **_PLATE,
                "selected_wells": _TWO_WELLS,
                "well_points_plan": {
                    "rows": 2,
                    "columns": 2,
                    "fov_width": 10,
                    "fov_height": 10,
                },
            },
        },
        "kwargs": {},
    },
}
