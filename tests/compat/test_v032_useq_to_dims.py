"""ome-writers 0.3.2's ``test_useq_to_dims[random_points_grid]``, against ours.

0.3.2 does not ship its tests; this is that parametrized case's sequence and
expectations, checked the way its test checks them, through the import paths
0.3.2's test uses (``ome_writers._useq``, ``ome_writers._schema``): a
`RandomPoints` grid plan without stage positions, ``axis_order="gc"``.
"""

from __future__ import annotations

from typing import Any

import pytest

from ome_writers._schema import AcquisitionSettings
from ome_writers._useq import useq_to_acquisition_settings

useq = pytest.importorskip("useq")

PIXEL_SIZE = 0.103
SIZE = 64


def _random_points_grid() -> Any:
    return useq.MDASequence(
        axis_order="gc",
        grid_plan=useq.RandomPoints(
            num_points=3,
            max_width=100,
            max_height=100,
            shape="ellipse",
            random_seed=42,
        ),
        channels=["DAPI"],
    )


# (name, plate_row, plate_column, grid_row, grid_column) of each position
EXPECTED = [(f"000{k}", None, None, None, None) for k in range(3)]


@pytest.mark.parametrize("case", ["random_points_grid"])
def test_useq_to_dims(case: str) -> None:
    seq = _random_points_grid()
    result = useq_to_acquisition_settings(
        seq, image_width=SIZE, image_height=SIZE, pixel_size_um=PIXEL_SIZE
    )
    dims = result["dimensions"]
    assert [d.name for d in dims] == ["p", "c", "y", "x"]
    for dim in dims:
        if dim.name in ("y", "x"):
            assert (dim.unit, dim.scale, dim.count) == ("micrometer", PIXEL_SIZE, SIZE)
        elif dim.name == "c":
            assert (dim.unit, dim.scale, dim.count) == (None, 1.0, len(seq.channels))

    events = list(seq)
    settings = AcquisitionSettings(**result, root_path="", dtype="u2")
    assert settings.num_frames == len(events) == 3

    (positions,) = [d for d in dims if d.type == "position"]
    visited = {(e.index.get("p", 0), e.index.get("g")) for e in events}
    assert positions.count == len(visited)
    got = [
        (p.name, p.plate_row, p.plate_column, p.grid_row, p.grid_column)
        for p in positions.coords
    ]
    assert got == EXPECTED
