"""OME-TIFF with frames in a listed order: pages in arrival order, each mapped.

Bio-Formats (pixel-exact, no warnings) and tifffile read every plane where the
listed cell says, for one file per position and for one multi-series file.
"""

from __future__ import annotations

import itertools
import json
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


def test_jagged_order_marks_cells_not_acquired(
    tmp_path: Path, bioformats: BioFormats
) -> None:
    """FITC only at the middle plane: the other FITC planes are zero pages (so
    Bio-Formats reads a regular image), without Plane, listed as not acquired."""
    order = [(t, 0, z) for t in range(2) for z in range(3)]
    order += [(t, 1, 1) for t in range(2)]
    order.sort()
    path = tmp_path / "j.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="z", count=3, type="space"),
            *YX,
        ],
        dtype="uint16",
        frame_order=order,
    )
    with create_stream(settings) as stream:
        for n in range(len(order)):
            stream.append(frame(n), frame_metadata={"delta_t": float(n)})
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 12
        data = tif.series[0].asarray()
    holes = [(t, 1, z) for t in range(2) for z in (0, 2)]
    planes = {(0, z, c, t): frame(n) for n, (t, c, z) in enumerate(order)}
    zero = np.zeros_like(frame(0))
    planes.update({(0, z, c, t): zero for t, c, z in holes})
    result = check_bioformats(bioformats, path, planes)
    assert result.sizes == [(3, 2, 2, "XYZCT", "uint16")]
    for n, cell in enumerate(order):
        np.testing.assert_array_equal(data[cell], frame(n))
    ome = check_xml(path)
    (image,) = ome.images
    assert {(p.the_t, p.the_c, p.the_z) for p in image.pixels.planes} == set(order)
    (ref,) = image.annotation_refs
    annotations = ome.structured_annotations.map_annotations
    (note,) = [a for a in annotations if a.id == ref.id]
    assert note.namespace == "ome_writers.not_acquired"
    (entry,) = note.value.ms
    listed = {(t, c, z) for z, c, t in json.loads(entry.value)}
    assert listed == set(holes)
