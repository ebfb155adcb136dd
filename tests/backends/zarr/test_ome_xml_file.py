"""Every OME-Zarr dataset carries ``OME/METADATA.ome.xml``, true while written.

On every OME-Zarr backend: a single image, a collection and a plate get the
document (valid against the OME schema for ome-types and Bio-Formats), one
Image per image group in the order of the ``OME`` group's series, a Plane
per frame with per-frame metadata. Loss-window visits and checkpoints
rewrite it to describe the frames on disk (never more), close describes
every frame.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaozarrs
import zarr

from ome_writers import AcquisitionSettings, Dimension, Plate, Position, create_stream
from ome_writers.backends.zarr import _ome_xml_file
from tests.backends.params import backend_params
from tests.ome_xml import bioformats_validate, plane_metadata, read_ome_xml, series

ZARR = backend_params(format="ome-zarr")
C = Dimension(name="c", type="channel", coords=["DAPI", "FITC"])
YX = [
    Dimension(name="y", count=8, scale=0.5, unit="micrometer"),
    Dimension(name="x", count=8, scale=0.5, unit="micrometer"),
]
STAGE = [
    Position(name="left", x_coord=1.5, y_coord=-2.0, z_coord=3.0),
    Position(name="right", x_coord=100.0, y_coord=200.0),
]
FIELDS = [
    Position(name="f0", plate_row="A", plate_column="1", x_coord=10.0, y_coord=1.0),
    Position(name="f1", plate_row="A", plate_column="1", x_coord=20.0, y_coord=1.0),
    Position(name="g0", plate_row="B", plate_column="2", x_coord=30.0, y_coord=2.0),
]
LAYOUTS: dict[str, dict[str, Any]] = {
    "image": {
        "dimensions": [
            Dimension(name="t", count=3, type="time", scale=2.0, unit="second"),
            C,
            Dimension(name="z", count=2, type="space", scale=1.0, unit="micrometer"),
        ]
    },
    "collection": {
        "dimensions": [
            Dimension(name="t", count=2, type="time"),
            Dimension(name="p", type="position", coords=STAGE),
            C,
        ]
    },
    "plate": {
        "dimensions": [Dimension(name="p", type="position", coords=FIELDS), C],
        "plate": Plate(row_names=["A", "B"], column_names=["1", "2"], name="P1"),
    },
}


def _settings(
    root: Path, backend: str, layout: dict[str, Any], **kwargs: Any
) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(root),
        format={"name": "ome-zarr", "backend": backend},
        dimensions=[*layout["dimensions"], *YX],
        plate=layout.get("plate"),
        dtype="uint16",
        **kwargs,
    )


def _meta(n: int) -> dict[str, Any]:
    """Frame `n`'s metadata: Plane attributes, and a key of its own."""
    return {
        "delta_t": 0.5 * n,
        "exposure_time": 0.01,
        "position_x": 1.0 + n,
        "position_y": -1.0,
        "position_z": 0.25 * n,
        "n": n,
    }


def _all_frames(ome: Any) -> list[int]:
    return [n for numbers in _frame_numbers(ome) for n in numbers]


def _frame_numbers(ome: Any) -> list[list[int]]:
    """Per image, the frame number of each Plane (its own key ``n``)."""
    return [[int(p["n"]) for p in planes] for planes in plane_metadata(ome)]


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("backend", ZARR)
def test_every_layout_has_the_document(
    tmp_path: Path, backend: str, layout: str
) -> None:
    root = tmp_path / f"{layout}.ome.zarr"
    settings = _settings(root, backend, LAYOUTS[layout])
    routes = []
    with create_stream(settings) as stream:
        for n in range(settings.num_frames or 0):
            stream.append(np.full((8, 8), n, "uint16"), frame_metadata=_meta(n))
            routes.append(stream._route(n))  # type: ignore[attr-defined]
    yaozarrs.validate_zarr_store(str(root))
    ome = read_ome_xml(root)
    group = zarr.open_group(str(root), mode="r")
    paths = series(root)
    # one Image per image group, in the order of the series
    assert len(ome.images) == len(paths) == len(settings.positions)
    for path, image in zip(paths, ome.images, strict=True):
        assert "multiscales" in group[path].attrs["ome"]
        assert image.pixels.metadata_only is not None
        assert image.pixels.tiff_data_blocks == []
    names = [p.name for p in settings.positions]
    assert [i.name for i in ome.images] == names
    # a Plane per frame, in DimensionOrder, with its metadata
    numbers = _frame_numbers(ome)
    for position, planes in enumerate(plane_metadata(ome)):
        mine = [n for n, (p, _) in enumerate(routes) if p == position]
        assert sorted(numbers[position]) == mine
        for plane in planes:
            n = int(plane["n"])
            assert plane["delta_t"] == 0.5 * n
            assert plane["position_x"] == 1.0 + n
            assert plane["position_z"] == 0.25 * n
    # the stage positions given
    for pos, image in zip(settings.positions, ome.images, strict=True):
        stage = image.stage_label
        if pos.x_coord is None:
            assert stage is None
            continue
        assert stage is not None
        assert (stage.x, stage.y, stage.z) == (pos.x_coord, pos.y_coord, pos.z_coord)
    attrs = json.loads((root / "zarr.json").read_text())["attributes"]["ome"]
    if layout == "image":
        assert paths == [""]
        assert group[""].path == group.path  # the series path is the root's
        assert "multiscales" in attrs and "bioformats2raw.layout" not in attrs
        image = ome.images[0]
        assert (image.pixels.size_t, image.pixels.size_c, image.pixels.size_z) == (
            3,
            2,
            2,
        )
        assert image.pixels.physical_size_x == 0.5
        assert image.pixels.time_increment == 2.0
        assert [c.name for c in image.pixels.channels] == ["DAPI", "FITC"]
    elif layout == "plate":
        assert attrs["bioformats2raw.layout"] == 3 and "plate" in attrs
        assert paths == ["A/1/f0", "A/1/f1", "B/2/g0"]
        (plate,) = ome.plates
        samples = {
            (w.row, w.column): [
                (s.image_ref.id if s.image_ref else None, s.position_x)
                for s in w.well_samples
            ]
            for w in plate.wells
        }
        assert samples == {
            (0, 0): [("Image:0", 10.0), ("Image:1", 20.0)],
            (1, 1): [("Image:2", 30.0)],
        }
    else:
        assert attrs["bioformats2raw.layout"] == 3
        assert paths == ["left", "right"]


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_bioformats_validates_the_document(tmp_path: Path, layout: str) -> None:
    root = tmp_path / f"{layout}.ome.zarr"
    settings = _settings(root, "tensorstore", LAYOUTS[layout])
    with create_stream(settings) as stream:
        stream.set_global_metadata("mine", {"k": [1, "two"]})
        for n in range(settings.num_frames or 0):
            stream.append(np.full((8, 8), n, "uint16"), frame_metadata=_meta(n))
    bioformats_validate(root, tmp_path)


def test_bioformats_validates_the_document_mid_run(tmp_path: Path) -> None:
    """After a checkpoint mid-run the document on disk is valid for
    Bio-Formats too, its Planes the frames on disk."""
    root = tmp_path / "mid.ome.zarr"
    settings = _settings(root, "tensorstore", LAYOUTS["collection"], loss_window=None)
    with create_stream(settings, checkpoint_seconds=None) as stream:
        for n in range(5):
            stream.append(np.full((8, 8), n, "uint16"), frame_metadata=_meta(n))
        stream.checkpoint()
        assert _on_disk(root) == 5
        assert sorted(_all_frames(read_ome_xml(root))) == list(range(5))
        bioformats_validate(root, tmp_path)


def _on_disk(root: Path) -> int:
    """Frames the dataset states are on disk (its progress record)."""
    doc = json.loads((root / "zarr.json").read_text())
    return int(doc["attributes"]["ome_writers"]["progress"]["frames"])


@pytest.mark.parametrize("backend", ZARR)
def test_visits_and_checkpoints_describe_the_frames_on_disk(
    tmp_path: Path, backend: str
) -> None:
    """After each visit or checkpoint the document has the Plane of every
    frame on disk and of no other; close adds the rest."""
    root = tmp_path / "kept.ome.zarr"
    layout = {
        "dimensions": [
            Dimension(name="t", count=6, type="time", chunk_size=1),
            Dimension(name="p", type="position", coords=STAGE),
            C,
        ]
    }
    settings = _settings(root, backend, layout, loss_window=None)
    stream = create_stream(settings, checkpoint_seconds=None)
    seen = []
    try:
        for n in range(24):
            stream.append(np.full((8, 8), n, "uint16"), frame_metadata=_meta(n))
            if n in (6, 13):
                stream.checkpoint()
            elif n in (9, 17):
                stream._make_readable()  # what a loss-window visit does
            else:
                continue
            on_disk = _on_disk(root)
            numbers = sorted(_all_frames(read_ome_xml(root)))
            assert numbers == list(range(on_disk)), (n, on_disk)
            seen.append(on_disk)
    finally:
        stream.close()
    assert seen == sorted(seen) and seen[-1] > 0
    numbers = sorted(_all_frames(read_ome_xml(root)))
    assert numbers == list(range(24))


def test_rewrites_of_a_long_document_are_spaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long document is rewritten at a checkpoint (or visit) only once ten
    times what its last write took has passed since that write ended; the
    document it keeps stays true (the frames of its last write), and close
    writes every frame."""
    monkeypatch.setattr(_ome_xml_file, "SPACED_FROM_PLANES", 0)
    root = tmp_path / "spaced.ome.zarr"
    layout = {"dimensions": [Dimension(name="t", count=None, type="time")]}
    settings = _settings(root, "tensorstore", layout, loss_window=None)
    stream = create_stream(settings, checkpoint_seconds=None)
    document = stream._backend.hierarchy.ome_xml  # type: ignore[attr-defined]
    now = [0.0]

    def clock() -> float:  # a second passes at every reading: a write takes 1 s
        now[0] += 1.0
        return now[0] - 1.0

    document.clock = clock
    seen = []
    recovery = root / "OME" / "METADATA.recovery.json"
    recorded = []  # the recovery record: from the first skipped rewrite on
    try:
        # written (0 -> 1), skipped (2), written (23 -> 24), skipped (25),
        # written (34: 10 s after the last write ended)
        for n, step in enumerate([0.0, 0.0, 20.0, 0.0, 8.0]):
            now[0] += step
            stream.append(np.full((8, 8), n, "uint16"), frame_metadata=_meta(n))
            stream.checkpoint()
            seen.append(sorted(_all_frames(read_ome_xml(root))))
            recorded.append(recovery.is_file())
        stream.append(np.full((8, 8), 5, "uint16"), frame_metadata=_meta(5))
    finally:
        stream.close()
    assert seen == [[0], [0], [0, 1, 2], [0, 1, 2], [0, 1, 2, 3, 4]]
    assert recorded == [False, True, True, True, True]
    assert not recovery.exists()  # close wrote the whole document
    assert sorted(_all_frames(read_ome_xml(root))) == list(range(6))


@pytest.mark.parametrize("backend", ZARR)
def test_a_run_closed_early(tmp_path: Path, backend: str) -> None:
    """A bounded run closed early: its Images keep their sizes, its Planes
    are the frames acquired."""
    root = tmp_path / "early.ome.zarr"
    settings = _settings(root, backend, LAYOUTS["collection"])
    with create_stream(settings) as stream:
        for n in range(5):
            stream.append(np.full((8, 8), n, "uint16"), frame_metadata=_meta(n))
    ome = read_ome_xml(root)
    assert [i.pixels.size_t for i in ome.images] == [2, 2]
    assert _frame_numbers(ome) == [[0, 1, 4], [2, 3]]


@pytest.mark.parametrize("backend", ZARR)
def test_an_unbounded_run(tmp_path: Path, backend: str) -> None:
    """An unbounded run: each Image's size along it is as far as written, at
    visits and at close."""
    root = tmp_path / "unbounded.ome.zarr"
    layout = {
        "dimensions": [
            Dimension(name="t", count=None, type="time", chunk_size=1),
            Dimension(name="p", type="position", coords=STAGE),
            C,
        ]
    }
    settings = _settings(root, backend, layout, loss_window=None)
    with create_stream(settings, checkpoint_seconds=None) as stream:
        for n in range(8):  # t0, t1 of both positions
            stream.append(np.full((8, 8), n, "uint16"), frame_metadata=_meta(n))
        stream.checkpoint()
        ome = read_ome_xml(root)
        assert [i.pixels.size_t for i in ome.images] == [2, 2]
        assert [len(i.pixels.planes) for i in ome.images] == [4, 4]
        for n in range(8, 11):  # t2 of left, half of right's
            stream.append(np.full((8, 8), n, "uint16"), frame_metadata=_meta(n))
    ome = read_ome_xml(root)
    assert [i.pixels.size_t for i in ome.images] == [3, 3]
    assert _frame_numbers(ome) == [[0, 1, 4, 5, 8, 9], [2, 3, 6, 7, 10]]


def test_no_document_where_ome_xml_cannot_describe_it(tmp_path: Path) -> None:
    """A pixel type OME has not: no document, and a single image no OME
    group."""
    root = tmp_path / "wide.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[Dimension(name="t", count=2, type="time"), *YX],
        dtype="uint64",
    )
    with create_stream(settings) as stream:
        for n in range(2):
            stream.append(np.zeros((8, 8), "uint64"), frame_metadata={"n": n})
    assert not (root / "OME").exists()
    yaozarrs.validate_zarr_store(str(root))


def test_dataset_level_metadata_set_after_close(tmp_path: Path) -> None:
    """Dataset-level metadata is in the document, also when set after close."""
    root = tmp_path / "late.ome.zarr"
    settings = _settings(root, "tensorstore", LAYOUTS["image"])
    stream = create_stream(settings)
    stream.set_global_metadata("early", {"a": 1})
    for _ in range(settings.num_frames or 0):
        stream.append(np.zeros((8, 8), "uint16"))
    stream.close()
    stream.set_global_metadata("late", {"b": [2]})
    ome = read_ome_xml(root)
    assert ome.structured_annotations is not None
    found = {
        a.namespace: {m.k: m.value for m in a.value.ms}
        for a in ome.structured_annotations.map_annotations
    }
    assert found == {"early": {"a": "1"}, "late": {"b": "[2]"}}
