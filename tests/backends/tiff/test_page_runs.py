"""Runs of pages in one file (several small frames, or one large) and the
loss window.

A child process writes 512x512 frames, whose pages go to the disk in runs of
several (`PageRun`), or 1024x1024 frames, each page a run of its own written
from the frame's buffer, makes them readable and is killed with SIGKILL; the
parent reads the file as it is with tifffile, ome-types, the OME schema and
Bio-Formats. A visit writes the run laid out so far; a run cut short by the
kill is never linked into the file.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import tifffile

from ome_writers import AcquisitionSettings, Dimension
from ome_writers._io import _frame_pool
from ome_writers._io._direct import O_DIRECT
from ome_writers.backends.tiff._page_runs import RUN_BYTES, PageRun
from tests.memory_maps import advised_huge_pages

from ._helpers import check_bioformats, check_xml, run_child_and_kill

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import BioFormats

pytestmark = pytest.mark.skipif(not O_DIRECT, reason="no O_DIRECT on this platform")

SIZE = 512

CHILD = textwrap.dedent(
    """
    import fcntl, os, signal, sys, time
    import numpy as np
    from ome_writers import AcquisitionSettings, create_stream

    settings = AcquisitionSettings.model_validate_json(sys.argv[1])
    n, extra, mode = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    size = int(sys.argv[5])

    def frame(i):
        return np.random.default_rng(i).integers(0, 65535, (size, size), "uint16")

    if mode == "slow":  # the first run's direct write counts as slow
        from ome_writers.backends.tiff import _page_runs

        _page_runs.TIMED_RUNS, _page_runs.SLOW_DIRECT_GBPS = 1, float("inf")
    stream = create_stream(settings)
    for i in range(n):
        stream.append(frame(i))
    if mode == "timed":  # the loss window's thread writes the run so far
        time.sleep(3 * settings.loss_window)
    else:
        stream._make_readable()
    if mode == "torn":  # killed halfway through the next run's direct write
        pwrite = os.pwrite

        def die(fd, data, offset):
            if not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
                return pwrite(fd, data, offset)
            half = memoryview(data).cast("B")[: len(memoryview(data).cast("B")) // 2]
            pwrite(fd, half[: len(half) // 4096 * 4096], offset)
            os.kill(os.getpid(), signal.SIGKILL)

        pwritev = os.pwritev

        def die_with_the_ifd_only(fd, buffers, offset):  # a large frame's page
            if not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
                return pwritev(fd, buffers, offset)
            pwrite(fd, buffers[0], offset)
            os.kill(os.getpid(), signal.SIGKILL)

        os.pwrite, os.pwritev = die, die_with_the_ifd_only
        for i in range(n, n + 8):
            stream.append(frame(i))
        stream._make_readable()
        time.sleep(30)
    for i in range(n, n + extra):  # after the last visit: not promised
        stream.append(frame(i))
    print("READY", flush=True)
    time.sleep(120)
    """
)


def _frame(i: int, size: int = SIZE) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 65535, (size, size), "uint16")


YX = [Dimension(name="y", count=SIZE), Dimension(name="x", count=SIZE)]


def _run_and_kill(
    path: Path, n: int, extra: int, mode: str, size: int = SIZE, **kwargs: Any
) -> None:
    yx = [Dimension(name="y", count=size), Dimension(name="x", count=size)]
    kwargs.setdefault("dimensions", [Dimension(name="t", type="time"), *yx])
    settings = AcquisitionSettings(
        root_path=str(path),
        dtype="uint16",
        loss_window=0.3 if mode == "timed" else None,
        **kwargs,
    )
    args = [settings.model_dump_json(), str(n), str(extra), mode, str(size)]
    run_child_and_kill(CHILD, args, kills_itself=mode == "torn")


@pytest.mark.parametrize(
    ("mode", "n", "extra", "size"),
    [
        ("visit", 11, 3, SIZE),
        ("timed", 9, 0, SIZE),
        ("torn", 10, 0, SIZE),
        ("slow", 30, 3, SIZE),
        ("visit", 5, 3, 1024),
        ("timed", 4, 0, 1024),
        ("torn", 5, 0, 1024),
    ],
)
def test_killed_writer_leaves_the_runs_made_readable(
    mode: str, n: int, extra: int, size: int, tmp_path: Path, bioformats: BioFormats
) -> None:
    """Every page made readable is there, pixel-exact, for every reader; the
    pages after the last visit, and a run whose write was cut short, are
    not in the file's chain. Also when pages went buffered after slow direct
    writes ("slow"), and for large frames (1024², each page a run of its
    own, written from the frame's buffer): then a page after the last visit
    may be linked, whole (a page is linked once written)."""
    path = tmp_path / "r.ome.tiff"
    _run_and_kill(path, n, extra, mode, size)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome
        if mode == "slow" or size != SIZE:
            assert n <= len(tif.pages) <= n + extra
            for i, page in enumerate(tif.pages):
                np.testing.assert_array_equal(page.asarray(), _frame(i, size))
        else:
            assert len(tif.pages) == n
        data = tif.series[0].asarray()
    assert data.shape == (n, size, size)
    for t in range(n):
        np.testing.assert_array_equal(data[t], _frame(t, size))
    xml = check_xml(path)
    assert xml.images[0].pixels.size_t == n
    planes = {(0, 0, 0, t): _frame(t, size) for t in range(n)}
    result = check_bioformats(bioformats, path, planes)
    assert result.sizes[0][:3] == (1, 1, n)


def test_jagged_holes_padded_in_a_run_are_in_the_file_when_described(
    tmp_path: Path, bioformats: BioFormats
) -> None:
    """FITC at the middle plane only: the zero pages of a timepoint's cells
    never acquired, laid out in a run at a visit, are written before the
    description that lists them."""
    order = sorted(
        [(t, 0, z) for t in range(3) for z in range(3)] + [(t, 1, 1) for t in range(3)]
    )
    path = tmp_path / "j.ome.tiff"
    dimensions = [
        Dimension(name="t", count=3, type="time"),
        Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
        Dimension(name="z", count=3, type="space"),
        *YX,
    ]
    # t0 (4 frames) and 2 frames of t1
    _run_and_kill(path, 6, 0, "visit", dimensions=dimensions, frame_order=order)
    zero = np.zeros((SIZE, SIZE), "uint16")
    planes = {(0, z, c, t): _frame(i) for i, (t, c, z) in enumerate(order[:4])}
    planes.update({(0, 0, 1, 0): zero, (0, 2, 1, 0): zero})
    xml = check_xml(path)
    assert xml.images[0].pixels.size_t == 1
    result = check_bioformats(bioformats, path, planes)
    assert result.sizes[0][:3] == (3, 2, 1)


def test_direct_write_threads_run_before_the_first_frame(tmp_path: Path) -> None:
    """The threads that write runs start with the stream: started at the
    first run instead, each start waits for an interpreter that a fast
    acquisition holds, and the disk idles meanwhile."""
    import threading

    from ome_writers import create_stream
    from ome_writers._io._direct import direct_io_suits

    if not direct_io_suits(SIZE * SIZE * 2):
        pytest.skip("direct I/O does not suit these frames here")
    before = {t for t in threading.enumerate() if t.name == "ome-writers-tiff-runs"}
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "runs.ome.tiff"),
        dimensions=[Dimension(name="t", type="time"), *YX],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        thread = stream._backend.pages.runs.strips._thread
        started = [thread] if thread is not None and thread.is_alive() else []
        assert started and not set(started) & before
        stream.append(_frame(0))
    assert not any(t.is_alive() for t in started)  # and stop at close


@pytest.mark.parametrize("frame_bytes", [256 * 1024, 512 * 1024, 1536 * 1024])
def test_run_blocks_are_of_huge_pages(frame_bytes: int) -> None:
    """A run's block is written with one direct write: in huge pages it
    reaches the device in fewer segments, which some disks take faster. It
    still holds two pages and the block's head before a run."""
    run = PageRun(frame_bytes + 4096, "<", own_strips=False)
    huge = _frame_pool._huge_page_bytes()
    if huge:
        assert run.block_bytes % huge == 0
    assert run.block_bytes >= max(RUN_BYTES, 2 * (frame_bytes + 4096) + 4096)
    assert advised_huge_pages(np.frombuffer(run._memory, np.uint8).ctypes.data)


@pytest.mark.parametrize(("size", "pool", "positions"), [(1024, 2, 1), (1024, 2, 2)])
def test_appends_into_a_small_pool_never_wait_forever(
    size: int,
    pool: int,
    positions: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A large frame's page is written from its buffer, which goes back to
    the pool once the page is finished: with a pool of two (as for frames of
    50 MiB and more; in one file or one file per position), a page written
    must not keep the buffer an append waits for while the writer thread
    has nothing else to do."""
    import threading

    from ome_writers import create_stream
    from ome_writers.backends.tiff import _writer

    monkeypatch.setattr(_writer, "POOL_FRAMES", pool)
    n = 12
    p = [Dimension(name="p", count=positions, type="position")] * (positions > 1)
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "pool.ome.tiff"),
        dimensions=[
            Dimension(name="t", count=n // positions, type="time"),
            *p,
            Dimension(name="y", count=size),
            Dimension(name="x", count=size),
        ],
        dtype="uint16",
        loss_window=None,
    )
    stream = create_stream(settings)
    assert len(stream._backend.pool) == pool

    def append_all() -> None:
        for i in range(n):
            stream.append(_frame(i, size))

    appending = threading.Thread(target=append_all, daemon=True)
    appending.start()
    appending.join(60)
    assert not appending.is_alive(), "an append waits for a buffer no one hands back"
    stream.close()
    files = sorted(tmp_path.rglob("*.ome.tiff"))
    assert len(files) == positions
    for position, path in enumerate(files):
        with tifffile.TiffFile(path) as tif:  # a file's own pages: its position
            assert len(tif.pages) == n // positions
            for t, page in enumerate(tif.pages):
                expected = _frame(t * positions + position, size)
                np.testing.assert_array_equal(page.asarray(), expected)
