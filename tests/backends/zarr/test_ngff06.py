"""NGFF 0.6rc0 written by every Zarr backend: schema-valid documents, a scene
of the stage positions, the frames' times on t, pixels read back by
zarr-python and tensorstore."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ome_writers import (
    AcquisitionSettings,
    Dimension,
    OmeZarrFormat,
    Plate,
    Position,
    create_stream,
)
from tests.backends.params import backend_params
from tests.backends.readers import read_zarr, zarr_image_groups
from tests.conftest import frame_for
from tests.metadata.ngff06_schemas import FIELD, validate_dataset

BACKENDS = backend_params(format="ome-zarr")
SHAPE = (8, 6)
TIME_FIELD = "coordinateTransformations/acquisition_time"


def _dims(positions: list[Position] | None, t: int | None = 3) -> list[Dimension]:
    dims = [Dimension(name="t", count=t, scale=2.0, unit="s")]
    if positions is not None:
        dims.append(Dimension(name="p", type="position", coords=positions))
    return [
        *dims,
        Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
        Dimension(name="y", count=SHAPE[0], unit="um", scale=0.5),
        Dimension(name="x", count=SHAPE[1], unit="um", scale=0.5),
    ]


def _settings(
    tmp_path: Path, backend: str, dims: list[Dimension], **kwargs: Any
) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(tmp_path / "out.ome.zarr"),
        dimensions=dims,
        dtype="uint16",
        format=OmeZarrFormat(backend=backend, ngff_version="0.6rc0"),
        overwrite=True,
        **kwargs,
    )


def _delta_t(n: int) -> float:
    """A frame's time: not a multiple of the interval, as a real run's."""
    return round(0.731 * n + 0.01 * (n % 3), 6)


def _write(settings: AcquisitionSettings, frames: int | None = None) -> None:
    with create_stream(settings) as stream:
        for n in range(frames or settings.num_frames or 0):
            stream.append(frame_for(n, SHAPE), frame_metadata={"delta_t": _delta_t(n)})


def _cells(settings: AcquisitionSettings, frames: int) -> list[dict[str, int]]:
    """Each frame's index along every non-frame dimension (C order)."""
    dims = settings.dimensions[:-2]
    counts = [d.count or frames for d in dims]
    return [
        dict(zip([d.name for d in dims], np.unravel_index(n, counts), strict=True))
        for n in range(frames)
    ]


def _expected_times(settings: AcquisitionSettings, frames: int) -> list[list[float]]:
    """Per position, per time point: the earliest of its frames' delta_t."""
    n_positions = len(settings.positions)
    out: list[dict[int, float]] = [{} for _ in range(n_positions)]
    for n, cell in enumerate(_cells(settings, frames)):
        times = out[int(cell.get("p", 0))]
        t = int(cell["t"])
        times[t] = min(times.get(t, np.inf), _delta_t(n))
    return [[times[t] for t in sorted(times)] for times in out]


def _check(
    settings: AcquisitionSettings, frames: int, groups: list[str]
) -> dict[str, list[str]]:
    """Schemas, the times on t and the pixels of every image."""
    root = Path(settings.output_path)
    checked = validate_dataset(root)
    images = zarr_image_groups(root, settings.positions)
    assert [g.relative_to(root).as_posix() for g in images] == groups
    expected = _expected_times(settings, frames)
    for position, group in enumerate(images):
        ome = json.loads((group / "zarr.json").read_text())["attributes"]["ome"]
        multiscale = ome["multiscales"][0]
        systems = [s["name"] for s in multiscale["coordinateSystems"]]
        assert "acquisition_time" in systems
        field = read_zarr(group / TIME_FIELD / "0")  # zarr-python and tensorstore
        assert field.data.shape == (len(expected[position]), 1)
        assert field.data[:, 0].tolist() == expected[position]
        assert checked[(group / TIME_FIELD).relative_to(root).as_posix()] == [FIELD]
        data = read_zarr(group / "0").data
        for n, cell in enumerate(_cells(settings, frames)):
            if int(cell.get("p", 0)) == position:
                got = data[int(cell["t"]), int(cell["c"])]
                np.testing.assert_array_equal(got, frame_for(n, SHAPE))
    return checked


def _scene(root: Path) -> dict[str, list[float]]:
    """Image path -> its translation in the scene's stage coordinate system."""
    ome = json.loads((root / "zarr.json").read_text())["attributes"]["ome"]
    scene = ome["scene"]
    assert scene["coordinateSystems"][0]["name"] == "stage"
    out = {}
    for transform in scene["coordinateTransformations"]:
        assert transform["type"] == "translation"
        assert transform["input"]["name"] == "physical"
        assert transform["output"] == {"name": "stage"}
        out[transform["input"]["path"]] = transform["translation"]
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_single_image(tmp_path: Path, backend: str) -> None:
    stage = Position(name="here", x_coord=-12.5, y_coord=300.0)
    settings = _settings(tmp_path, backend, _dims([stage]))
    _write(settings)
    checked = _check(settings, 6, ["."])
    assert checked["."] == ["image"]
    assert checked["OME"] == ["ome"]  # the root as the one series
    root = Path(settings.output_path)
    multiscale = json.loads((root / "zarr.json").read_text())["attributes"]["ome"][
        "multiscales"
    ][0]
    assert [s["name"] for s in multiscale["coordinateSystems"]] == [
        "physical",
        "stage",
        "acquisition_time",
    ]
    translation = multiscale["coordinateTransformations"][0]
    assert translation["output"] == {"name": "stage"}
    assert translation["translation"] == [0.0, 0.0, 300.0, -12.5]


@pytest.mark.parametrize("backend", BACKENDS)
def test_three_positions(tmp_path: Path, backend: str) -> None:
    stage = [(100.0, 200.0), (-300.5, 40.0), (1e4, -2.25)]
    positions = [
        Position(name=f"pos{k}", x_coord=x, y_coord=y) for k, (x, y) in enumerate(stage)
    ]
    settings = _settings(tmp_path, backend, _dims(positions))
    _write(settings)
    checked = _check(settings, 18, ["pos0", "pos1", "pos2"])
    assert checked["."] == ["bf2raw", "scene"]
    assert checked["OME"] == ["ome"]
    scene = _scene(Path(settings.output_path))
    assert scene == {
        f"pos{k}": [0.0, 0.0, y, x] for k, (x, y) in enumerate(stage)
    }  # t, c, y, x: the stage's y and x in micrometres


@pytest.mark.parametrize("backend", BACKENDS)
def test_plate_with_two_fields(tmp_path: Path, backend: str) -> None:
    fields = [
        Position(name="fov0", plate_row="B", plate_column="3", x_coord=10, y_coord=20),
        Position(name="fov1", plate_row="B", plate_column="3", x_coord=30, y_coord=25),
    ]
    settings = _settings(
        tmp_path,
        backend,
        _dims(fields),
        plate=Plate(row_names=["A", "B"], column_names=["1", "2", "3"]),
    )
    _write(settings)
    checked = _check(settings, 12, ["B/3/fov0", "B/3/fov1"])
    assert checked["."] == ["plate", "bf2raw", "scene"]
    assert checked["OME"] == ["ome"]  # the fields as series (METADATA.ome.xml)
    assert checked["B/3"] == ["well"]
    assert _scene(Path(settings.output_path)) == {
        "B/3/fov0": [0.0, 0.0, 20.0, 10.0],
        "B/3/fov1": [0.0, 0.0, 25.0, 30.0],
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_times_of_an_unbounded_run_within_the_loss_window(
    tmp_path: Path, backend: str
) -> None:
    """A checkpoint (what a loss-window visit does, and a sync) leaves the
    times of the frames so far on disk, named by the image's document."""
    positions = [Position(name="a", x_coord=1, y_coord=2), Position(name="b")]
    settings = _settings(tmp_path, backend, _dims(positions, t=None))
    root = Path(settings.output_path)
    with create_stream(settings) as stream:
        for n in range(8):  # time points 0, 1 (4 frames each)
            stream.append(frame_for(n, SHAPE), frame_metadata={"delta_t": _delta_t(n)})
        stream.checkpoint()
        for k, image in enumerate(["a", "b"]):
            doc = json.loads((root / image / "zarr.json").read_text())
            systems = doc["attributes"]["ome"]["multiscales"][0]["coordinateSystems"]
            assert systems[-1]["name"] == "acquisition_time"
            field = read_zarr(root / image / TIME_FIELD / "0").data
            assert field[:, 0].tolist() == _expected_times(settings, 8)[k]
        for n in range(8, 12):
            stream.append(frame_for(n, SHAPE), frame_metadata={"delta_t": _delta_t(n)})
    _check(settings, 12, ["a", "b"])
    assert list(_scene(root)) == ["a"]  # b has no stage coordinates


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_times_without_delta_t(tmp_path: Path, backend: str) -> None:
    settings = _settings(tmp_path, backend, _dims(None))
    with create_stream(settings) as stream:
        for n in range(6):
            stream.append(frame_for(n, SHAPE), frame_metadata={"exposure_time": 0.01})
    root = Path(settings.output_path)
    assert validate_dataset(root) == {".": ["image"], "OME": ["ome"]}
    ome = json.loads((root / "zarr.json").read_text())["attributes"]["ome"]
    assert [s["name"] for s in ome["multiscales"][0]["coordinateSystems"]] == [
        "physical"
    ]
    assert "coordinateTransformations" not in ome["multiscales"][0]
    assert not (root / "coordinateTransformations").exists()
    np.testing.assert_array_equal(read_zarr(root / "0").data[2, 1], frame_for(5, SHAPE))


def test_positions_of_different_shapes(tmp_path: Path) -> None:
    """Each image places itself on the stage (their axes differ: no scene)."""
    t = Dimension(name="t", count=2, scale=2.0, unit="s")
    positions = [
        Position(name="a", x_coord=1, y_coord=2),
        Position(name="b", x_coord=3, y_coord=4, dimensions=[t]),  # no channels
    ]
    settings = _settings(tmp_path, "tensorstore", _dims(positions))
    _write(settings)
    root = Path(settings.output_path)
    checked = validate_dataset(root)
    assert checked["."] == ["bf2raw"]
    for image, (x, y) in (("a", (1.0, 2.0)), ("b", (3.0, 4.0))):
        assert checked[image] == ["image"]
        assert checked[f"{image}/{TIME_FIELD}"] == [FIELD]
        ome = json.loads((root / image / "zarr.json").read_text())["attributes"]["ome"]
        transforms = ome["multiscales"][0]["coordinateTransformations"]
        stage = next(t for t in transforms if t["output"] == {"name": "stage"})
        assert stage["translation"][-2:] == [y, x]
    assert read_zarr(root / "b" / "0").data.shape == (2, *SHAPE)
