"""Group documents built and written after `create_stream` returns.

`create_stream` checks the axis order with our own rules (`_ngff_axes`), which
must agree with the NGFF models (yaozarrs) on every axis list; the documents
themselves are built from the models on a background thread, and everything
that reads or rewrites them waits for that thread and reports its failure.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore as ts
import yaozarrs
import yaozarrs.v05 as ngff
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ome_writers import AcquisitionSettings, Dimension, Plate, Position, create_stream
from ome_writers.backends.zarr import _group_documents as _groups_ahead
from ome_writers.metadata._ngff_axes import axes_problem
from ome_writers.metadata._zarr_ome_xml import ZarrOmeXml
from tests.backends.params import backend_params

WRITERS = backend_params(format="ome-zarr")

AXIS = st.tuples(
    st.sampled_from("tczyxa"),
    st.sampled_from(["time", "channel", "space", None, "other", "position"]),
)


def _models_accept(axes: list[tuple[str, str | None]]) -> bool:
    doc = {
        "axes": [{"name": n, **({"type": k} if k else {})} for n, k in axes],
        "datasets": [
            {
                "path": "0",
                "coordinateTransformations": [
                    {"type": "scale", "scale": [1.0] * len(axes)}
                ],
            }
        ],
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ngff.Multiscale.model_validate(doc)
    except ValidationError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(st.lists(AXIS, min_size=0, max_size=6))
def test_axis_rules_agree_with_the_ngff_models(
    axes: list[tuple[str, str | None]],
) -> None:
    assert (axes_problem(axes) is None) == _models_accept(axes), axes


def _plate_settings(root: Path, backend: str) -> AcquisitionSettings:
    positions = [
        Position(name=f"fov{k}", plate_row=r, plate_column=c)
        for r in "AB"
        for c in ("1", "2")
        for k in range(2)
    ]
    return AcquisitionSettings(
        root_path=str(root),
        format=backend,
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="p", type="position", coords=positions),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="y", count=8),
            Dimension(name="x", count=8),
        ],
        plate=Plate(row_names=["A", "B"], column_names=["1", "2", "3"]),
        dtype="uint16",
    )


@pytest.mark.parametrize("backend", WRITERS)
def test_a_checkpoint_waits_for_every_group_document(
    tmp_path: Path, backend: str
) -> None:
    """After the first checkpoint the plate is a valid OME-Zarr hierarchy."""
    root = tmp_path / "plate.ome.zarr"
    settings = _plate_settings(root, backend)
    stream = create_stream(settings)
    try:
        stream.append(np.ones((8, 8), "uint16"))
        stream.checkpoint()
        root_doc = json.loads((root / "zarr.json").read_text())
        assert [w["path"] for w in root_doc["attributes"]["ome"]["plate"]["wells"]] == [
            "A/1",
            "A/2",
            "B/1",
            "B/2",
        ]
        well = json.loads((root / "B" / "2" / "zarr.json").read_text())
        assert [i["path"] for i in well["attributes"]["ome"]["well"]["images"]] == [
            "fov0",
            "fov1",
        ]
        image = json.loads((root / "A" / "1" / "fov0" / "zarr.json").read_text())
        assert image["attributes"]["ome"]["multiscales"][0]["name"] == "fov0"
    finally:
        for _ in range(settings.num_frames - 1):
            stream.append(np.ones((8, 8), "uint16"))
        stream.close()
    yaozarrs.validate_zarr_store(str(root))


@pytest.mark.parametrize("backend", WRITERS)
def test_metadata_read_waits_for_the_documents(tmp_path: Path, backend: str) -> None:
    root = tmp_path / "p.ome.zarr"
    settings = _plate_settings(root, backend)
    with create_stream(settings) as stream:
        meta = stream.get_metadata()  # right after create: built, not missing
        assert len(meta) == 8
        assert all(m["ome"]["multiscales"] for m in meta.values())
        for _ in range(settings.num_frames):
            stream.append(np.zeros((8, 8), "uint16"))


@pytest.mark.parametrize("backend", WRITERS)
def test_a_failure_building_the_documents_is_raised_and_keeps_the_frames(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object) -> dict[str, object]:
        raise RuntimeError("no documents today")

    monkeypatch.setattr(_groups_ahead, "_build", fail)
    root = tmp_path / "one.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        format=backend,
        dimensions=[
            Dimension(name="t", count=3, type="time"),
            Dimension(name="y", count=8),
            Dimension(name="x", count=8),
        ],
        dtype="uint16",
    )
    stream = create_stream(settings)
    for n in range(3):
        stream.append(np.full((8, 8), n + 1, "uint16"))
    with pytest.raises(RuntimeError, match="no documents today"):
        stream.close()
    # the frames are on disk and readable as the array they are
    array = ts.open(
        {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(root / "0")}}
    ).result()
    data = array.read().result()
    assert [int(data[n].max()) for n in range(3)] == [1, 2, 3]


@pytest.mark.parametrize("backend", WRITERS)
def test_close_replaces_every_image_document(tmp_path: Path, backend: str) -> None:
    """More images than are written one by one (`write_groups` threads): each
    gets its own frames' metadata and display window, and no temporary file."""
    root = tmp_path / "many.ome.zarr"
    positions = 24
    settings = AcquisitionSettings(
        root_path=str(root),
        format=backend,
        dimensions=[
            Dimension(name="p", type="position", count=positions),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="y", count=8),
            Dimension(name="x", count=8),
        ],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        for n in range(2 * positions):
            stream.append(np.full((8, 8), n, "uint16"), frame_metadata={"n": n})
    for p in range(positions):
        doc = json.loads((root / str(p) / "zarr.json").read_text())["attributes"]
        records = doc["ome_writers"]["frame_metadata"]
        assert [r["n"] for r in records] == [2 * p, 2 * p + 1]
        windows = [c["window"] for c in doc["ome"]["omero"]["channels"]]
        expected = [(n, n) for n in (2 * p, 2 * p + 1)]  # one value per channel
        assert [(w["start"], w["end"]) for w in windows] == expected
    assert not list(root.rglob("*.tmp"))
    yaozarrs.validate_zarr_store(str(root))


NO_IMPORT_AFTER_CREATE = """
import sys
import numpy as np
import ome_writers
from ome_writers import AcquisitionSettings, Dimension, create_stream

before = set(sys.modules)
settings = AcquisitionSettings(
    root_path=sys.argv[1], format="tensorstore", dtype="uint16",
    dimensions=[Dimension(name="t", count=None, type="time"),
                Dimension(name="c", count=2, type="channel"),
                Dimension(name="y", count=8), Dimension(name="x", count=8)],
)
stream = create_stream(settings)
stream._backend.hierarchy.wait()  # the documents, built on their thread
stream.append(np.zeros((8, 8), "uint16"))
stream.close()
new = sorted(m for m in set(sys.modules) - before if m.split(".")[0] == "yaozarrs")
print(",".join(new))
"""


def test_group_documents_import_nothing_while_frames_arrive(tmp_path: Path) -> None:
    """The NGFF models load with the package: importing them on the documents'
    thread as the first frames arrived delayed those frames (5-15 ms at 1,500
    fps of 512² frames on two cores)."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", NO_IMPORT_AFTER_CREATE, str(tmp_path / "a.ome.zarr")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip() == ""


def _collection_settings(
    root: Path, backend: str, t_count: int | None
) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(root),
        format=backend,
        dimensions=[
            Dimension(name="t", count=t_count, type="time"),
            Dimension(name="p", type="position", coords=["left", "right"]),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="y", count=8),
            Dimension(name="x", count=8),
        ],
        dtype="uint16",
        loss_window=None,  # the OME-XML is written ahead and at close only
    )


def _images(root: Path) -> list[tuple[str | None, int, int]]:
    import ome_types

    xml = (root / "OME" / "METADATA.ome.xml").read_text("utf-8")
    ome = ome_types.from_xml(xml, validate=True)
    return [(i.name, i.pixels.size_t, i.pixels.size_c) for i in ome.images]


@pytest.mark.parametrize("backend", WRITERS)
def test_a_bounded_collection_describes_itself_before_close(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bounded acquisition's first OME-XML depends on the settings alone:
    it is written with the group documents, so a dataset whose process dies
    during the acquisition has it; close does not build it again when no
    frame added to it (no per-frame metadata)."""
    root = tmp_path / "bounded.ome.zarr"
    stream = create_stream(_collection_settings(root, backend, 3))
    stream.append(np.ones((8, 8), "uint16"))
    stream._backend.hierarchy.wait()  # type: ignore[attr-defined]
    assert _images(root) == [("left", 3, 2), ("right", 3, 2)]

    def again(*args: object, **kwargs: object) -> Any:
        raise AssertionError("the OME-XML was built again")

    monkeypatch.setattr(ZarrOmeXml, "parts", again)
    for _ in range(11):
        stream.append(np.ones((8, 8), "uint16"))
    stream.close()
    assert _images(root) == [("left", 3, 2), ("right", 3, 2)]


@pytest.mark.parametrize("backend", WRITERS)
def test_an_unbounded_collection_describes_its_extent_at_close(
    tmp_path: Path, backend: str
) -> None:
    root = tmp_path / "unbounded.ome.zarr"
    stream = create_stream(_collection_settings(root, backend, None))
    stream._backend.hierarchy.wait()  # type: ignore[attr-defined]
    assert not (root / "OME" / "METADATA.ome.xml").exists()
    for _ in range(10):  # t0 and t1 of both positions, t2 of "left"
        stream.append(np.ones((8, 8), "uint16"))
    stream.close()
    assert _images(root) == [("left", 3, 2), ("right", 2, 2)]


@pytest.mark.parametrize("backend", WRITERS)
def test_a_failure_writing_the_collection_xml_is_raised_at_close(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written in the background, retried at close, raised there: what else
    close writes (frames, per-frame metadata, documents) is not lost."""

    def fail(*args: object, **kwargs: object) -> Any:
        raise RuntimeError("no OME-XML today")

    monkeypatch.setattr(ZarrOmeXml, "parts", fail)
    root = tmp_path / "failing.ome.zarr"
    settings = _collection_settings(root, backend, 2)
    stream = create_stream(settings)
    for n in range(settings.num_frames):
        stream.append(np.full((8, 8), n + 1, "uint16"), frame_metadata={"n": n})
    with pytest.raises(RuntimeError, match="no OME-XML today"):
        stream.close()
    assert not (root / "OME" / "METADATA.ome.xml").exists()
    # the frames and their metadata are on disk, readable as written
    for name, first in (("left", 1), ("right", 3)):
        spec = {
            "driver": "zarr3",
            "kvstore": {"driver": "file", "path": str(root / name / "0")},
        }
        data = ts.open(spec).result().read().result()
        assert int(data[0, 0].max()) == first
        doc = json.loads((root / name / "zarr.json").read_text())["attributes"]
        records = doc["ome_writers"]["frame_metadata"]
        assert [r["n"] for r in records] == [first - 1, first, first + 3, first + 4]
    yaozarrs.validate_zarr_store(str(root))


@pytest.mark.parametrize("backend", WRITERS)
def test_a_failed_background_write_of_the_collection_xml_is_redone_at_close(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    build = ZarrOmeXml.parts

    def fail_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("the disk hiccuped")
        return build(*args, **kwargs)

    monkeypatch.setattr(ZarrOmeXml, "parts", fail_once)
    root = tmp_path / "retried.ome.zarr"
    settings = _collection_settings(root, backend, 3)
    with create_stream(settings) as stream:
        for _ in range(settings.num_frames):
            stream.append(np.ones((8, 8), "uint16"))
    assert len(calls) == 2
    assert _images(root) == [("left", 3, 2), ("right", 3, 2)]
