"""The loss window on OME-TIFF: a killed writer leaves files that open as they are.

A child process appends frames and makes them readable (`_make_readable`
called directly, or the loss window's own thread while it sleeps); the parent
kills it with SIGKILL and, without ``ome-writers repair``, reads the files with
tifffile (OME series, pixel-exact, nothing logged), ome-types, the OME schema
and Bio-Formats (sizes of the pages described, no warning). The provisional
OME-XML describes every complete outer index (the first index dimension,
e.g. T) of every image; the frames of an outer index in progress are
described once it completes.
"""

from __future__ import annotations

import shutil
import struct
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import ome_types
import pytest
import tifffile

from ome_writers import (
    AcquisitionSettings,
    Dimension,
    OmeTiffFormat,
    Position,
    Pyramid,
    create_stream,
)
from ome_writers._router import FrameRouter
from ome_writers.backends.tiff._file_set import parse_recovery_record
from ome_writers.tools.repair import repair

from ._helpers import (
    CHANNELS,
    YX,
    X,
    Y,
    by_name,
    check_bioformats,
    check_xml,
    frame,
    run_child_and_kill,
)
from .conftest import BioFormats

CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    import numpy as np
    from ome_writers import AcquisitionSettings, create_stream

    settings = AcquisitionSettings.model_validate_json(sys.argv[1])
    n, extra, mode = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

    def frame(i):
        base = np.arange(30).reshape(6, 5) % 50
        return (base + (i + 1) * 3).astype(settings.dtype)

    stream = create_stream(settings)
    for i in range(n):
        stream.append(frame(i), frame_metadata={"delta_t": i * 0.5, "n": i})
    if mode == "direct":
        stream._make_readable()
    elif mode == "timed":  # the loss window's thread makes them readable
        time.sleep(2 * settings.loss_window)
    elif mode == "torn":  # killed inside tifffile, writing the next page
        stream._make_readable()
        import tifffile

        write = tifffile.FileHandle.write

        def die(self, data, *args):
            data = np.ascontiguousarray(data).tobytes()
            if len(data) < 60:  # a link, not the page's pixels
                return write(self, data)
            write(self, data[:20])
            self.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        tifffile.FileHandle.write = die
        tifffile.FileHandle.write_array = die
        stream.append(frame(n))
        time.sleep(30)
    elif mode.startswith("close"):  # killed while closing
        from ome_writers.backends.tiff import _ome_models as _tiff_models

        written = []
        original = _tiff_models.replace_description

        def replace(path, xml):
            if mode == "close-first" and not written:
                written.append(path)
                return original(path, xml)
            os.kill(os.getpid(), signal.SIGKILL)

        _tiff_models.replace_description = replace
        stream.close()
    for i in range(n, n + extra):  # after the last visit: not promised
        stream.append(frame(i))
    print("READY", flush=True)
    time.sleep(120)
    """
)


def _run_and_kill(settings: AcquisitionSettings, n: int, extra: int, mode: str) -> None:
    args = [settings.model_dump_json(), str(n), str(extra), mode]
    kills_itself = mode == "torn" or mode.startswith("close")
    run_child_and_kill(CHILD, args, kills_itself=kills_itself)


def _described(
    settings: AcquisitionSettings, n: int, zct: Any = by_name
) -> dict[int, dict[tuple[int, int, int], np.ndarray]]:
    """Position -> (z, c, t) -> frame, for the complete outer indices (of the
    acquisition's first index dimension) among the first `n` frames (from the
    router, not the writer)."""
    router = FrameRouter(settings)
    storage = [d.name for d in settings.storage_index_dimensions]
    outer = storage.index(settings.index_dimensions[0].name) if storage else 0
    counts = [d.count or 1 for d in settings.storage_index_dimensions]
    inner = int(np.prod(counts)) // (counts[outer] if counts else 1)
    done: Counter[tuple[int, int]] = Counter()
    routes = [router.route(i) for i in range(n)]
    for position, index in routes:
        done[(position, index[outer] if index else 0)] += 1
    out: dict[int, dict[tuple[int, int, int], np.ndarray]] = {}
    for i, (position, index) in enumerate(routes):
        o = index[outer] if index else 0
        if all(done[(position, k)] == inner for k in range(o + 1)):
            out.setdefault(position, {})[zct(settings, index)] = frame(i)
    return out


def _check_readers(
    path: Path,
    described: dict[int, dict[tuple[int, int, int], np.ndarray]],
    bioformats: BioFormats,
    caplog: Any,
    metadata: Path | None = None,
) -> None:
    """tifffile, ome-types, the schema and Bio-Formats see the described frames
    (`metadata`: the companion file holding the description)."""
    images = sorted(described)
    xml = check_xml(metadata or path)
    assert [int(i.id.split(":")[1]) for i in xml.images] == images
    planes = {
        (s, *zct): data
        for s, position in enumerate(images)
        for zct, data in described[position].items()
    }
    if metadata is None:  # tifffile reads no companion file
        caplog.clear()
        with tifffile.TiffFile(path) as tif:
            assert tif.is_ome
            series = tif.series
            assert len(series) == len(images)
            for s, position in enumerate(images):
                data = series[s].asarray()
                axes = series[s].axes[:-2]
                for (z, c, t), expected in described[position].items():
                    by = {"Z": z, "C": c, "T": t}
                    key = tuple(by[a] for a in axes)
                    np.testing.assert_array_equal(data[key], expected)
                size = dict(zip(axes, data.shape, strict=False))
                for letter, k in (("Z", 0), ("C", 1), ("T", 2)):
                    extent = 1 + max(p[k] for p in described[position])
                    assert size.get(letter, 1) == extent
        assert not [r for r in caplog.records if r.name == "tifffile"], caplog.text
    for source in [path, *([metadata] if metadata else [])]:
        result = check_bioformats(bioformats, source, planes, series=len(images))
        for s, position in enumerate(images):
            z, c, t = (1 + max(p[k] for p in described[position]) for k in range(3))
            assert result.sizes[s][:3] == (z, c, t)


def _unbounded(**kwargs: Any) -> AcquisitionSettings:
    return AcquisitionSettings(
        dimensions=[
            Dimension(name="t", count=None),
            Dimension(name="z", count=3),
            *YX,
        ],
        dtype="uint16",
        **kwargs,
    )


@pytest.mark.parametrize("compression", [None, "zstd"])
def test_unbounded_t_killed_mid_outer_index(
    tmp_path: Path, bioformats: BioFormats, caplog: Any, compression: str | None
) -> None:
    """t x z: two complete timepoints described, the third (in progress) not."""
    path = tmp_path / "u.ome.tiff"
    settings = _unbounded(
        root_path=str(path), compression=compression, loss_window=None
    )
    _run_and_kill(settings, 8, 2, "direct")
    described = _described(settings, 8)
    assert len(described[0]) == 6
    _check_readers(path, described, bioformats, caplog)
    description = tifffile.tiffcomment(path)
    record = parse_recovery_record(description)
    assert record is not None and record["files"] == ["u.ome.tiff"]
    assert "ome_writers.provisional" in description


def test_timed_loss_window(tmp_path: Path, bioformats: BioFormats, caplog: Any) -> None:
    """No explicit call: the loss window's thread makes the frames readable."""
    path = tmp_path / "w.ome.tiff"
    settings = _unbounded(root_path=str(path), loss_window=0.3)
    _run_and_kill(settings, 12, 0, "timed")
    described = _described(settings, 12)
    assert len(described[0]) == 12
    _check_readers(path, described, bioformats, caplog)


def test_z_stack_killed_mid_outer_index(
    tmp_path: Path, bioformats: BioFormats, caplog: Any
) -> None:
    """t x c x z with named channels, killed within the second timepoint."""
    path = tmp_path / "z.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=3, scale=2.0, unit="s"),
            Dimension(name="c", type="channel", coords=CHANNELS[:2]),
            Dimension(name="z", count=2, scale=0.5, unit="um"),
            *YX,
        ],
        dtype="uint16",
        loss_window=None,
    )
    _run_and_kill(settings, 7, 0, "direct")
    described = _described(settings, 7)
    assert len(described[0]) == 4  # t0 only
    _check_readers(path, described, bioformats, caplog)
    (image,) = check_xml(path).images
    assert [ch.name for ch in image.pixels.channels] == ["DAPI", "FITC"]
    assert image.pixels.physical_size_x == 0.25


def test_explicit_storage_order(
    tmp_path: Path, bioformats: BioFormats, caplog: Any
) -> None:
    """Acquired t, c, z and stored c, t, z: complete timepoints (not storage
    indices of c) are described, a run per channel and timepoint."""
    path = tmp_path / "o.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=3),
            Dimension(name="c", count=3),
            Dimension(name="z", count=2),
            *YX,
        ],
        dtype="uint16",
        storage_order=["c", "t", "z", "y", "x"],
        loss_window=None,
    )
    _run_and_kill(settings, 13, 0, "direct")
    described = _described(settings, 13)
    assert len(described[0]) == 12
    _check_readers(path, described, bioformats, caplog)
    (image,) = check_xml(path).images
    assert image.pixels.dimension_order.value == "XYZTC"
    assert len(image.pixels.tiff_data_blocks) == 6


def test_camera_axis_outside_channel(
    tmp_path: Path, bioformats: BioFormats, caplog: Any
) -> None:
    """cam, t, c (cam folded into C, not adjacent to c): the outer index is
    the camera; its channels are named as at close."""
    path = tmp_path / "cam.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="cam", count=2, type="other"),
            Dimension(name="t", count=2),
            Dimension(name="c", coords=["DAPI", "FITC"]),
            *YX,
        ],
        dtype="uint16",
        loss_window=None,
    )

    def folded(settings: AcquisitionSettings, index: Any) -> tuple[int, int, int]:
        cam, t, c = index
        return 0, cam * 2 + c, t

    _run_and_kill(settings, 6, 0, "direct")
    described = _described(settings, 6, folded)
    assert len(described[0]) == 4
    _check_readers(path, described, bioformats, caplog)
    names = [c.name for c in check_xml(path).images[0].pixels.channels]
    assert names == ["DAPI-cam0", "FITC-cam0"]


def _positions(path: Path, **fmt: Any) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=None),
            Dimension(name="p", type="position", coords=["a", "b", "c"]),
            Dimension(name="z", count=2),
            *YX,
        ],
        dtype="uint16",
        format=OmeTiffFormat(**fmt),
        loss_window=None,
    )


@pytest.mark.parametrize("mode", ["redundant", "master-tiff", "companion-file"])
def test_multi_position_files(
    tmp_path: Path, bioformats: BioFormats, caplog: Any, mode: str
) -> None:
    """One file per position: every file (and the companion) opens as the set
    of the images with a complete timepoint. Until close one file holds the
    description (the first, or the companion), and the others point to it,
    in every mode: a description of every image in every file would be
    O(files²) bytes."""
    settings = _positions(tmp_path / "mp.ome.tiff", multi_file_metadata=mode)
    _run_and_kill(settings, 9, 1, "direct")  # t0 of all, t1 of a; b at z0
    described = _described(settings, 9)
    assert {p: len(v) for p, v in described.items()} == {0: 4, 1: 2, 2: 2}
    folder = tmp_path / "mp"
    tiffs = [folder / f"mp_p00{i}.ome.tiff" for i in range(3)]
    companion = folder / "mp.companion.ome" if mode == "companion-file" else None
    _check_readers(tiffs[0], described, bioformats, caplog, companion)
    assert not list(folder.glob(".*writing"))
    for path in tiffs[1:]:
        own = check_xml(path)
        assert own.binary_only is not None
        assert own.binary_only.metadata_file == (companion or tiffs[0]).name
        result = check_bioformats(bioformats, path, {}, series=3)
        assert [s[2] for s in result.sizes] == [2, 1, 1]


def test_single_file_multi_series(
    tmp_path: Path, bioformats: BioFormats, caplog: Any
) -> None:
    """Positions interleaved in one file: a TiffData run per timepoint and
    image, many timepoints (the description grows, and moves, as needed)."""
    path = tmp_path / "one.ome.tiff"
    settings = _positions(path, prefer_single_file="always")
    _run_and_kill(settings, 6 * 40 + 3, 0, "direct")
    described = _described(settings, 6 * 40 + 3)
    assert {p: len(v) for p, v in described.items()} == {0: 82, 1: 80, 2: 80}
    _check_readers(path, described, bioformats, caplog)
    blocks = [i.pixels.tiff_data_blocks for i in check_xml(path).images]
    assert [len(b) for b in blocks] == [41, 40, 40]


def test_pyramid_subifds(tmp_path: Path, bioformats: BioFormats, caplog: Any) -> None:
    path = tmp_path / "pyr.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[Dimension(name="t", count=None), *YX],
        dtype="uint16",
        pyramid=Pyramid(levels=2),
        loss_window=None,
    )
    _run_and_kill(settings, 5, 1, "direct")
    _check_readers(path, _described(settings, 5), bioformats, caplog)
    with tifffile.TiffFile(path) as tif:
        (level,) = tif.series[0].levels[1:]
        assert level.shape == (5, 3, 3)
    result = bioformats.read(path)
    assert result.resolutions[0] == 2


def test_jagged_holes_padded_when_outer_index_completes(
    tmp_path: Path, bioformats: BioFormats, caplog: Any
) -> None:
    """FITC at the middle plane only: a timepoint is complete once its
    acquired cells are there (the others get zero pages then)."""
    order = sorted(
        [(t, 0, z) for t in range(3) for z in range(3)] + [(t, 1, 1) for t in range(3)]
    )
    path = tmp_path / "j.ome.tiff"
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="t", count=3, type="time"),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="z", count=3, type="space"),
            *YX,
        ],
        dtype="uint16",
        frame_order=order,
        loss_window=None,
    )
    _run_and_kill(settings, 6, 0, "direct")  # t0 (4 frames), 2 frames of t1
    zero = np.zeros((Y, X), "uint16")
    described = {0: {(z, c, t): frame(i) for i, (t, c, z) in enumerate(order[:4])}}
    described[0].update({(0, 1, 0): zero, (2, 1, 0): zero})
    _check_readers(path, described, bioformats, caplog)


def test_torn_page_is_never_linked(
    tmp_path: Path, bioformats: BioFormats, caplog: Any
) -> None:
    """Killed inside tifffile while it writes a page: the page chain ends at
    the last complete page, so readers see nothing broken."""
    path = tmp_path / "t.ome.tiff"
    settings = _unbounded(root_path=str(path), loss_window=None)
    _run_and_kill(settings, 6, 0, "torn")
    _check_readers(path, _described(settings, 6), bioformats, caplog)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 6


def test_a_first_page_killed_midway_is_never_reachable(tmp_path: Path) -> None:
    """Killed inside tifffile while it writes the file's first page: the
    header points at no page, rather than at a page that is not there (a
    reader polling meanwhile sees "nothing yet" the same way)."""
    path = tmp_path / "t.ome.tiff"
    settings = _unbounded(root_path=str(path), loss_window=None)
    _run_and_kill(settings, 0, 0, "torn")
    head = path.read_bytes()[:16]
    assert head[:4] == b"II+\x00"
    assert struct.unpack("<Q", head[8:16]) == (0,)
    assert path.stat().st_size > 16  # the page was begun


def test_provisional_description_does_not_grow(tmp_path: Path) -> None:
    """One image per file: each update writes the same small description
    (sizes and one run), however long the acquisition."""
    path = tmp_path / "g.ome.tiff"
    settings = _unbounded(root_path=str(path), loss_window=None)
    stream = create_stream(settings)
    sizes = []
    for i in range(300):
        stream.append(frame(i))
        if i % 30 == 29:
            stream._make_readable()
            with tifffile.TiffFile(path) as tif:
                sizes.append(tif.pages[0].tags["ImageDescription"].count)
    with tifffile.TiffFile(path) as tif:
        (block,) = (
            ome_types.from_xml(tif.pages[0].description)
            .images[0]
            .pixels.tiff_data_blocks
        )
        assert block.plane_count == 300
    stream.close()
    assert len(set(sizes)) == 1
    assert len(check_xml(path).images[0].pixels.tiff_data_blocks) == 1


def _plate(path: Path, positions: int) -> AcquisitionSettings:
    """`positions` files of two 16² channels each."""
    return AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(name="p", count=positions, type="position"),
            Dimension(name="c", count=2, type="channel"),
            Dimension(name="y", count=16),
            Dimension(name="x", count=16),
        ],
        dtype="uint16",
        format="tifffile",
        loss_window=None,
    )


def test_image_text_is_built_once_for_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image start tags of a multi-position set's provisional text are
    built once for the room and once per update, not once per file started
    (a 96-well plate's 384 files made a close wait ~20 s for the writer
    thread); the first file holds the text, the others point to it, and at
    close every file gets the full OME-XML ("redundant")."""
    from ome_writers.backends.tiff._provisional_xml import ProvisionalXml

    built: Counter[int] = Counter()
    image_open = ProvisionalXml.image_open

    def counted(self: ProvisionalXml, position: int, sizes: dict[str, int]) -> str:
        built[position] += 1
        return image_open(self, position, sizes)

    monkeypatch.setattr(ProvisionalXml, "image_open", counted)
    positions = 12
    settings = _plate(tmp_path / "plate.ome.tiff", positions)
    with create_stream(settings) as stream:
        for i in range(positions * 2):
            stream.append(np.full((16, 16), i, "uint16"))
        stream._make_readable()
    # once for the room every file keeps, once for the update of every file
    assert built == dict.fromkeys(range(positions), 2)
    files = sorted(tmp_path.rglob("*.ome.tiff"))
    assert len(files) == positions
    for file in files:  # each file still describes every image, complete
        assert len(check_xml(file).images) == positions


@pytest.mark.parametrize("positions", [4, 64])
def test_only_the_first_file_grows_with_the_set(tmp_path: Path, positions: int) -> None:
    """Until close, a file of a multi-position set other than the first holds
    its pages and a pointer to the first (no description of every image, no
    copy of the recovery record): its size does not depend on the number of
    positions. A 384-field plate's files held 1.3 MB of description room
    each."""
    settings = _plate(tmp_path / "plate.ome.tiff", positions)
    stream = create_stream(settings)
    for i in range(positions * 2):
        stream.append(np.full((16, 16), i, "uint16"))
    stream._make_readable()
    files = sorted((tmp_path / "plate").glob("*.ome.tiff"))
    assert len(files) == positions
    pages = 2 * 16 * 16 * 2
    for file in files[1:]:
        assert file.stat().st_size < pages + 2048, file.name
        with tifffile.TiffFile(file) as tif:
            record = parse_recovery_record(tif.pages[0].description)
        assert record is not None
        assert record["record_in"] == files[0].name
        assert "settings" not in record
    with tifffile.TiffFile(files[0]) as tif:
        record = parse_recovery_record(tif.pages[0].description)
    assert record is not None
    assert len(record["settings"]["dimensions"][0]["coords"]) == positions
    stream.close()
    for file in (files[0], files[-1]):  # "redundant": the full OME-XML in each
        assert len(check_xml(file).images) == positions


@pytest.mark.parametrize("mode", ["close", "close-first"])
def test_repair_after_kill_mid_close(
    tmp_path: Path, bioformats: BioFormats, caplog: Any, mode: str
) -> None:
    """Killed while writing the full OME-XML (before any file got it, or
    after the first of the set): repair completes it, with the per-frame
    metadata journaled beside the files."""
    settings = _positions(tmp_path / "k.ome.tiff")
    _run_and_kill(settings, 9, 0, mode)
    folder = tmp_path / "k"
    journal = folder / ".k_p000.ome.tiff.frame_metadata.jsonl"
    assert len(journal.read_text().splitlines()) == 9
    # close padded position b's timepoint 1 (a zero page, counted as a frame)
    report = repair(folder)
    assert report == (
        f"{folder}: rebuilt OME-XML for 10 frames in 3 file(s), "
        "9 with per-frame metadata"
    )
    assert not journal.exists()
    router = FrameRouter(settings)
    planes = {}
    for i in range(9):
        position, index = router.route(i)
        planes[(position, *by_name(settings, index))] = frame(i)
    for path in sorted(folder.glob("*.ome.tiff")):
        result = check_bioformats(bioformats, path, planes, series=3)
        assert [s[2] for s in result.sizes] == [2, 2, 1]
    ome = check_xml(folder / "k_p000.ome.tiff")
    deltas = [p.delta_t for i in ome.images for p in i.pixels.planes]
    assert sorted(deltas) == [i * 0.5 for i in range(9)]
    assert "nothing to repair" in repair(folder)


def test_repair_of_one_file_repairs_its_set(tmp_path: Path) -> None:
    """Given a file of a set other than the first, repair finds the recovery
    record where that file points (the first file) and repairs the set; with
    the first file gone it says which file it needs."""
    settings = _positions(tmp_path / "s.ome.tiff")
    _run_and_kill(settings, 9, 0, "direct")
    folder = tmp_path / "s"
    spare = tmp_path / "spare"
    shutil.copytree(folder, spare)
    report = repair(folder / "s_p002.ome.tiff")
    assert "in 3 file(s), 9 with per-frame metadata" in report
    for path in sorted(folder.glob("*.ome.tiff")):
        assert [i.pixels.size_t for i in check_xml(path).images] == [2, 2, 1]
    (spare / "s_p000.ome.tiff").unlink()
    with pytest.raises(FileNotFoundError, match=r"'s_p000\.ome\.tiff'.*whole file set"):
        repair(spare / "s_p001.ome.tiff")


def test_repair_after_kill_keeps_metadata(tmp_path: Path) -> None:
    """A kill after make_readable: the files open as they are; repair adds the
    frames of the outer index in progress and the journaled metadata."""
    path = tmp_path / "r.ome.tiff"
    settings = _unbounded(root_path=str(path), loss_window=None)
    _run_and_kill(settings, 8, 0, "direct")
    report = repair(path)
    assert report.endswith("8 frames in 1 file(s), 8 with per-frame metadata")
    (image,) = ome_types.from_tiff(path).images
    assert image.pixels.size_t == 3
    assert [p.delta_t for p in image.pixels.planes] == [i * 0.5 for i in range(8)]


@pytest.mark.parametrize("positions", [1, 3])
def test_plane_text_matches_the_models(tmp_path: Path, positions: int) -> None:
    """Close writes the Planes as text; the models asked for afterwards hold
    the same Planes and annotations (IDs included)."""
    p = [Dimension(name="p", type="position", coords=["a", "b", "c"])]
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "m.ome.tiff"),
        dimensions=[
            Dimension(name="t", count=3),
            *(p if positions > 1 else []),
            Dimension(name="c", type="channel", coords=CHANNELS[:2]),
            *YX,
        ],
        dtype="uint16",
        format=OmeTiffFormat(prefer_single_file="always"),
    )
    with create_stream(settings) as stream:
        for i in range(settings.num_frames or 0):
            meta = {"delta_t": i * 0.5, "position_x": 1.5, "cam": "c<&>", "n": i}
            stream.append(frame(i), frame_metadata=meta if i != 2 else None)
        stream.set_global_metadata("ns", {"a": 1})
    written = ome_types.from_tiff(settings.output_path)
    (model,) = stream.get_metadata().values()
    assert ome_types.to_xml(written) == ome_types.to_xml(model)
    planes = [pl for image in written.images for pl in image.pixels.planes]
    assert len(planes) == 3 * 2 * positions - 1
    annotations = written.structured_annotations.map_annotations
    assert {a.namespace for a in annotations} >= {"ns"}
    by_id = {a.id: a for a in annotations}
    values = by_id[planes[0].annotation_refs[0].id].value.ms
    assert [(v.k, v.value) for v in values] == [("cam", "c<&>"), ("n", "0")]


def test_positions_of_different_shapes(
    tmp_path: Path, bioformats: BioFormats, caplog: Any
) -> None:
    """Ragged positions: each position's file describes its own image."""
    stack = Position(
        name="stack", dimensions=[Dimension(name="z", count=3, type="space")]
    )
    colour = Position(
        name="colour",
        dimensions=[Dimension(name="c", type="channel", coords=["DAPI", "FITC"])],
    )
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "set.ome.tiff"),
        dimensions=[
            Dimension(name="p", type="position", coords=[stack, colour]),
            Dimension(name="c", count=2, type="channel"),
            Dimension(name="z", count=3, type="space"),
            *YX,
        ],
        dtype="uint16",
        loss_window=None,
    )
    _run_and_kill(settings, 4, 0, "direct")  # the stack, and DAPI of colour
    folder = tmp_path / "set"
    stack_planes = {(z, 0, 0): frame(z) for z in range(3)}
    _check_readers(folder / "set_p000.ome.tiff", {0: stack_planes}, bioformats, caplog)
    colour_planes = {(0, 0, 0): frame(3)}
    _check_readers(folder / "set_p001.ome.tiff", {0: colour_planes}, bioformats, caplog)


def test_visit_does_not_hold_the_stream_lock(tmp_path: Path) -> None:
    """While the writer thread updates the descriptions, appends go on: the
    loss window waits for it without the stream's lock."""
    import threading

    from ome_writers.backends.tiff._writer import TiffBackend

    settings = AcquisitionSettings(
        root_path=str(tmp_path / "lock.ome.tiff"),
        dimensions=[Dimension(name="t", count=4), *YX],
        dtype="uint16",
        loss_window=None,
    )
    entered, release = threading.Event(), threading.Event()
    describe = TiffBackend._describe

    def slow(self: TiffBackend, zeros: np.ndarray, frames: int) -> None:
        entered.set()
        release.wait(10)
        describe(self, zeros, frames)

    TiffBackend._describe = slow  # type: ignore[method-assign]
    try:
        stream = create_stream(settings)
        stream.append(frame(0))
        visit = threading.Thread(target=stream._make_readable)
        visit.start()
        assert entered.wait(10)
        appended = threading.Thread(target=stream.append, args=(frame(1),))
        appended.start()
        appended.join(5)
        blocked = appended.is_alive()
        release.set()
        visit.join(10)
        appended.join(10)
        assert not blocked, "append waited for the visit"
        stream.append(frame(2))
        stream.append(frame(3))
        stream.close()
    finally:
        TiffBackend._describe = describe  # type: ignore[method-assign]
        release.set()
    data = tifffile.imread(tmp_path / "lock.ome.tiff")
    for i in range(4):
        np.testing.assert_array_equal(data[i], frame(i))
