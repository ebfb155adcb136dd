"""OME-Zarr 0.4 (Zarr v2) as other software reads it.

The conformance suite runs every case as 0.4 too (`ZarrNgff04Conformance`);
here: ome-zarr-py's 0.4 reader, ome-zarr-models' 0.4 models, pyramids and
plates read level by level, a dataset read while it is written, and the
settings that choose (or refuse) a backend for 0.4.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import ome_writers as ow
from ome_writers import AcquisitionSettings, Dimension, OmeZarrFormat, create_stream
from ome_writers._registry import BY_NAME, BackendRecord
from ome_writers.backends._select import select_backend
from tests.backends.conformance import SCENARIOS, assert_position, frame
from tests.backends.params import backend_params
from tests.backends.pyramid.reference import reference_levels
from tests.backends.readers import (
    StoredArray,
    array_layout,
    ngff,
    read_zarr,
    to_declared,
    zarr_array_paths,
    zarr_image_groups,
)

V2_WRITERS = [
    p
    for p in backend_params(format="ome-zarr")
    if BY_NAME[p.values[0]].writes_zarr_format(2)
]
Y, X = 8, 6


def _settings(tmp_path: Path, backend: str, dims: Any, **kwargs: Any) -> Any:
    return AcquisitionSettings(
        root_path=str(tmp_path / "data.ome.zarr"),
        format={"backend": backend, "ngff_version": "0.4"},
        dimensions=[
            *dims,
            Dimension(name="y", count=Y, unit="um", scale=0.5),
            Dimension(name="x", count=X, unit="um", scale=0.5),
        ],
        dtype="uint16",
        **kwargs,
    )


def _write(settings: AcquisitionSettings, n_frames: int) -> list[np.ndarray]:
    frames = [frame(n, (Y, X)) for n in range(n_frames)]
    with create_stream(settings) as stream:
        for n, data in enumerate(frames):
            stream.append(data, frame_metadata={"delta_t": n * 0.5})
    return frames


def test_writers_of_zarr_v2() -> None:
    """tensorstore, zarr-python and zarrs-python write Zarr v2; acquire-zarr
    (0.10: `ZarrVersion` has V3 only) does not."""
    names = [p.values[0] for p in V2_WRITERS]
    assert names == ["tensorstore", "zarrs-python", "zarr-python"]
    assert not BY_NAME["acquire-zarr"].writes_zarr_format(2)


@pytest.mark.parametrize("backend", V2_WRITERS)
@pytest.mark.parametrize("scenario", ["tczyx", "multi-position", "plate"])
def test_ome_zarr_py_reads_04(tmp_path: Path, backend: str, scenario: str) -> None:
    """ome-zarr-py takes every image as NGFF 0.4 and reads its frames."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    case = SCENARIOS[scenario]
    settings = _settings(tmp_path, backend, case.dims, **case.kwargs)
    frames = _write(settings, settings.num_frames or 0)
    root = Path(settings.output_path)
    axes = [d.name for d in settings.array_storage_dimensions]
    for position, image in enumerate(zarr_image_groups(root, settings.positions)):
        location = parse_url(str(image))
        assert location is not None
        assert location.fmt.version == "0.4"
        node = next(iter(Reader(location)()))
        assert [a["name"] for a in node.metadata["axes"]] == axes
        stored = StoredArray(np.asarray(node.data[0]), tuple(axes), image)
        got = to_declared(settings, stored)
        assert_position(settings, frames, got, position)


@pytest.mark.parametrize("backend", V2_WRITERS)
@pytest.mark.parametrize("scenario", ["tczyx", "multi-position", "plate"])
def test_ome_zarr_models_04(tmp_path: Path, backend: str, scenario: str) -> None:
    """ome-zarr-models recognises the dataset as its 0.4 image, collection
    or plate, and every image group as a 0.4 image."""
    import ome_zarr_models as models
    from ome_zarr_models import v04

    case = SCENARIOS[scenario]
    settings = _settings(tmp_path, backend, case.dims, **case.kwargs)
    _write(settings, settings.num_frames or 0)
    root = Path(settings.output_path)

    def model(path: Path) -> Any:
        group = zarr.open_group(str(path), mode="r", zarr_format=2)
        return models.open_ome_zarr(group, version="0.4")

    expected = {
        "tczyx": v04.Image,
        "multi-position": v04.BioFormats2Raw,
        "plate": v04.HCS,
    }[scenario]
    assert isinstance(model(root), expected)
    for image in zarr_image_groups(root, settings.positions):
        assert isinstance(model(image), v04.Image)


@pytest.mark.parametrize("backend", V2_WRITERS)
def test_the_documents(tmp_path: Path, backend: str) -> None:
    """NGFF 0.4 as the spec shows it: the documents are the attributes, each
    with its version; frame metadata and progress beside them."""
    case = SCENARIOS["tczyx"]
    settings = _settings(tmp_path, backend, case.dims, compression="blosc-zstd")
    _write(settings, settings.num_frames or 0)
    root = Path(settings.output_path)
    attrs = json.loads((root / ".zattrs").read_text())
    assert "ome" not in attrs
    (multiscale,) = attrs["multiscales"]
    assert multiscale["version"] == "0.4"
    assert [a["name"] for a in multiscale["axes"]] == ["t", "c", "z", "y", "x"]
    assert [c["label"] for c in attrs["omero"]["channels"]] == ["DAPI", "FITC"]
    assert len(attrs["ome_writers"]["frame_metadata"]) == 12
    assert attrs["ome_writers"]["progress"]["status"] == "complete"
    meta = json.loads((root / "0" / ".zarray").read_text())
    assert meta["zarr_format"] == 2
    assert meta["dimension_separator"] == "/"
    assert meta["dtype"] == "<u2"
    assert meta["compressor"]["id"] == "blosc"
    assert meta["compressor"]["cname"] == "zstd"
    # the chunk of frame t1 c1 z2 (chunks may span frames), keyed t/c/z/y/x
    key = [i // c for i, c in zip((1, 1, 2, 0, 0), meta["chunks"], strict=True)]
    assert root.joinpath("0", *map(str, key)).is_file()
    assert not list(root.rglob("zarr.json"))


@pytest.mark.parametrize("backend", V2_WRITERS)
def test_plate(tmp_path: Path, backend: str) -> None:
    """plate and well 0.4 documents; two fields of one well, one of another."""
    case = SCENARIOS["plate"]
    settings = _settings(tmp_path, backend, case.dims, **case.kwargs)
    frames = _write(settings, settings.num_frames or 0)
    root = Path(settings.output_path)
    plate = ngff(root)["plate"]
    assert plate["version"] == "0.4"
    assert [w["path"] for w in plate["wells"]] == ["A/1", "B/3"]
    well = ngff(root / "A" / "1")["well"]
    assert well["version"] == "0.4"
    assert [f["path"] for f in well["images"]] == ["fovr0c0", "fovr0c1"]
    assert json.loads((root / "A" / ".zgroup").read_text()) == {"zarr_format": 2}
    for position, path in enumerate(zarr_array_paths(settings)):
        got = to_declared(settings, read_zarr(path))
        assert_position(settings, frames, got, position)


@pytest.mark.parametrize("backend", V2_WRITERS)
def test_pyramid(tmp_path: Path, backend: str) -> None:
    """Three levels, each a Zarr v2 array listed in multiscales with its
    scale, read by zarr-python and tensorstore: the reference's levels."""
    dims = [
        Dimension(name="t", count=2, type="time"),
        Dimension(name="z", count=4, type="space", unit="um", scale=1.0),
    ]
    settings = _settings(
        tmp_path, backend, dims, pyramid={"levels": 3, "reduce_z": True}
    )
    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 4000, (Y, X), dtype="uint16") for _ in range(8)]
    with create_stream(settings) as stream:
        for data in frames:
            stream.append(data)
    root = Path(settings.output_path)
    (multiscale,) = ngff(root)["multiscales"]
    datasets = multiscale["datasets"]
    assert [d["path"] for d in datasets] == ["0", "1", "2"]
    scales = [d["coordinateTransformations"][0]["scale"] for d in datasets]
    assert scales == [
        [1.0, 1.0, 0.5, 0.5],
        [1.0, 2.0, 1.0, 1.0],
        [1.0, 4.0, 2.0, 2.0],
    ]
    full = np.stack(frames).reshape(2, 4, Y, X)
    want = reference_levels(full, [False, True, True, True], "mean", 3)
    for level, expected in enumerate(want):
        stored = read_zarr(root / str(level))  # zarr-python and tensorstore
        assert array_layout(root / str(level)).names == ["t", "z", "y", "x"]
        np.testing.assert_array_equal(stored.data, expected, err_msg=f"{level=}")


@pytest.mark.parametrize("backend", V2_WRITERS)
def test_pyramid_for_ome_zarr_py_models_and_yaozarrs(
    tmp_path: Path, backend: str
) -> None:
    """ome-zarr-py reads every level of a 0.4 pyramid as zarr-python and
    tensorstore do; ome-zarr-models and yaozarrs take it as a 0.4 image."""
    import ome_zarr_models as models
    import yaozarrs
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader
    from ome_zarr_models import v04

    dims = [Dimension(name="t", count=2, type="time")]
    settings = _settings(tmp_path, backend, dims, pyramid={"levels": 3})
    frames = _write(settings, 2)
    root = Path(settings.output_path)
    location = parse_url(str(root))
    assert location is not None
    assert location.fmt.version == "0.4"
    node = next(iter(Reader(location)()))
    levels = [np.asarray(level) for level in node.data]
    assert len(levels) == 3
    np.testing.assert_array_equal(levels[0], np.stack(frames))
    for k, level in enumerate(levels):
        np.testing.assert_array_equal(level, read_zarr(root / str(k)).data)
    group = zarr.open_group(str(root), mode="r", zarr_format=2)
    assert isinstance(models.open_ome_zarr(group, version="0.4"), v04.Image)
    validated = yaozarrs.validate_zarr_store(str(root))
    assert (validated.zarr_format, validated.ome_version()) == (2, "0.4")


@pytest.mark.parametrize("backend", V2_WRITERS)
def test_read_while_written(tmp_path: Path, backend: str) -> None:
    """An unbounded 0.4 acquisition being written: after a checkpoint, other
    processes' readers find the frames written declared in ``.zarray``, the
    progress in the root's ``.zattrs``, and `ome_writers.open` reads them."""
    dims = [Dimension(name="t", count=None, type="time")]
    settings = _settings(tmp_path, backend, dims, loss_window=None)
    root = Path(settings.output_path)
    frames = [frame(n, (Y, X)) for n in range(7)]
    with create_stream(settings) as stream:
        for data in frames[:5]:
            stream.append(data)
        stream.checkpoint()
        meta = json.loads((root / "0" / ".zarray").read_text())
        assert meta["shape"] == [5, Y, X]
        progress = json.loads((root / ".zattrs").read_text())["ome_writers"]
        assert progress["progress"]["status"] == "writing"
        assert progress["progress"]["frames"] == 5
        array = zarr.open_array(str(root / "0"), mode="r", zarr_format=2)
        np.testing.assert_array_equal(array[...], np.stack(frames[:5]))
        with ow.open(root) as view:
            assert view.shape == (5, Y, X) and not view.complete
            np.testing.assert_array_equal(np.asarray(view), np.stack(frames[:5]))
            for data in frames[5:]:
                stream.append(data)
            stream.checkpoint()
            view.refresh()
            assert view.shape == (7, Y, X)
            np.testing.assert_array_equal(np.asarray(view), np.stack(frames))
    with ow.open(root) as view:
        assert view.complete and view.frames == 7


def test_loss_window_declares_without_close(tmp_path: Path) -> None:
    """A loss-window visit (no checkpoint, no close) declares the frames
    written in ``.zarray`` and states them in ``.zattrs``."""
    dims = [Dimension(name="t", count=None, type="time")]
    settings = _settings(tmp_path, "tensorstore", dims, loss_window=0.05)
    root = Path(settings.output_path)
    stream = create_stream(settings)
    try:
        for n in range(3):
            stream.append(frame(n, (Y, X)))
        stated = threading.Event()

        def declared() -> bool:
            shape = json.loads((root / "0" / ".zarray").read_text())["shape"]
            attrs = json.loads((root / ".zattrs").read_text())
            frames = attrs.get("ome_writers", {}).get("progress", {}).get("frames")
            return bool(shape[0] == 3 and frames == 3)

        for _ in range(200):
            if declared():
                stated.set()
                break
            threading.Event().wait(0.02)
        assert stated.is_set(), "no visit declared the frames written"
    finally:
        stream.close()


@pytest.mark.parametrize("backend", V2_WRITERS)
def test_positions_of_different_shapes(tmp_path: Path, backend: str) -> None:
    """Each position's own axes and shape, each image a 0.4 group."""
    positions = [
        ow.Position(
            name="stack",
            dimensions=[
                Dimension(name="t", count=2, type="time"),
                Dimension(name="z", count=3, type="space"),
            ],
        ),
        ow.Position(
            name="colour",
            dimensions=[
                Dimension(name="t", count=2, type="time"),
                Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            ],
        ),
    ]
    dims = [
        Dimension(name="t", count=2, type="time"),
        Dimension(name="p", type="position", coords=positions),
        Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
        Dimension(name="z", count=3, type="space"),
    ]
    settings = _settings(tmp_path, backend, dims)
    assert settings.is_ragged
    n_frames = settings.num_frames or 0
    frames = _write(settings, n_frames)
    root = Path(settings.output_path)
    assert ngff(root / "OME")["series"] == ["stack", "colour"]
    shapes = {"stack": (2, 3, Y, X), "colour": (2, 2, Y, X)}
    seen = 0
    for name, shape in shapes.items():
        stored = read_zarr(root / name / "0")
        assert stored.data.shape == shape
        assert stored.axes == (("t", "z") if name == "stack" else ("t", "c")) + (
            "y",
            "x",
        )
        seen += int(np.count_nonzero(stored.data.reshape(-1, Y * X).any(axis=1)))
    assert seen == n_frames == len(frames)
    with ow.open(root, image="colour") as view:
        assert view.shape == (2, 2, Y, X)


# ---------------------------------------------------------------- settings


def test_acquire_zarr_is_refused_naming_the_backends_that_can(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match="acquire-zarr backend writes Zarr v3") as e:
        AcquisitionSettings(
            root_path=str(tmp_path / "a.ome.zarr"),
            format={"backend": "acquire-zarr", "ngff_version": "0.4"},
        )
    assert "['tensorstore', 'zarrs-python', 'zarr-python']" in str(e.value)
    with pytest.raises(ValueError, match="writes Zarr v3 only"):
        OmeZarrFormat(backend="acquire-zarr", ngff_version="0.4")
    assert not any(tmp_path.iterdir())


def test_auto_picks_a_backend_that_writes_zarr_v2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With tensorstore missing, "auto" passes acquire-zarr (Zarr v3 only)
    by and takes the next that writes Zarr v2."""
    installed = BackendRecord.available.fget  # type: ignore[attr-defined]

    def available(record: BackendRecord) -> bool:
        return record.name != "tensorstore" and bool(installed(record))

    monkeypatch.setattr(BackendRecord, "available", property(available))
    dims = [Dimension(name="t", count=2, type="time")]
    settings = _settings(tmp_path, "auto", dims)
    expected = next(
        r.name
        for r in BY_NAME.values()
        if r.available and r.format == "ome-zarr" and r.writes_zarr_format(2)
    )
    assert select_backend(settings).name == expected
    assert expected != "acquire-zarr"
    v5 = AcquisitionSettings.model_validate(
        {**settings.model_dump(), "format": {"ngff_version": "0.5"}}
    )
    assert select_backend(v5).name == "acquire-zarr"


def test_shards_are_refused_for_zarr_v2(tmp_path: Path) -> None:
    dims = [Dimension(name="t", count=4, chunk_size=1, shard_size_chunks=2)]
    with pytest.raises(ValueError, match=r"Zarr v2, which has no shards.*\['t'\]"):
        _settings(tmp_path, "tensorstore", dims)


@pytest.mark.parametrize(
    ("format", "backend"),
    [
        ({"ngff_version": "0.4"}, "auto"),
        ({"backend": "zarr-python", "ngff_version": "0.4"}, "zarr-python"),
        ({"name": "ome-zarr", "ngff_version": "0.4"}, "auto"),
        (OmeZarrFormat(ngff_version="0.4"), "auto"),
    ],
)
def test_the_ways_to_ask_for_0_4(format: Any, backend: str) -> None:
    settings = AcquisitionSettings(root_path="run.ome.zarr", format=format)
    assert isinstance(settings.format, OmeZarrFormat)
    assert (settings.format.ngff_version, settings.format.backend) == ("0.4", backend)
    assert settings.format.zarr_format == 2
    # settings round-trip through their dump (pymmcore-plus re-validates them)
    again = AcquisitionSettings.model_validate(settings.model_dump())
    assert again.format == settings.format


@pytest.mark.parametrize("name", ["zarr", "ome-zarr", "auto", "tensorstore"])
def test_format_names_keep_0_5(name: str) -> None:
    settings = AcquisitionSettings(root_path="run.ome.zarr", format=name)
    assert isinstance(settings.format, OmeZarrFormat)
    assert settings.format.ngff_version == "0.5"
    assert settings.format.zarr_format == 3


@pytest.mark.parametrize("backend", V2_WRITERS)
def test_display_settings_in_0_4_omero(tmp_path: Path, backend: str) -> None:
    """The user's display settings land in the 0.4 attributes' own ``omero``."""
    dims = [Dimension(name="c", type="channel", coords=["DAPI", "FITC"])]
    settings = _settings(tmp_path, backend, dims, significant_bits=12)
    with create_stream(settings) as stream:
        stream.append(frame(0, (Y, X)))
        stream.set_channel_display("FITC", color="FF00FF", contrast_limits=(10, 900))
        stream.append(frame(1, (Y, X)))
    attrs = json.loads((Path(settings.output_path) / ".zattrs").read_text())
    assert "ome" not in attrs
    fitc = attrs["omero"]["channels"][1]
    assert fitc["color"] == "FF00FF"
    assert (fitc["window"]["start"], fitc["window"]["end"]) == (10, 900)
    assert attrs["omero"]["channels"][0]["window"]["max"] == 4095
