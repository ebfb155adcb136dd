"""Every OME-Zarr backend, every layout: validated and read back by other readers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore as ts
import yaozarrs
import zarr

from ome_writers import (
    AcquisitionSettings,
    Channel,
    Dimension,
    Plate,
    Position,
    create_stream,
)
from ome_writers.backends._registry import BACKENDS, BY_NAME

ZARR_BACKENDS = [r.name for r in BACKENDS if r.format == "ome-zarr" and r.available]
WRITERS = ZARR_BACKENDS
# acquire-zarr's arrays are readable only after close: its live view holds the
# most recent frames, not everything written
FULL_LIVE_VIEW = [b for b in ZARR_BACKENDS if b != "acquire-zarr"]
Y, X = 8, 6


def _frame(n: int) -> np.ndarray:
    base = np.arange(Y * X, dtype="uint16").reshape(Y, X)
    return (base + 100 * (n + 1)).astype("uint16")


def _write(settings: AcquisitionSettings, n_frames: int | None = None) -> Any:
    total = settings.num_frames if n_frames is None else n_frames
    with create_stream(settings) as stream:
        view = stream.view()
        for n in range(total or 0):
            stream.append(_frame(n), frame_metadata={"delta_t": n * 0.5, "n": n})
        live = np.asarray(view).copy()
    return stream, view, live


def _expected(settings: AcquisitionSettings, n_frames: int) -> dict[int, np.ndarray]:
    """Per-position storage-order arrays, computed with numpy from the router."""
    from ome_writers._router import FrameRouter

    router = FrameRouter(settings)
    counts = [d.count for d in settings.storage_index_dimensions]
    grow = [i for i, c in enumerate(counts) if c is None]
    routes = [router.route(n) for n in range(n_frames)]
    out: dict[int, np.ndarray] = {}
    for p in range(len(settings.positions)):
        shape = list(counts)
        for g in grow:
            shape[g] = max((idx[g] + 1 for pos, idx in routes if pos == p), default=0)
        out[p] = np.zeros((*shape, Y, X), "uint16")
    for n, (pos, index) in enumerate(routes):
        out[pos][index] = _frame(n)
    return out


def _check_on_disk(root: Path, settings: AcquisitionSettings, n_frames: int) -> None:
    yaozarrs.validate_zarr_store(str(root))
    expected = _expected(settings, n_frames)
    group = yaozarrs.open_group(str(root))
    assert group is not None
    arrays = sorted(p.parent for p in root.rglob("zarr.json") if _is_array(p))
    assert len(arrays) == len(expected)
    by_name = _array_paths(root, settings)
    for pos, path in by_name.items():
        z = zarr.open_array(str(path), mode="r")
        want = expected[pos]
        if z.shape[0] < want.shape[0]:  # acquire-zarr trims an unfinished first dim
            assert backend_of(root) == "acquire-zarr"
            assert not want[z.shape[0] :].any()
            want = want[: z.shape[0]]
        np.testing.assert_array_equal(z[...], want)
        t = ts.open(
            {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}}
        ).result()
        np.testing.assert_array_equal(t.read().result(), want)
        meta = json.loads((path / "zarr.json").read_text())
        assert meta["dimension_names"] == [
            d.name for d in settings.array_storage_dimensions
        ]


def backend_of(root: Path) -> str:
    """The backend that wrote `root` (tests name outputs after the backend)."""
    return root.name.removesuffix(".ome.zarr")


def _is_array(path: Path) -> bool:
    return json.loads(path.read_text()).get("node_type") == "array"


def _array_paths(root: Path, settings: AcquisitionSettings) -> dict[int, Path]:
    from ome_writers.metadata._ngff import build_layout

    layout = build_layout(settings)
    return {i: root / layout.array_path(i) for i in range(len(settings.positions))}


YX = [
    Dimension(name="y", count=Y, unit="um", scale=0.5),
    Dimension(name="x", count=X, unit="um", scale=0.5),
]


def _settings(
    tmp: Path, backend: str, dims: list[Dimension], **kw: Any
) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(tmp / f"{backend}.ome.zarr"),
        format=backend,
        dimensions=[*dims, *YX],
        dtype="uint16",
        **kw,
    )


CHANNELS = Dimension(
    name="c", type="channel", coords=[Channel(name="DAPI", color="blue"), "FITC"]
)

SCENARIOS: dict[str, tuple[list[Dimension], dict[str, Any], int | None]] = {
    "single-5d": (
        [
            Dimension(name="t", count=2, type="time", unit="s", scale=2.0),
            CHANNELS,
            Dimension(name="z", count=3, unit="um", scale=0.25, translation=5.0),
        ],
        {},
        None,
    ),
    "multi-position": (
        [
            Dimension(name="t", count=2, type="time"),
            Dimension(
                name="p",
                type="position",
                coords=["A", Position(name="B", grid_row=0, grid_column=1), "C"],
            ),
            CHANNELS,
        ],
        {},
        None,
    ),
    "plate-two-fields-one-well": (
        [
            Dimension(
                name="p",
                type="position",
                coords=[
                    Position(
                        name="fov",
                        plate_row="A",
                        plate_column="1",
                        grid_row=0,
                        grid_column=0,
                    ),
                    Position(
                        name="fov",
                        plate_row="A",
                        plate_column="1",
                        grid_row=0,
                        grid_column=1,
                    ),
                    Position(name="fov", plate_row="B", plate_column="3"),
                ],
            ),
            Dimension(name="z", count=2),
        ],
        {"plate": Plate.from_standard_wells(96)},
        None,
    ),
    "unbounded-time": (
        [Dimension(name="t", count=None, type="time"), CHANNELS],
        {},
        7,
    ),
    "unbounded-chunked": (
        [Dimension(name="t", count=None, type="time", chunk_size=4), CHANNELS],
        {},
        9,
    ),
    "storage-permutation-tzc-to-tcz": (
        [
            Dimension(name="t", count=2, type="time"),
            Dimension(name="z", count=3, type="space"),
            CHANNELS,
        ],
        {},
        None,
    ),
    "chunks-span-frames": (
        [
            Dimension(name="t", count=2, type="time"),
            Dimension(name="z", count=5, chunk_size=4, unit="um"),
        ],
        {},
        None,
    ),
    "sharding": (
        [
            Dimension(
                name="t", count=3, type="time", chunk_size=1, shard_size_chunks=2
            ),
            Dimension(name="z", count=4, chunk_size=2, shard_size_chunks=2, unit="um"),
        ],
        {},
        None,
    ),
    "partial-acquisition": (
        [
            Dimension(name="t", count=3, type="time"),
            Dimension(name="z", count=4, chunk_size=4, unit="um"),
        ],
        {},
        6,
    ),
}


@pytest.mark.parametrize("backend", WRITERS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario(tmp_path: Path, backend: str, scenario: str) -> None:
    dims, kw, n = SCENARIOS[scenario]
    settings = _settings(tmp_path, backend, dims, **kw)
    n_frames = settings.num_frames if n is None else n
    assert n_frames is not None
    _stream, view, live = _write(settings, n_frames)
    root = Path(settings.output_path)
    _check_on_disk(root, settings, n_frames)
    # the live view saw exactly what is on disk now
    if backend in FULL_LIVE_VIEW:
        np.testing.assert_array_equal(live, np.asarray(view))


@pytest.mark.parametrize("backend", WRITERS)
@pytest.mark.parametrize("compression", ["blosc-zstd", "blosc-lz4", "zstd", "none"])
def test_compression(tmp_path: Path, backend: str, compression: str) -> None:
    dims = [Dimension(name="t", count=3, type="time")]
    supported = BY_NAME[backend].compressions
    if compression not in supported:  # refused when the settings are made
        with pytest.raises(ValueError, match=f"not supported by the {backend}"):
            _settings(tmp_path, backend, dims, compression=compression)
        return
    settings = _settings(tmp_path, backend, dims, compression=compression)
    _write(settings)
    root = Path(settings.output_path)
    _check_on_disk(root, settings, 3)
    codecs = json.loads((root / "0" / "zarr.json").read_text())["codecs"]
    if codecs[0]["name"] == "sharding_indexed":
        codecs = codecs[0]["configuration"]["codecs"]
    names = [c["name"] for c in codecs]
    expected = {
        "blosc-zstd": "blosc",
        "blosc-lz4": "blosc",
        "zstd": "zstd",
        "none": None,
    }[compression]
    assert names[0] == "bytes"
    assert (names[1] if len(names) > 1 else None) == expected


@pytest.mark.parametrize("backend", WRITERS)
def test_metadata(tmp_path: Path, backend: str) -> None:
    dims, kw, _ = SCENARIOS["single-5d"]
    settings = _settings(tmp_path, backend, dims, **kw)
    with create_stream(settings) as stream:
        meta = stream.get_metadata()
        assert list(meta) == ["."]
        meta["."].setdefault("pymmcore_plus", {})["summary_metadata"] = {"k": [1, 2]}
        stream.update_metadata(meta)  # the pymmcore-plus 0.18.1 round trip
        stream.set_global_metadata("myns", {"a": 1, "b": {"c": [1, 2]}})
        with pytest.raises(KeyError, match="Unknown path: nope"):
            stream.update_metadata({"nope": {}})
        for n in range(settings.num_frames or 0):
            stream.append(
                _frame(n), frame_metadata={"delta_t": n * 0.5, "np": np.float32(1.5)}
            )
    attrs = json.loads((Path(settings.output_path) / "zarr.json").read_text())[
        "attributes"
    ]
    assert attrs["pymmcore_plus"] == {"summary_metadata": {"k": [1, 2]}}
    assert attrs["myns"] == {"a": 1, "b": {"c": [1, 2]}}
    frames = attrs["ome_writers"]["frame_metadata"]
    assert len(frames) == 12
    assert frames[1] == {"delta_t": 0.5, "np": 1.5, "storage_index": [0, 0, 1]}
    ms = attrs["ome"]["multiscales"][0]
    assert [a["name"] for a in ms["axes"]] == ["t", "c", "z", "y", "x"]
    assert ms["axes"][0] == {"name": "t", "type": "time", "unit": "second"}
    transforms = ms["datasets"][0]["coordinateTransformations"]
    assert transforms[0]["scale"] == [2.0, 1.0, 0.25, 0.5, 0.5]
    assert transforms[1]["translation"] == [0.0, 0.0, 5.0, 0.0, 0.0]
    assert [c["label"] for c in attrs["ome"]["omero"]["channels"]] == ["DAPI", "FITC"]
    assert attrs["ome"]["omero"]["channels"][0]["color"] == "0000FF"


@pytest.mark.parametrize("backend", WRITERS)
@pytest.mark.parametrize("pixel_size", [0.0, None, -1.0])
def test_pixel_size_unknown(
    tmp_path: Path, backend: str, pixel_size: float | None
) -> None:
    dims = [
        Dimension(name="t", count=None, type="time", scale=0.0),
        Dimension(name="y", count=Y, unit="micrometer", scale=pixel_size),
        Dimension(name="x", count=X, unit="micrometer", scale=pixel_size),
    ]
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "p.ome.zarr"),
        format=backend,
        dimensions=dims,
        dtype="uint16",
    )
    _write(settings, 2)
    attrs = json.loads((tmp_path / "p.ome.zarr" / "zarr.json").read_text())[
        "attributes"
    ]
    scale = attrs["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"][
        0
    ]
    assert scale["scale"] == [1.0, 1.0, 1.0]
    yaozarrs.validate_zarr_store(str(tmp_path / "p.ome.zarr"))


@pytest.mark.parametrize("backend", WRITERS)
def test_float_dtype_with_channels(tmp_path: Path, backend: str) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "f.ome.zarr"),
        format=backend,
        dimensions=[CHANNELS, *YX],
        dtype="float32",
    )
    with create_stream(settings, finite_only=False) as stream:
        stream.append(np.full((Y, X), 0.5, "float32"))
        stream.append(np.full((Y, X), np.nan, "float32"))
    yaozarrs.validate_zarr_store(str(tmp_path / "f.ome.zarr"))
    data = zarr.open_array(str(tmp_path / "f.ome.zarr" / "0"))[...]
    assert data[0, 0, 0] == 0.5
    assert np.isnan(data[1]).all()


@pytest.mark.parametrize("backend", WRITERS)
def test_overwrite_rules(tmp_path: Path, backend: str) -> None:
    settings = _settings(tmp_path, backend, [Dimension(name="t", count=1)])
    _write(settings)
    with pytest.raises(
        FileExistsError, match=r"already exists at .*Use overwrite=True"
    ):
        create_stream(settings)
    _write(settings.model_copy(update={"overwrite": True}))
    foreign = tmp_path / "foreign.ome.zarr"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("precious")
    bad = settings.model_copy(update={"overwrite": True, "root_path": str(foreign)})
    with pytest.raises(FileExistsError, match="Refusing to overwrite"):
        create_stream(bad)
    assert (foreign / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize("backend", WRITERS)
def test_hostile_position_names(tmp_path: Path, backend: str) -> None:
    names = ["../evil", "a/b", "..", "x\x00y", "é" * 300]
    dims = [Dimension(name="p", type="position", coords=names)]
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "out" / "h.ome.zarr"),
        format=backend,
        dimensions=[*dims, *YX],
        dtype="uint16",
    )
    _write(settings)
    root = tmp_path / "out" / "h.ome.zarr"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["h.ome.zarr"]
    for path in root.rglob("*"):
        assert path.resolve().is_relative_to(root.resolve())
    _check_on_disk(root, settings, len(names))


@pytest.mark.parametrize("backend", WRITERS)
def test_rejects_invalid_axis_order(tmp_path: Path, backend: str) -> None:
    settings = _settings(
        tmp_path,
        backend,
        [
            Dimension(name="z", count=2, type="space"),
            Dimension(name="t", count=2, type="time"),
        ],
        storage_order="acquisition",
    )
    with pytest.raises(NotImplementedError, match="not a valid OME-Zarr axis order"):
        create_stream(settings)
    assert not Path(settings.output_path).exists()


@pytest.mark.parametrize("backend", WRITERS)
def test_custom_axis_with_z(tmp_path: Path, backend: str) -> None:
    """pymmcore-plus multi-camera + z: the 'cam' axis goes before space axes."""
    settings = _settings(
        tmp_path,
        backend,
        [
            Dimension(name="t", count=2, type="time"),
            Dimension(name="z", count=2, type="space"),
            Dimension(name="cam", count=2, type="other"),
        ],
    )
    _write(settings)
    _check_on_disk(Path(settings.output_path), settings, 8)


@pytest.mark.parametrize("backend", WRITERS)
@pytest.mark.parametrize(
    "scenario", ["single-5d", "multi-position", "plate-two-fields-one-well"]
)
def test_ome_zarr_py_reads(tmp_path: Path, backend: str, scenario: str) -> None:
    """ome-zarr-py's reader finds every image with the right axes and data."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    from ome_writers.metadata._ngff import build_layout

    dims, kw, _ = SCENARIOS[scenario]
    settings = _settings(tmp_path, backend, dims, **kw)
    n_frames = settings.num_frames or 0
    _write(settings, n_frames)
    root = Path(settings.output_path)
    expected = _expected(settings, n_frames)
    axes = [d.name for d in settings.array_storage_dimensions]
    layout = build_layout(settings)
    for position, image in enumerate(layout.image_paths):
        location = parse_url(str(root if image == "." else root / image))
        assert location is not None
        nodes = list(Reader(location)())
        assert nodes, f"ome-zarr-py found no image at {image}"
        node = nodes[0]
        assert [a["name"] for a in node.metadata["axes"]] == axes
        np.testing.assert_array_equal(np.asarray(node.data[0]), expected[position])


@pytest.mark.parametrize("backend", WRITERS)
def test_collection_ome_xml(tmp_path: Path, backend: str) -> None:
    """bioformats2raw collections carry OME/METADATA.ome.xml (XSD-valid)."""
    import ome_types

    dims = [
        Dimension(name="t", count=None),
        Dimension(name="p", type="position", coords=["a", "b"]),
        CHANNELS,
    ]
    settings = _settings(tmp_path, backend, dims)
    _write(settings, 10)
    xml = (Path(settings.output_path) / "OME" / "METADATA.ome.xml").read_text()
    ome_types.validate_xml(xml)
    ome = ome_types.from_xml(xml)
    assert [(i.name, i.pixels.size_t, i.pixels.size_c) for i in ome.images] == [
        ("a", 3, 2),
        ("b", 2, 2),
    ]
    assert all(i.pixels.metadata_only is not None for i in ome.images)
