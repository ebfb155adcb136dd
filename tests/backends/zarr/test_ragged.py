"""Positions of different shapes on every Zarr backend and in memory.

One position is a z-stack, another has three channels, a third keeps the
acquisition's dimensions. Each array is read back by zarr-python and
tensorstore and validated by yaozarrs; ome-zarr-py lists the images.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorstore as ts
import yaozarrs
import zarr

from ome_writers import (
    AcquisitionSettings,
    Dimension,
    Plate,
    Position,
    create_stream,
)
from ome_writers._registry import BY_NAME
from tests.backends.params import backend_params
from tests.backends.zarr.internals import library_writer
from tests.stream.visits import append_waits_for_visit

ZARR_BACKENDS = backend_params(format="ome-zarr")
Y, X = 4, 6


def _frame(n: int) -> np.ndarray:
    return (np.arange(Y * X, dtype="uint16").reshape(Y, X) + 100 * (n + 1)).astype(
        "uint16"
    )


def _positions(plate: bool, t_chunk: int | None = None) -> list[Position]:
    well = {"plate_row": "A", "plate_column": "1"} if plate else {}
    return [
        Position(
            name="stack",
            x_coord=1.0,
            dimensions=[
                Dimension(name="t", count=2, type="time", chunk_size=t_chunk),
                Dimension(name="z", count=3, type="space", scale=0.5, unit="um"),
            ],
            **well,
        ),
        Position(
            name="colour",
            dimensions=[
                Dimension(name="t", count=2, type="time", chunk_size=t_chunk),
                Dimension(name="c", type="channel", coords=["DAPI", "FITC", "Cy5"]),
            ],
            **({"plate_row": "B", "plate_column": "2"} if plate else {}),
        ),
        Position(name="plain", **well),  # the acquisition's t, c, z: 2 x 3 x 3
    ]


def _settings(
    root: Path,
    backend: str,
    plate: bool = False,
    t_chunk: int | None = None,
    **kwargs: object,
) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=2, type="time", chunk_size=t_chunk),
            Dimension(name="p", type="position", coords=_positions(plate, t_chunk)),
            Dimension(name="c", count=3, type="channel"),
            Dimension(name="z", count=3, type="space"),
            Dimension(name="y", count=Y),
            Dimension(name="x", count=X),
        ],
        dtype="uint16",
        format=backend,
        plate=Plate(row_names=["A", "B"], column_names=["1", "2"]) if plate else None,
        **kwargs,  # type: ignore[arg-type]
    )


# expected arrays from the cells alone: frames arrive t-major, then p, then the
# position's own c/z in C order (the default order skips absent cells)
def _expected() -> tuple[list[tuple[int, str, tuple[int, ...]]], dict[str, np.ndarray]]:
    arrival = []
    for t in range(2):
        arrival += [(t, "stack", (t, z)) for z in range(3)]
        arrival += [(t, "colour", (t, c)) for c in range(3)]
        arrival += [(t, "plain", (t, c, z)) for c in range(3) for z in range(3)]
    arrays = {
        "stack": np.zeros((2, 3, Y, X), "uint16"),
        "colour": np.zeros((2, 3, Y, X), "uint16"),
        "plain": np.zeros((2, 3, 3, Y, X), "uint16"),
    }
    for n, (_, name, index) in enumerate(arrival):
        arrays[name][index] = _frame(n)
    return arrival, arrays


AXES = {
    "stack": ["t", "z", "y", "x"],
    "colour": ["t", "c", "y", "x"],
    "plain": ["t", "c", "z", "y", "x"],
}


@pytest.mark.parametrize("plate", [False, True])
@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_positions_of_different_shapes(
    tmp_path: Path, backend: str, plate: bool
) -> None:
    root = tmp_path / "ragged.ome.zarr"
    settings = _settings(root, backend, plate)
    arrival, expected = _expected()
    assert settings.num_frames == len(arrival) == 30
    with create_stream(settings) as stream:
        for n in range(len(arrival)):
            stream.append(_frame(n), frame_metadata={"delta_t": n * 0.5, "n": n})
        stream.set_global_metadata("acq", {"who": "test"})
        live = stream.view()
        assert live.dims == ("frame", "y", "x")
        assert live.shape == (30, Y, X)
        if BY_NAME[backend].complete_live_reads:
            for p, name in enumerate(expected):
                np.testing.assert_array_equal(
                    np.asarray(stream.view(position=p)), expected[name]
                )
    # after close: the frame list and each position's own view
    for n in range(30):
        np.testing.assert_array_equal(live[n], _frame(n))
    for p, name in enumerate(expected):
        view = stream.view(position=p)
        assert view.dims == tuple(AXES[name])
        np.testing.assert_array_equal(np.asarray(view), expected[name])
    assert stream.view(position=1).coords["c"] == ["DAPI", "FITC", "Cy5"]

    yaozarrs.validate_zarr_store(str(root))
    root_attrs = json.loads((root / "zarr.json").read_text())["attributes"]
    assert root_attrs["acq"] == {"who": "test"}
    paths = (
        {"stack": "A/1/stack", "colour": "B/2/colour", "plain": "A/1/plain"}
        if plate
        else {name: name for name in expected}
    )
    if not plate:
        series = json.loads((root / "OME" / "zarr.json").read_text())
        assert series["attributes"]["ome"]["series"] == list(expected)
    for name, path in paths.items():
        image = root / path
        attrs = json.loads((image / "zarr.json").read_text())["attributes"]
        axes = [a["name"] for a in attrs["ome"]["multiscales"][0]["axes"]]
        assert axes == AXES[name]
        if name == "stack":
            scale = attrs["ome"]["multiscales"][0]["datasets"][0][
                "coordinateTransformations"
            ][0]["scale"]
            assert scale[1] == 0.5
        frames = attrs["ome_writers"]["frame_metadata"]
        assert [f["n"] for f in frames] == [
            n for n, (_, who, _) in enumerate(arrival) if who == name
        ]
        z = zarr.open_array(str(image / "0"), mode="r")
        np.testing.assert_array_equal(z[...], expected[name])
        t = ts.open(
            {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(image / "0")}}
        ).result()
        np.testing.assert_array_equal(t.read().result(), expected[name])


@pytest.mark.parametrize(
    "backend", backend_params(names=["tensorstore", "zarr-python", "zarrs-python"])
)
def test_visit_waits_for_writes_without_the_stream_lock(
    tmp_path: Path, backend: str
) -> None:
    """A visit waits for each position's writes in flight without the stream's
    lock, so appends (to that position or another) go on meanwhile."""
    root = tmp_path / "ragged.ome.zarr"
    # one chunk per frame (not the default grouping of small frames): a visit
    # then has writes in flight to wait for, not partly filled chunks to write
    stream = create_stream(_settings(root, backend, t_chunk=1, loss_window=None))
    _, expected = _expected()
    stream.append(_frame(0))  # the z-stack's first frame
    stack = stream._backend.children[0]  # type: ignore[attr-defined]
    pending = library_writer(stack)._pending
    assert not append_waits_for_visit(stream, pending, _frame(1))
    for n in range(2, 30):
        stream.append(_frame(n))
    assert stream._make_readable()
    stream.close()
    for name, array in expected.items():
        np.testing.assert_array_equal(zarr.open_array(root / name / "0")[:], array)


def test_ome_zarr_py_lists_the_images(tmp_path: Path) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    root = tmp_path / "ragged.ome.zarr"
    settings = _settings(root, "tensorstore")
    _, expected = _expected()
    with create_stream(settings) as stream:
        for n in range(30):
            stream.append(_frame(n))
    for name in expected:
        nodes = list(Reader(parse_url(str(root / name)))())
        data = np.asarray(nodes[0].data[0])
        np.testing.assert_array_equal(data, expected[name])


def test_scratch_positions_of_different_shapes() -> None:
    settings = _settings(Path(), "scratch").model_copy(update={"root_path": ""})
    settings = AcquisitionSettings.model_validate(
        {**settings.model_dump(), "format": "scratch"}
    )
    _arrival, expected = _expected()
    with create_stream(settings) as stream:
        view = stream.view()
        for n in range(5):
            stream.append(_frame(n))
        assert view.shape == (5, Y, X)
        stack = stream.view(position=0)
        assert stack.shape == (1, 3, Y, X)  # t0's three planes arrived
        colour = stream.view(position=1)
        assert colour.shape == (1, 2, Y, X)
        for n in range(5, 30):
            stream.append(_frame(n))
    for p, name in enumerate(expected):
        np.testing.assert_array_equal(
            np.asarray(stream.view(position=p)), expected[name]
        )
    with pytest.raises(IndexError, match="Position index 3 is out of bounds"):
        stream.view(position=3)


@pytest.mark.parametrize(
    ("own", "message"),
    [
        ([Dimension(name="q", count=2)], "not among the acquisition's"),
        ([Dimension(name="z", count=4)], "at most the acquisition's count"),
        (
            [Dimension(name="z", count=2), Dimension(name="t", count=2)],
            "in another order",
        ),
        ([Dimension(name="t", count=2), Dimension(name="t", count=2)], "twice"),
    ],
)
def test_bad_position_dimensions(own: list[Dimension], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AcquisitionSettings(
            dimensions=[
                Dimension(name="t", count=2),
                Dimension(
                    name="p",
                    type="position",
                    coords=[Position(name="a", dimensions=own), "b"],
                ),
                Dimension(name="z", count=3),
                Dimension(name="y", count=2),
                Dimension(name="x", count=2),
            ],
            dtype="uint8",
        )


def test_storage_order_list_with_positions_of_different_shapes(tmp_path: Path) -> None:
    """An explicit storage_order is cut to each position's own dimensions."""
    stack = Position(name="stack", dimensions=[Dimension(name="z", count=2)])
    settings = AcquisitionSettings(
        root_path="",
        format="scratch",
        dimensions=[
            Dimension(name="p", type="position", coords=[stack, "plain"]),
            Dimension(name="t", count=2),
            Dimension(name="z", count=2),
            Dimension(name="y", count=Y),
            Dimension(name="x", count=X),
        ],
        dtype="uint16",
        storage_order=["p", "z", "t", "y", "x"],
    )
    with create_stream(settings) as stream:
        for n in range(6):  # stack: z0, z1; plain: (t, z) in C order
            stream.append(_frame(n))
    plain = stream.view(position=1)
    assert plain.dims == ("t", "z", "y", "x")  # declared order, stored as z, t
    np.testing.assert_array_equal(plain[1, 0], _frame(4))
    np.testing.assert_array_equal(stream.view(position=0)[1], _frame(1))
