"""Settings models: fields, defaults, inference and validation."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from ome_writers import (
    AcquisitionSettings,
    Channel,
    Dimension,
    OmeTiffFormat,
    OmeZarrFormat,
    Plate,
    Position,
    PositionDimension,
    ScratchFormat,
    StandardAxis,
    dims_from_standard_axes,
)
from ome_writers._schema import ome_stem_suffix

YX = [Dimension(name="y", count=4), Dimension(name="x", count=5)]


def settings(*dims: Dimension, **kwargs: object) -> AcquisitionSettings:
    return AcquisitionSettings(dimensions=[*dims, *YX], dtype="uint16", **kwargs)


# ------------------------------------------------------------------ Channel etc.


def test_channel_from_string_and_colour() -> None:
    ch = Channel.model_validate("DAPI")
    assert ch == Channel(name="DAPI")
    green = Channel(name="g", color=(0, 255, 0))
    assert green.model_dump(mode="json")["color"] == "lime"
    with pytest.raises(ValidationError, match="color"):
        Channel(name="x", color="not-a-colour")
    with pytest.raises(ValidationError, match="greater than 0"):
        Channel(name="x", excitation_wavelength_nm=0)
    with pytest.raises(ValidationError, match="excitation_wavelength_nm"):
        Channel(name="x", excitation_wavelength_nm=405.5)
    assert Channel(name="x", emission_wavelength_nm=450.0).emission_wavelength_nm == 450


def test_position_pairs() -> None:
    assert Position.model_validate("A1").name == "A1"
    with pytest.raises(ValidationError, match="plate_row and plate_column must both"):
        Position(name="a", plate_row="A")
    with pytest.raises(ValidationError, match="grid_row and grid_column must both"):
        Position(name="a", grid_column=1)


# -------------------------------------------------------------------- Dimension


def test_dimension_dump_order_and_no_name_inference() -> None:
    d = Dimension(name="t", count=3)
    assert d.type is None
    assert list(d.model_dump()) == [
        "name",
        "count",
        "type",
        "coords",
        "chunk_size",
        "shard_size_chunks",
        "unit",
        "scale",
        "translation",
    ]
    assert Dimension(name="t", count="3").count == 3  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["count", "chunk_size", "shard_size_chunks"])
@pytest.mark.parametrize("value", [0, -2])
def test_dimension_positive_fields(field: str, value: int) -> None:
    with pytest.raises(ValidationError, match="greater than 0") as info:
        Dimension(name="z", **{field: value})
    assert field in str(info.value)


def test_type_inference_from_coords_and_units() -> None:
    assert Dimension(name="c", coords=[Channel(name="a"), "b"]).type == "channel"
    assert Dimension(name="p", coords=[Position(name="a")]).type == "position"
    assert Dimension(name="z", count=2, unit="um").type == "space"
    assert Dimension(name="z", count=2, unit="um").unit == "micrometer"
    assert Dimension(name="t", count=2, unit="ms").unit == "millisecond"
    assert Dimension(name="q", count=2, unit="px", type="other").unit == "px"
    assert Dimension(name="q", count=2, unit="Mm").unit == "megameter"
    assert Dimension(name="q", count=2, unit="mm").unit == "millimeter"
    with pytest.raises(ValidationError, match="Conflicting dimension type inference"):
        Dimension(name="c", coords=[Channel(name="a")], unit="um")
    with pytest.raises(ValidationError, match="Unrecognized unit of length"):
        Dimension(name="z", count=2, type="space", unit="parsnip")
    with pytest.raises(ValidationError, match="Unrecognized unit of time"):
        Dimension(name="t", count=2, type="time", unit="um")


def test_coords_rules() -> None:
    d = Dimension(name="c", type="channel", coords=iter(["a", "b"]))
    assert d.count == 2
    assert all(isinstance(c, Channel) for c in d.coords or [])
    with pytest.raises(ValidationError, match=r"Length of coords \(3\) does not match"):
        Dimension(name="c", count=2, coords=["a", "b", "c"])
    with pytest.raises(ValidationError, match="May not mix Channel objects"):
        Dimension(name="c", coords=[Channel(name="a"), 1.0])
    with pytest.raises(
        ValidationError, match="require type='channel', got type='time'"
    ):
        Dimension(name="c", type="time", coords=[Channel(name="a")])
    with pytest.raises(ValidationError, match="Channel names must be unique"):
        Dimension(name="c", type="channel", coords=["a", "a"])
    z = Dimension(name="z", coords=[0.0, 0.5, 1.0])
    assert z.coords == [0.0, 0.5, 1.0]
    assert z.count == 3


def test_position_dimension_rules() -> None:
    p = Dimension(name="p", type="position", count=3)
    assert [c.name for c in p.coords or []] == ["0", "1", "2"]
    with pytest.raises(NotImplementedError, match="Unbounded position dimensions"):
        Dimension(name="p", type="position")
    with pytest.raises(NotImplementedError, match="Empty coords for position"):
        Dimension(name="p", type="position", coords=[])
    with pytest.raises(ValidationError, match="All positions without row/column"):
        Dimension(name="p", type="position", coords=["a", "a"])
    with pytest.raises(ValidationError, match="unique within each group"):
        Dimension(
            name="p",
            type="position",
            coords=[
                Position(name="f", plate_row="A", plate_column="1"),
                Position(name="f", plate_row="A", plate_column="1"),
            ],
        )
    ok = Dimension(
        name="p",
        type="position",
        coords=[
            Position(name="f", plate_row="A", plate_column="1"),
            Position(name="f", plate_row="B", plate_column="1"),
        ],
    )
    assert ok.count == 2


def test_position_dimension_deprecated() -> None:
    with pytest.warns(DeprecationWarning, match="PositionDimension is deprecated"):
        pd = PositionDimension(positions=["a", "b"])
    new = Dimension(name="p", type="position", coords=["a", "b"])
    assert pd.model_dump() == new.model_dump()


def test_model_copy_does_not_revalidate() -> None:
    d = Dimension(name="z", count=5)
    d2 = d.model_copy(update={"chunk_size": 5, "shard_size_chunks": 2})
    assert (d2.chunk_size, d2.shard_size_chunks, d.chunk_size) == (5, 2, None)


# ------------------------------------------------------------ standard axes


def test_standard_axis() -> None:
    assert StandardAxis.TIME == "t"
    assert StandardAxis.Z.unit() == "micrometer"
    assert StandardAxis.CHANNEL.dimension_type() == "channel"
    d = StandardAxis.TIME.to_dimension(count=3, scale=2.0)
    assert (d.name, d.type, d.unit, d.scale) == ("t", "time", "second", 2.0)


def test_dims_from_standard_axes() -> None:
    dims = dims_from_standard_axes(
        {"t": 2, "p": ["A1", "B2"], "c": ["DAPI", "FITC"], "y": 16, "x": 8},
        chunk_shapes={StandardAxis.Y: 4},
        shard_shapes={"y": 2},
    )
    assert [d.name for d in dims] == ["t", "p", "c", "y", "x"]
    assert [d.chunk_size for d in dims] == [1, None, 1, 4, 8]
    assert dims[1].type == "position"
    assert [c.name for c in dims[1].coords or []] == ["A1", "B2"]
    assert isinstance((dims[2].coords or [None])[0], Channel)
    assert dims[3].shard_size_chunks == 2
    assert dims_from_standard_axes({"p": 3, "y": 1, "x": 1})[0].count == 3
    with pytest.raises(ValueError, match="Standard axes names must be one of"):
        dims_from_standard_axes({"q": 2, "y": 2, "x": 2})


# --------------------------------------------------------------------- Plate


def test_plate_from_standard_wells() -> None:
    p96 = Plate.from_standard_wells(96)
    assert p96.row_names == list("ABCDEFGH")
    assert p96.column_names == [str(i) for i in range(1, 13)]
    p1536 = Plate.from_standard_wells(1536)
    assert p1536.row_names[26:28] == ["AA", "BB"]
    assert Plate.from_standard_wells((2, 3)).column_names == ["1", "2", "3"]
    with pytest.raises(ValueError, match="Unrecognized standard plate size: 50"):
        Plate.from_standard_wells(50)
    with pytest.raises(ValueError, match="positive integers"):
        Plate.from_standard_wells((0, 3))
    with pytest.raises(TypeError):
        Plate.from_standard_wells([2, 3])  # type: ignore[arg-type]


# ------------------------------------------------------------------ formats


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("data/image.ome.tiff", ("data/image", ".ome.tiff")),
        ("data/image.test.ome.tiff", ("data/image.test", ".ome.tiff")),
        ("data/image.ome.test.zarr", ("data/image.ome.test", ".zarr")),
        ("a.OME.TIFF", ("a", ".ome.tiff")),
        ("a/b.tif", ("a/b", ".tif")),
        ("a/b", ("a/b", "")),
    ],
)
def test_ome_stem_suffix(path: str, expected: tuple[str, str]) -> None:
    assert ome_stem_suffix(path) == expected


@pytest.mark.parametrize(
    ("root", "fmt", "n_pos", "expected"),
    [
        ("a/b.ome.zarr", "auto", 1, "a/b.ome.zarr"),
        ("a/b.zarr", "auto", 2, "a/b.zarr"),
        ("a/b", "ome-zarr", 1, "a/b.ome.zarr"),
        ("a/b.ome.tiff", "auto", 1, "a/b.ome.tiff"),
        ("a/b.ome.tiff", "auto", 2, "a/b"),
        ("a/b", "ome-tiff", 1, "a/b.ome.tiff"),
        ("a/b.tif", "auto", 1, "a/b.tif"),
        ("a/b", "scratch", 1, "a/b"),
        ("", "auto", 1, ""),
    ],
)
def test_output_path(root: str, fmt: str, n_pos: int, expected: str) -> None:
    dims: list[Dimension] = list(YX)
    if n_pos > 1:
        dims.insert(0, Dimension(name="p", type="position", count=n_pos))
    s = AcquisitionSettings(root_path=root, format=fmt, dimensions=dims, dtype="u1")
    assert s.output_path == expected


def test_tiff_never_single_file() -> None:
    fmt = OmeTiffFormat(prefer_single_file=False)
    assert fmt.prefer_single_file == "never"
    assert fmt.get_output_path("a/b.ome.tiff") == "a/b"
    assert OmeTiffFormat(prefer_single_file=True).prefer_single_file == "always"


def test_format_inference() -> None:
    assert isinstance(AcquisitionSettings().format, ScratchFormat)
    assert isinstance(AcquisitionSettings(root_path="x.ome.zarr").format, OmeZarrFormat)
    tif = AcquisitionSettings(root_path=Path("x.tif")).format
    assert isinstance(tif, OmeTiffFormat)
    assert tif.suffix == ".tif"
    assert AcquisitionSettings(root_path=Path("x.tif")).root_path == "x.tif"
    for alias in ("memory", "scratch", "MEMORY"):
        assert isinstance(AcquisitionSettings(format=alias).format, ScratchFormat)
    ts = AcquisitionSettings(root_path="x", format="tensorstore").format
    assert isinstance(ts, OmeZarrFormat)
    assert ts.backend == "tensorstore"
    assert AcquisitionSettings(root_path="x", format="tifffile").format.backend == (
        "tifffile"
    )
    obj = AcquisitionSettings(root_path="a/b.zarr", format=OmeZarrFormat())
    obj = obj.model_copy(update={"dimensions": tuple(YX)})
    assert obj.output_path == "a/b.ome.zarr"
    with pytest.raises(ValidationError, match="Unknown format 'bogus'"):
        AcquisitionSettings(root_path="x", format="bogus")
    with pytest.raises(ValidationError, match="name"):
        AcquisitionSettings(root_path="x", format={"suffix": ".zarr"})


def test_format_inference_warns_without_suffix() -> None:
    with pytest.warns(UserWarning, match="could not be inferred from root_path 'a/b'"):
        s = AcquisitionSettings(root_path="a/b")
    assert s.format.name == "ome-zarr"


def test_top_level_backend_rejected() -> None:
    with pytest.raises(ValidationError, match="`backend` is no longer a top-level"):
        AcquisitionSettings(root_path="x.zarr", backend="tensorstore")  # type: ignore[call-arg]


# ------------------------------------------------------- AcquisitionSettings


def test_deferred_validation_round_trip() -> None:
    """pymmcore-plus builds settings without dims/dtype and completes them later."""
    base = AcquisitionSettings(root_path="out/x.ome.zarr", overwrite=True)
    assert base.dimensions == ()
    assert base.dtype == ""
    for prop in ("shape", "output_path", "num_frames", "positions"):
        with pytest.raises(ValueError, match=f"Cannot access '{prop}'"):
            getattr(base, prop)
    with pytest.raises(ValueError, match="dimensions must be set"):
        base.validate_stream_ready()
    dims = [
        Dimension(name="t", count=None, chunk_size=1, type="time"),
        Dimension(name="y", count=4, chunk_size=4, scale=0.0, unit="micrometer"),
        Dimension(name="x", count=5, chunk_size=5, scale=0.0, unit="micrometer"),
    ]
    dims = [
        d.model_copy(update={"chunk_size": 2}) if d.name == "t" else d for d in dims
    ]
    full = AcquisitionSettings.model_validate(
        {**base.model_dump(), "dimensions": dims, "plate": None, "dtype": "uint16"}
    )
    assert full.format == base.format
    assert full.overwrite is True
    assert full.root_path == "out/x.ome.zarr"
    assert full.dtype == "uint16"
    assert full.is_unbounded
    assert full.num_frames is None
    assert full.dimensions[0].chunk_size == 2
    assert full.dimensions[1].type == "space"
    assert full.validate_stream_ready()
    scratch = AcquisitionSettings(format="scratch", overwrite=False)
    again = AcquisitionSettings.model_validate(
        {**scratch.model_dump(), "dimensions": dims, "dtype": "uint8"}
    )
    assert again.format.name == "scratch"
    assert AcquisitionSettings.model_validate(full.model_dump()) == full


def test_default_dump() -> None:
    assert AcquisitionSettings().model_dump() == {
        "root_path": "",
        "dimensions": (),
        "dtype": "",
        "format": {
            "name": "scratch",
            "backend": "scratch",
            "max_memory_bytes": 4294967296,
            "suffix": "",
            "spill_to_disk": True,
        },
        "compression": None,
        "storage_order": "ome",
        "plate": None,
        "overwrite": False,
        "frame_order": None,
        "series_dimensions": "auto",
        "pyramid": None,  # an extension of 0.3.x (resolution levels)
        "s3": None,  # an extension of 0.3.x (object storage)
        "loss_window": 1.0,  # an extension of 0.3.x (readable within 1 s)
        "significant_bits": None,  # an extension of 0.3.x (camera bit depth)
        "labels": (),  # an extension of 0.3.x (label images beside the frames)
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [("u2", "uint16"), (">u2", "uint16"), (np.float32, "float32"), (None, "float64")],
)
def test_dtype_canonical(value: object, expected: str) -> None:
    assert AcquisitionSettings(dtype=value).dtype == expected  # type: ignore[arg-type]


def test_dtype_invalid() -> None:
    with pytest.raises(ValidationError, match="Invalid dtype: 'foo'") as info:
        AcquisitionSettings(dtype="foo")
    assert "dtype" in str(info.value)


@pytest.mark.parametrize(
    ("dims", "message"),
    [
        (
            [Dimension(name="p", type="position", count=2)] * 2,
            "Only one position dimension is allowed",
        ),
        (
            [Dimension(name="t", count=2), Dimension(name="z", count=None)],
            "Only the first dimension may be unbounded",
        ),
        (  # extra axes become series; time, channel and space ones cannot
            [
                *(Dimension(name=n, count=2) for n in "tcz"),
                Dimension(name="w", count=2, type="space"),
            ],
            "At most 5 non-position dimensions are allowed",
        ),
        ([Dimension(name="y", count=2)], None),
        (
            [Dimension(name="y", count=2), Dimension(name="q", count=2)],
            "Dimension names must be unique",
        ),
    ],
)
def test_dimension_list_rules(dims: list[Dimension], message: str | None) -> None:
    if message is None:  # only one non-position dim after y/x duplicates
        with pytest.raises(ValidationError, match="Dimension names must be unique"):
            settings(*dims)
        return
    with pytest.raises(ValidationError, match=message) as info:
        settings(*dims)
    assert "dimensions" in str(info.value)


def test_too_few_dims() -> None:
    with pytest.raises(ValidationError, match="At least 2 non-position dimensions"):
        AcquisitionSettings(dimensions=[Dimension(name="x", count=3)], dtype="u1")


def test_last_two_dims() -> None:
    with pytest.raises(ValidationError, match="last two dimensions must be spatial"):
        AcquisitionSettings(
            dimensions=[Dimension(name="t", count=2, type="time"), YX[1]], dtype="u1"
        )
    with pytest.warns(UserWarning, match="expected to have type='space'") as record:
        s = AcquisitionSettings(
            dimensions=[Dimension(name="r", count=2), Dimension(name="q", count=2)],
            dtype="u1",
        )
    assert len(record) == 2
    assert [d.type for d in s.dimensions] == ["space", "space"]
    with pytest.raises(ValidationError, match="frame\\) dimensions must have a count"):
        AcquisitionSettings(
            dimensions=[Dimension(name="y", count=None), YX[1]], dtype="u1"
        )


def test_compression_per_format() -> None:
    settings(root_path="a.ome.zarr", compression="blosc-zstd")
    settings(root_path="a.ome.tiff", compression="lzw")
    settings(compression="lzw")  # scratch ignores compression
    with pytest.raises(ValidationError, match="'lzw' is not supported for OME-Zarr"):
        settings(root_path="a.ome.zarr", compression="lzw")
    with pytest.raises(
        ValidationError, match="'blosc-lz4' is not supported for OME-TIFF"
    ):
        settings(root_path="a.ome.tiff", compression="blosc-lz4")
    with pytest.raises(ValidationError, match="compression"):
        settings(root_path="a.ome.zarr", compression="gzip9")


def test_assignment_revalidates() -> None:
    s = settings(root_path="a.ome.zarr")
    with pytest.raises(ValidationError, match="Dimension names must be unique"):
        s.dimensions = (*YX, *YX)
    s.dtype = "float32"
    assert s.dtype == "float32"


def test_storage_order_zarr() -> None:
    dims = [
        Dimension(name="c", type="channel", count=2),
        Dimension(name="t", type="time", count=2),
        Dimension(name="z", type="space", count=2),
    ]
    s = settings(*dims, root_path="a.ome.zarr")
    assert [d.name for d in s.storage_index_dimensions] == ["t", "c", "z"]
    assert s.storage_index_permutation == (1, 0, 2)
    zct = settings(dims[2], dims[0], dims[1], root_path="a.ome.zarr")
    assert zct.storage_index_permutation == (2, 1, 0)
    acq = settings(*dims, root_path="a.ome.zarr", storage_order="acquisition")
    assert acq.storage_index_permutation is None
    # untyped standard names sort by their implied type (defect §10.10)
    untyped = settings(
        Dimension(name="c", count=2), Dimension(name="t", count=2), root_path="a.zarr"
    )
    assert [d.name for d in untyped.storage_index_dimensions] == ["t", "c"]
    # custom axes go between channel and space (defect §10.9)
    cam = settings(
        Dimension(name="t", type="time", count=2),
        Dimension(name="z", type="space", count=2),
        Dimension(name="cam", type="other", count=2),
        root_path="a.zarr",
    )
    assert [d.name for d in cam.array_storage_dimensions] == ["t", "cam", "z", "y", "x"]


def test_storage_order_tiff_and_scratch_keep_acquisition() -> None:
    dims = [Dimension(name=n, count=2) for n in "zct"]
    assert settings(*dims, root_path="a.ome.tiff").storage_index_permutation is None
    assert settings(*dims).storage_index_permutation is None


def test_storage_order_list() -> None:
    dims = [
        Dimension(name="t", count=2),
        Dimension(name="p", type="position", count=2),
        Dimension(name="z", count=2),
    ]
    s = settings(*dims, storage_order=["p", "z", "t", "y", "x"])
    assert [d.name for d in s.storage_index_dimensions] == ["z", "t"]
    # storage order changes the layout on disk, never what a view index means
    assert [d.name for d in s.view_dimensions] == ["t", "p", "z", "y", "x"]
    with pytest.raises(ValidationError, match="may not \\(yet\\) permute the last two"):
        settings(*dims, storage_order=["p", "z", "y", "t", "x"])
    with pytest.raises(ValidationError, match="don't match acquisition dimension"):
        settings(*dims, storage_order=["z", "t", "y", "x"])
    with pytest.raises(ValidationError, match="duplicate names"):
        settings(*dims, storage_order=["p", "z", "z", "t", "y", "x"])


def test_derived_properties() -> None:
    dims = [
        Dimension(name="t", count=2, type="time"),
        Dimension(name="p", type="position", coords=["a", "b", "c"]),
        Dimension(name="z", count=4),
    ]
    s = settings(*dims)
    assert s.shape == (2, 3, 4, 4, 5)
    assert s.num_frames == 24
    assert s.position_dimension_index == 1
    assert [p.name for p in s.positions] == ["a", "b", "c"]
    assert [d.name for d in s.index_dimensions] == ["t", "z"]
    assert [d.name for d in s.array_dimensions] == ["t", "z", "y", "x"]
    assert [d.name for d in s.frame_dimensions] == ["y", "x"]
    assert not s.is_unbounded
    two_d = settings()
    assert two_d.num_frames == 1
    assert [p.name for p in two_d.positions] == ["0"]


def test_plate_rules() -> None:
    plate = Plate.from_standard_wells(96)
    well = [Position(name="f", plate_row="A", plate_column="1")]
    with pytest.raises(
        ValidationError, match="Plate mode requires a position dimension"
    ):
        settings(plate=plate)
    with pytest.raises(
        ValidationError, match="must have row and column for plate mode"
    ):
        settings(Dimension(name="p", type="position", coords=["a"]), plate=plate)
    settings(Dimension(name="p", type="position", coords=well), plate=plate)
    outside = [Position(name="f", plate_row="Z", plate_column="1")]
    with pytest.warns(UserWarning, match="not in the plate definition"):
        settings(Dimension(name="p", type="position", coords=outside), plate=plate)


def test_repr_hides_defaults() -> None:
    assert repr(Dimension(name="z", count=3)) == "Dimension(name='z', count=3)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "backend" not in repr(OmeZarrFormat())


def test_named_backend_refuses_its_unsupported_compression_at_settings() -> None:
    """The 0.3.x docs: an unsupported compression raises when the settings are made."""
    with pytest.raises(ValidationError, match="not supported by the acquire-zarr"):
        AcquisitionSettings(
            root_path="x.ome.zarr", format="acquire-zarr", compression="zstd"
        )
    ok = AcquisitionSettings(
        root_path="x.ome.zarr", format="tensorstore", compression="zstd"
    )
    assert ok.compression == "zstd"
    auto = AcquisitionSettings(root_path="x.ome.zarr", compression="zstd")
    assert auto.format.backend == "auto"  # "auto" still picks one that can


def test_no_format_warning_advises_passing_format() -> None:
    with pytest.warns(UserWarning, match="pass the format explicitly") as record:
        AcquisitionSettings(root_path="no_suffix")
    text = str(record[0].message)
    assert "Output format could not be inferred from root_path 'no_suffix'." in text
    assert "format='ome-zarr'" in text


def test_tiff_codecs_cover_the_registry_compressions() -> None:
    from ome_writers._registry import BY_NAME
    from ome_writers.backends.tiff._pages import COMPRESSION

    assert set(COMPRESSION) == set(BY_NAME["tifffile"].compressions)


def test_ngff_version() -> None:
    assert OmeZarrFormat().ngff_version == "0.5"
    fmt = OmeZarrFormat(ngff_version="0.6rc0")
    assert fmt.ngff_version == "0.6rc0"
    s = AcquisitionSettings(
        root_path="x.ome.zarr",
        format={"name": "ome-zarr", "ngff_version": "0.6rc0"},
    )
    assert isinstance(s.format, OmeZarrFormat)
    assert s.format.ngff_version == "0.6rc0"
    assert s.format.suffix == ".ome.zarr"
    again = AcquisitionSettings.model_validate(s.model_dump())
    assert again.format == s.format
    assert "ngff_version" not in repr(OmeZarrFormat())  # a default, hidden
    with pytest.raises(ValidationError, match="ngff_version"):
        OmeZarrFormat(ngff_version="0.7")  # type: ignore[arg-type]


def test_every_ngff_version_is_available() -> None:
    for version, zarr_format in (("0.4", 2), ("0.5", 3), ("0.6rc0", 3)):
        settings = AcquisitionSettings(
            root_path="x.ome.zarr",
            format={"name": "ome-zarr", "ngff_version": version},
        )
        assert isinstance(settings.format, OmeZarrFormat)
        assert settings.format.zarr_format == zarr_format


# ----------------------------------------------------------- significant bits

_YX = [Dimension(name="y", count=4), Dimension(name="x", count=4)]


@pytest.mark.parametrize(
    ("dtype", "bits"), [("uint16", 12), ("uint8", 8), ("int16", 1)]
)
def test_significant_bits_within_the_pixel_type(dtype: str, bits: int) -> None:
    settings = AcquisitionSettings(dimensions=_YX, dtype=dtype, significant_bits=bits)
    assert settings.significant_bits == bits
    again = AcquisitionSettings.model_validate(settings.model_dump())
    assert again.significant_bits == bits


@pytest.mark.parametrize(
    ("dtype", "bits", "message"),
    [
        ("uint16", 17, "significant_bits=17 does not fit dtype uint16: .* 1 to 16"),
        ("uint8", 12, "significant_bits=12 does not fit dtype uint8: .* 1 to 8"),
        ("uint16", 0, "significant_bits=0 does not fit dtype uint16"),
        ("uint16", -3, "significant_bits=-3 does not fit dtype uint16"),
        ("float32", 12, "significant_bits=12 applies to integer .* float32"),
        ("uint16", True, "significant_bits must be a number of bits, got True"),
    ],
)
def test_significant_bits_refused(dtype: str, bits: int, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AcquisitionSettings(dimensions=_YX, dtype=dtype, significant_bits=bits)


def test_significant_bits_checked_when_the_dtype_arrives() -> None:
    """pymmcore-plus sets the dtype last (model_validate of a dump)."""
    early = AcquisitionSettings(root_path="x.ome.zarr", significant_bits=12)
    dump = {**early.model_dump(), "dimensions": _YX}
    with pytest.raises(ValidationError, match="does not fit dtype uint8"):
        AcquisitionSettings.model_validate({**dump, "dtype": "uint8"})
    ok = AcquisitionSettings.model_validate({**dump, "dtype": "uint16"})
    assert ok.significant_bits == 12
    with pytest.raises(ValidationError, match="does not fit dtype uint16"):
        ok.significant_bits = 20


def test_significant_bits_fit_every_camera() -> None:
    """Positions of other cameras bring their own pixel types."""
    cameras = Dimension(
        name="cam",
        type="position",
        coords=[Position(name="a"), Position(name="b", dtype="uint8")],
    )
    with pytest.raises(ValidationError, match="does not fit dtype uint8"):
        AcquisitionSettings(
            dimensions=[cameras, *_YX], dtype="uint16", significant_bits=12
        )


@pytest.mark.parametrize("fmt", ["auto", "ome-zarr", {"backend": "tensorstore"}])
def test_a_zipped_ome_zarr_is_not_streamed_into(fmt: object) -> None:
    with pytest.raises(
        ValueError, match=r"run\.ozx.*written whole.*convert run\.ome\.zarr run\.ozx"
    ):
        AcquisitionSettings(root_path="run.ozx", format=fmt)
