"""pymmcore-plus runs written as OME-Zarr 0.4, read back pixel-exact.

The demo camera's frames carry their frame counter: every event's frame must
be found at the event's index, in the live view and in what zarr-python and
tensorstore read from the Zarr v2 arrays, each array's axes named by its
image group's NGFF 0.4 multiscales.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

useq = pytest.importorskip("useq")
pytest.importorskip("pymmcore_plus")

import tensorstore as ts  # noqa: E402
import zarr  # noqa: E402

from ome_writers import AcquisitionSettings  # noqa: E402
from ome_writers.adapters.demo_camera import decode_frame_counter, demo_core  # noqa: E402
from ome_writers.adapters.pymmcore_plus import OMEWriterHandler  # noqa: E402

if TYPE_CHECKING:
    from pathlib import Path

W, H = 48, 32
# t x p x c x z: two stage positions, each a bioformats2raw image
SEQUENCE = {
    "time_plan": {"interval": 0, "loops": 2},
    "stage_positions": [(0, 0, 0), {"x": 5, "y": 5, "z": 0, "name": "second"}],
    "channels": ["DAPI", "FITC"],
    "z_plan": {"range": 2, "step": 1},
    "axis_order": "tpcz",
}


def _read_v2(image: Path) -> tuple[np.ndarray, list[str]]:
    """One image's level-0 array (zarr-python, equal to tensorstore's read)
    and its axis names, from Zarr v2 documents and NGFF 0.4 metadata only."""
    attrs = json.loads((image / ".zattrs").read_text())
    (multiscale,) = attrs["multiscales"]
    assert multiscale["version"] == "0.4"
    path = image / multiscale["datasets"][0]["path"]
    assert json.loads((path / ".zarray").read_text())["zarr_format"] == 2
    data = np.asarray(zarr.open_array(str(path), mode="r", zarr_format=2)[...])
    spec = {"driver": "zarr", "kvstore": {"driver": "file", "path": str(path)}}
    np.testing.assert_array_equal(ts.open(spec).result().read().result(), data)
    return data, [a["name"] for a in multiscale["axes"]]


def _check_run(dest: Path, events: list[Any], view: Any) -> None:
    assert not list(dest.rglob("zarr.json")), "a Zarr v3 document in 0.4"
    series = json.loads((dest / "OME" / ".zattrs").read_text())["series"]
    assert len(series) == 2
    assert view.dims == ("t", "p", "c", "z", "y", "x")
    live = np.asarray(view)
    counters = [decode_frame_counter(live[_cell(e)]) for e in events]
    base = counters[0]
    assert counters == list(range(base, base + len(events)))
    for p, name in enumerate(series):
        data, axes = _read_v2(dest / name)
        assert axes == ["t", "c", "z", "y", "x"]
        assert data.shape == (2, 2, 3, H, W)
        np.testing.assert_array_equal(data, live[:, p])
        for k, event in enumerate(events):
            if event.index["p"] == p:
                t, c, z = (event.index[a] for a in "tcz")
                assert decode_frame_counter(data[t, c, z]) == base + k
    frames = json.loads((dest / series[0] / ".zattrs").read_text())["ome_writers"]
    assert len(frames["frame_metadata"]) == 12
    assert "delta_t" in frames["frame_metadata"][0]


def _cell(event: Any) -> tuple[int, ...]:
    return tuple(event.index.get(a, 0) for a in "tpcz")


def test_mda_run_into_0_4(tmp_path: Path) -> None:
    """`core.mda.run(seq, output=AcquisitionSettings(...))` with
    ``format={"ngff_version": "0.4"}``."""
    import yaozarrs

    core = demo_core(width=W, height=H, pixel_size_um=0.5)
    seq = useq.MDASequence(**SEQUENCE)
    dest = tmp_path / "run.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(dest), format={"ngff_version": "0.4"}, overwrite=True
    )
    produced: list[tuple[np.ndarray, Any]] = []

    @core.mda.events.frameReady.connect
    def _keep(img: np.ndarray, event: Any, _meta: Any) -> None:
        produced.append((img.copy(), event))

    core.mda.run(seq, output=settings)
    events = list(seq.iter_events())
    _check_run(dest, events, core.mda.get_view())
    series = json.loads((dest / "OME" / ".zattrs").read_text())["series"]
    for name in series:
        group = yaozarrs.validate_zarr_store(str(dest / name))
        assert (group.zarr_format, group.ome_version()) == (2, "0.4")
    # every frame the camera produced, pixel for pixel, where its event says
    stored = [_read_v2(dest / name)[0] for name in series]
    assert len(produced) == len(events)
    for img, event in produced:
        p, t, c, z = (event.index[a] for a in "ptcz")
        np.testing.assert_array_equal(stored[p][t, c, z], img)


def test_handler_format_0_4(tmp_path: Path) -> None:
    """`OMEWriterHandler(path, format={"ngff_version": "0.4"})`."""
    core = demo_core(width=W, height=H, pixel_size_um=0.5)
    seq = useq.MDASequence(**SEQUENCE)
    dest = tmp_path / "handler.ome.zarr"
    handler = OMEWriterHandler(dest, overwrite=True, format={"ngff_version": "0.4"})
    core.mda.run(seq, output=handler)
    assert handler.settings is not None
    assert handler.settings.format.ngff_version == "0.4"  # type: ignore[union-attr]
    _check_run(dest, list(seq.iter_events()), handler.view())


def test_handler_refuses_a_format_beside_settings(tmp_path: Path) -> None:
    settings = AcquisitionSettings(root_path=str(tmp_path / "a.ome.zarr"))
    with pytest.raises(ValueError, match="format= applies to a path output"):
        OMEWriterHandler(settings, format={"ngff_version": "0.4"})
