"""OME-TIFF with frames in a listed order: pages in arrival order, each mapped.

Bio-Formats (pixel-exact, no warnings) and tifffile read every plane where the
listed cell says, for one file per position and for one multi-series file.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from ome_writers import AcquisitionSettings, Dimension, OmeTiffFormat, create_stream

from ._helpers import YX, check_bioformats, check_xml, frame
from .conftest import BioFormats

CELLS = list(itertools.product(range(2), range(2), range(3)))  # (t, p, z)


def _order() -> list[tuple[int, ...]]:
    shuffled = CELLS[:]
    random.Random(3).shuffle(shuffled)
    return shuffled


@pytest.mark.parametrize("single_file", [False, True])
def test_listed_order(
    tmp_path: Path, bioformats: BioFormats, single_file: bool
) -> None:
    order = _order()
    path = tmp_path / "fo.ome.tiff"
    fmt: Any = OmeTiffFormat(prefer_single_file="always" if single_file else "never")
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="p", type="position", coords=["a", "b"]),
            Dimension(name="z", count=3, type="space"),
            *YX,
        ],
        dtype="uint16",
        format=fmt,
        frame_order=order,
    )
    with create_stream(settings) as stream:
        for n in range(len(order)):
            stream.append(frame(n), frame_metadata={"delta_t": float(n)})
    # (series, z, c, t) -> frame, from the listed cells alone
    planes = {(p, z, 0, t): frame(n) for n, (t, p, z) in enumerate(order)}
    files = (
        [path]
        if single_file
        else [tmp_path / "fo" / f"fo_p00{p}.ome.tiff" for p in (0, 1)]
    )
    for f in files:
        result = check_bioformats(bioformats, f, planes, series=2)
        assert result.sizes == [(3, 1, 2, "XYZTC", "uint16")] * 2
    ome = check_xml(files[0])
    for p, image in enumerate(ome.images):
        # every page has its own TiffData; Plane delta_t follows the frame
        assert sum(td.plane_count for td in image.pixels.tiff_data_blocks) == 6
        by_cell = {(pl.the_t, pl.the_z): pl.delta_t for pl in image.pixels.planes}
        for n, (t, pos, z) in enumerate(order):
            if pos == p:
                assert by_cell[(t, z)] == float(n)
    for p in (0, 1):
        source = files[0] if single_file else files[p]
        with tifffile.TiffFile(source) as tif:
            data = tif.series[p].asarray()  # each file describes the whole set
        for n, (t, pos, z) in enumerate(order):
            if pos == p:
                np.testing.assert_array_equal(data[t, z], frame(n))
    view = stream.view()
    assert view.dims == ("t", "p", "z", "y", "x")
    for n, cell in enumerate(order):
        np.testing.assert_array_equal(view[cell], frame(n))
