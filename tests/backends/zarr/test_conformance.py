"""OME-Zarr specifics on every OME-Zarr backend, read back by other readers.

The layouts every backend writes (scenarios, compression, growth, skips,
metadata round trips) are in the conformance suite (tests/backends); here are
the Zarr-only checks: the metadata API, unknown pixel sizes, overwrite rules,
hostile position names, axis order, ome-zarr-py and the collection OME-XML.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaozarrs
import zarr

from ome_writers import (
    AcquisitionSettings,
    Channel,
    Dimension,
    create_stream,
)
from tests.backends.conformance import SCENARIOS, assert_position
from tests.backends.params import backend_params
from tests.backends.readers import (
    StoredArray,
    read_zarr,
    to_declared,
    zarr_array_paths,
    zarr_image_groups,
)

WRITERS = backend_params(format="ome-zarr")
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


def _check_on_disk(root: Path, settings: AcquisitionSettings, n_frames: int) -> None:
    """Valid OME-Zarr; one array per position, read by zarr-python and
    tensorstore, holding frame n at the C-order cell n of the declared dims."""
    yaozarrs.validate_zarr_store(str(root))
    frames = [_frame(n) for n in range(n_frames)]
    arrays = sorted(p.parent for p in root.rglob("zarr.json") if _is_array(p))
    paths = zarr_array_paths(settings)
    assert sorted(paths) == arrays
    for position, path in enumerate(paths):
        stored = read_zarr(path)
        assert list(stored.axes) == [d.name for d in settings.array_storage_dimensions]
        assert_position(settings, frames, to_declared(settings, stored), position)


def _is_array(path: Path) -> bool:
    return json.loads(path.read_text()).get("node_type") == "array"


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


@pytest.mark.parametrize("backend", WRITERS)
def test_metadata(tmp_path: Path, backend: str) -> None:
    scenario = SCENARIOS["tczyx"]
    settings = _settings(tmp_path, backend, list(scenario.dims), **scenario.kwargs)
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
@pytest.mark.parametrize("scenario", ["tczyx", "multi-position", "plate"])
def test_ome_zarr_py_reads(tmp_path: Path, backend: str, scenario: str) -> None:
    """ome-zarr-py's reader finds every image with the right axes and data."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    case = SCENARIOS[scenario]
    settings = _settings(tmp_path, backend, list(case.dims), **case.kwargs)
    n_frames = settings.num_frames or 0
    _write(settings, n_frames)
    root = Path(settings.output_path)
    frames = [_frame(n) for n in range(n_frames)]
    axes = [d.name for d in settings.array_storage_dimensions]
    groups = zarr_image_groups(root, settings.positions)
    for position, image in enumerate(groups):
        location = parse_url(str(image))
        assert location is not None
        nodes = list(Reader(location)())
        assert nodes, f"ome-zarr-py found no image at {image}"
        node = nodes[0]
        assert [a["name"] for a in node.metadata["axes"]] == axes
        stored = StoredArray(np.asarray(node.data[0]), tuple(axes), image)
        assert_position(settings, frames, to_declared(settings, stored), position)


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
