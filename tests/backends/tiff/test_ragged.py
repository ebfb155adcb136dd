"""OME-TIFF file set whose positions differ in shape.

Bio-Formats opens any file of the set as every series (own sizes, pixel-exact,
no warnings); tifffile sees one series per position; ome-types parses the
joined OME-XML; pymmcore-plus's post-close metadata round trip still works.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from ome_types import model as m

from ome_writers import AcquisitionSettings, Dimension, Position, create_stream

from ._helpers import YX, X, Y, check_bioformats, check_xml, frame
from .conftest import BioFormats


def _settings(path: Path) -> AcquisitionSettings:
    positions = [
        Position(
            name="stack",
            x_coord=10.0,
            dimensions=[
                Dimension(name="z", count=3, type="space", scale=0.5, unit="um")
            ],
        ),
        Position(
            name="colour",
            dimensions=[Dimension(name="c", type="channel", coords=["DAPI", "FITC"])],
        ),
    ]
    return AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="p", type="position", coords=positions),
            Dimension(name="c", count=2, type="channel"),
            Dimension(name="z", count=3, type="space"),
            *YX,
        ],
        dtype="uint16",
    )


def test_file_set_of_different_shapes(tmp_path: Path, bioformats: BioFormats) -> None:
    settings = _settings(tmp_path / "set.ome.tiff")
    with create_stream(settings) as stream:
        for n in range(5):
            stream.append(frame(n), frame_metadata={"delta_t": float(n), "k": n})
        stream.set_global_metadata("acq", {"who": "test"})
    folder = tmp_path / "set"
    files = [folder / "set_p000.ome.tiff", folder / "set_p001.ome.tiff"]
    assert sorted(folder.iterdir()) == files
    # (series, z, c, t): the stack's planes are z, the other's channels
    planes = {
        (0, 0, 0, 0): frame(0),
        (0, 1, 0, 0): frame(1),
        (0, 2, 0, 0): frame(2),
        (1, 0, 0, 0): frame(3),
        (1, 0, 1, 0): frame(4),
    }
    for f in files:
        result = check_bioformats(bioformats, f, planes, series=2)
        assert [s[:3] for s in result.sizes] == [(3, 1, 1), (1, 2, 1)]
    ome = check_xml(files[1])
    assert [i.name for i in ome.images] == ["stack", "colour"]
    stack, colour = ome.images
    assert stack.pixels.physical_size_z == 0.5
    assert stack.stage_label is not None and stack.stage_label.x == 10.0
    assert [c.name for c in colour.pixels.channels] == ["DAPI", "FITC"]
    assert [p.delta_t for p in colour.pixels.planes] == [3.0, 4.0]
    ids = [a.id for a in ome.structured_annotations.map_annotations]
    assert len(ids) == len(set(ids)) == 6  # five frames' extras + one namespace
    for f, image in zip(files, ome.images, strict=True):
        assert {td.uuid.file_name for td in image.pixels.tiff_data_blocks} == {f.name}
    with tifffile.TiffFile(files[0]) as tif:
        shapes = [(s.shape, s.axes) for s in tif.series]
        assert shapes == [((3, Y, X), "ZYX"), ((2, Y, X), "CYX")]
        np.testing.assert_array_equal(tif.series[1].asarray()[1], frame(4))
    # pymmcore-plus 0.18.1 adds its summary after close, to every file's model
    models = stream.get_metadata()
    for model in models.values():
        sa = model.structured_annotations
        sa.map_annotations.append(
            m.MapAnnotation(namespace="pymmcore_plus", value={"summary": "{}"})
        )
    stream.update_metadata(models)
    for f in files:
        namespaces = [
            a.namespace for a in check_xml(f).structured_annotations.map_annotations
        ]
        assert "pymmcore_plus" in namespaces
        check_bioformats(bioformats, f, planes, series=2)
