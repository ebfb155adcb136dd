"""Compressed frame-sized chunks, encoded and written by threads of ours."""

from __future__ import annotations

import json
import struct
import sys
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ome_writers as ow
from ome_writers.backends.zarr import _chunk_file_writer as _chunk_files
from ome_writers.backends.zarr import _frame_encoder
from ome_writers.backends.zarr._array_writer import BLOSC_BLOCK_BYTES
from ome_writers.backends.zarr._chunk_file_writer import (
    ChunkFiles,
    ChunkFileWriter,
    frame_chunk_files,
)
from ome_writers.backends.zarr._frame_encoder import frame_encoder
from tests.backends.params import backend_params
from tests.backends.zarr.internals import blocked_writes

if TYPE_CHECKING:
    from pathlib import Path

numcodecs = pytest.importorskip("numcodecs")

SHAPE = (64, 32)
# the Zarr libraries whose arrays get chunk files of ours
LIBRARIES = backend_params(
    format="ome-zarr", names=["tensorstore", "zarr-python", "zarrs-python"]
)
CNAMES = {"blosc-zstd": "zstd", "blosc-lz4": "lz4"}


def _frames(count: int) -> list[np.ndarray]:
    # noise on a ramp: compressible, and every frame differs in every pixel
    rng = np.random.default_rng(7)
    ramp = np.arange(SHAPE[0] * SHAPE[1], dtype="uint16").reshape(SHAPE)
    return [ramp + rng.integers(0, 8, SHAPE, "uint16") + 97 * n for n in range(count)]


def _settings(
    root: Path, backend: str, compression: str, version: str = "0.5"
) -> ow.AcquisitionSettings:
    return ow.AcquisitionSettings(
        root_path=str(root),
        format={"backend": backend, "ngff_version": version},
        dimensions=[  # a chunk per frame (small frames are otherwise grouped)
            ow.Dimension(name="t", count=None, chunk_size=1),
            ow.Dimension(name="c", count=2),
            ow.Dimension(name="y", count=SHAPE[0]),
            ow.Dimension(name="x", count=SHAPE[1]),
        ],
        dtype="uint16",
        compression=compression,
    )


def _encoded_on(writer: ChunkFileWriter) -> list[str]:
    """Names of the threads that encode `writer`'s frames, as they do."""
    threads: list[str] = []
    encode = writer.files.encode
    assert encode is not None

    def recorded(frame: np.ndarray, out: np.ndarray) -> int:
        threads.append(threading.current_thread().name)
        return encode(frame, out)

    writer.files.encode = recorded
    return threads


@pytest.mark.parametrize("version", ["0.5", "0.4"])
@pytest.mark.parametrize("compression", ["blosc-zstd", "blosc-lz4", "zstd"])
@pytest.mark.parametrize("backend", LIBRARIES)
def test_compressed_frame_chunks_are_encoded_by_threads_of_ours(
    tmp_path: Path, backend: str, compression: str, version: str
) -> None:
    import tensorstore as ts
    import zarr

    root = tmp_path / "out.ome.zarr"
    stream = ow.create_stream(_settings(root, backend, compression, version))
    writer = stream._backend.arrays.writer
    assert isinstance(writer, ChunkFileWriter)
    threads = _encoded_on(writer)
    frames = _frames(7)
    for frame in frames:
        stream.append(frame)
    stream.close()
    assert len(threads) == 7
    assert set(threads) <= {"ome-writers-chunks"}  # never the appending thread

    expected = np.zeros((4, 2, *SHAPE), "uint16")
    expected.reshape(8, *SHAPE)[:7] = frames
    array = root / "0"
    np.testing.assert_array_equal(zarr.open_array(array, mode="r")[:], expected)
    driver = "zarr3" if version == "0.5" else "zarr"
    spec = {"driver": driver, "kvstore": {"driver": "file", "path": str(array)}}
    np.testing.assert_array_equal(ts.open(spec).result().read().result(), expected)

    # each chunk file is the frame as the declared codec encodes it
    if version == "0.5":
        doc = json.loads((array / "zarr.json").read_text())
        codec = doc["codecs"][-1]
        chunk = array / "c" / "1" / "0" / "0" / "0"
    else:
        doc = json.loads((array / ".zarray").read_text())
        codec = {"name": doc["compressor"]["id"], "configuration": doc["compressor"]}
        chunk = array / "1" / "0" / "0" / "0"
    encoded = chunk.read_bytes()
    assert len(encoded) < frames[2].nbytes  # compressed
    if compression in CNAMES:
        assert codec["name"] == "blosc"
        assert codec["configuration"]["cname"] == CNAMES[compression]
        # blosc's header: flags (bit 0: byte shuffle), then the type size
        flags, typesize = encoded[2], encoded[3]
        assert (typesize, flags & 1) == (2, 1)
        # the block size declared, as far as the frame reaches
        declared = codec["configuration"]["blocksize"]
        assert declared == BLOSC_BLOCK_BYTES
        (blocksize,) = struct.unpack_from("<I", encoded, 8)
        assert blocksize == min(declared, frames[2].nbytes)
        complib = numcodecs.blosc.cbuffer_complib(encoded)
        assert complib.lower().startswith(CNAMES[compression])
        decoded = numcodecs.blosc.decompress(encoded)
    else:
        assert codec["name"] == "zstd"
        decoded = numcodecs.zstd.decompress(encoded)
    np.testing.assert_array_equal(
        np.frombuffer(decoded, "<u2").reshape(SHAPE), frames[2]
    )
    assert not list(root.rglob("*.partial"))


@pytest.mark.parametrize(
    ("compression", "expected"),
    [("blosc-zstd", True), ("blosc-lz4", True), ("zstd", True), ("lzw", False)],
)
def test_compressions_numcodecs_encodes_get_chunk_files(
    compression: str, expected: bool
) -> None:
    assert (frame_encoder(compression) is not None) is expected
    assert (
        frame_chunk_files(
            local=True,
            compression=compression,
            sharded=False,
            chunks=(1, *SHAPE),
            frame_shape=SHAPE,
            dtype=np.dtype("uint16"),
        )
        is expected
    )


def test_without_a_codec_library_the_library_encodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An install with neither imagecodecs nor numcodecs (tensorstore alone)
    keeps the library's own compressed writes."""
    pytest.importorskip("tensorstore")
    import zarr

    for name in ("numcodecs", "imagecodecs"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails
    assert frame_encoder("blosc-zstd") is None
    root = tmp_path / "out.ome.zarr"
    stream = ow.create_stream(_settings(root, "tensorstore", "blosc-zstd"))
    assert not isinstance(stream._backend.arrays.writer, ChunkFileWriter)
    frames = _frames(3)
    for frame in frames:
        stream.append(frame)
    stream.close()
    monkeypatch.undo()
    data = zarr.open_array(root / "0", mode="r")[:].reshape(-1, *SHAPE)
    np.testing.assert_array_equal(data[:3], frames)


@pytest.mark.parametrize("library", ["imagecodecs", "numcodecs"])
@pytest.mark.parametrize("compression", ["blosc-zstd", "blosc-lz4", "zstd"])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_either_library_encodes_into_the_buffer_what_decodes_to_the_frame(
    library: str, compression: str, data: st.DataObject
) -> None:
    """imagecodecs writes into the thread's buffer, numcodecs' result is
    copied there: either decodes to the frame, incompressible ones too,
    within `encoded_bound`."""
    pytest.importorskip(library)
    make = getattr(_frame_encoder, f"_{library}_encoder")
    encode = make(compression)
    shape = data.draw(st.tuples(st.integers(1, 300), st.integers(1, 300)))
    dtype = data.draw(st.sampled_from(["uint8", "uint16", "float32"]))
    seed = data.draw(st.integers(0, 2**32 - 1))
    noise = np.random.default_rng(seed).integers(0, 256, (*shape, 4), np.uint8)
    frame = np.ascontiguousarray(noise.view(dtype)[..., 0])  # incompressible
    out = np.full(_frame_encoder.encoded_bound(frame.nbytes), 0xAB, np.uint8)
    n = encode(frame, out)
    assert 0 < n <= out.nbytes
    encoded = out[:n].tobytes()
    if compression == "zstd":
        decoded = numcodecs.zstd.decompress(encoded)
    else:
        decoded = numcodecs.blosc.decompress(encoded)
    np.testing.assert_array_equal(np.frombuffer(decoded, dtype).reshape(shape), frame)


def _files(root: Path, encode: Any = None) -> ChunkFiles:
    files = ChunkFiles(
        SHAPE,
        np.dtype("uint16"),
        lambda unit: str(root / f"{unit}"),
        root,
        encode=encode or frame_encoder("blosc-zstd"),
    )
    files.start()
    return files


def test_a_frames_buffer_is_free_once_encoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next frames take the buffers of frames being written, not yet on
    disk: a slow write holds back only the encoded bytes."""
    monkeypatch.setattr(_chunk_files, "POOL_FRAMES", 2)
    monkeypatch.setattr(_chunk_files, "ENCODER_THREADS", 2)
    go, began = blocked_writes(monkeypatch)
    files = _files(tmp_path)
    assert len(files.pool.buffers) == 2 and len(files._threads) == 2
    frames = _frames(4)
    files.write(0, frames[0])
    files.write(1, frames[1])
    later = threading.Thread(
        target=lambda: [files.write(u, frames[u]) for u in (2, 3)], daemon=True
    )
    later.start()
    later.join(10)
    freed = not later.is_alive()  # both buffers were free while writes wait
    began_then = sorted(began)
    go.set()
    later.join()
    files.close()
    assert freed
    assert began_then == [str(tmp_path / "0"), str(tmp_path / "1")]
    for unit, frame in enumerate(frames):
        decoded = numcodecs.blosc.decompress((tmp_path / f"{unit}").read_bytes())
        np.testing.assert_array_equal(
            np.frombuffer(decoded, "<u2").reshape(SHAPE), frame
        )


def test_owned_frames_are_released_once_encoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go, began = blocked_writes(monkeypatch)
    monkeypatch.setattr(_chunk_files, "ENCODER_THREADS", 2)
    files = _files(tmp_path)
    released: list[int] = []
    frames = _frames(2)
    for unit, frame in enumerate(frames):
        files.write_owned(unit, frame, lambda unit=unit: released.append(unit))
    for _ in range(200):  # both encoded: released before their writes end
        if len(began) == 2:
            break
        threading.Event().wait(0.05)
    released_then = sorted(released)
    go.set()
    files.close()
    assert released_then == [0, 1]
    assert sorted(released) == [0, 1]  # exactly once each


def test_a_failed_encoding_is_raised_and_earlier_frames_stay(tmp_path: Path) -> None:
    encode = frame_encoder("blosc-zstd")
    assert encode is not None

    def fails_on_frame_2(frame: np.ndarray, out: np.ndarray) -> int:
        if frame[0, 0] == _frames(3)[2][0, 0]:
            raise MemoryError("injected: no memory for the encoded chunk")
        return encode(frame, out)

    files = _files(tmp_path, encode=fails_on_frame_2)
    files._active = 1  # one thread: frames in order
    frames = _frames(3)
    for unit, frame in enumerate(frames):
        files.write(unit, frame)
    with pytest.raises(MemoryError, match="injected"):
        files.drain()
    with pytest.raises(MemoryError, match="injected"):
        files.write(3, frames[0])
    with pytest.raises(MemoryError, match="injected"):
        files.close()
    for unit in (0, 1):
        decoded = numcodecs.blosc.decompress((tmp_path / f"{unit}").read_bytes())
        np.testing.assert_array_equal(
            np.frombuffer(decoded, "<u2").reshape(SHAPE), frames[unit]
        )
    assert not (tmp_path / "2").exists()
    assert not list(tmp_path.rglob("*.partial"))


@pytest.mark.parametrize("backend", LIBRARIES)
def test_blosc_blocks_are_the_declared_size(tmp_path: Path, backend: str) -> None:
    """A frame larger than blosc's automatic block is compressed in blocks of
    the size the array declares, and reads back through both libraries."""
    import tensorstore as ts
    import zarr

    root = tmp_path / "big.ome.zarr"
    shape = (512, 512)  # 512 KiB: blosc alone would pick 128 KiB blocks
    settings = ow.AcquisitionSettings(
        root_path=str(root),
        format={"backend": backend},
        dimensions=[
            ow.Dimension(name="t", count=2, chunk_size=1),
            ow.Dimension(name="y", count=shape[0]),
            ow.Dimension(name="x", count=shape[1]),
        ],
        dtype="uint16",
        compression="blosc-zstd",
    )
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 300, shape, "uint16") for _ in range(2)]
    with ow.create_stream(settings) as stream:
        for frame in frames:
            stream.append(frame)
    array = root / "0"
    doc = json.loads((array / "zarr.json").read_text())
    assert doc["codecs"][-1]["configuration"]["blocksize"] == BLOSC_BLOCK_BYTES
    encoded = (array / "c" / "1" / "0" / "0").read_bytes()
    (blocksize,) = struct.unpack_from("<I", encoded, 8)
    assert blocksize == BLOSC_BLOCK_BYTES
    expected = np.stack(frames)
    np.testing.assert_array_equal(zarr.open_array(array, mode="r")[:], expected)
    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(array)}}
    np.testing.assert_array_equal(ts.open(spec).result().read().result(), expected)
