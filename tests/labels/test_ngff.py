"""Label images as other software reads them: yaozarrs (structure and
metadata), ome-zarr-models, the shipped NGFF 0.6rc0 JSON schemas, and
ome-zarr-py's reader, which finds them as labels of the right image."""

from __future__ import annotations

import json
import logging
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import yaozarrs
import zarr

import ome_writers as ow
from tests.metadata.ngff06_schemas import (
    LABELS,
    validate_dataset,
    validate_document,
)

from ._helpers import group_attributes, naive_levels, read_both

if TYPE_CHECKING:
    from pathlib import Path

Y, X = 12, 10
T, C, Z = 2, 2, 2
COLORS = {1: (255, 0, 0, 255), 2: (0, 255, 0, 128)}


def write(tmp_path: Path, version: str, positions: int = 2) -> tuple[Path, dict]:
    """A t, p, c, z dataset with the label image "cells" (two levels) and
    "nuclei" added while running; its expected label arrays by position."""
    dims = [
        ow.Dimension(name="t", count=T, type="time"),
        ow.Dimension(name="p", count=positions, type="position"),
        ow.Dimension(name="c", count=C, type="channel", coords=["DAPI", "GFP"]),
        ow.Dimension(name="z", count=Z, type="space"),
        ow.Dimension(name="y", count=Y, type="space", unit="micrometer"),
        ow.Dimension(name="x", count=X, type="space", unit="micrometer"),
    ]
    settings = ow.AcquisitionSettings(
        root_path=str(tmp_path / "data.ome.zarr"),
        format=ow.OmeZarrFormat(ngff_version=version),  # type: ignore[arg-type]
        dimensions=dims,
        dtype="uint16",
        pyramid=2,
        labels=[
            ow.LabelImage(
                name="cells", colors=COLORS, properties={1: {"class": "round"}}
            )
        ],
    )
    expected = {
        name: [np.zeros((T, 1, Z, Y, X), "uint32") for _ in range(positions)]
        for name in ("cells", "nuclei")
    }
    n = 0
    with ow.create_stream(settings) as stream:
        stream.add_labels({"name": "nuclei", "downsample": "nearest"})
        for t in range(T):
            for p in range(positions):
                for c in range(C):
                    for z in range(Z):
                        stream.append(np.full((Y, X), n, "uint16"))
                        if c == 0 and (t + z) % 2 == 0:  # some frames only
                            mask = np.zeros((Y, X), "uint32")
                            mask[p + 1 : p + 6, t + 2 : t + 7 + z] = p + 1
                            mask[8:11, 1:4] = 2
                            stream.write_label("cells", mask, frame=n)
                            expected["cells"][p][t, 0, z] = mask
                        n += 1
        stream.write_label("nuclei", np.full((Y, X), 9, "uint8"), frame=0)
        expected["nuclei"][0][0, 0, 0] = 9
        stream.set_label_properties(
            "cells", {1: {"class": "round", "area": 25}, 2: {"class": "flat"}}
        )
    return tmp_path / "data.ome.zarr", expected


def image_paths(root: Path, positions: int = 2) -> list[Path]:
    return [root / str(p) for p in range(positions)]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_yaozarrs_and_ome_zarr_models(tmp_path: Path, version: str) -> None:
    root, _ = write(tmp_path, version)
    models = pytest.importorskip("ome_zarr_models")
    v = models.v04 if version == "0.4" else models.v05
    zarr_format = 2 if version == "0.4" else 3
    for image in image_paths(root):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yaozarrs.validate_zarr_store(str(image))  # labels checked too
        group = zarr.open_group(str(image), mode="r", zarr_format=zarr_format)
        assert isinstance(models.open_ome_zarr(group, version=version), v.Image)
        labels = v.Labels.from_zarr(group["labels"])
        attrs = labels.attributes if version == "0.4" else labels.attributes.ome
        assert attrs.labels == ["cells", "nuclei"]
        for name in ("cells", "nuclei"):
            label = v.ImageLabel.from_zarr(group["labels"][name])
            assert label is not None
    attrs = group_attributes(root / "0" / "labels" / "cells")
    ome = attrs if version == "0.4" else attrs["ome"]
    image_label = ome["image-label"]
    assert image_label["source"] == {"image": "../../"}
    assert image_label["colors"] == [
        {"label-value": 1, "rgba": [255, 0, 0, 255]},
        {"label-value": 2, "rgba": [0, 255, 0, 128]},
    ]
    assert image_label["properties"] == [
        {"label-value": 1, "class": "round", "area": 25},
        {"label-value": 2, "class": "flat"},
    ]
    assert [a["name"] for a in ome["multiscales"][0]["axes"]] == list("tczyx")


def test_ngff_06rc0_schemas(tmp_path: Path) -> None:
    root, expected = write(tmp_path, "0.6rc0")
    checked = validate_dataset(root)
    for p in range(2):
        for name in ("cells", "nuclei"):
            path = f"{p}/labels/{name}"
            assert checked[path] == ["image", "label"], checked
            attributes = group_attributes(root / path)
            validate_document(attributes, "label")
            validate_document(attributes, "image")
            np.testing.assert_array_equal(
                read_both(root / path / "0"), expected[name][p]
            )
    assert checked["0/labels"] == [LABELS]
    labels = group_attributes(root / "0" / "labels")
    assert labels["ome"]["labels"] == ["cells", "nuclei"]
    assert labels["ome"]["version"] == "0.6rc0"


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_py_reads_the_labels_of_each_image(
    tmp_path: Path, version: str
) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Multiscales, Reader

    root, expected = write(tmp_path, version)
    logging.getLogger("ome_zarr").setLevel(logging.ERROR)
    for p, image in enumerate(image_paths(root)):
        location = parse_url(str(image))
        assert location is not None
        nodes = list(Reader(location)())
        found: dict[str, Any] = {}
        for node in nodes:
            if node.load(Label) is None:
                continue
            name = node.metadata["name"]
            found[name] = node
            levels = naive_levels(
                expected[name][p], 2, "mode" if name == "cells" else "nearest"
            )
            assert len(node.data) == 2
            for level, want in zip(node.data, levels, strict=True):
                np.testing.assert_array_equal(np.asarray(level), want)
            # its source: this position's image
            parent = next(
                n for n in nodes if n.load(Multiscales) and n.load(Label) is None
            )
            assert parent.zarr.path.rstrip("/").endswith(f"/{p}")
        assert sorted(found) == ["cells", "nuclei"]
        cells = found["cells"]
        assert cells.metadata["color"] == {
            1: [1.0, 0.0, 0.0, 1.0],
            2: [0.0, 1.0, 0.0, 128 / 255],
        }
        assert cells.metadata["properties"] == {
            1: {"class": "round", "area": 25},
            2: {"class": "flat"},
        }


def test_label_documents_as_written(tmp_path: Path) -> None:
    """The labels group lists the label images; each is a multiscale of the
    image's axes whose levels halve Y and X only."""
    root, _ = write(tmp_path, "0.5", positions=1)
    doc = json.loads((root / "labels" / "zarr.json").read_text())
    assert doc["attributes"]["ome"] == {"version": "0.5", "labels": ["cells", "nuclei"]}
    ms = group_attributes(root / "labels" / "cells")["ome"]["multiscales"][0]
    scales = [d["coordinateTransformations"][0]["scale"] for d in ms["datasets"]]
    image = group_attributes(root)["ome"]["multiscales"][0]
    image_scales = [
        d["coordinateTransformations"][0]["scale"] for d in image["datasets"]
    ]
    assert scales == image_scales
    for level, shape in enumerate([(T, 1, Z, Y, X), (T, 1, Z, Y // 2, X // 2)]):
        array = zarr.open_array(str(root / "labels" / "cells" / str(level)), mode="r")
        assert array.shape == shape
        assert array.chunks == (1, 1, 1, *shape[-2:])
