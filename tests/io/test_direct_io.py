"""Large frames written with direct I/O: chunk files and OME-TIFF strips."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import tifffile

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._io import _direct
from ome_writers.backends.zarr import _chunk_file_writer as _chunk_files
from ome_writers.backends.zarr._chunk_file_writer import ChunkFiles

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.skipif(
    not _direct.O_DIRECT, reason="no O_DIRECT on this platform"
)

SHAPE = (256, 512)  # 256 KiB of uint16: large enough, whole blocks
TIFF_SHAPE = (1024, 1024)  # 2 MiB: large enough for a TIFF strip
DTYPE = np.dtype("uint16")


def _frames(n: int, shape: tuple[int, int] = SHAPE) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 65535, shape, dtype=DTYPE) for _ in range(n)]


def _spy_opens(monkeypatch: pytest.MonkeyPatch, *, refuse: bool) -> list[str]:
    """Paths opened with O_DIRECT (refused with EINVAL when `refuse`)."""
    opened: list[str] = []
    real_open = os.open

    def spy(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & _direct.O_DIRECT:
            opened.append(str(path))
            if refuse:
                raise OSError(errno.EINVAL, "Invalid argument", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    return opened


def _skip_without_direct_io(path: Path) -> None:
    probe = path / "probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | _direct.O_DIRECT, 0o644)
    except OSError as e:
        if e.errno == errno.EINVAL:
            pytest.skip("the filesystem of tmp_path refuses O_DIRECT")
        raise
    os.close(fd)
    probe.unlink()


def test_only_large_frames_of_whole_blocks_suit_direct_io() -> None:
    assert _direct.direct_io_suits(256 * 1024)
    assert _direct.direct_io_suits(2048 * 2048 * 2)
    assert not _direct.direct_io_suits(128 * 128 * 2)  # small: buffered
    assert not _direct.direct_io_suits(1000 * 1000 * 2)  # not whole blocks
    tiff = _direct.TIFF_DIRECT_MIN_BYTES
    assert not _direct.direct_io_suits(512 * 512 * 2, tiff)  # a strip: buffered
    assert _direct.direct_io_suits(1024 * 1024 * 2, tiff)


def test_large_chunk_files_bypass_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _skip_without_direct_io(tmp_path)
    opened = _spy_opens(monkeypatch, refuse=False)
    written_back: list[int] = []
    files = ChunkFiles(
        SHAPE, DTYPE, lambda unit: str(tmp_path / "c" / str(unit) / "0" / "0"), tmp_path
    )
    monkeypatch.setattr(files.flusher, "add", lambda n, p=None: written_back.append(n))
    files.start()
    frames = _frames(6)
    buffer = np.empty(SHAPE, DTYPE)
    for unit, frame in enumerate(frames):
        buffer[...] = frame
        files.write(unit, buffer)  # reused at once: copied into the pool
    files.close()
    # (a first attempt fails where the directories do not exist yet)
    assert len(set(opened)) == 6 and all(p.endswith(".partial") for p in opened)
    assert not written_back  # nothing was left in the page cache
    for unit, frame in enumerate(frames):
        data = (tmp_path / "c" / str(unit) / "0" / "0").read_bytes()
        assert data == frame.tobytes()
    assert not list(tmp_path.rglob("*.partial"))


def test_chunk_files_fall_back_to_buffered_writes_when_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _spy_opens(monkeypatch, refuse=True)
    files = ChunkFiles(
        SHAPE, DTYPE, lambda unit: str(tmp_path / "c" / str(unit) / "0" / "0"), tmp_path
    )
    files.start()
    frames = _frames(5)
    for unit, frame in enumerate(frames):
        files.write(unit, frame)
    files.close()
    assert files.error is None and not files.direct
    assert 1 <= len(opened) <= _chunk_files.DIRECT_WRITER_THREADS  # then no more
    for unit, frame in enumerate(frames):
        data = (tmp_path / "c" / str(unit) / "0" / "0").read_bytes()
        assert data == frame.tobytes()
    assert not list(tmp_path.rglob("*.partial"))


def _tiff(path: Path, frames: list[np.ndarray]) -> None:
    settings = AcquisitionSettings(
        root_path=str(path),
        format="tifffile",
        dimensions=[
            Dimension(name="t", count=len(frames)),
            Dimension(name="y", count=frames[0].shape[0]),
            Dimension(name="x", count=frames[0].shape[1]),
        ],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        buffer = np.empty_like(frames[0])
        for frame in frames:
            buffer[...] = frame
            stream.append(buffer)


def test_large_tiff_strips_are_written_directly_on_block_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _skip_without_direct_io(tmp_path)
    opened = _spy_opens(monkeypatch, refuse=False)
    path = tmp_path / "d.ome.tiff"
    frames = _frames(6, TIFF_SHAPE)
    _tiff(path, frames)
    assert opened == [str(path)]
    with tifffile.TiffFile(path) as tif:
        offsets = [page.dataoffsets[0] for page in tif.pages]
        np.testing.assert_array_equal(tif.asarray(), np.stack(frames))
    # the first pages are tifffile's own, the later ones copies of its IFD
    assert all(offset % _direct.DIRECT_ALIGN == 0 for offset in offsets[2:])


def test_tiff_strips_are_written_buffered_when_direct_io_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _spy_opens(monkeypatch, refuse=True)
    path = tmp_path / "b.ome.tiff"
    frames = _frames(5, TIFF_SHAPE)
    _tiff(path, frames)
    assert len(opened) == 1  # refused once: not asked again
    with tifffile.TiffFile(path) as tif:
        np.testing.assert_array_equal(tif.asarray(), np.stack(frames))


@pytest.mark.parametrize(
    "shape",
    # 512 KiB: chunk files take it directly, a TIFF strip through the cache
    [(64, 64), (512, 512)],
    ids=["small", "medium"],
)
def test_tiff_frames_below_the_strip_minimum_keep_tifffile_layout(
    shape: tuple[int, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _spy_opens(monkeypatch, refuse=False)
    path = tmp_path / "s.ome.tiff"
    frames = _frames(4, shape)
    _tiff(path, frames)
    assert not opened
    with tifffile.TiffFile(path) as tif:
        assert all(page.dataoffsets[0] % 16 == 0 for page in tif.pages)
        np.testing.assert_array_equal(tif.asarray(), np.stack(frames))
