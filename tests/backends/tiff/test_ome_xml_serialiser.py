"""OME-XML serialised through one binding context is ome-types' own text, and
the bindings built ahead cover what a file set's models use."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import ome_types
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ome_types import to_xml

from ome_writers import AcquisitionSettings, Dimension, Plate, Position, create_stream
from ome_writers.backends.tiff import _ome_models
from ome_writers.backends.tiff._ome_models import (
    OmeXmlSerialiser,
    binary_only_model,
    ome_xml,
    prepare_ome_xml,
    schema_valid,
)
from ome_writers.metadata._tiff_axes import ome_xml_problem
from tests.metadata.test_zarr_ome_xml import (
    FRAME_METADATA,
    acquisitions,
    reference_model,
)

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> OmeXmlSerialiser:
    """A serialiser whose context has built no binding yet."""
    serialiser = OmeXmlSerialiser()
    monkeypatch.setattr(_ome_models, "_serialise", serialiser)
    return serialiser


def _model(
    case: tuple[AcquisitionSettings, list[int] | None, datetime], data: st.DataObject
) -> ome_types.OME:
    acquisition, extents, created = case
    planes = {
        0: [((0,) * len(acquisition.index_dimensions), data.draw(FRAME_METADATA))]
    }
    return reference_model(acquisition, extents, created, planes=planes)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(acquisitions(), st.data())
def test_the_text_is_what_ome_types_writes(
    case: tuple[AcquisitionSettings, list[int] | None, datetime], data: st.DataObject
) -> None:
    if ome_xml_problem(case[0]) is not None:
        return
    model = _model(case, data)
    assert ome_xml(model) == to_xml(schema_valid(model))
    again = ome_xml(model)  # bindings built: the same text
    assert again == to_xml(model)


def test_a_binary_only_model_is_what_ome_types_writes() -> None:
    uuid = "urn:uuid:12345678-1234-1234-1234-123456789abc"
    model = binary_only_model(uuid, "a.companion.ome", uuid)
    assert ome_xml(model) == to_xml(model)
    model.images.append(ome_types.model.Image(pixels=_pixels()))
    assert ome_xml(model) == to_xml(schema_valid(model))  # BinaryOnly alone


def _pixels() -> ome_types.model.Pixels:
    return ome_types.model.Pixels(
        dimension_order="XYCZT",
        type="uint8",
        size_x=1,
        size_y=1,
        size_c=1,
        size_z=1,
        size_t=1,
        metadata_only=ome_types.model.MetadataOnly(),
    )


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(acquisitions(), st.data())
def test_bindings_built_ahead_cover_the_models(
    case: tuple[AcquisitionSettings, list[int] | None, datetime], data: st.DataObject
) -> None:
    if ome_xml_problem(case[0]) is not None:
        return
    serialiser = OmeXmlSerialiser()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_ome_models, "_serialise", serialiser)
        prepare_ome_xml()
        built = set(serialiser.context.cache)
        ome_xml(_model(case, data))
    assert set(serialiser.context.cache) == built


def test_a_plate_acquisition_needs_no_binding_at_close(
    tmp_path: Path, fresh: OmeXmlSerialiser
) -> None:
    # what the writer's idle import builds is all the close of a plate with
    # frame metadata serialises (its text read back by ome-types, as written)
    prepare_ome_xml()
    built = set(fresh.context.cache)
    acquisition = AcquisitionSettings(
        root_path=str(tmp_path / "p.ome.tiff"),
        format="tifffile",
        dtype="uint16",
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(
                name="p",
                type="position",
                coords=[
                    Position(name="A1", plate_row="A", plate_column="1", x_coord=1.0),
                    Position(name="B2", plate_row="B", plate_column="2", x_coord=2.0),
                ],
            ),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="y", count=8, scale=0.5, unit="micrometer"),
            Dimension(name="x", count=8, scale=0.5, unit="micrometer"),
        ],
        plate=Plate(row_names=["A", "B"], column_names=["1", "2"], name="plate"),
    )
    with create_stream(acquisition) as stream:
        for n in range(8):
            meta = {"delta_t": n * 0.5, "exposure_time": 10, "position_x": 1.0, "k": n}
            stream.append(np.full((8, 8), n, "uint16"), frame_metadata=meta)
    assert set(fresh.context.cache) == built
    for path in sorted(tmp_path.glob("*.ome.tiff")):
        model = ome_types.from_tiff(path)
        assert model.images
        assert ome_xml(model) == to_xml(schema_valid(model))
