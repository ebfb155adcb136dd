"""``OME/METADATA.ome.xml`` of what `core.mda.run(seq, output=...)` writes.

The demo camera through pymmcore-plus's own sink: every frame's Plane, with
the time, exposure and stage position pymmcore-plus gave with it, in the
Image of its position; each Image's stage label; a plate's Plate, Wells and
WellSamples; a run cancelled early describes the frames acquired.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

useq = pytest.importorskip("useq")
pytest.importorskip("pymmcore_plus")

from ome_writers.adapters.demo_camera import demo_core  # noqa: E402
from tests.ome_xml import (  # noqa: E402
    bioformats_validate,
    plane_metadata,
    read_ome_xml,
    series,
)

W, H = 32, 24
TPCZ = {
    "time_plan": {"interval": 0, "loops": 2},
    "stage_positions": [
        {"x": 1.0, "y": 2.0, "z": 3.0, "name": "first"},
        {"x": 50.0, "y": -5.0, "z": 0.0, "name": "second"},
        {"x": -20.0, "y": 7.5, "z": 1.0, "name": "third"},
    ],
    "channels": ["DAPI", "FITC"],
    "z_plan": {"range": 2, "step": 1},
    "axis_order": "tpcz",
}


def _events_by_plane(events: list[Any]) -> dict[tuple[int, int, int, int], Any]:
    """(position, TheZ, TheC, TheT) -> the event of one camera's sequence."""
    return {
        (e.index.get("p", 0), e.index.get("z", 0), e.index.get("c", 0), e.index["t"]): e
        for e in events
    }


def test_mda_run_tpcz(tmp_path: Path) -> None:
    seq = useq.MDASequence(**TPCZ)
    core = demo_core(width=W, height=H, pixel_size_um=0.5)
    dest = tmp_path / "run.ome.zarr"
    core.mda.run(seq, output=str(dest))
    events = list(seq.iter_events())
    ome = read_ome_xml(dest)
    assert series(dest) == ["first", "second", "third"]
    assert [i.name for i in ome.images] == ["first", "second", "third"]
    by_plane = _events_by_plane(events)
    planes = plane_metadata(ome)
    # one Plane per frame, in its position's Image
    assert sum(len(p) for p in planes) == len(events)
    for position, (image, own) in enumerate(zip(ome.images, planes, strict=True)):
        pixels = image.pixels
        assert (pixels.size_t, pixels.size_c, pixels.size_z) == (2, 2, 3)
        assert (pixels.size_x, pixels.size_y) == (W, H)
        assert pixels.physical_size_x == 0.5
        assert [c.name for c in pixels.channels] == ["DAPI", "FITC"]
        assert len(own) == 2 * 2 * 3
        for plane in own:
            z, c, t = plane["zct"]
            event = by_plane[(position, z, c, t)]
            assert plane["position_x"] == pytest.approx(event.x_pos)
            assert plane["position_y"] == pytest.approx(event.y_pos)
            assert plane["position_z"] == pytest.approx(event.z_pos)
            assert plane["exposure_time"] > 0
            assert plane["delta_t"] >= 0
        # the stage position given
        given = TPCZ["stage_positions"][position]
        stage = image.stage_label
        assert stage is not None
        assert (stage.x, stage.y) == (given["x"], given["y"])
    # DeltaT follows the acquisition
    times = {
        (p, *plane["zct"]): plane["delta_t"]
        for p, own in enumerate(planes)
        for plane in own
    }
    ordered = [times[key] for key in by_plane]
    assert ordered == sorted(ordered)
    bioformats_validate(dest, tmp_path)


def test_mda_run_plate(tmp_path: Path) -> None:
    plan = useq.WellPlatePlan(
        plate=96,
        a1_center_xy=(0, 0),
        selected_wells=([0, 1], [0, 2]),
        well_points_plan=useq.GridRowsColumns(rows=1, columns=2, fov_width=10),
    )
    seq = useq.MDASequence(stage_positions=plan, channels=["DAPI"])
    core = demo_core(width=W, height=H, pixel_size_um=0.5)
    dest = tmp_path / "plate.ome.zarr"
    core.mda.run(seq, output=str(dest))
    events = list(seq.iter_events())
    ome = read_ome_xml(dest)
    paths = series(dest)
    assert len(paths) == len(ome.images) == len(events) == 4
    (plate,) = ome.plates
    images = {image.id: k for k, image in enumerate(ome.images)}
    referenced = []
    for well in plate.wells:
        for sample in well.well_samples:
            assert sample.image_ref is not None
            k = images[sample.image_ref.id]
            referenced.append(k)
            # the image group of that Image is in this well
            row, column = paths[k].split("/")[:2]
            assert (row, column) == (
                chr(ord("A") + well.row),
                str(well.column + 1),
            )
            assert sample.position_x == pytest.approx(events[k].x_pos)
    assert sorted(referenced) == list(range(4))
    for k, planes in enumerate(plane_metadata(ome)):
        (plane,) = planes
        assert plane["position_x"] == pytest.approx(events[k].x_pos)
    bioformats_validate(dest, tmp_path)


def test_mda_run_cancelled(tmp_path: Path) -> None:
    core = demo_core(width=W, height=H)
    seq = useq.MDASequence(time_plan={"interval": 0.02, "loops": 50})
    dest = tmp_path / "cancel.ome.zarr"

    @core.mda.events.frameReady.connect
    def _stop(img: Any, event: Any) -> None:
        if event.index["t"] == 4:
            core.mda.cancel()

    core.mda.run(seq, output=str(dest))
    ome = read_ome_xml(dest)
    (image,) = ome.images
    assert image.pixels.size_t == 50  # the declared extent
    planes = plane_metadata(ome)[0]
    assert [p["zct"] for p in planes] == [(0, 0, t) for t in range(len(planes))]
    assert 5 <= len(planes) < 50
