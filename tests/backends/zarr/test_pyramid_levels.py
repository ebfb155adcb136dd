"""OME-Zarr pyramids on every Zarr backend, read back by independent readers.

Each level is compared with `reference.py` applied to level 0 as read back
(so early close and skipped frames are covered: a level holds exactly what
its base holds), level 0 with the frames appended, and the metadata with
yaozarrs validation and ome-zarr-py (which must list every level).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaozarrs

from ome_writers import (
    AcquisitionSettings,
    Dimension,
    Plate,
    Position,
    Pyramid,
    create_stream,
)
from tests.backends.params import backend_params
from tests.backends.pyramid.reference import reference_levels
from tests.backends.readers import attributes, read_zarr, zarr_image_groups

WRITERS = backend_params(format="ome-zarr")


def _dim(name: str, count: int | None, **kw: Any) -> Dimension:
    kinds = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
    return Dimension(name=name, count=count, type=kinds[name], **kw)  # type: ignore[arg-type]


@dataclass
class Case:
    dims: list[Dimension]
    dtype: str
    pyramid: Pyramid
    frames: int | None = None  # appended (None: all)
    skips: tuple[int, ...] = ()  # frame numbers skipped instead of appended
    kwargs: dict[str, Any] = field(default_factory=dict)


PLATE = Plate(row_names=["A"], column_names=["1", "2"])
WELLS = [
    Position(name="f0", plate_row="A", plate_column="1"),
    Position(name="f0", plate_row="A", plate_column="2"),
]

CASES = {
    # odd sizes, 2x2x2 mean (z pairs, the last plane alone)
    "tczyx-mean-z": Case(
        [_dim("t", 2), _dim("c", 2), _dim("z", 5), _dim("y", 13), _dim("x", 11)],
        "uint16",
        Pyramid(levels=3, reduce_z=True),
    ),
    # even sizes, float, z kept
    "tzyx-decimate": Case(
        [_dim("t", 2), _dim("z", 3), _dim("y", 16), _dim("x", 12)],
        "float32",
        Pyramid(levels=3, method="decimate"),
    ),
    "float-mean": Case(
        [_dim("t", 3), _dim("y", 9), _dim("x", 14)],
        "float32",
        Pyramid(levels=3),
    ),
    "positions-min": Case(
        [
            _dim("t", 2),
            Dimension(name="p", type="position", coords=["a", "b", "c"]),
            _dim("c", 2),
            _dim("y", 9),
            _dim("x", 14),
        ],
        "int16",
        Pyramid(levels=2, method="min"),
    ),
    "plate-max": Case(
        [
            _dim("t", 2),
            Dimension(name="p", type="position", coords=WELLS),
            _dim("y", 10),
            _dim("x", 7),
        ],
        "uint8",
        Pyramid(levels=3, method="max"),
        kwargs={"plate": PLATE},
    ),
    "unbounded-mean-z": Case(
        [_dim("t", None), _dim("z", 3), _dim("y", 7), _dim("x", 9)],
        "uint16",
        Pyramid(levels=3, reduce_z=True),
        frames=3 * 3 + 2,  # the last time point incomplete
    ),
    "chunks-shards-z": Case(
        [
            _dim("t", 2),
            _dim("z", 6, chunk_size=2, shard_size_chunks=2),
            _dim("y", 20, chunk_size=8, shard_size_chunks=2),
            _dim("x", 18, chunk_size=8),
        ],
        "uint16",
        Pyramid(levels=3, reduce_z=True),
    ),
    "early-close-skips": Case(
        [_dim("t", 3), _dim("z", 4), _dim("y", 11), _dim("x", 11)],
        "uint16",
        Pyramid(levels=3, reduce_z=True),
        frames=7,  # closed mid z pair
        skips=(1, 4, 5),  # a whole pair and half of another
    ),
}


def _frames(n: int, shape: tuple[int, int], dtype: str) -> np.ndarray:
    rng = np.random.default_rng(7)
    kind = np.dtype(dtype)
    if kind.kind == "f":
        return (rng.normal(size=(n, *shape)) * 1000).astype(dtype)
    info = np.iinfo(kind)
    return rng.integers(info.min, info.max, (n, *shape), endpoint=True).astype(dtype)


def _write(tmp_path: Path, backend: str, case: Case) -> AcquisitionSettings:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "p.ome.zarr"),
        dimensions=case.dims,
        dtype=case.dtype,
        format=backend,
        pyramid=case.pyramid,
        **case.kwargs,
    )
    n = case.frames if case.frames is not None else settings.num_frames or 0
    shape = (int(case.dims[-2].count or 0), int(case.dims[-1].count or 0))
    frames = _frames(n, shape, case.dtype)
    with create_stream(settings) as stream:
        for i, frame in enumerate(frames):
            if i in case.skips:
                stream.skip()
            else:
                stream.append(frame)
    return settings


def _reduced(settings: AcquisitionSettings, axes: tuple[str, ...]) -> list[bool]:
    pyramid = settings.pyramid
    assert pyramid is not None
    counts = {d.name: d.count for d in settings.dimensions}
    return [
        a in ("y", "x") or (pyramid.reduce_z and a == "z" and counts[a] != 1)
        for a in axes
    ]


@pytest.mark.parametrize("backend", WRITERS)
@pytest.mark.parametrize("case_name", list(CASES))
def test_levels_equal_reference(tmp_path: Path, backend: str, case_name: str) -> None:
    case = CASES[case_name]
    settings = _write(tmp_path, backend, case)
    root = Path(settings.output_path)
    levels = settings.pyramid_levels
    assert levels == case.pyramid.levels
    yaozarrs.validate_zarr_store(str(root))
    for group in zarr_image_groups(root, settings.positions):
        multiscale = attributes(group)["ome"]["multiscales"][0]
        assert [d["path"] for d in multiscale["datasets"]] == [
            str(k) for k in range(levels)
        ]
        base = read_zarr(group / "0")
        reduced = _reduced(settings, base.axes)
        expected = reference_levels(base.data, reduced, case.pyramid.method, levels)
        for k in range(1, levels):
            stored = read_zarr(group / str(k))  # zarr-python == tensorstore
            assert stored.axes == base.axes
            np.testing.assert_array_equal(stored.data, expected[k], f"level {k}")
            # scale x2 per level on reduced axes; half-pixel shifts for block
            # methods, none for decimate
            transforms = multiscale["datasets"][k]["coordinateTransformations"]
            scale = transforms[0]["scale"]
            base_scale = multiscale["datasets"][0]["coordinateTransformations"][0]
            for axis, r in enumerate(reduced):
                factor = 2**k if r else 1
                assert scale[axis] == base_scale["scale"][axis] * factor
            shifted = len(transforms) > 1
            assert shifted == (case.pyramid.method != "decimate"), transforms


@pytest.mark.parametrize("backend", WRITERS)
def test_level_zero_is_the_frames(tmp_path: Path, backend: str) -> None:
    case = CASES["tczyx-mean-z"]
    settings = _write(tmp_path, backend, case)
    n = settings.num_frames or 0
    frames = _frames(n, (13, 11), "uint16")
    stored = read_zarr(Path(settings.output_path) / "0")
    np.testing.assert_array_equal(stored.data, frames.reshape(2, 2, 5, 13, 11))


@pytest.mark.parametrize("backend", WRITERS)
@pytest.mark.parametrize("case_name", ["positions-min", "plate-max"])
def test_ome_zarr_py_lists_levels(tmp_path: Path, backend: str, case_name: str) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    case = CASES[case_name]
    settings = _write(tmp_path, backend, case)
    root = Path(settings.output_path)
    for group in zarr_image_groups(root, settings.positions):
        location = parse_url(str(group))
        assert location is not None
        node = next(iter(Reader(location)()))
        shapes = [tuple(level.shape) for level in node.data]
        levels = settings.pyramid_levels
        expected = [tuple(read_zarr(group / str(k)).data.shape) for k in range(levels)]
        assert shapes == expected


@pytest.mark.parametrize(
    "backend", backend_params(format="ome-zarr", groups_small_frames=True)
)
def test_checkpoint_writes_partly_filled_level_chunks(
    tmp_path: Path, backend: str
) -> None:
    # chunks of 8 time points: after 3, every level's chunk is partly filled
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "levels.ome.zarr"),
        format=backend,
        dimensions=[
            _dim("t", 20, chunk_size=8),
            _dim("z", 4),
            _dim("y", 18),
            _dim("x", 14),
        ],
        dtype="uint16",
        pyramid=Pyramid(levels=3, reduce_z=False),
        loss_window=None,
    )
    frames = _frames(12, (18, 14), "uint16").reshape(3, 4, 18, 14)
    stream = create_stream(settings, checkpoint_seconds=None)
    try:
        for frame in frames.reshape(12, 18, 14):
            stream.append(frame)
        stream.checkpoint()
        expected = reference_levels(frames, (False, False, True, True), "mean", 3)
        for k in range(3):  # read from disk while the stream is open
            data = read_zarr(Path(settings.output_path) / str(k)).data
            np.testing.assert_array_equal(data[:3], expected[k], f"level {k}")
    finally:
        stream.close()
