"""OME-TIFF with more than five axes: one series per angle (and position),
read by Bio-Formats pixel-exact without warnings, each Image annotated with
the coordinates it holds."""

from __future__ import annotations

from pathlib import Path

from ome_writers import AcquisitionSettings, Dimension

from ._helpers import YX, check_bioformats, check_xml, frame, write
from .conftest import BioFormats


def test_angles_and_positions_as_series(tmp_path: Path, bioformats: BioFormats) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "ls.ome.tiff"),
        dimensions=[
            Dimension(name="p", type="position", coords=["A", "B"]),
            Dimension(name="angle", count=2, type="other"),
            Dimension(name="t", count=2, type="time"),
            Dimension(name="c", count=2, type="channel"),
            Dimension(name="z", count=3, type="space"),
            *YX,
        ],
        dtype="uint16",
    )
    write(settings)
    # frame n: C order over (p, angle, t, c, z); series = p * 2 + angle
    planes = {}
    n = 0
    for p in range(2):
        for angle in range(2):
            for t in range(2):
                for c in range(2):
                    for z in range(3):
                        planes[(p * 2 + angle, z, c, t)] = frame(n)
                        n += 1
    files = sorted((tmp_path / "ls").iterdir())
    assert [f.name for f in files] == [f"ls_p00{k}.ome.tiff" for k in range(4)]
    for f in (files[0], files[3]):
        result = check_bioformats(bioformats, f, planes, series=4)
        assert [s[:3] for s in result.sizes] == [(3, 2, 2)] * 4
    ome = check_xml(files[0])
    assert [i.name for i in ome.images] == [
        "A_angle0",
        "A_angle1",
        "B_angle0",
        "B_angle1",
    ]
    notes = {a.id: a for a in ome.structured_annotations.map_annotations}
    for k, image in enumerate(ome.images):
        (ref,) = image.annotation_refs
        note = notes[ref.id]
        assert note.namespace == "ome_writers.series"
        assert {m.k: m.value for m in note.value.ms} == {
            "p": "AB"[k // 2],
            "angle": str(k % 2),
        }


def test_cameras_of_different_sizes_in_one_set(
    tmp_path: Path, bioformats: BioFormats
) -> None:
    import numpy as np

    from ome_writers import Position, create_stream

    small = Position(
        name="right",
        dimensions=[Dimension(name="y", count=3), Dimension(name="x", count=2)],
        dtype="uint8",
    )
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "cams.ome.tiff"),
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="cam", type="position", coords=["left", small]),
            *YX,
        ],
        dtype="uint16",
    )
    right = [np.arange(6, dtype="uint8").reshape(3, 2) + 10 * t for t in range(2)]
    with create_stream(settings) as stream:
        for t in range(2):
            stream.append(frame(t))
            stream.append(right[t])
    planes = {(0, 0, 0, t): frame(t) for t in range(2)}
    planes.update({(1, 0, 0, t): right[t] for t in range(2)})
    # one OME-TIFF per camera, each describing its own image (Bio-Formats
    # reads a set's first series with the page size of the file it opens)
    for k, f in enumerate(sorted((tmp_path / "cams").iterdir())):
        own = {(0, *key[1:]): data for key, data in planes.items() if key[0] == k}
        result = check_bioformats(bioformats, f, own, series=1)
        assert result.sizes[0][3:] == ("XYTCZ", ["uint16", "uint8"][k])
