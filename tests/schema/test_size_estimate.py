"""`AcquisitionSettings.estimated_size`: computed from the settings, and within
5 % of the bytes each backend writes for uncompressed frames."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ome_writers import (
    AcquisitionSettings,
    Dimension,
    OmeTiffFormat,
    Plate,
    Position,
    create_stream,
)
from ome_writers._schema._size_estimate import (
    COMPRESSION_RATIOS,
    SizeEstimate,
    format_bytes,
)
from tests.backends.params import backend_params, suffix


def _settings(dims: list[Dimension], **kwargs: Any) -> AcquisitionSettings:
    kwargs.setdefault("root_path", "run.ome.zarr")
    return AcquisitionSettings(dimensions=dims, dtype="uint16", **kwargs)


def _tyx(t: int | None = 10, y: int = 256, x: int = 200, **kw: Any) -> list[Dimension]:
    return [
        Dimension(name="t", count=t, **kw),
        Dimension(name="y", count=y),
        Dimension(name="x", count=x),
    ]


# --------------------------------------------------------------- computation


def test_bounded_counts_every_pixel_and_the_documents() -> None:
    # one chunk file per frame (not the default grouping of small frames)
    estimate = _settings(_tyx(chunk_size=1)).estimated_size
    assert isinstance(estimate, SizeEstimate)
    pixels = 10 * 256 * 200 * 2
    frames = estimate.parts[0]
    assert frames.name == "frames" and frames.uncompressed_bytes == pixels
    assert [p.name for p in estimate.parts] == ["frames", "metadata"]
    assert estimate.uncompressed_bytes is not None
    assert pixels < estimate.uncompressed_bytes < pixels + 2000
    assert estimate.estimated_bytes == estimate.uncompressed_bytes  # no compression
    assert estimate.frames == 10 and estimate.files == 10 + 2
    assert estimate.bytes_per_frame == 256 * 200 * 2
    assert str(estimate) == f"about {format_bytes(estimate.uncompressed_bytes)}"


def test_edge_chunks_are_padded_and_shards_indexed() -> None:
    dims = [
        Dimension(name="t", count=5, chunk_size=2),
        Dimension(name="y", count=100, chunk_size=64),
        Dimension(name="x", count=130, chunk_size=64),
    ]
    frames = _settings(dims).estimated_size.parts[0]
    assert frames.uncompressed_bytes == 3 * 2 * 3 * (2 * 64 * 64 * 2)
    sharded = [
        Dimension(name="t", count=5, chunk_size=1, shard_size_chunks=2),
        Dimension(name="y", count=100, chunk_size=64, shard_size_chunks=2),
        Dimension(name="x", count=130, chunk_size=64, shard_size_chunks=2),
    ]
    frames = _settings(sharded).estimated_size.parts[0]
    shards = 3 * 1 * 2  # a shard holds at most the chunks covering the array
    chunks = 5 * 2 * 3 * 64 * 64 * 2  # padded to whole chunks: every chunk
    assert frames.uncompressed_bytes == chunks + shards * (2 * 2 * 2 * 16 + 4)
    assert frames.files == shards


def test_pyramid_levels_are_a_part_of_their_own() -> None:
    # one chunk per frame: no shard index (not the default grouping)
    estimate = _settings(_tyx(4, 300, 260, chunk_size=1), pyramid=3).estimated_size
    assert [p.name for p in estimate.parts] == ["frames", "pyramid", "metadata"]
    assert estimate.parts[1].uncompressed_bytes == 4 * 2 * (150 * 130 + 75 * 65)


def test_compression_divides_the_pixels_by_the_codec_ratio() -> None:
    # one chunk per frame: no shard index (not the default grouping)
    plain = _settings(_tyx(chunk_size=1)).estimated_size
    packed = _settings(_tyx(chunk_size=1), compression="blosc-zstd").estimated_size
    ratio = COMPRESSION_RATIOS["blosc-zstd"]
    assert packed.compression == "blosc-zstd" and packed.compression_ratio == ratio
    assert packed.uncompressed_bytes == plain.uncompressed_bytes
    pixels = plain.parts[0].uncompressed_bytes
    assert pixels is not None and packed.estimated_bytes is not None
    metadata = plain.parts[1].uncompressed_bytes
    assert packed.estimated_bytes == pytest.approx(pixels / ratio + metadata, abs=1)
    assert "with blosc-zstd (up to" in str(packed)


def test_every_compression_has_a_ratio() -> None:
    from ome_writers._registry import BACKENDS

    assert {c for r in BACKENDS for c in r.compressions} <= set(COMPRESSION_RATIOS)


def test_unbounded_gives_bytes_per_frame() -> None:
    dims = [
        Dimension(name="t", count=None, chunk_size=4),
        Dimension(name="c", type="channel", count=2),
        Dimension(name="y", count=100, chunk_size=64),
        Dimension(name="x", count=100),
    ]
    estimate = _settings(dims).estimated_size
    assert estimate.uncompressed_bytes is None and estimate.estimated_bytes is None
    assert estimate.frames is None and estimate.files is None
    # frames padded to two 64-row chunks
    assert estimate.bytes_per_frame == 128 * 100 * 2
    assert str(estimate) == "about 25.6 kB per frame, unbounded"


def test_ragged_positions_count_their_own_arrays() -> None:
    positions = [
        Position(name="a"),
        Position(name="b", dimensions=[Dimension(name="z", count=2)]),
    ]
    dims = [
        Dimension(name="p", type="position", coords=positions),
        Dimension(name="z", count=4, chunk_size=1),  # no shard index
        Dimension(name="y", count=64),
        Dimension(name="x", count=64),
    ]
    frames = _settings(dims).estimated_size.parts[0]
    assert frames.uncompressed_bytes == (4 + 2) * 64 * 64 * 2


def test_needs_dimensions_and_dtype() -> None:
    with pytest.raises(ValueError, match="dimensions must be set"):
        _ = AcquisitionSettings().estimated_size
    with pytest.raises(ValueError, match="dtype must be set"):
        _ = AcquisitionSettings(dimensions=_tyx()).estimated_size


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (12_345_678, "12.3 MB"),
        (123_456_789, "123 MB"),
        (4.1e9, "4.1 GB"),
        (2.5e15, "2500 TB"),
    ],
)
def test_format_bytes(n: float, text: str) -> None:
    assert format_bytes(n) == text


# ------------------------------------------------- against what is written


def _apparent_size(path: str) -> int:
    """Bytes of every file at `path` (``du --apparent-size``, files only)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(folder, name))
        for folder, _, names in os.walk(path)
        for name in names
    )


def _write(settings: AcquisitionSettings) -> int:
    """Write random frames (no chunk equals the fill value); the bytes written."""
    rng = np.random.default_rng(0)
    p = settings.position_dimension_index
    with create_stream(settings) as stream:
        for cell in settings.frame_cells():
            position = 0 if p is None else cell[p]
            y, x = (d.count or 1 for d in settings.position_frame_dimensions(position))
            stream.append(rng.integers(1, 60000, (y, x), dtype="uint16"))
    return _apparent_size(settings.output_path)


def _positions(n: int) -> Dimension:
    return Dimension(name="p", type="position", count=n)


LAYOUTS: dict[str, tuple[str, dict[str, Any]]] = {
    "single": ("any", {"dimensions": _tyx()}),
    "multi-position": (
        "any",
        {
            "dimensions": [
                _positions(3),
                Dimension(name="c", type="channel", count=2),
                Dimension(name="z", count=3),
                Dimension(name="y", count=128),
                Dimension(name="x", count=100),
            ]
        },
    ),
    "pyramid": ("any", {"dimensions": _tyx(4, 300, 260), "pyramid": 3}),
    "sharded": (
        "ome-zarr",
        {
            "dimensions": [
                Dimension(name="t", count=6, chunk_size=1, shard_size_chunks=4),
                Dimension(name="z", count=5, chunk_size=2, shard_size_chunks=2),
                Dimension(name="y", count=200, chunk_size=64, shard_size_chunks=2),
                Dimension(name="x", count=130, chunk_size=64, shard_size_chunks=2),
            ]
        },
    ),
    "edge-chunks": (
        "ome-zarr",
        {
            "dimensions": [
                Dimension(name="t", count=5, chunk_size=2),
                Dimension(name="y", count=100, chunk_size=64),
                Dimension(name="x", count=130, chunk_size=64),
            ]
        },
    ),
    "plate": (
        "ome-zarr",
        {
            "dimensions": [
                Dimension(
                    name="p",
                    type="position",
                    coords=[
                        Position(name="f0", plate_row="A", plate_column="1"),
                        Position(name="f1", plate_row="A", plate_column="2"),
                        Position(name="f2", plate_row="B", plate_column="1"),
                    ],
                ),
                Dimension(name="y", count=128),
                Dimension(name="x", count=128),
            ],
            "plate": Plate(row_names=["A", "B"], column_names=["1", "2"]),
        },
    ),
    "ragged": (
        "any",
        {
            "dimensions": [
                Dimension(
                    name="p",
                    type="position",
                    coords=[
                        Position(name="a"),
                        Position(name="b", dimensions=[Dimension(name="z", count=2)]),
                    ],
                ),
                Dimension(name="z", count=4),
                Dimension(name="y", count=128),
                Dimension(name="x", count=128),
            ]
        },
    ),
    **{
        f"tiff-{mode}": (
            "ome-tiff",
            {
                "dimensions": [
                    _positions(5),
                    Dimension(name="t", count=2),
                    Dimension(name="y", count=128),
                    Dimension(name="x", count=100),
                ],
                "format": OmeTiffFormat(**{key: mode}),
            },
        )
        for key, mode in (
            ("multi_file_metadata", "master-tiff"),
            ("multi_file_metadata", "companion-file"),
            ("prefer_single_file", "always"),
        )
    },
}


def _cases() -> list[Any]:
    """(layout, backend) for every backend writing the layout's format."""
    out = []
    for layout, (fmt, _) in LAYOUTS.items():
        kind = {"format": fmt} if fmt != "any" else {"writes_files": True}
        for param in backend_params(**kind):
            (backend,) = param.values
            out.append(
                pytest.param(
                    layout, backend, id=f"{layout}-{backend}", marks=param.marks
                )
            )
    return out


@pytest.mark.parametrize(("layout", "backend"), _cases())
def test_estimate_within_5_percent_of_the_bytes_written(
    tmp_path: Path, layout: str, backend: str
) -> None:
    fields = dict(LAYOUTS[layout][1])
    given = fields.pop("format", None)
    settings = AcquisitionSettings(
        root_path=str(tmp_path / f"run{suffix(backend)}"),
        dtype="uint16",
        format=given.model_copy(update={"backend": backend}) if given else backend,
        **fields,
    )
    estimate = settings.estimated_size
    written = _write(settings)
    assert estimate.uncompressed_bytes is not None
    error = estimate.uncompressed_bytes / written - 1
    assert abs(error) < 0.05, (estimate, written, f"{error:+.2%}")


# ---------------------------------------------------------------- labels


def test_label_images_are_a_part_of_their_own() -> None:
    dims = [
        Dimension(name="t", count=4),
        Dimension(name="c", type="channel", count=3),
        *_tyx()[1:],
    ]
    estimate = _settings(dims, labels=[{"name": "cells"}]).estimated_size
    assert [p.name for p in estimate.parts] == ["frames", "metadata", "labels"]
    labels = estimate.parts[-1]
    planes = 4 * 256 * 200 * 4  # one uint32 plane per t: channels share it
    assert labels.uncompressed_bytes is not None
    assert planes < labels.uncompressed_bytes < planes + 2000
    assert labels.estimated_bytes is not None
    assert labels.estimated_bytes < labels.uncompressed_bytes  # blosc-zstd
    # per frame of the image: 12 frames share 4 planes
    assert labels.bytes_per_frame == pytest.approx(planes / 12, rel=0.01)


@pytest.mark.parametrize("backend", ["tensorstore", "zarr-python"])
def test_label_estimate_within_5_percent_of_the_bytes_written(
    tmp_path: Path, backend: str
) -> None:
    pytest.importorskip("zarr" if backend == "zarr-python" else backend)
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "run.ome.zarr"),
        dimensions=[
            _positions(2),
            Dimension(name="t", count=3),
            Dimension(name="c", type="channel", count=2),
            Dimension(name="y", count=128),
            Dimension(name="x", count=100),
        ],
        dtype="uint16",
        format=backend,
        pyramid=2,
        labels=[{"name": "cells", "compression": "none"}],
    )
    part = settings.estimated_size.parts[-1]
    rng = np.random.default_rng(0)
    with create_stream(settings) as stream:
        for n in range(settings.num_frames or 0):
            stream.append(rng.integers(1, 60000, (128, 100), dtype="uint16"))
            stream.write_label("cells", rng.integers(1, 9, (128, 100)), frame=n)
    written = sum(
        _apparent_size(str(labels))
        for labels in (tmp_path / "run.ome.zarr").glob("*/labels")
    )
    assert written
    assert part.uncompressed_bytes is not None
    error = part.uncompressed_bytes / written - 1
    assert abs(error) < 0.05, (part, written, f"{error:+.2%}")
