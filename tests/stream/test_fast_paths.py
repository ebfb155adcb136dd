"""Fast paths write and read exactly what the plain paths do (hypothesis).

- tensorstore: a frame copied into a pooled buffer that tensorstore references
  vs a frame handed over for tensorstore's own copy;
- chunks spanning several frames: assembled in memory and written whole vs
  each frame written into its chunk by the library (read-modify-write);
- OME-TIFF: the page reader (one ``pread`` of the strip whose location the
  writer recorded, then the codec) vs tifffile's parser of the file;
- OME-TIFF: pages written as a moved copy of tifffile's IFD vs pages written
  by tifffile.

Each case writes the same frames both ways, then compares what independent
readers (zarr-python, tifffile) find, and what the live view returns.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._registry import BY_NAME

zarr = pytest.importorskip("zarr")

FAST = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
DTYPES = st.sampled_from(["uint8", "uint16", "int16", "float32"])
FRAME_SHAPES = st.tuples(st.integers(1, 40), st.integers(1, 40))
SEEDS = st.integers(0, 2**16)


def _requires(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not BY_NAME[name].available, reason=f"{name} not installed"
    )


def _frames(n: int, shape: tuple[int, int], dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal((n, *shape)).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, (n, *shape), endpoint=True, dtype=dtype)


def _t_series(n: int, shape: tuple[int, int]) -> list[Dimension]:
    return [
        Dimension(name="t", count=n),
        Dimension(name="y", count=shape[0]),
        Dimension(name="x", count=shape[1]),
    ]


def _write(
    root: Path,
    dims: list[Dimension],
    dtype: str,
    frames: np.ndarray,
    prepare: Any,
    each: Any = None,
    **kwargs: Any,
) -> np.ndarray:
    """Write `frames` (the caller's buffer is overwritten after each append).

    `prepare(backend)` runs before the first frame, `each(backend)` after
    every append.
    """
    acquisition = AcquisitionSettings(
        root_path=str(root), dimensions=dims, dtype=dtype, overwrite=True, **kwargs
    )
    buffer = np.empty_like(frames[0])
    with create_stream(acquisition, checkpoint_seconds=None) as stream:
        prepare(stream._backend)
        for frame in frames:
            buffer[...] = frame
            stream.append(buffer)
            buffer[...] = 0  # the buffer is reused at once, as a camera would
            if each is not None:
                each(stream._backend)
        # the whole declared extent (frames not appended read as zeros)
        live = np.asarray(stream.view(dynamic_shape=False))
    return live


@_requires("tensorstore")
@FAST
@given(
    shape=FRAME_SHAPES,
    dtype=DTYPES,
    n=st.integers(1, 7),
    compression=st.sampled_from(["none", "blosc-zstd", "zstd"]),
    seed=SEEDS,
)
def test_tensorstore_pooled_copy_equals_handing_over(
    shape: tuple[int, int], dtype: str, n: int, compression: str, seed: int
) -> None:
    frames = _frames(n, shape, dtype, seed)
    dims = _t_series(n, shape)
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for pooled in (True, False):
            root = Path(tmp) / f"pooled{pooled}.ome.zarr"

            def force(backend: Any, pooled: bool = pooled) -> None:
                backend._copy_frames = pooled

            live = _write(
                root, dims, dtype, frames, force,
                format="tensorstore", compression=compression,
            )  # fmt: skip
            stored = zarr.open_array(str(root / "0"), mode="r")[...]
            np.testing.assert_array_equal(stored, frames)
            np.testing.assert_array_equal(live, frames)
            results.append(stored)
        np.testing.assert_array_equal(results[0], results[1])


ZARR_WRITERS = [
    pytest.param(name, marks=_requires(name))
    for name in ("tensorstore", "zarr-python", "zarrs-python")
]


@pytest.mark.parametrize("backend", ZARR_WRITERS)
@FAST
@given(
    z=st.integers(2, 7),
    z_chunk=st.integers(2, 4),
    shard=st.sampled_from([None, 2]),
    t=st.integers(1, 3),
    acquired=st.floats(0.3, 1.0),
    dtype=DTYPES,
    seed=SEEDS,
)
def test_chunk_assembly_equals_per_frame_writes(
    backend: str,
    z: int,
    z_chunk: int,
    shard: int | None,
    t: int,
    acquired: float,
    dtype: str,
    seed: int,
) -> None:
    shape = (6, 5)
    total = t * z
    n = max(1, round(total * acquired))  # closed early: partial chunks too
    frames = _frames(n, shape, dtype, seed)
    dims = [
        Dimension(name="t", count=t),
        Dimension(name="z", count=z, chunk_size=z_chunk, shard_size_chunks=shard),
        Dimension(name="y", count=shape[0]),
        Dimension(name="x", count=shape[1]),
    ]
    expected = np.zeros((total, *shape), dtype=dtype)
    expected[:n] = frames
    expected = expected.reshape(t, z, *shape)
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for assembled in (True, False):
            root = Path(tmp) / f"assembled{assembled}.ome.zarr"

            def choose(b: Any, assembled: bool = assembled) -> None:
                assert b.arrays.assembler is not None  # the settings need it
                if not assembled:
                    b.arrays.assembler = None  # every frame straight into its chunk

            # the reference path: the library reads, modifies and writes the
            # chunk for each frame, one frame after the other
            settle = None if assembled else (lambda b: b.arrays.drain())
            live = _write(root, dims, dtype, frames, choose, settle, format=backend)
            stored = zarr.open_array(str(root / "0"), mode="r")[...]
            np.testing.assert_array_equal(stored, expected)
            if assembled:  # the live view overlays the chunks being assembled
                np.testing.assert_array_equal(live, expected)
            results.append(stored)
        np.testing.assert_array_equal(results[0], results[1])


@_requires("tifffile")
@FAST
@given(
    shape=FRAME_SHAPES,
    dtype=DTYPES,
    n=st.integers(1, 6),
    compression=st.sampled_from(["none", "lzw", "zlib", "zstd"]),
    seed=SEEDS,
)
def test_tiff_page_reader_equals_tifffile(
    shape: tuple[int, int], dtype: str, n: int, compression: str, seed: int
) -> None:
    import tifffile

    frames = _frames(n, shape, dtype, seed)
    dims = _t_series(n, shape)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "pages.ome.tiff"
        acquisition = AcquisitionSettings(
            root_path=str(root),
            dimensions=dims,
            dtype=dtype,
            compression=compression,
            format="tifffile",
        )
        with create_stream(acquisition, checkpoint_seconds=None) as stream:
            for frame in frames:
                stream.append(frame)
            stream.checkpoint()  # every page on disk: both readers see them all
            backend: Any = stream._backend
            offsets = backend.pages.level_offsets[0]
            assert len(offsets[0]) == n  # the fast path is the one taken
            fast = np.asarray(stream.view())
            offsets[0].clear()  # no strip locations: parse the file
            parsed = np.asarray(stream.view())
        with tifffile.TiffFile(root) as tif:
            independent = np.stack([page.asarray() for page in tif.pages])
        np.testing.assert_array_equal(fast, frames)
        np.testing.assert_array_equal(parsed, frames)
        np.testing.assert_array_equal(independent, frames)


class _CountingStamps(dict[int, Any]):
    """A backend's stamps, counting the pages written through them."""

    def __init__(self, uses: list[int]) -> None:
        super().__init__()
        self.uses = uses

    def __setitem__(self, key: int, stamp: Any) -> None:
        if stamp is not None:
            write = stamp.write

            def counted(*args: Any) -> Any:
                self.uses.append(key)
                return write(*args)

            stamp.write = counted
        super().__setitem__(key, stamp)


def _pages(path: Path) -> tuple[list[tuple[int, int, dict[int, Any]]], np.ndarray]:
    """(IFD offset, strip offset, tags but the description) of every page of
    one file, and the pixels of its pages."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        layout = [
            (
                page.offset,
                page.dataoffsets[0],
                {
                    tag.code: tag.value
                    for tag in page.tags.values()
                    if tag.code != 270  # ImageDescription (UUIDs, dates)
                },
            )
            for page in tif.pages
        ]
        return layout, np.stack([page.asarray() for page in tif.pages])


@_requires("tifffile")
@FAST
@given(
    shape=FRAME_SHAPES,
    dtype=DTYPES,
    n=st.integers(1, 7),
    positions=st.integers(1, 3),
    single_file=st.booleans(),
    pixel_size=st.sampled_from([None, 0.65]),
    seed=SEEDS,
)
def test_tiff_stamped_pages_equal_tifffile_pages(
    shape: tuple[int, int],
    dtype: str,
    n: int,
    positions: int,
    single_file: bool,
    pixel_size: float | None,
    seed: int,
) -> None:
    """Pages written as copies of tifffile's IFD are the pages tifffile writes:
    same places in the file, same tags, same pixels (odd sizes included)."""
    from ome_writers import OmeTiffFormat

    frames = _frames(n * positions, shape, dtype, seed)
    dims = [
        Dimension(name="t", count=n),
        Dimension(name="p", count=positions, type="position"),
        Dimension(name="y", count=shape[0], scale=pixel_size),
        Dimension(name="x", count=shape[1], scale=pixel_size),
    ]
    fmt = OmeTiffFormat(prefer_single_file="always" if single_file else "auto")
    per_file = positions == 1 or single_file
    # pages of each file in file order: acquisition order, or one position each
    expected = frames if per_file else np.concatenate(
        [frames[p::positions] for p in range(positions)]
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        layouts = []
        for stamp in (True, False):
            out = Path(tmp) / f"stamp{int(stamp)}"  # names of one length
            stamped: list[int] = []  # pages written through a stamp

            def prepare(
                backend: Any, stamp: bool = stamp, stamped: list[int] = stamped
            ) -> None:
                backend.pages.stampable = stamp
                backend.pages.stamps = _CountingStamps(stamped)

            live = _write(out / "a.ome.tiff", dims, dtype, frames, prepare, format=fmt)
            np.testing.assert_array_equal(live.reshape(-1, *shape), frames)
            files = sorted(out.rglob("*.ome.tiff"))
            assert len(files) == (1 if per_file else positions)
            found = [_pages(f) for f in files]
            layouts.append([layout for layout, _ in found])
            pixels = np.concatenate([p.reshape(-1, *shape) for _, p in found])
            np.testing.assert_array_equal(pixels, expected)
            # from each file's second page on (only when asked for), but the
            # one page tifffile writes for the stamp to be read from
            later = len(files) * max(0, len(frames) // len(files) - 1)
            assert len(stamped) == stamp * max(0, later - 1)
        assert layouts[0] == layouts[1]
