"""Unbounded, partial, skipped and empty acquisitions; live reads; writer errors."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from ome_writers import AcquisitionSettings, Dimension, OmeTiffFormat, create_stream
from ome_writers.errors import BackendError

from ._helpers import (
    YX,
    X,
    Y,
    check_bioformats,
    check_xml,
    dims,
    expected_planes,
    frame,
    tifffile_series,
    write,
)
from .conftest import BioFormats

ZERO = np.zeros((Y, X), "uint16")


@pytest.mark.parametrize(("count", "n"), [(None, 5), (4, 7), (None, 6)])
def test_unbounded_and_partial_are_padded(
    tmp_path: Path, bioformats: BioFormats, caplog: Any, count: int | None, n: int
) -> None:
    path = tmp_path / "u.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=count),
            Dimension(name="z", count=3),
            *YX,
        ],
        dtype="uint16",
    )
    stream = write(settings, n)
    size_t = -(-n // 3)  # rounded up; the missing planes are zero pages
    result = check_bioformats(bioformats, path, expected_planes(settings, n))
    assert result.sizes == [(3, 1, size_t, "XYZTC", "uint16")]
    for z in range(n % 3 or 3, 3):
        assert result.plane_matches(0, z, 0, size_t - 1, ZERO)
    assert tifffile_series(path, caplog) == [((size_t, 3, Y, X), "TZYX")]
    pixels = check_xml(path).images[0].pixels
    assert pixels.size_t == size_t
    assert pixels.tiff_data_blocks[0].plane_count == size_t * 3
    # views after close see every time point (not only the first)
    view = stream.view()
    assert view.shape == (size_t, 3, Y, X)
    np.testing.assert_array_equal(view[1, 0], frame(3))
    assert stream.view(dynamic_shape=False).shape[0] == (count or size_t)


def test_partial_with_explicit_storage_order(
    tmp_path: Path, bioformats: BioFormats
) -> None:
    """Closed early, storage order c,t,z: padded to whole outer (c) indices."""
    path = tmp_path / "p.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[*dims("tcz"), *YX],
        dtype="uint16",
        storage_order=["c", "t", "z", "y", "x"],
    )
    write(settings, 5)  # t0: c0 z0..1, c1 z0..1, c2 z0
    result = check_bioformats(bioformats, path, expected_planes(settings, 5))
    assert result.sizes == [(2, 3, 2, "XYZTC", "uint16")]
    assert result.plane_matches(0, 1, 2, 0, ZERO)
    assert result.plane_matches(0, 0, 0, 1, ZERO)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 12


def test_partial_multi_position(tmp_path: Path, bioformats: BioFormats) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "mp.ome.tiff"),
        dimensions=[
            Dimension(name="t", count=None),
            Dimension(name="p", type="position", coords=["a", "b", "c"]),
            Dimension(name="z", count=2),
            *YX,
        ],
        dtype="uint16",
    )
    write(settings, 8)  # t0 complete; t1: position a only
    path = tmp_path / "mp" / "mp_p001.ome.tiff"
    result = check_bioformats(bioformats, path, expected_planes(settings, 8), series=3)
    assert [s[2] for s in result.sizes] == [2, 1, 1]


def test_skip_writes_zero_planes(tmp_path: Path, bioformats: BioFormats) -> None:
    path = tmp_path / "s.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[Dimension(name="t", count=4), *YX],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        stream.append(frame(0))
        stream.skip(frames=2)
        stream.append(frame(3))
    planes = {(0, 0, 0, 0): frame(0), (0, 0, 0, 1): ZERO, (0, 0, 0, 2): ZERO}
    check_bioformats(bioformats, path, {**planes, (0, 0, 0, 3): frame(3)})
    pixels = check_xml(path).images[0].pixels
    assert [b.plane_count for b in pixels.tiff_data_blocks] == [4]
    assert pixels.planes == []  # no frame metadata: no Plane elements


@pytest.mark.parametrize("positions", [1, 2])
def test_zero_frames_leave_a_readable_file(
    tmp_path: Path, bioformats: BioFormats, positions: int
) -> None:
    """Closed before its first frame: output_path exists and opens (one zero
    plane per image, listed as not acquired), and post-close metadata calls
    (pymmcore-plus after a cancel) work."""
    p = [Dimension(name="p", type="position", coords=["a", "b"])]
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "z.ome.tiff"),
        dimensions=[Dimension(name="t", count=2), *p[: positions - 1], *YX],
        dtype="uint16",
    )
    stream = create_stream(settings)
    stream.close()
    out = Path(settings.output_path)
    assert out.exists()
    files = [out] if out.is_file() else sorted(out.iterdir())
    assert len(files) == positions
    zero = np.zeros((Y, X), "uint16")
    planes = {(s, 0, 0, 0): zero for s in range(positions)}
    for f in files:
        check_bioformats(bioformats, f, planes, series=positions)
    ome = check_xml(files[0])
    for image in ome.images:
        assert image.pixels.size_t == 1
        (ref,) = image.annotation_refs
        note = next(
            a for a in ome.structured_annotations.map_annotations if a.id == ref.id
        )
        assert note.namespace == "ome_writers.not_acquired"
        assert json.loads(note.value.ms[0].value) == [[0, 0, 0]]
    stream.set_global_metadata("ns", {"a": 1})
    models = stream.get_metadata()
    assert len(models) == positions
    stream.update_metadata(models)
    if positions == 1:
        assert stream.view().shape[0] == 0


@pytest.mark.parametrize("compression", ["none", "lzw", "zlib", "zstd"])
def test_live_read_while_writing(tmp_path: Path, compression: str) -> None:
    """Written pages are readable during acquisition; unwritten ones are zeros."""
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "live.ome.tiff"),
        dimensions=[Dimension(name="t", count=None), Dimension(name="c", count=2), *YX],
        dtype="uint16",
        compression=compression,
    )
    stream = create_stream(settings)
    view = stream.view(dynamic_shape=False)
    for i in range(5):
        stream.append(frame(i))
    stream.checkpoint()  # every queued page is on disk
    np.testing.assert_array_equal(view[2, 0], frame(4))
    np.testing.assert_array_equal(view[2, 1], ZERO)
    np.testing.assert_array_equal(view[0:2, 1, 1:3], [frame(1)[1:3], frame(3)[1:3]])
    stream.close()
    np.testing.assert_array_equal(stream.view()[2], [frame(4), ZERO])


def _block(backend: Any) -> None:
    """Wait until the writer thread has handled everything queued so far."""
    barrier = threading.Event()
    backend.work.put(barrier)
    barrier.wait()


def _failing_writer(backend: Any, fail_on: int) -> None:
    original = backend.pages.write_page
    calls = [0]

    def write_page(*args: Any) -> None:
        calls[0] += 1
        if calls[0] == fail_on:
            raise OSError(28, "No space left on device")
        original(*args)

    backend.pages.write_page = write_page


def test_writer_error_surfaces_at_next_append(tmp_path: Path) -> None:
    path = tmp_path / "w.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path), dimensions=[Dimension(name="t", count=5), *YX], dtype="u2"
    )
    stream = create_stream(settings)
    _failing_writer(stream._backend, fail_on=2)
    stream.append(frame(0))
    stream.append(frame(1))  # accepted; fails in the writer thread
    _block(stream._backend)
    with pytest.raises(OSError, match="No space"):
        stream.append(frame(2))
    with pytest.raises(RuntimeError, match="earlier write failed"):
        stream.append(frame(2))
    stream.close()  # already reported, not raised twice
    # the page written before the error is on disk and described
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome
        assert len(tif.pages) == 1
        np.testing.assert_array_equal(tif.pages[0].asarray(), frame(0))
    assert check_xml(path).images[0].pixels.size_t == 1


def test_writer_error_surfaces_at_close(tmp_path: Path) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "c.ome.tiff"),
        dimensions=[Dimension(name="t", count=5), *YX],
        dtype="u2",
    )
    stream = create_stream(settings)
    _failing_writer(stream._backend, fail_on=3)
    for i in range(3):
        stream.append(frame(i))
    with pytest.raises((OSError, BackendError), match="No space"):
        stream.close()


def test_caller_may_reuse_its_buffer(tmp_path: Path) -> None:
    """Frames are copied on append: one recycled buffer, every page distinct."""
    path = tmp_path / "r.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path), dimensions=[Dimension(name="t", count=40), *YX], dtype="u2"
    )
    buffer = np.empty((Y, X), "uint16")
    with create_stream(settings) as stream:
        for i in range(40):
            buffer[:] = frame(i)
            stream.append(buffer)
    data = tifffile.imread(path)
    for i in range(40):
        np.testing.assert_array_equal(data[i], frame(i))


def test_overwrite(tmp_path: Path) -> None:
    def settings(
        n: int, overwrite: bool, mode: str = "companion-file"
    ) -> AcquisitionSettings:
        return AcquisitionSettings(
            root_path=str(tmp_path / "set.ome.tiff"),
            dimensions=[
                Dimension(name="p", type="position", coords=[str(i) for i in range(n)]),
                *YX,
            ],
            dtype="uint8",
            overwrite=overwrite,
            format=OmeTiffFormat(multi_file_metadata=mode),  # type: ignore[arg-type]
        )

    write(settings(3, False))
    with pytest.raises(FileExistsError, match=r"already exists\. Use overwrite=True"):
        create_stream(settings(3, False))
    write(settings(2, True))
    # a stale _p002 from the larger run would be a third, unrelated image
    assert sorted(p.name for p in (tmp_path / "set").iterdir()) == [
        "set.companion.ome",
        "set_p000.ome.tiff",
        "set_p001.ome.tiff",
    ]
    # nor would the companion file of a run in another mode
    write(settings(2, True, "redundant"))
    assert sorted(p.name for p in (tmp_path / "set").iterdir()) == [
        "set_p000.ome.tiff",
        "set_p001.ome.tiff",
    ]


def test_first_description_is_built_before_the_first_frame(tmp_path: Path) -> None:
    """The writer thread builds the first file's provisional header while it
    waits for the first frame, so that building does not hold up the first
    appends; the file written is the same."""
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "early.ome.tiff"),
        dimensions=[
            Dimension(name="t", count=3, type="time"),
            Dimension(name="y", count=8),
            Dimension(name="x", count=8),
        ],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        header = stream._backend.provisional.sections[0][0]
        built = threading.Event()
        for _ in range(200):  # the writer thread is idle: it builds it at once
            if header.elements:
                built.set()
                break
            built.wait(0.01)
        assert built.is_set(), "no header before the first frame"
        for i in range(3):
            stream.append(np.full((8, 8), i, "uint16"))
    with tifffile.TiffFile(settings.output_path) as tif:
        assert tif.is_ome and len(tif.pages) == 3
        assert [int(p.asarray()[0, 0]) for p in tif.pages] == [0, 1, 2]
