"""Replay what ome-writers 0.3.2 does, through our public API only.

The fixtures in ``data/`` were recorded from the released 0.3.2 (in its own
environment, ``tools/compat/record_v032.py``) for the cases in ``cases.py``:
live views in the declared dimension order under every storage order, the
useq adapter's dimension values, and plate field folders. Where 0.3.2 reads
correctly, ours must read the same; where it is wrong (a documented defect),
ours must read what an independent oracle says (frame k holds k + 1, in C
order of the declared dimensions) and the difference is listed here with its
reason, so the list stays true.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ome_writers import (
    AcquisitionSettings,
    Dimension,
    create_stream,
    useq_to_acquisition_settings,
)
from ome_writers._registry import BY_NAME
from tests.backends.params import root_for

from . import cases

useq = pytest.importorskip("useq")

DATA = Path(__file__).parent / "data"
VIEWS = json.loads((DATA / "v032_views.json").read_text())
USEQ = json.loads((DATA / "v032_useq.json").read_text())
PLATES = json.loads((DATA / "v032_plate_paths.json").read_text())


def _settings(case: dict[str, Any], backend: str, tmp: Path) -> AcquisitionSettings:
    name = BY_NAME[backend].format
    fmt: Any = (
        {"name": name} if name == "scratch" else {"name": name, "backend": backend}
    )
    root = root_for(tmp, backend, "v")
    return AcquisitionSettings(
        root_path=root,
        dimensions=cases.view_dimensions(case, Dimension),
        dtype=cases.VIEW_DTYPE,
        format=fmt,
        storage_order=case["storage_order"],
        overwrite=True,
    )


def _oracle(case: dict[str, Any], n_frames: int) -> np.ndarray:
    """Pixel (0, 0) of every frame, in C order of the declared dimensions."""
    counts = [d["count"] for d in case["dims"][:-2]]
    values = np.zeros(math.prod(counts), dtype="int64")
    values[:n_frames] = np.arange(1, n_frames + 1)
    return values.reshape(counts)


def _snapshot(view: Any) -> dict[str, Any]:
    return {
        "dims": list(view.dims),
        "shape": list(view.shape),
        "coords": {k: list(v) for k, v in view.coords.items()},
        "values": np.asarray(view)[..., 0, 0].tolist(),
    }


def _reads(view: Any, recorded: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key in recorded:
        index = tuple(
            slice(None) if part == ":" else int(part)
            for part in key.strip("[]").split(",")
        )
        out[key] = np.asarray(view[index])[..., 0, 0].tolist()
    return out


def _wrong_in_032(case: dict[str, Any], backend: str) -> bool:
    """0.3.2 defect §10.12: TIFF with an explicit storage order list scrambles reads."""
    tiff = BY_NAME[backend].format == "ome-tiff"
    return tiff and isinstance(case["storage_order"], list)


VIEW_PARAMS = [
    pytest.param(
        case,
        backend,
        id=f"{case['name']}-{backend}",
        marks=pytest.mark.skipif(
            not BY_NAME[backend].available, reason=f"{backend} not installed"
        ),
    )
    for case in cases.VIEW_CASES
    for backend in VIEWS["cases"][case["name"]]["backends"]
    if backend in BY_NAME
]


def _live(backend: str) -> bool:
    """Whether the backend's live view reads every frame (0.3.2 could not view
    acquire-zarr, whose live reads are incomplete, before close)."""
    return BY_NAME[backend].complete_live_reads


@pytest.mark.parametrize(("case", "backend"), VIEW_PARAMS)
def test_views_as_in_032(case: dict[str, Any], backend: str, tmp_path: Path) -> None:
    recorded = VIEWS["cases"][case["name"]]["backends"][backend]["full"]
    n = cases.view_num_frames(case)
    oracle = _oracle(case, n).tolist()
    names = [d["name"] for d in case["dims"]]
    refused = "error" in recorded.get("settings", {}) or "error" in recorded.get(
        "create", {}
    )
    settings = _settings(case, backend, tmp_path)
    if refused:  # an order the format cannot store: ours refuses it too, clearly
        with pytest.raises(NotImplementedError, match="storage order"):
            create_stream(settings)
        return
    with create_stream(settings) as stream:
        for k in range(n):
            stream.append(cases.view_frame(k))
        stream.checkpoint()  # queued TIFF pages reach the file before the read
        view = stream.view()
        live = _snapshot(view)
    assert live["dims"] == names
    if _live(backend):
        assert live["values"] == oracle
    before = recorded.get("before_close", {})
    after = {
        "dynamic": _snapshot(stream.view()),
        "static": _snapshot(stream.view(dynamic_shape=False)),
        "view_made_before_close": _snapshot(view),
    }
    for key, ours in after.items():
        assert ours["values"] == oracle, key
        assert ours["dims"] == names
    # where 0.3.2 reads correctly, ours reads exactly the same
    pairs = [(after[k], recorded["after_close"].get(k, {})) for k in after]
    if _live(backend):
        pairs += [(live, before.get("dynamic", {}))]
    for ours, theirs in pairs:
        if "values" not in theirs or "error" in str(theirs.get("values")):
            continue
        if theirs["values"] != oracle:
            assert _wrong_in_032(case, backend), (ours, theirs)
            continue
        assert ours == {k: theirs[k] for k in ours}
    theirs_reads = before.get("reads", {})
    if _live(backend) and theirs_reads:
        ours_reads = _reads(view, theirs_reads)
        for key, value in theirs_reads.items():
            expected = np.asarray(oracle)[
                tuple(
                    slice(None) if p == ":" else int(p)
                    for p in key.strip("[]").split(",")
                )
            ].tolist()
            assert ours_reads[key] == expected, key  # 0.3.2 may raise here (§10.12)
            if isinstance(value, list) and not _wrong_in_032(case, backend):
                assert ours_reads[key] == value, key


@pytest.mark.parametrize(("case", "backend"), VIEW_PARAMS)
def test_partial_views_as_in_032(
    case: dict[str, Any], backend: str, tmp_path: Path
) -> None:
    """After 3 frames: the live extent and coords 0.3.2 reports, the same data."""
    recorded = VIEWS["cases"][case["name"]]["backends"][backend]["partial"]
    if "error" in recorded.get("create", {}):
        with pytest.raises(NotImplementedError, match="storage order"):
            create_stream(_settings(case, backend, tmp_path))
        return
    with create_stream(_settings(case, backend, tmp_path)) as stream:
        for k in range(3):
            stream.append(cases.view_frame(k))
        stream.checkpoint()
        dynamic = _snapshot(stream.view())
        static = _snapshot(stream.view(dynamic_shape=False))
    oracle = np.asarray(_oracle(case, 3))
    assert static["values"] == oracle.tolist() or not _live(backend)
    theirs = recorded.get("dynamic", {})
    if "shape" in theirs and "error" not in str(theirs["shape"]):
        assert dynamic["dims"] == theirs["dims"]
        assert dynamic["shape"] == theirs["shape"]
        assert dynamic["coords"] == theirs["coords"]
    # 0.3.2's np.asarray(view) returns the full extent (§10.21); ours the live one
    live = tuple(slice(0, s) for s in dynamic["shape"][:-2])
    if _live(backend):
        assert dynamic["values"] == oracle[live].tolist()
    theirs = recorded.get("static", {})
    if "shape" in theirs and "error" not in str(theirs["shape"]):
        assert static["dims"] == theirs["dims"]
        assert static["shape"] == theirs["shape"]
        assert static["coords"] == theirs["coords"]


# ------------------------------------------------------------------ useq values

# Where our adapter deliberately differs from 0.3.2 (docs/usage.md says why).
INTENDED: dict[tuple[str, str], str] = {
    ("time_interval0_duration_unbounded", "t.scale"): "0 interval: no scale (§10.1)",
    ("time_multiphase", "t.scale"): "phases with different intervals: no one scale",
    ("z_absolute_even", "z.scale"): "the real spacing of the listed positions",
    ("z_absolute_uneven", "z.scale"): "uneven positions: no one scale",
    ("z_relative", "z.scale"): "uneven positions: no one scale",
    ("grid_rows_cols_only", "p.coords.z_coord"): "no z plan: the z position is unknown",
    ("grid_width_height", "p.coords.z_coord"): "no z plan: the z position is unknown",
    # useq ignores a stage position the axis order leaves out: the frames are
    # taken where the events say (0.3.2 adds the position's x, y and z)
    ("random_points_grid", "p.coords.x_coord"): "the events' own x",
    ("random_points_grid", "p.coords.y_coord"): "the events' own y",
    ("random_points_grid", "p.coords.z_coord"): "the events' own (unknown) z",
    ("units_override", "t.unit"): "units normalised ('ms' -> 'millisecond')",
    ("units_override", "z.unit"): "units normalised ('um' -> 'micrometer')",
    ("pixel_size_0", "y.scale"): "pixel size 0 means unknown (§10.1)",
    ("pixel_size_0", "x.scale"): "pixel size 0 means unknown (§10.1)",
    ("channels_same_config_twice", "error"): "repeated configs get unique names",
}


def _ours(name: str) -> dict[str, Any]:
    case = cases.USEQ_CASES[name]
    try:
        with warnings.catch_warnings():  # useq's own warnings (recorded apart)
            warnings.simplefilter("ignore")
            result = useq_to_acquisition_settings(
                cases.build_sequence(case),
                cases.IMAGE_WIDTH,
                cases.IMAGE_HEIGHT,
                **cases.adapter_kwargs(case),
            )
    except Exception as e:
        return {"error": [type(e).__name__, str(e)]}
    dims = []
    for d in result["dimensions"]:
        coords = None
        if d.coords is not None:
            coords = [
                c.model_dump(exclude={"dimensions", "dtype"})
                if hasattr(c, "plate_row")
                else c.name
                for c in d.coords
            ]
        dims.append(
            {
                "name": d.name,
                "count": d.count,
                "type": d.type,
                "unit": d.unit,
                "scale": d.scale,
                "chunk_size": d.chunk_size,
                "shard_size_chunks": d.shard_size_chunks,
                "coords": coords,
            }
        )
    plate = result["plate"]
    return {
        "dimensions": dims,
        "plate": None if plate is None else plate.model_dump(),
        "result_keys": sorted(result),
    }


def _differences(name: str) -> dict[tuple[str, str], tuple[Any, Any]]:
    theirs, ours = USEQ["cases"][name], _ours(name)
    if "error" in theirs or "error" in ours:
        if ("error" in theirs) != ("error" in ours):
            return {(name, "error"): (theirs.get("error"), ours.get("error"))}
        return {}
    out: dict[tuple[str, str], tuple[Any, Any]] = {}
    if len(theirs["dimensions"]) != len(ours["dimensions"]):
        return {(name, "dimensions"): (theirs["dimensions"], ours["dimensions"])}
    for a, b in zip(theirs["dimensions"], ours["dimensions"], strict=True):
        for field, value in b.items():
            if a.get(field) == value:
                continue
            if field == "coords" and _same_positions(a.get(field), value):
                # positions compared field by field: which of them differs
                for key in value[0]:
                    mine = [p[key] for p in value]
                    other = [p.get(key) for p in a[field]]
                    if mine != other:
                        out[(name, f"{a['name']}.coords.{key}")] = (other, mine)
                continue
            out[(name, f"{a['name']}.{field}")] = (a.get(field), value)
    plate = theirs["plate"] and {k: theirs["plate"][k] for k in ours["plate"] or {}}
    if plate != ours["plate"]:
        out[(name, "plate")] = (theirs["plate"], ours["plate"])
    if theirs["result_keys"] != ours["result_keys"]:
        out[(name, "result_keys")] = (theirs["result_keys"], ours["result_keys"])
    return out


def _same_positions(theirs: Any, ours: Any) -> bool:
    """Whether both are lists of as many positions (dicts)."""
    return (
        isinstance(theirs, list)
        and isinstance(ours, list)
        and len(theirs) == len(ours) > 0
        and all(isinstance(p, dict) for p in (*theirs, *ours))
    )


@pytest.mark.parametrize("name", list(cases.USEQ_CASES))
def test_useq_values_as_in_032(name: str) -> None:
    differences = _differences(name)
    unexpected = {k: v for k, v in differences.items() if k not in INTENDED}
    assert not unexpected, unexpected
    listed = {k for k in INTENDED if k[0] == name}
    assert listed == set(differences), "INTENDED lists a difference that is gone"


def test_channel_scale_is_one_as_in_032() -> None:
    seq = useq.MDASequence(channels=["DAPI", "FITC"])
    (c, *_) = useq_to_acquisition_settings(seq, 8, 6)["dimensions"]
    assert (c.name, c.scale) == ("c", 1.0)


# ------------------------------------------------------------------ plate folders


@pytest.mark.parametrize("name", list(cases.PLATE_PATH_CASES))
@pytest.mark.parametrize("fmt", ["ome-zarr/tensorstore", "ome-tiff/tifffile"])
def test_plate_field_folders_as_in_032(name: str, fmt: str, tmp_path: Path) -> None:
    theirs = PLATES["cases"][name]
    case = cases.PLATE_PATH_CASES[name]
    result = useq_to_acquisition_settings(
        cases.build_sequence(case), cases.IMAGE_WIDTH, cases.IMAGE_HEIGHT
    )
    names = [p.name for p in result["dimensions"][0].coords]
    assert names == theirs["position_names"]
    suffix = ".ome.zarr" if fmt.startswith("ome-zarr") else ".ome.tiff"
    settings = AcquisitionSettings(
        **result, dtype="uint16", root_path=str(tmp_path / f"plate{suffix}")
    )
    with create_stream(settings) as stream:
        for _ in range(settings.num_frames or 0):
            stream.append(np.zeros((cases.IMAGE_HEIGHT, cases.IMAGE_WIDTH), "uint16"))
    out = Path(settings.output_path)
    if suffix == ".ome.zarr":
        arrays = sorted(
            str(p.parent.relative_to(out))
            for p in out.rglob("zarr.json")
            if json.loads(p.read_text())["node_type"] == "array"
        )
        assert arrays == theirs[fmt]["array_paths"]
    else:
        files = sorted(str(p.relative_to(tmp_path)) for p in out.iterdir())
        assert files == theirs[fmt]["files"]
