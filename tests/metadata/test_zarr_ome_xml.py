"""``OME/METADATA.ome.xml`` of OME-Zarr, built as text, equals the model version.

`ZarrOmeXml` (string building, no ome-types) writes ``OME/METADATA.ome.xml``;
`reference_xml` builds the same document with the ome-types models OME-TIFF's
OME-XML is made of (`OmeXmlBuilder`, as `TiffModels` uses it, without
TiffData) and is the reference: for every case the two texts are equal,
validate against the OME schema and parse into equal models.
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
from ome_writers.metadata import _zarr_ome_xml as zarr_ome_xml
from ome_writers.metadata._display import ChannelSetting, DisplaySettings
from ome_writers.metadata._frame_metadata import SPECIAL_KEYS
from ome_writers.metadata._ome_model import (
    OmeXmlBuilder,
    assemble_ome,
    not_acquired_annotation,
)
from ome_writers.metadata._tiff_axes import PlaneRecord, ome_xml_problem
from ome_writers.metadata._zarr_ome_xml import ZarrOmeXml, unbounded_axis

CREATED = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
YX = [
    Dimension(name="y", count=16, scale=0.25, unit="micrometer"),
    Dimension(name="x", count=12, scale=0.25, unit="micrometer"),
]

#: position -> (storage index, per-frame metadata) of each frame, arrival order
Planes = dict[int, list[tuple[tuple[int, ...], dict[str, Any]]]]


def reference_xml(
    settings: AcquisitionSettings, *args: Any, **kwargs: Any
) -> str | None:
    """The ome-types reference the text is compared with (the arguments of
    `reference_model`: the same document, built from the models)."""
    if ome_xml_problem(settings) is not None:
        return None
    return str(to_xml(reference_model(settings, *args, **kwargs)))


def reference_model(
    settings: AcquisitionSettings,
    outer_extents: list[int] | None = None,
    created: datetime | None = None,
    planes: Planes | None = None,
    not_acquired: dict[int, list[tuple[int, ...]]] | None = None,
    global_metadata: dict[str, dict[str, Any]] | None = None,
    display: dict[int, ChannelSetting] | None = None,
) -> m.OME:
    """The OME model of `reference_xml` (settings that have one)."""
    shown = DisplaySettings()
    for channel, setting in (display or {}).items():
        shown.set(
            channel,
            color=setting.color,
            limits=setting.limits,
            visible=setting.visible,
        )
    builder = OmeXmlBuilder(settings, created, shown)
    images = []
    annotations: list[m.MapAnnotation] = []  # the images' own
    for position in range(len(settings.positions)):
        # OME sizes are >= 1 (a metadata-only image may be empty)
        outer = max(1, outer_extents[position]) if outer_extents else None
        axis = unbounded_axis(settings) or 0
        image = builder.image(position, outer, annotations, outer_axis=axis)
        cells = (not_acquired or {}).get(position)
        if cells:  # as OME-TIFF's models name them
            ann_id = f"Annotation:{len(annotations)}"
            zct = sorted(list(builder.zct(index)) for index in cells)
            annotations.append(not_acquired_annotation(ann_id, zct))
            image.annotation_refs.append(m.AnnotationRef(id=ann_id))
        images.append(image)
    ome = assemble_ome(images, annotations, builder.plate(), global_metadata or {})
    added: list[m.MapAnnotation] = []
    for position, image in enumerate(ome.images):
        records = [
            PlaneRecord(ifd=k, zct=builder.zct(index), metadata=meta)
            for k, (index, meta) in enumerate((planes or {}).get(position, []))
        ]
        image.pixels.planes, own = builder.plane_models(position, records)
        added += own
    if added:
        if ome.structured_annotations is None:
            ome.structured_annotations = m.StructuredAnnotations()
        ome.structured_annotations.map_annotations.extend(added)
    return ome


def zarr_text(
    settings: AcquisitionSettings,
    outer_extents: list[int] | None = None,
    created: datetime | None = None,
    planes: Planes | None = None,
    not_acquired: dict[int, list[tuple[int, ...]]] | None = None,
    global_metadata: dict[str, dict[str, Any]] | None = None,
    display: dict[int, ChannelSetting] | None = None,
) -> str | None:
    """The text version of `reference_xml` (frames added in arrival order)."""
    if ome_xml_problem(settings) is not None:
        return None
    doc = ZarrOmeXml(settings, created)
    doc.display = dict(display or {})
    for position, frames in (planes or {}).items():
        for index, meta in frames:
            doc.add_plane(position, index, meta)
    for position, cells in (not_acquired or {}).items():
        doc.set_not_acquired(position, cells)
    doc.global_metadata.update(global_metadata or {})
    return doc.text(outer_extents)


def _settings(dims: list[Dimension], **kwargs: Any) -> AcquisitionSettings:
    kwargs.setdefault("dtype", "uint16")
    return AcquisitionSettings(
        root_path="unused.ome.zarr", dimensions=[*dims, *YX], **kwargs
    )


def assert_same(
    settings: AcquisitionSettings,
    outer_extents: list[int] | None = None,
    created: datetime = CREATED,
    **parts: Any,
) -> ome_types.OME | None:
    """The text version equals the model version (as text and as models) and
    validates."""
    text = zarr_text(settings, outer_extents, created, **parts)
    reference = reference_xml(settings, outer_extents, created, **parts)
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
def test_text_equals_models(
    dims: list[Dimension],
    kwargs: dict[str, Any],
    extents: list[int] | None,
    dtype: str,
) -> None:
    assert_same(_settings(dims, dtype=dtype, **kwargs), extents)


def test_text_content() -> None:
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


def _meta(n: int, **extra: Any) -> dict[str, Any]:
    """Per-frame metadata as pymmcore-plus gives it (and `extra`)."""
    return {
        "delta_t": 0.25 * n,
        "exposure_time": 0.01,
        "position_x": 1.5,
        "position_y": -2.0,
        "position_z": 1e-7 * n,
        **extra,
    }


def _frames(settings: AcquisitionSettings, count: int | None = None) -> Planes:
    """Every frame's (storage index, metadata) per position, in acquisition
    order, as the router gives them."""
    from ome_writers._router import FrameRouter

    router = FrameRouter(settings)
    out: Planes = {}
    for n in range(count if count is not None else settings.num_frames or 0):
        position, index = router.route(n)
        extra = {"camera": "Cam<1>", "event": {"t": n}} if n % 3 else {}
        out.setdefault(position, []).append((index, _meta(n, **extra)))
    return out


@pytest.mark.parametrize("seal_chars", [None, 1, 700])
def test_planes_of_every_frame(
    seal_chars: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Plane per frame (DeltaT, exposure, stage position), a MapAnnotation
    of its other keys, in DimensionOrder (whether held as text or sealed in
    compressed batches)."""
    if seal_chars is not None:
        monkeypatch.setattr(zarr_ome_xml, "SEAL_CHARS", seal_chars)
    settings = _settings([T, _positions(*STAGE), C, Z])
    planes = _frames(settings)
    ome = assert_same(settings, planes=planes)
    assert ome is not None
    for image in ome.images:
        assert len(image.pixels.planes) == 3 * 2 * 4
        first = image.pixels.planes[0]
        assert (first.the_z, first.the_c, first.the_t) == (0, 0, 0)
        assert first.exposure_time == 0.01
    plane = ome.images[1].pixels.planes[5]  # z 1, c 1, t 0 (XYZCT)
    assert (plane.the_z, plane.the_c, plane.the_t) == (1, 1, 0)
    assert plane.delta_t == 0.25 * (1 * 8 + 4 + 1)  # frame t0 p1 c1 z1
    assert plane.position_z == pytest.approx(1e-7 * 13)
    assert plane.annotation_refs  # frame 13: extra keys
    assert ome.structured_annotations is not None
    maps = {a.id: a for a in ome.structured_annotations.map_annotations}
    values = {m.k: m.value for m in maps[plane.annotation_refs[0].id].value.ms}
    assert values == {"camera": "Cam<1>", "event": '{"t": 13}'}


@pytest.mark.parametrize("seal_chars", [None, 1, 900])
def test_planes_arriving_out_of_order(
    seal_chars: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames stored in another order than acquired are listed in
    DimensionOrder; their annotations keep the numbers they arrived with.
    So too when the Planes are sealed into compressed batches as they come
    (every Plane alone, or a few together): a frame arriving before sealed
    ones reopens their batches."""
    if seal_chars is not None:
        monkeypatch.setattr(zarr_ome_xml, "SEAL_CHARS", seal_chars)
    settings = _settings([C, T, Z], storage_order=["t", "c", "z", "y", "x"])
    planes = _frames(settings)
    ome = assert_same(settings, planes=planes)
    assert ome is not None
    pixels = ome.images[0].pixels
    zct = [(p.the_z, p.the_c, p.the_t) for p in pixels.planes]
    assert zct == sorted(zct, key=lambda p: (p[2], p[1], p[0]))


def test_planes_of_part_of_an_unbounded_run() -> None:
    """An unbounded dimension (not first in storage) as far as written."""
    t = Dimension(name="t", count=None, type="time", scale=2.0, unit="second")
    settings = _settings(
        [t, _positions("a", "b"), C], storage_order=["p", "c", "t", "y", "x"]
    )
    assert unbounded_axis(settings) == 1
    planes = _frames(settings, count=11)  # t 0..2 of a, t 0..1 of b
    ome = assert_same(settings, [3, 3], planes=planes)
    assert ome is not None
    assert [i.pixels.size_t for i in ome.images] == [3, 3]
    assert [len(i.pixels.planes) for i in ome.images] == [6, 5]


def test_empty_and_odd_metadata() -> None:
    """Empty metadata makes a bare Plane; non-finite or non-numeric special
    keys are not Plane attributes (nor annotations); markup is escaped."""
    settings = _settings([T, C])
    planes: Planes = {
        0: [
            ((0, 0), {}),
            ((0, 1), {"delta_t": float("nan"), "exposure_time": True}),
            ((1, 0), {"delta_t": "1 s", "note": 'a<b & "c"\n', "none": None}),
            ((1, 1), {"position_x": 1e300, "list": [1, 2.5, "x"]}),
        ]
    }
    ome = assert_same(settings, planes=planes)
    assert ome is not None
    bare, odd, _, far = ome.images[0].pixels.planes
    assert bare.annotation_refs == [] and bare.delta_t is None
    assert odd.delta_t is None and odd.exposure_time is None
    assert far.position_x == 1e300


def test_not_acquired_and_dataset_metadata() -> None:
    """A jagged run's cells never acquired and the dataset-level metadata
    are annotated as in OME-TIFF."""
    settings = _settings([T, _positions("a", "b"), C], series_dimensions="auto")
    ome = assert_same(
        settings,
        planes=_frames(settings, count=5),
        not_acquired={1: [(2, 1), (0, 1)]},
        global_metadata={
            "pymmcore_plus": {"summary_metadata": {"devices": ["Cam"], "n": 1}},
            "mine": {"k": "v"},
        },
    )
    assert ome is not None
    assert ome.structured_annotations is not None
    maps = ome.structured_annotations.map_annotations
    (cells,) = [a for a in maps if a.namespace == "ome_writers.not_acquired"]
    assert json.loads(cells.value.ms[0].value) == [[0, 1, 0], [0, 1, 2]]
    assert [r.id for r in ome.images[1].annotation_refs] == [cells.id]
    mine = [a for a in maps if a.namespace == "mine"]
    assert mine[0].value.ms[0].value == '"v"'


SHOWN = {
    0: ChannelSetting(color="00FF00"),  # a colour alone: the Channel holds it
    1: ChannelSetting(color="FF00FF", limits=(100.0, 2000.0), visible=False),
}


@pytest.mark.parametrize(
    "dims",
    [
        pytest.param([T, _positions(*STAGE), C], id="positions"),
        pytest.param([C, Dimension(name="cam", count=2, type="other")], id="camera"),
        pytest.param(
            [Dimension(name="view", count=2, type="other"), _positions("a", "b"), C],
            id="series coordinates",
        ),
    ],
)
def test_display_settings(dims: list[Dimension]) -> None:
    """The channels' display settings as in OME-TIFF: the Channel's Color,
    and a MapAnnotation of contrast limits and visibility it references."""
    settings = _settings(dims, series_dimensions="auto")
    ome = assert_same(
        settings,
        planes=_frames(settings, count=3),
        not_acquired={0: [(0,) * len(settings.storage_index_dimensions)]},
        global_metadata={"mine": {"k": "v"}},
        display=SHOWN,
    )
    assert ome is not None
    assert ome.structured_annotations is not None
    maps = {a.id: a for a in ome.structured_annotations.map_annotations}
    for image in ome.images:
        for channel in image.pixels.channels:
            rgb = channel.color.as_rgb_tuple(alpha=False)
            if channel.name.startswith("DAPI"):
                assert rgb == (0, 255, 0) and channel.annotation_refs == []
                continue
            assert rgb == (255, 0, 255)
            (ref,) = channel.annotation_refs
            annotation = maps[ref.id]
            assert annotation.namespace == "ome_writers.display"
            values = {m.k: m.value for m in annotation.value.ms}
            assert values == {"contrast_limits": "[100.0, 2000.0]", "visible": "false"}


@pytest.mark.parametrize(
    ("dtype", "bits"), [("uint16", 12), ("uint8", 8), ("int16", 1)]
)
def test_collection_text_significant_bits(dtype: str, bits: int) -> None:
    """A camera's bit depth is Pixels@SignificantBits, in both versions."""
    settings = _settings([_positions(*STAGE), C], dtype=dtype, significant_bits=bits)
    ome = assert_same(settings)
    assert ome is not None
    assert [i.pixels.significant_bits for i in ome.images] == [bits] * len(STAGE)


def test_uint64_has_no_ome_xml() -> None:
    """A pixel type OME cannot express: neither version writes a document."""
    settings = _settings([C], dtype="uint64")
    assert zarr_text(settings) is None
    assert reference_xml(settings) is None
    with pytest.raises(ValueError, match="uint64"):
        ZarrOmeXml(settings)


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
def acquisitions(
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
@given(acquisitions())
def test_text_equals_models_property(
    case: tuple[AcquisitionSettings, list[int] | None, datetime],
) -> None:
    assert_same(*case)


_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _LABELS,
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(_LABELS, inner, max_size=2)
    ),
    max_leaves=4,
)
_SPECIAL_VALUES = st.none() | st.booleans() | st.integers(-5, 5) | st.floats()
FRAME_METADATA = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(SPECIAL_KEYS, _SPECIAL_VALUES),
).flatmap(
    lambda special: st.dictionaries(_NAMES, _VALUES, max_size=2).map(
        lambda extra: {**extra, **special}
    )
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(acquisitions(), st.data())
def test_planes_equal_models_property(
    case: tuple[AcquisitionSettings, list[int] | None, datetime], data: st.DataObject
) -> None:
    """Any frames (some without metadata), any metadata, any dataset-level
    metadata: the text equals the model version."""
    from ome_writers._router import FrameRouter

    acquisition, _, created = case
    router = FrameRouter(acquisition)
    count = data.draw(st.integers(0, min(acquisition.num_frames or 12, 12)))
    axis = unbounded_axis(acquisition)
    planes: Planes = {}
    extents = [0] * len(acquisition.positions)
    for n in range(count):
        position, index = router.route(n)
        if axis is not None:
            extents[position] = max(extents[position], index[axis] + 1)
        if data.draw(st.booleans()):
            planes.setdefault(position, []).append((index, data.draw(FRAME_METADATA)))
    namespaces = st.dictionaries(_LABELS, _VALUES, max_size=2)
    global_metadata = data.draw(st.dictionaries(_NAMES, namespaces, max_size=2))
    assert_same(
        acquisition,
        extents if axis is not None else None,
        created,
        planes=planes,
        global_metadata=global_metadata,
    )


def test_carriage_return_kept() -> None:
    """A carriage return in a series coordinate survives (as a reference)."""
    angle = Dimension(name="angle", type="other", coords=["a\r\nb", "c"])
    settings = _settings([angle, _positions("p")], series_dimensions=["angle"])
    text = zarr_text(settings)
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
