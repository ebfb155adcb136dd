"""pymmcore-plus `mda.run(output=...)` through this package, frame by frame.

Every scenario runs the demo camera, whose frames carry their frame counter.
For each event of the sequence, the frame appended k-th must be found exactly
where the event's index says, in our view and in an independent reader's copy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

useq = pytest.importorskip("useq")
pytest.importorskip("pymmcore_plus")

import ome_types  # noqa: E402
import tifffile  # noqa: E402
import yaozarrs  # noqa: E402
import zarr  # noqa: E402

from ome_writers.adapters.demo_camera import decode_frame_counter, demo_core  # noqa: E402

W, H = 48, 32
PLATE = useq.WellPlatePlan(
    plate=96,
    a1_center_xy=(0, 0),
    selected_wells=([0, 1], [0, 2]),
    well_points_plan=useq.GridRowsColumns(rows=1, columns=2),
)
CASES: dict[str, dict[str, Any]] = {
    "time-lapse": {"time_plan": {"interval": 0, "loops": 4}},
    "t-z": {
        "time_plan": {"interval": 0, "loops": 2},
        "z_plan": {"range": 2, "step": 1},
    },
    "t-c-z": {
        "time_plan": {"interval": 0, "loops": 2},
        "channels": ["DAPI", "FITC"],
        "z_plan": {"range": 1, "step": 1},
    },
    "multi-position-tpcz": {
        "time_plan": {"interval": 0, "loops": 2},
        "stage_positions": [(0, 0, 0), {"x": 5, "y": 5, "z": 0, "name": "second"}],
        "channels": ["DAPI", "Cy5"],
        "z_plan": {"range": 1, "step": 1},
        "axis_order": "tpcz",
    },
    # a position's own grid runs inside its t/c/z loops: frames written in place
    "sub-grid-pgtcz": {
        "time_plan": {"interval": 0, "loops": 2},
        "stage_positions": [
            {
                "x": 0,
                "y": 0,
                "name": "tiled",
                "sequence": {"grid_plan": {"rows": 1, "columns": 2}},
            },
            {"x": 50, "y": 0, "name": "single"},
        ],
        "channels": ["DAPI", "Cy5"],
        "z_plan": {"range": 1, "step": 1},
        "axis_order": "pgtcz",
    },
    "multi-position-tpzc": {
        "time_plan": {"interval": 0, "loops": 2},
        "stage_positions": [(0, 0, 0), (5, 5, 0)],
        "channels": ["DAPI", "Cy5"],
        "z_plan": {"range": 1, "step": 1},
        "axis_order": "tpzc",
    },
    "grid": {"grid_plan": {"rows": 2, "columns": 2}, "channels": ["FITC"]},
    "plate": {"stage_positions": PLATE, "channels": ["DAPI"]},
    "plate-with-grid-ptgcz": {
        "stage_positions": useq.WellPlatePlan(
            plate=96, a1_center_xy=(0, 0), selected_wells=([0, 1], [0, 2])
        ),
        "grid_plan": {"rows": 1, "columns": 2},
        "time_plan": {"interval": 0, "loops": 2},
        "axis_order": "ptgcz",
    },
    "duplicate-channels": {"channels": ["DAPI", {"config": "DAPI", "exposure": 5}]},
    # jagged: FITC takes one plane of each stack, Cy5 every second time point
    "do-stack-false": {
        "time_plan": {"interval": 0, "loops": 2},
        "z_plan": {"range": 2, "step": 1},
        "channels": ["DAPI", {"config": "FITC", "do_stack": False}],
    },
    "acquire-every-2": {
        "time_plan": {"interval": 0, "loops": 4},
        "channels": ["DAPI", {"config": "Cy5", "acquire_every": 2}],
    },
}
OUTPUTS = ["ome.zarr", "ome.tiff", "memory"]


def _flat_positions(events: list[Any]) -> dict[tuple[int, int], int]:
    order: dict[tuple[int, int], int] = {}
    for e in events:
        key = (e.index.get("p", 0), e.index.get("g", 0))
        order.setdefault(key, len(order))
    return order


def _view_index(
    view: Any, event: Any, flat: dict[tuple[int, int], int], k: int
) -> tuple[int, ...]:
    idx = []
    for name in view.dims[:-2]:
        if name == "p":
            idx.append(flat[(event.index.get("p", 0), event.index.get("g", 0))])
        elif name == "t" and view.dims == ("t", "y", "x"):  # unbounded fallback
            idx.append(k)
        else:
            idx.append(event.index.get(name, 0))
    return tuple(idx)


def _independent_read(path: Path, fmt: str, view: Any) -> np.ndarray | None:
    """The whole dataset as read by zarr-python / tifffile, in view order."""
    if fmt == "ome.zarr":
        yaozarrs.validate_zarr_store(str(path))
        arrays = sorted(
            p.parent
            for p in path.rglob("zarr.json")
            if json.loads(p.read_text()).get("node_type") == "array"
        )
        series = path / "OME" / "zarr.json"
        if series.is_file():  # a collection: arrays in position order
            names = json.loads(series.read_text())["attributes"]["ome"]["series"]
            arrays = [path / name / "0" for name in names]
        data = []
        for a in arrays:  # each array's axes (storage order) moved to view order
            array = zarr.open_array(str(a), mode="r")
            names = list(array.metadata.dimension_names)
            wanted = [n for n in view.dims if n in names]
            data.append(array[...].transpose([names.index(n) for n in wanted]))
    elif fmt == "ome.tiff":
        files = (
            [path]
            if path.is_file()
            else sorted(path.with_suffix("").with_suffix("").glob("*.tif*"))
        )
        for f in files:
            ome_types.from_tiff(f)
            with tifffile.TiffFile(f) as tif:
                assert tif.is_ome
        if len(files) == 1:
            with tifffile.TiffFile(files[0]) as tif:
                data = [s.asarray() for s in tif.series]
        else:  # each position's pages, read from its own file
            data = [tifffile.imread(f, is_ome=False) for f in files]
    else:
        return None
    if "p" in view.dims and len(data) > 1:
        # each position's array in declared order without p, stacked and p moved
        # to where the declared dimensions put it
        p = view.dims.index("p")
        per_position = view.shape[:p] + view.shape[p + 1 :]
        stacked = np.stack([d.reshape(per_position) for d in data])
        return np.moveaxis(stacked, 0, p)
    return data[0].reshape(view.shape)


@pytest.mark.parametrize("fmt", OUTPUTS)
@pytest.mark.parametrize("case", list(CASES))
def test_mda_run(tmp_path: Path, case: str, fmt: str) -> None:
    seq = useq.MDASequence(**CASES[case])
    core = demo_core(
        width=W, height=H, pixel_size_um=0.5 if "grid" not in case else None
    )
    events = list(seq.iter_events())
    dest = "memory" if fmt == "memory" else str(tmp_path / f"run.{fmt}")
    if fmt == "ome.tiff" and case == "plate":
        pass  # one file per field, a plate in the OME-XML
    core.mda.run(seq, output=dest, overwrite=True)
    view = core.mda.get_view()
    data = np.asarray(view)
    flat = _flat_positions(events)
    cells = [_view_index(view, e, flat, k) for k, e in enumerate(events)]
    counters = [decode_frame_counter(data[cell]) for cell in cells]
    base = min(counters)
    assert sorted(counters) == list(range(base, base + len(events)))
    # cells no event is for (jagged sequences) hold no frame
    for cell in set(np.ndindex(*data.shape[:-2])) - set(cells):
        assert not data[cell].any()
    for k, event in enumerate(events):
        got = decode_frame_counter(data[_view_index(view, event, flat, k)])
        assert got == base + k, (
            f"event {k} {dict(event.index)} holds frame {got - base}"
        )
    if fmt != "memory":
        other = _independent_read(Path(dest), fmt, view)
        assert other is not None
        np.testing.assert_array_equal(other, data)
    if case in ("do-stack-false", "acquire-every-2"):  # one array, with holes
        assert view.dims[0] == "t" and view.dims != ("t", "y", "x")
        holes = int(np.prod(view.shape[:-2])) - len(events)
        assert holes > 0
        if fmt == "ome.zarr":  # the cells never acquired are listed
            attrs = json.loads((Path(dest) / "zarr.json").read_text())["attributes"]
            assert len(attrs["ome_writers"]["not_acquired"]) == holes
        elif fmt == "ome.tiff":  # and described as not acquired
            ome = ome_types.from_tiff(dest)
            (note,) = [
                a
                for a in ome.structured_annotations.map_annotations
                if a.namespace == "ome_writers.not_acquired"
            ]
            assert len(json.loads(note.value.ms[0].value)) == holes
    if case == "plate-with-grid-ptgcz":  # wells x tiles as fields, in place
        assert view.dims == ("p", "t", "y", "x")
        assert view.shape[:2] == (4, 2)
    if case == "sub-grid-pgtcz":  # one regular array, not the flat fallback
        assert view.dims == ("p", "t", "c", "z", "y", "x")
        assert view.shape[:-2] == (3, 2, 2, 2)


def test_dimension_overrides_and_summary(tmp_path: Path) -> None:
    seq = useq.MDASequence(
        time_plan={"interval": 0, "loops": 2}, z_plan={"range": 4, "step": 1}
    )
    core = demo_core(width=W, height=H)
    dest = tmp_path / "over.ome.zarr"
    core.mda.run(
        seq,
        output=str(dest),
        overwrite=True,
        dimension_overrides={"z": {"chunk_size": 5}},
    )
    array = json.loads((dest / "0" / "zarr.json").read_text())
    assert array["chunk_grid"]["configuration"]["chunk_shape"][1] == 5
    attrs = json.loads((dest / "zarr.json").read_text())["attributes"]
    summary = attrs["pymmcore_plus"]["summary_metadata"]
    assert summary["image_infos"][0]["width"] == W
    frames = attrs["ome_writers"]["frame_metadata"]
    assert len(frames) == 10
    assert frames[1]["exposure_time"] == pytest.approx(0.01)


def test_uncalibrated_tiff_summary_after_close(tmp_path: Path) -> None:
    """pixel size 0 (no calibration) must not break OME-TIFF (defect §10.1)."""
    core = demo_core(width=W, height=H, pixel_size_um=None)
    assert core.getPixelSizeUm() == 0
    dest = tmp_path / "u.ome.tiff"
    core.mda.run(
        useq.MDASequence(time_plan={"interval": 0, "loops": 3}), output=str(dest)
    )
    ome = ome_types.from_tiff(dest)
    assert ome.images[0].pixels.physical_size_x is None
    namespaces = [a.namespace for a in ome.structured_annotations.map_annotations]
    assert "pymmcore_plus" in namespaces


def test_cancel_leaves_readable_data(tmp_path: Path) -> None:
    core = demo_core(width=W, height=H)
    seq = useq.MDASequence(time_plan={"interval": 0.02, "loops": 50})
    dest = tmp_path / "cancel.ome.tiff"

    @core.mda.events.frameReady.connect
    def _stop(img: Any, event: Any) -> None:
        if event.index["t"] == 4:
            core.mda.cancel()

    core.mda.run(seq, output=str(dest))
    with tifffile.TiffFile(dest) as tif:
        n = len(tif.pages)
        assert tif.series[0].shape[0] == n
    assert 5 <= n < 50


def test_cancel_leaves_readable_zarr(tmp_path: Path) -> None:
    core = demo_core(width=W, height=H)
    seq = useq.MDASequence(time_plan={"interval": 0.02, "loops": 50})
    dest = tmp_path / "cancel.ome.zarr"

    @core.mda.events.frameReady.connect
    def _stop(img: Any, event: Any) -> None:
        if event.index["t"] == 4:
            core.mda.cancel()

    core.mda.run(seq, output=str(dest))
    yaozarrs.validate_zarr_store(str(dest))
    data = zarr.open_array(str(dest / "0"), mode="r")[...]
    assert data.shape[0] == 50  # the declared extent; frames never acquired are 0
    acquired = [t for t in range(50) if data[t].any()]
    assert acquired == list(range(len(acquired))) and 5 <= len(acquired) < 50
    counters = [decode_frame_counter(data[t]) for t in acquired]
    assert counters == sorted(counters) and len(set(counters)) == len(acquired)


RAGGED = {
    "stage_positions": [
        {"x": 0, "sequence": {"channels": ["DAPI", "FITC"]}},
        {"x": 5, "sequence": {"channels": ["DAPI", "FITC", "Cy5"]}},
    ]
}


@pytest.mark.parametrize("fmt", ["scratch", "ome-zarr", "ome-tiff"])
def test_ragged_sequence_with_explicit_settings(tmp_path: Path, fmt: str) -> None:
    """Settings without dims and a ragged sequence: the view has the
    shape pymmcore-plus's flat fallback has, (frames, Y, X)."""
    from ome_writers import AcquisitionSettings

    core = demo_core(width=W, height=H)
    settings = AcquisitionSettings(root_path=str(tmp_path / "test"), format=fmt)
    core.mda.run(useq.MDASequence(**RAGGED), output=settings)
    view = core.mda.get_view()
    assert view.shape == (5, H, W)
    counters = [decode_frame_counter(np.asarray(view[i])) for i in range(5)]
    assert counters == list(range(counters[0], counters[0] + 5))


def test_event_iterator_to_scratch() -> None:
    core = demo_core(width=W, height=H)
    events = iter([useq.MDAEvent(), useq.MDAEvent(), useq.MDAEvent()])
    core.mda.run(events, output="scratch")
    assert core.mda.get_view().shape == (3, H, W)


RAGGED_SEQ = {
    "time_plan": {"interval": 0, "loops": 2},
    "channels": ["DAPI"],
    "axis_order": "tpgcz",
    "stage_positions": [
        {"name": "stack", "sequence": {"z_plan": {"range": 2, "step": 1}}},
        {"name": "colour", "x": 50, "sequence": {"channels": ["DAPI", "FITC", "Cy5"]}},
    ],
}


@pytest.mark.parametrize("fmt", OUTPUTS)
def test_mda_run_positions_of_different_shapes(tmp_path: Path, fmt: str) -> None:
    """A z-stack position beside a 3-channel one: two arrays, frame by frame."""
    seq = useq.MDASequence(**RAGGED_SEQ)
    events = list(seq.iter_events())
    core = demo_core(width=W, height=H)
    dest = "memory" if fmt == "memory" else str(tmp_path / f"run.{fmt}")
    core.mda.run(seq, output=dest, overwrite=True)
    view = core.mda.get_view()
    assert view.dims == ("frame", "y", "x")  # as the flat fallback's shape
    assert view.shape == (len(events), H, W)
    counters = [decode_frame_counter(np.asarray(view[k])) for k in range(len(events))]
    base = counters[0]
    assert counters == list(range(base, base + len(events)))
    # each position's own array, from an independent reader when on disk
    arrays: list[np.ndarray] = []
    if fmt == "ome.zarr":
        yaozarrs.validate_zarr_store(dest)
        import tensorstore as ts

        for name in ("stack", "colour"):
            data = zarr.open_array(f"{dest}/{name}/0", mode="r")[...]
            spec = {"driver": "zarr3", "kvstore": f"file://{dest}/{name}/0"}
            np.testing.assert_array_equal(ts.open(spec).result().read().result(), data)
            arrays.append(data)
    elif fmt == "ome.tiff":
        files = sorted((tmp_path / "run").glob("*.ome.tiff"))
        assert len(files) == 2
        with tifffile.TiffFile(files[0]) as tif:
            arrays = [s.asarray() for s in tif.series]
        ome = ome_types.from_tiff(files[1])
        assert [i.pixels.size_z for i in ome.images] == [3, 1]
        assert [i.pixels.size_c for i in ome.images] == [1, 3]
        assert [i.pixels.size_t for i in ome.images] == [2, 2]
    else:
        arrays = [
            np.asarray(core.mda.get_view()._stream.view(position=p)) for p in (0, 1)
        ]
    stack, colour = arrays
    assert stack.size == 2 * 1 * 3 * H * W  # t, c (the sequence's one), z
    stack = stack.reshape(2, 1, 3, H, W)
    assert colour.shape == (2, 3, H, W)  # t, c
    for k, event in enumerate(events):
        t = event.index["t"]
        if event.pos_name == "stack":
            frame = stack[t, event.index["c"], event.index["z"]]
        else:
            frame = colour[t, event.index["c"]]
        got = decode_frame_counter(frame)
        assert got == base + k, (k, dict(event.index))


@pytest.mark.parametrize("fmt", OUTPUTS)
def test_two_cameras_with_t_c_z(tmp_path: Path, fmt: str) -> None:
    """pymmcore-plus 0.18.1's sink with two camera channels adds a `cam` axis
    before Y, X: t, c, z, cam is six axes, so each camera becomes a series.

    The pure-Python device layer has no multi-camera device, so the sink is
    driven with its engine's summary metadata saying two cameras, and two
    frames (one per camera) per event, as the runner hands them over."""
    from pymmcore_plus.mda._sink import OmeWritersSink

    seq = useq.MDASequence(
        time_plan={"interval": 0, "loops": 2},
        channels=["DAPI", "FITC"],
        z_plan={"range": 1, "step": 1},
    )
    core = demo_core(width=W, height=H)
    meta: Any = core.mda.engine.get_summary_metadata(mda_sequence=seq)
    infos = [dict(info) for info in meta["image_infos"]]
    infos[0]["num_camera_adapter_channels"] = 2
    meta = {**meta, "image_infos": tuple(infos)}
    dest = "memory" if fmt == "memory" else str(tmp_path / f"cams.{fmt}")
    sink = OmeWritersSink.from_output(dest, overwrite=True)
    with pytest.warns(UserWarning, match="Multi-camera acquisition combined"):
        sink.setup(seq, meta)  # pymmcore-plus's own note about channel names
    events = list(seq.iter_events())
    for k, event in enumerate(events):
        for cam in range(2):
            frame_meta: Any = {"runner_time_ms": float(k), "exposure_ms": 10.0}
            sink.append(np.full((H, W), 2 * k + cam + 1, "uint16"), event, frame_meta)
    sink.close()
    view = sink.get_view()
    assert view is not None
    assert view.dims == ("t", "c", "z", "cam", "y", "x")
    data = np.asarray(view)[..., 0, 0]
    for k, event in enumerate(events):
        t, c, z = (event.index.get(a, 0) for a in "tcz")
        assert data[t, c, z].tolist() == [2 * k + 1, 2 * k + 2]
    if fmt == "ome.zarr":
        yaozarrs.validate_zarr_store(dest)
        for cam in range(2):
            arr = zarr.open_array(f"{dest}/cam{cam}/0", mode="r")[...]
            np.testing.assert_array_equal(arr[..., 0, 0], data[..., cam])
    elif fmt == "ome.tiff":
        files = sorted((tmp_path / "cams").glob("*.ome.tiff"))
        assert len(files) == 2
        with tifffile.TiffFile(files[0]) as tif:
            for cam, series in enumerate(tif.series):
                np.testing.assert_array_equal(
                    series.asarray()[..., 0, 0], data[..., cam]
                )
        names = [i.name for i in ome_types.from_tiff(files[1]).images]
        assert names == ["cam0", "cam1"]
