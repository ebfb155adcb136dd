"""`ome-writers info` lists each image's label images, never as images."""

from __future__ import annotations

import json
import shutil
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

from ome_writers import (
    AcquisitionSettings,
    LabelImage,
    OmeZarrFormat,
    create_stream,
)
from ome_writers.tools.cli import main
from ome_writers.tools.info import inspect_dataset
from tests.labels._helpers import H, W, tpc_dimensions

if TYPE_CHECKING:
    from pathlib import Path


def _write(root: Path, ngff: str = "0.5") -> None:
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=tpc_dimensions(2),
        dtype="uint16",
        format=OmeZarrFormat(ngff_version=ngff),  # type: ignore[arg-type]
        pyramid=2,
        labels=[
            LabelImage(
                name="cells",
                colors={1: (255, 0, 0, 255), 2: (0, 255, 0, 255)},
                properties={1: {"area": 4}},
            ),
            LabelImage(name="nuclei", dtype="uint8", per_channel=True),
        ],
        overwrite=True,
    )
    with create_stream(settings) as stream:
        for _ in range(8):
            stream.append(np.zeros((H, W), "uint16"))
            stream.write_label("cells", np.ones((H, W), "uint8"))


@pytest.mark.parametrize("ngff", ["0.4", "0.5", "0.6rc0"])
def test_each_image_lists_its_label_images(
    tmp_path: Path, ngff: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "run.ome.zarr"
    _write(root, ngff)
    report = inspect_dataset(root)
    assert report.valid, report.problems
    # label images are not images of the dataset: two positions, 8 frames
    assert [image.path for image in report.images] == ["A", "B"]
    assert "frames: 8 of 8 acquired" in "\n".join(report.lines())
    for image in report.images:
        cells, nuclei = image.labels
        assert (cells.name, cells.path) == ("cells", f"{image.path}/labels/cells")
        stored = zarr.open_array(str(root / cells.path / "0"), mode="r")
        assert cells.shape == stored.shape == (2, 1, H, W)
        assert cells.dtype == "uint32"
        assert cells.levels == [(2, 1, H, W), (2, 1, H // 2, W // 2)]
        assert (cells.colors, cells.properties) == (2, 1)
        assert nuclei.shape == (2, 2, H, W)
        assert nuclei.dtype == "uint8"
        assert (nuclei.colors, nuclei.properties) == (0, 0)
    text = report.lines()
    assert (
        "  label cells: shape=(2, 1, 8, 6) dtype=uint32, 2 levels, colours for "
        "2 values, properties for 1 value"
    ) in text
    assert "  label nuclei: shape=(2, 2, 8, 6) dtype=uint8, 2 levels" in text
    assert main(["info", "--json", str(root)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["images"]) == 2
    assert doc["images"][1]["labels"][0] == {
        "name": "cells",
        "path": "B/labels/cells",
        "shape": [2, 1, H, W],
        "dtype": "uint32",
        "levels": [[2, 1, H, W], [2, 1, H // 2, W // 2]],
        "colors": 2,
        "properties": 1,
    }


def test_a_label_image_listed_without_its_group_is_a_problem(tmp_path: Path) -> None:
    root = tmp_path / "run.ome.zarr"
    _write(root)
    shutil.rmtree(root / "B/labels/nuclei")
    report = inspect_dataset(root)
    assert any("B/labels/nuclei" in p for p in report.problems), report.problems
    assert [label.name for label in report.images[1].labels] == ["cells"]


@pytest.mark.parametrize("zarr_format", [2, 3], ids=["0.4", "0.5"])
def test_label_images_of_ome_zarr_py(tmp_path: Path, zarr_format: int) -> None:
    from ome_zarr.format import FormatV04, FormatV05

    with warnings.catch_warnings():  # its module builds a deprecated default
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr.writer import write_image, write_labels

    fmt = FormatV04() if zarr_format == 2 else FormatV05()
    path = tmp_path / "other.ome.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    write_image(
        np.zeros((3, 32, 32), "uint16"), group, axes="cyx", fmt=fmt, scale_factors=[2]
    )
    write_labels(
        np.ones((1, 32, 32), "int32"),
        group,
        name="blobs",
        axes="cyx",
        fmt=fmt,
        scaler=None,
        scale_factors=[2],
        label_metadata={"properties": [{"label-value": 1, "class": "cell"}]},
    )
    report = inspect_dataset(path)
    assert report.valid, report.problems
    (image,) = report.images
    (blobs,) = image.labels
    assert (blobs.name, blobs.path) == ("blobs", "labels/blobs")
    assert blobs.shape == (1, 32, 32)
    assert blobs.dtype == "int32"
    assert blobs.levels == [(1, 32, 32), (1, 16, 16)]
    assert (blobs.colors, blobs.properties) == (0, 1)
