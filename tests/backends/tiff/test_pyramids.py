"""OME-TIFF pyramids: SubIFD levels read by tifffile and Bio-Formats, pixel-exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from ome_writers import AcquisitionSettings, Dimension, Pyramid, create_stream
from tests.backends.pyramid.reference import reference_levels

from ._helpers import check_bioformats, check_xml
from .conftest import BioFormats

T, C, Z = 2, 2, 3


def _dims(y: int, x: int, positions: int = 1) -> list[Dimension]:
    out = [
        Dimension(name="t", count=T, type="time"),
        Dimension(name="c", count=C, type="channel", coords=["DAPI", "GFP"]),
        Dimension(name="z", count=Z, type="space"),
        Dimension(name="y", count=y, type="space", scale=0.5, unit="micrometer"),
        Dimension(name="x", count=x, type="space", scale=0.5, unit="micrometer"),
    ]
    if positions > 1:
        names = [f"p{i}" for i in range(positions)]
        out.insert(1, Dimension(name="p", type="position", coords=names))
    return out


def _frames(n: int, y: int, x: int, dtype: str) -> np.ndarray:
    rng = np.random.default_rng(3)
    if np.dtype(dtype).kind == "f":
        return (rng.normal(size=(n, y, x)) * 100).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, (n, y, x), endpoint=True).astype(dtype)


def _planes_by_zct(frames: np.ndarray) -> dict[tuple[int, int, int], np.ndarray]:
    """(z, c, t) -> frame, for frames appended in t, c, z order."""
    out = {}
    for i, f in enumerate(frames):
        t, rest = divmod(i, C * Z)
        c, z = divmod(rest, Z)
        out[(z, c, t)] = f
    return out


@pytest.mark.parametrize(
    ("y", "x", "dtype", "method", "compression"),
    [
        (64, 48, "uint16", "mean", None),  # even sizes
        (67, 45, "uint16", "mean", "zlib"),  # odd sizes, compressed
        (33, 40, "uint8", "max", None),
        (30, 31, "float32", "decimate", "zstd"),
        (25, 26, "int16", "min", "lzw"),
    ],
)
def test_subifd_levels(
    tmp_path: Path,
    bioformats: BioFormats,
    caplog: Any,
    y: int,
    x: int,
    dtype: str,
    method: str,
    compression: str | None,
) -> None:
    path = tmp_path / "pyr.ome.tiff"
    levels = 3
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=_dims(y, x),
        dtype=dtype,
        compression=compression,
        pyramid=Pyramid(levels=levels, method=method),  # type: ignore[arg-type]
    )
    frames = _frames(T * C * Z, y, x, dtype)
    with create_stream(settings) as stream:
        view = stream.view(level=2)
        for frame in frames:
            stream.append(frame)
        live = np.asarray(view)  # the live view of level 2 before close
    expected = [
        reference_levels(frames, (False, True, True), method, levels)[k]
        for k in range(levels)
    ]
    np.testing.assert_array_equal(live.reshape(expected[2].shape), expected[2])
    # tifffile: one series, `levels` levels, every level pixel-exact
    with tifffile.TiffFile(path) as tif:
        assert len(tif.series) == 1
        series = tif.series[0]
        assert len(series.levels) == levels
        for k, level in enumerate(series.levels):
            data = level.asarray().reshape(expected[k].shape)
            np.testing.assert_array_equal(data, expected[k], f"level {k}")
        assert len(tif.pages) == T * C * Z  # SubIFDs are not top-level pages
    assert not [r for r in caplog.records if r.name == "tifffile"], caplog.text
    # OME-XML unchanged (XSD-valid, full-resolution sizes)
    pixels = check_xml(path).images[0].pixels
    assert (pixels.size_x, pixels.size_y, pixels.size_z) == (x, y, Z)
    # Bio-Formats: the resolution count and every plane of every level
    by_zct = _planes_by_zct(frames)
    result = check_bioformats(bioformats, path, {(0, *k): v for k, v in by_zct.items()})
    assert result.resolutions == {0: levels}, result.output
    for k in range(1, levels):
        reduced = {zct: expected[k][i] for i, zct in enumerate(by_zct)}
        for (z, c, t), plane in reduced.items():
            assert result.level_matches(0, k, z, c, t, plane), (
                f"level {k} plane {(z, c, t)}:\n{result.output}"
            )


def test_subifd_levels_multi_file(tmp_path: Path, bioformats: BioFormats) -> None:
    """Each file of a multi-position set carries its pages' levels."""
    root = tmp_path / "multi.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=_dims(20, 17, positions=2),
        dtype="uint16",
        pyramid=2,
    )
    n = T * 2 * C * Z
    frames = _frames(n, 20, 17, "uint16")
    with create_stream(settings) as stream:
        for frame in frames:
            stream.append(frame)
    per_position = frames.reshape(T, 2, C * Z, 20, 17).transpose(1, 0, 2, 3, 4)
    for p, path in enumerate(sorted(Path(settings.output_path).glob("*.ome.tiff"))):
        expected = reference_levels(
            per_position[p].reshape(-1, 20, 17), (False, True, True), "mean", 2
        )
        with tifffile.TiffFile(path) as tif:
            # each file's OME-XML describes the whole set: image p is series p
            levels = tif.series[p].levels
            assert len(levels) == 2
            got = levels[1].asarray().reshape(expected[1].shape)
            np.testing.assert_array_equal(got, expected[1])
        result = bioformats.read(path)
        assert set(result.resolutions.values()) == {2}, result.output


def test_padding_pages_get_levels(tmp_path: Path, bioformats: BioFormats) -> None:
    """Closed early: the zero pages that complete the last time point have
    SubIFDs too, so every page has the same resolution count."""
    path = tmp_path / "early.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path), dimensions=_dims(16, 16), dtype="uint16", pyramid=3
    )
    frames = _frames(C * Z + 2, 16, 16, "uint16")
    with create_stream(settings) as stream:
        for frame in frames:
            stream.append(frame)
    with tifffile.TiffFile(path) as tif:
        assert all(len(page.subifds or ()) == 2 for page in tif.pages)
        level1 = tif.series[0].levels[1].asarray().reshape(-1, 8, 8)
    full = np.zeros((2 * C * Z, 16, 16), "uint16")
    full[: len(frames)] = frames
    expected = reference_levels(full, (False, True, True), "mean", 2)[1]
    np.testing.assert_array_equal(level1, expected)
    result = bioformats.read(path)
    assert result.resolutions == {0: 3}, result.output


def test_tiff_refuses_z_reduction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SubIFDs of each 2D page"):
        AcquisitionSettings(
            root_path=str(tmp_path / "z.ome.tiff"),
            dimensions=_dims(16, 16),
            dtype="uint16",
            pyramid=Pyramid(levels=2, reduce_z=True),
        )
