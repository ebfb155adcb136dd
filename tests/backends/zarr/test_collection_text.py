"""The collection OME-XML of OME-Zarr, built as text, equals the model version.

`collection_text` (string building, no ome-types) writes
``OME/METADATA.ome.xml``; `collection_xml` builds the same document with
ome-types models and is the reference: for every case the two texts are
equal, validate against the OME schema and parse into equal models.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import ome_types
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ome_types import model as m
from ome_types import to_xml

from ome_writers import AcquisitionSettings, Channel, Dimension, Plate, Position
from ome_writers.metadata._ome_model import OmeXmlBuilder, assemble_ome
from ome_writers.metadata._ome_xml_text import collection_text
from ome_writers.metadata._tiff_axes import check_tiff_settings

CREATED = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
YX = [
    Dimension(name="y", count=16, scale=0.25, unit="micrometer"),
    Dimension(name="x", count=12, scale=0.25, unit="micrometer"),
]


def collection_xml(
    settings: AcquisitionSettings,
    outer_extents: list[int] | None = None,
    created: datetime | None = None,
) -> str | None:
    """The ome-types reference `collection_text` is compared with (same
    arguments, same document, built from the models)."""
    if check_tiff_settings(settings) is not None:
        return None
    builder = OmeXmlBuilder(settings, created)
    images = []
    annotations: list[m.MapAnnotation] = []  # the series coordinates, if any
    for position in range(len(settings.positions)):
        # OME sizes are >= 1 (a metadata-only image may be empty)
        outer = max(1, outer_extents[position]) if outer_extents else None
        image = builder.image(position, outer, annotations, [])
        image.pixels.metadata_only = m.MetadataOnly()
        images.append(image)
    ome = assemble_ome(images, annotations, builder.plate(), {})
    return str(to_xml(ome))


def _settings(dims: list[Dimension], **kwargs: Any) -> AcquisitionSettings:
    kwargs.setdefault("dtype", "uint16")
    return AcquisitionSettings(
        root_path="unused.ome.zarr", dimensions=[*dims, *YX], **kwargs
    )


def assert_same(
    settings: AcquisitionSettings,
    outer_extents: list[int] | None = None,
    created: datetime = CREATED,
) -> ome_types.OME | None:
    """The text version equals the model version (as text and as models) and
    validates."""
    text = collection_text(settings, outer_extents, created)
    reference = collection_xml(settings, outer_extents, created)
    if reference is None:
        assert text is None
        return None
    assert text == reference
    ours = ome_types.from_xml(text, validate=True)
    assert ours == ome_types.from_xml(reference, validate=True)
    return ours


def _positions(*positions: Position | str) -> Dimension:
    return Dimension(name="p", type="position", coords=list(positions))


T = Dimension(name="t", count=3, type="time", scale=1.5, unit="second")
C = Dimension(name="c", type="channel", coords=["DAPI", "FITC"])
Z = Dimension(name="z", count=4, type="space", scale=0.5, unit="micrometer")
STAGE = [
    Position(name="p0", x_coord=1.5, y_coord=-2.0, z_coord=3.25),
    Position(name="p1", x_coord=100.0, y_coord=200.0),
    Position(name="p2", z_coord=-7.0),
]
PLATE_FIELDS = [
    Position(name=f"{row}{col}_f{f}", plate_row=row, plate_column=col, x_coord=f)
    for row, col in (("A", "1"), ("A", "2"), ("B", "2"))
    for f in range(3)
]

# (case, dimensions, settings keywords, outer extents)
CASES: list[tuple[str, list[Dimension], dict[str, Any], list[int] | None]] = [
    ("single position", [T, C, Z], {}, None),
    ("2-D frames only", [], {}, None),
    ("three positions with stage coords", [_positions(*STAGE), C], {}, None),
    (
        "plate, letters and numbers, fields per well",
        [T, _positions(*PLATE_FIELDS), C],
        {"plate": Plate(row_names=["A", "B"], column_names=["1", "2"], name="P1")},
        None,
    ),
    (
        "plate without naming convention",
        [
            _positions(
                Position(name="w0", plate_row="r1", plate_column="1"),
                Position(name="w1", plate_row="r2", plate_column="c2"),
            )
        ],
        {"plate": Plate(row_names=["r1", "r2"], column_names=["1", "c2"])},
        None,
    ),
    (
        "series coordinates",
        [
            Dimension(name="angle", count=2, type="other", coords=["0deg", "90deg"]),
            Dimension(name="view", count=2, type="other"),
            _positions("a", "b"),
            C,
        ],
        {"series_dimensions": ["angle", "view"]},
        None,
    ),
    (
        "channels with optics and colours",
        [
            Dimension(
                name="c",
                type="channel",
                coords=[
                    Channel(
                        name="DAPI",
                        excitation_wavelength_nm=405,
                        emission_wavelength_nm=460,
                        fluorophore="Hoechst 33342",
                    ),
                    Channel(name="mine", color="orange"),
                    Channel(name="unknown"),
                    Channel(name="far", emission_wavelength_nm=700),
                ],
            )
        ],
        {},
        None,
    ),
    (
        "channel folded with a camera",
        [C, Dimension(name="cam", count=2, type="other")],
        {},
        None,
    ),
    (
        "physical units on x, y, z and t",
        [
            Dimension(name="t", count=2, type="time", scale=250.0, unit="millisecond"),
            Dimension(name="z", count=2, type="space", scale=2.0, unit="nanometer"),
        ],
        {},
        None,
    ),
    (
        "unbounded t with outer extents",
        [Dimension(name="t", count=None, type="time"), _positions("a", "b", "c"), C],
        {},
        [3, 1, 0],
    ),
    (
        "two space dimensions (no OME-XML)",
        [
            Dimension(name="z", count=2, type="space"),
            Dimension(name="q", count=2, type="space"),
        ],
        {},
        None,
    ),
]


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize(
    ("dims", "kwargs", "extents"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_collection_text_equals_models(
    dims: list[Dimension],
    kwargs: dict[str, Any],
    extents: list[int] | None,
    dtype: str,
) -> None:
    assert_same(_settings(dims, dtype=dtype, **kwargs), extents)


def test_collection_text_content() -> None:
    """Spot checks of what the documents hold (beyond equal to the reference)."""
    settings = _settings(
        [T, _positions(*PLATE_FIELDS), C],
        plate=Plate(row_names=["A", "B"], column_names=["1", "2"]),
    )
    ome = assert_same(settings)
    assert ome is not None
    assert [i.name for i in ome.images] == [p.name for p in PLATE_FIELDS]
    pixels = ome.images[0].pixels
    sizes = (pixels.size_t, pixels.size_c, pixels.size_y, pixels.size_x)
    assert sizes == (3, 2, 16, 12)
    assert pixels.metadata_only is not None
    assert pixels.time_increment == 1.5
    wells = ome.plates[0].wells
    samples = [[s.image_ref.id for s in w.well_samples] for w in wells]
    assert samples == [[f"Image:{3 * w + f}" for f in range(3)] for w in range(3)]
    assert ome.images[0].acquisition_date == CREATED


@pytest.mark.parametrize(
    ("dtype", "bits"), [("uint16", 12), ("uint8", 8), ("int16", 1)]
)
def test_collection_text_significant_bits(dtype: str, bits: int) -> None:
    """A camera's bit depth is Pixels@SignificantBits, in both versions."""
    settings = _settings([_positions(*STAGE), C], dtype=dtype, significant_bits=bits)
    ome = assert_same(settings)
    assert ome is not None
    assert [i.pixels.significant_bits for i in ome.images] == [bits] * len(STAGE)


def test_collection_text_uint64_has_no_ome_xml() -> None:
    """A pixel type OME cannot express: neither version writes a document."""
    settings = _settings([C], dtype="uint64")
    assert collection_text(settings) is None
    assert collection_xml(settings) is None


# ------------------------------------------------------------------ property

# characters allowed in XML 1.0, with the markup ones and non-ASCII made likely
_CHARS = st.characters(
    exclude_categories=("Cs", "Cc", "Cn"), include_characters="\t\n\r"
)
_NAMES = st.text(
    st.sampled_from("<&>\"'é µ√漢") | _CHARS,
    min_size=1,
    max_size=8,
)
# series coordinates are character data: ome-types writes a carriage return
# there as it is, which a parser reads back as a line feed (the text version
# writes a reference and keeps it, see test_carriage_return_kept)
_LABELS = st.text(st.sampled_from("<&> é") | _CHARS, max_size=8).filter(
    lambda s: "\r" not in s
)
_CREATED = st.builds(
    datetime,
    st.integers(1, 9999),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.sampled_from([0, 5, 120000, 123000, 123456, 999999]),
    st.sampled_from(
        [
            None,
            timezone.utc,
            timezone(timedelta(hours=-5)),
            timezone(timedelta(hours=5, minutes=30)),
        ]
    ),
)
_COORDS = st.none() | st.floats(allow_nan=False)
_SCALES = st.none() | st.floats(allow_nan=False, allow_infinity=False)
_LENGTHS = st.sampled_from([None, "micrometer", "nanometer", "millimeter"])
_TIMES = st.sampled_from([None, "second", "millisecond", "minute"])


@st.composite
def _channel(draw: st.DrawFn, name: str) -> Channel:
    wavelength = st.none() | st.integers(1, 2000)
    return Channel(
        name=name,
        excitation_wavelength_nm=draw(wavelength),
        emission_wavelength_nm=draw(wavelength),
        fluorophore=draw(st.none() | _NAMES),
        color=draw(st.none() | st.sampled_from(["red", "#123456", "cyan"])),
    )


@st.composite
def _collections(
    draw: st.DrawFn,
) -> tuple[AcquisitionSettings, list[int] | None, datetime]:
    dims: list[Dimension] = []
    unbounded = draw(st.booleans())
    t_count = None if unbounded else draw(st.integers(1, 3))
    dims.append(
        Dimension(
            name="t",
            count=t_count,
            type="time",
            scale=draw(_SCALES),
            unit=draw(_TIMES),
        )
    )
    series: list[str] = []
    if draw(st.booleans()):
        labels = draw(st.lists(_LABELS, min_size=1, max_size=2, unique=True))
        dims.append(Dimension(name="angle", type="other", coords=labels))
        series.append("angle")
    # with series dimensions, position names are series coordinates too
    text = _LABELS.filter(bool) if series else _NAMES
    names = draw(st.lists(text, min_size=1, max_size=4, unique=True))
    plate = None
    if draw(st.booleans()):
        rows = draw(
            st.sampled_from([["A", "B"], ["1", "2"], ["r<1", "r&2"], ["É", "Ω"]])
        )
        cols = draw(st.sampled_from([["1", "2", "3"], ["a", "b", "c"], ["x1"]]))
        plate = Plate(row_names=rows, column_names=cols, name=draw(st.none() | _NAMES))
    positions = []
    for name in names:
        well: dict[str, Any] = {}
        if plate is not None:
            well = {
                "plate_row": draw(st.sampled_from(plate.row_names)),
                "plate_column": draw(st.sampled_from(plate.column_names)),
            }
        coords = {f"{a}_coord": draw(_COORDS) for a in "xyz"}
        positions.append(Position(name=name, **well, **coords))
    dims.append(_positions(*positions))
    channel_names = draw(st.lists(_NAMES, min_size=1, max_size=3, unique=True))
    dims.append(
        Dimension(
            name="c", type="channel", coords=[draw(_channel(n)) for n in channel_names]
        )
    )
    if draw(st.booleans()):
        dims.append(
            Dimension(
                name="z",
                count=draw(st.integers(1, 3)),
                type="space",
                scale=draw(_SCALES),
                unit=draw(_LENGTHS),
            )
        )
    frame = [
        Dimension(
            name=n, count=draw(st.integers(1, 64)), scale=draw(_SCALES), unit=unit
        )
        for n, unit in (("y", draw(_LENGTHS)), ("x", draw(_LENGTHS)))
    ]
    dtype = draw(st.sampled_from(["uint8", "uint16", "float32"]))
    width = {"uint8": 8, "uint16": 16}.get(dtype)
    settings = AcquisitionSettings(
        root_path="unused.ome.zarr",
        dimensions=[*dims, *frame],
        dtype=dtype,
        plate=plate,
        series_dimensions=series or "auto",
        significant_bits=draw(st.none() | st.integers(1, width)) if width else None,
    )
    extents = None
    if unbounded:
        n_images = len(settings.positions)
        extent = st.integers(0, 5)
        extents = draw(st.lists(extent, min_size=n_images, max_size=n_images))
    return settings, extents, draw(_CREATED)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_collections())
def test_collection_text_equals_models_property(
    case: tuple[AcquisitionSettings, list[int] | None, datetime],
) -> None:
    assert_same(*case)


def test_carriage_return_kept() -> None:
    """A carriage return in a series coordinate survives (as a reference)."""
    angle = Dimension(name="angle", type="other", coords=["a\r\nb", "c"])
    settings = _settings([angle, _positions("p")], series_dimensions=["angle"])
    text = collection_text(settings)
    assert text is not None
    ome = ome_types.from_xml(text, validate=True)
    assert ome.structured_annotations is not None
    values = [a.value.ms[0].value for a in ome.structured_annotations.map_annotations]
    assert values == ["a\r\nb", "c"]


# ------------------------------------------------------------- no ome-types

CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from ome_writers import AcquisitionSettings, Dimension, create_stream

    settings = AcquisitionSettings(
        root_path=sys.argv[1],
        format="tensorstore",
        dimensions=[
            Dimension(name="t", count=3, type="time"),
            Dimension(name="p", type="position", coords=[f"pos{i}" for i in range(8)]),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="y", count=64),
            Dimension(name="x", count=64),
        ],
        dtype="uint16",
    )
    stream = create_stream(settings)
    for i in range(settings.num_frames):
        stream.append(np.full((64, 64), i, "uint16"))
    stream.close()
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "ome_types")
    print(json.dumps({"ome_types": loaded, "root": settings.output_path}))
    """
)


def test_zarr_acquisition_never_imports_ome_types(tmp_path: Path) -> None:
    """An 8-position OME-Zarr acquisition writes its collection OME-XML
    without importing ome-types (in a fresh interpreter)."""
    pytest.importorskip("tensorstore")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "eight.ome.zarr")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["ome_types"] == []
    xml = (Path(report["root"]) / "OME" / "METADATA.ome.xml").read_text("utf-8")
    ome = ome_types.from_xml(xml, validate=True)
    assert [i.name for i in ome.images] == [f"pos{i}" for i in range(8)]
    assert {(i.pixels.size_t, i.pixels.size_c) for i in ome.images} == {(3, 2)}
    assert [c.name for c in ome.images[0].pixels.channels] == ["DAPI", "FITC"]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_escaping_matches_the_standard_library(text: str) -> None:
    """Our escape/quoteattr (no urllib import on the create path) write what
    `xml.sax.saxutils` writes."""
    from xml.sax import saxutils

    from ome_writers.metadata import _ome_xml_text as _ome_text

    assert _ome_text.escape(text) == saxutils.escape(text)
    entities = {"\r": "&#13;"}
    assert _ome_text.escape(text, entities) == saxutils.escape(text, entities)
    assert _ome_text.quoteattr(text) == saxutils.quoteattr(text)
