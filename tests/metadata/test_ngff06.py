"""NGFF 0.6rc0 group documents, validated against the shipped JSON schemas."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ome_writers import AcquisitionSettings, Dimension, OmeZarrFormat, Plate, Position
from ome_writers.metadata import _ngff06
from ome_writers.metadata._ngff import build_layout
from tests.metadata.ngff06_schemas import (
    errors,
    only_space_axes_rule_fails,
    validate_document,
)

STAGE = [(100.0, 200.0, 5.0), (-300.5, 40.0, 6.0), (0.0, 0.0, None)]


def _dims(*, positions: list[Position] | None = None) -> list[Dimension]:
    dims = [Dimension(name="t", count=3, scale=2.0, unit="s")]
    if positions is not None:
        dims.append(Dimension(name="p", type="position", coords=positions))
    return [
        *dims,
        Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
        Dimension(name="z", count=4, unit="um", scale=0.5),
        Dimension(name="y", count=8, unit="um", scale=0.25),
        Dimension(name="x", count=6, unit="um", scale=0.25),
    ]


def _settings(version: str = "0.6rc0", **kwargs: Any) -> AcquisitionSettings:
    kwargs.setdefault("dimensions", _dims())
    return AcquisitionSettings(
        root_path="unused.ome.zarr",
        dtype="uint16",
        format=OmeZarrFormat(ngff_version=version),
        **kwargs,
    )


def _stage_positions() -> list[Position]:
    return [
        Position(name=f"p{k}", x_coord=x, y_coord=y, z_coord=z)
        for k, (x, y, z) in enumerate(STAGE)
    ]


def _image(groups: dict[str, dict[str, Any]], path: str) -> dict[str, Any]:
    return groups[path]["ome"]["multiscales"][0]


def test_single_image(tmp_path: Any) -> None:
    settings = _settings(
        dimensions=_dims(positions=[Position(name="a", x_coord=10, y_coord=20)])
    )
    groups = build_layout(settings).groups
    # the OME group lists the root as the one series (OME/METADATA.ome.xml)
    assert list(groups) == [".", "OME"]
    validate_document(groups["."], "image")
    validate_document(groups["OME"], "ome")
    assert groups["OME"]["ome"]["series"] == [""]
    multiscale = _image(groups, ".")
    intrinsic, stage = multiscale["coordinateSystems"]
    assert intrinsic["name"] == "physical"
    assert [a["name"] for a in intrinsic["axes"]] == ["t", "c", "z", "y", "x"]
    assert intrinsic["axes"][0] == {"name": "t", "type": "time", "unit": "second"}
    assert multiscale["datasets"] == [
        {
            "path": "0",
            "coordinateTransformations": [
                {
                    "type": "scale",
                    "scale": [2.0, 1.0, 0.5, 0.25, 0.25],
                    "input": {"path": "0"},
                    "output": {"name": "physical"},
                }
            ],
        }
    ]
    # the stage position: a translation into a "stage" system of its own
    assert stage == {"name": "stage", "axes": intrinsic["axes"]}
    assert multiscale["coordinateTransformations"] == [
        {
            "type": "translation",
            "translation": [0.0, 0.0, 0.0, 20.0, 10.0],
            "input": {"name": "physical"},
            "output": {"name": "stage"},
        }
    ]
    assert groups["."]["ome"]["omero"]["channels"][0]["label"] == "DAPI"


def test_pyramid_levels_are_a_scale_and_a_translation() -> None:
    settings = _settings(pyramid=3)
    groups = build_layout(settings).groups
    validate_document(groups["."], "image")
    datasets = _image(groups, ".")["datasets"]
    assert [d["path"] for d in datasets] == ["0", "1", "2"]
    level2 = datasets[2]["coordinateTransformations"]
    assert level2 == [
        {
            "type": "sequence",
            "input": {"path": "2"},
            "output": {"name": "physical"},
            "transformations": [
                {"type": "scale", "scale": [2.0, 1.0, 0.5, 1.0, 1.0]},
                {"type": "translation", "translation": [0.0, 0.0, 0.0, 0.375, 0.375]},
            ],
        }
    ]


def test_three_positions_in_one_scene() -> None:
    settings = _settings(dimensions=_dims(positions=_stage_positions()))
    layout = build_layout(settings)
    groups = layout.groups
    assert layout.kind == "collection"
    validate_document(groups["."], "bf2raw")
    validate_document(groups["."], "scene")
    validate_document(groups["OME"], "ome")
    for path in layout.image_paths:
        validate_document(groups[path], "image")
        # placed by the scene only: no stage system of its own
        assert [s["name"] for s in _image(groups, path)["coordinateSystems"]] == [
            "physical"
        ]
    scene = groups["."]["ome"]["scene"]
    assert scene["coordinateSystems"] == [
        {"name": "stage", "axes": _image(groups, "p0")["coordinateSystems"][0]["axes"]}
    ]
    transforms = scene["coordinateTransformations"]
    assert [t["input"] for t in transforms] == [
        {"path": p, "name": "physical"} for p in layout.image_paths
    ]
    assert all(t["output"] == {"name": "stage"} for t in transforms)
    assert all(t["type"] == "translation" for t in transforms)
    # t, c, z, y, x: the stage's z, y and x in micrometres
    expected = [[0.0, 0.0, z or 0.0, y, x] for x, y, z in STAGE]
    assert [t["translation"] for t in transforms] == expected


def test_plate_with_two_fields_in_one_scene() -> None:
    fields = [
        Position(name="fov0", plate_row="A", plate_column="1", x_coord=1, y_coord=2),
        Position(name="fov1", plate_row="A", plate_column="1", x_coord=3, y_coord=4),
        Position(name="fov0", plate_row="B", plate_column="2", x_coord=9000, y_coord=2),
    ]
    settings = _settings(
        dimensions=_dims(positions=fields),
        plate=Plate(row_names=["A", "B"], column_names=["1", "2"]),
    )
    layout = build_layout(settings)
    groups = layout.groups
    assert layout.image_paths == ["A/1/fov0", "A/1/fov1", "B/2/fov0"]
    validate_document(groups["."], "plate")
    validate_document(groups["."], "scene")
    validate_document(groups["A/1"], "well")
    for path in layout.image_paths:
        validate_document(groups[path], "image")
    transforms = groups["."]["ome"]["scene"]["coordinateTransformations"]
    assert {t["input"]["path"]: t["translation"][-2:] for t in transforms} == {
        "A/1/fov0": [2.0, 1.0],
        "A/1/fov1": [4.0, 3.0],
        "B/2/fov0": [2.0, 9000.0],
    }
    assert all(g["ome"]["version"] == "0.6rc0" for g in groups.values() if g)


def test_only_positions_with_stage_coordinates_are_placed() -> None:
    positions = [Position(name="a", x_coord=1, y_coord=2), Position(name="b")]
    groups = build_layout(_settings(dimensions=_dims(positions=positions))).groups
    transforms = groups["."]["ome"]["scene"]["coordinateTransformations"]
    assert [t["input"]["path"] for t in transforms] == ["a"]
    unplaced = [Position(name="a"), Position(name="b")]
    groups = build_layout(_settings(dimensions=_dims(positions=unplaced))).groups
    assert "scene" not in groups["."]["ome"]


def test_stage_coordinates_in_the_axes_unit() -> None:
    dims = [
        Dimension(name="p", type="position", coords=_stage_positions()[:2]),
        Dimension(name="y", count=8, unit="nm", scale=100),
        Dimension(name="x", count=6, unit="nm", scale=100),
    ]
    groups = build_layout(_settings(dimensions=dims)).groups
    transforms = groups["."]["ome"]["scene"]["coordinateTransformations"]
    assert transforms[0]["translation"] == [200_000.0, 100_000.0]


def test_time_coordinates() -> None:
    """The image maps its time axis through a coordinates field of its own."""
    groups = build_layout(_settings()).groups
    ome = copy.deepcopy(groups["."]["ome"])
    assert _ngff06.add_time_coordinates(ome)
    assert not _ngff06.add_time_coordinates(ome)  # once
    validate_document({"ome": ome}, "image")
    multiscale = ome["multiscales"][0]
    timed = multiscale["coordinateSystems"][-1]
    assert timed["name"] == "acquisition_time"
    assert timed["axes"][0] == {"name": "t", "type": "time", "unit": "second"}
    (transform,) = multiscale["coordinateTransformations"]
    assert transform["type"] == "byDimension"
    assert transform["input"] == {"name": "physical"}
    assert transform["output"] == {"name": "acquisition_time"}
    assert transform["transformations"] == [
        {
            "transformation": {
                "type": "coordinates",
                "path": "coordinateTransformations/acquisition_time",
            },
            "inputAxes": [0],
            "outputAxes": [0],
        },
        {
            "transformation": {"type": "identity"},
            "inputAxes": [1, 2, 3, 4],
            "outputAxes": [1, 2, 3, 4],
        },
    ]


def test_time_field_group() -> None:
    """The field over the one time axis: a multiscale group with a time and a
    coordinate axis (N + 1 dimensions for N = 1 input axis, as the spec text
    requires). The schema's axes rule, written for images, asks every
    multiscale for 2 or 3 space axes, which no field over a time axis alone
    can have: that is the only rule it fails."""
    ome = build_layout(_settings()).groups["."]["ome"]
    field = _ngff06.time_field_group(ome)
    assert field is not None
    system = field["multiscales"][0]["coordinateSystems"][0]
    assert system["axes"] == [
        {"name": "t", "type": "time", "unit": "second"},
        {"name": "coordinate", "type": "coordinate", "discrete": True},
    ]
    transform = field["multiscales"][0]["datasets"][0]["coordinateTransformations"]
    assert transform[0]["scale"] == [2.0, 1.0]  # array index -> the image's t
    assert only_space_axes_rule_fails({"ome": field})


def test_the_schemas_reject_what_they_should() -> None:
    """The validator is not vacuous: broken documents of ours fail."""
    groups = build_layout(
        _settings(dimensions=_dims(positions=_stage_positions()))
    ).groups
    image = copy.deepcopy(groups["p0"])
    del image["ome"]["multiscales"][0]["coordinateSystems"]
    assert errors(image, "image")
    image = copy.deepcopy(groups["p0"])
    del image["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"][0][
        "input"
    ]
    assert errors(image, "image")
    root = copy.deepcopy(groups["."])
    root["ome"]["scene"]["coordinateTransformations"][0]["input"] = "p0"
    assert errors(root, "scene")
    root["ome"]["version"] = "0.5"
    assert errors(root, "bf2raw")


@pytest.mark.parametrize("plate", [False, True])
def test_version_05_unchanged(plate: bool) -> None:
    """0.5 (the default) keeps its documents: stage positions in the levels."""
    positions = [
        Position(name="a", plate_row="A", plate_column="1", x_coord=1, y_coord=2),
        Position(name="b", plate_row="A", plate_column="1", x_coord=3, y_coord=4),
    ]
    settings = AcquisitionSettings(
        root_path="unused.ome.zarr",
        dimensions=_dims(positions=positions),
        dtype="uint16",
        plate=Plate(row_names=["A"], column_names=["1"]) if plate else None,
    )
    assert isinstance(settings.format, OmeZarrFormat)
    assert settings.format.ngff_version == "0.5"
    layout = build_layout(settings)
    for attributes in layout.groups.values():
        assert attributes.get("ome", {}).get("version", "0.5") == "0.5"
    assert "scene" not in layout.groups["."]["ome"]
    image = layout.groups[layout.image_paths[1]]["ome"]["multiscales"][0]
    assert "coordinateSystems" not in image
    translation = image["datasets"][0]["coordinateTransformations"][1]
    assert translation["translation"][-2:] == [4.0, 3.0]
