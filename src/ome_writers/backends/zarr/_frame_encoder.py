"""A frame's chunk bytes compressed as the array's codecs declare them.

A compressed chunk of one frame is written by threads of ours (`ChunkFiles`)
when its compression can be encoded here: the codecs of `codec_configs` and
`v2_compressor` (blosc with byte shuffle and `BLOSC_BLOCK_BYTES` blocks, or
zstd). Each thread encodes into a buffer of its own, so that the bytes can
go to the disk with direct I/O and no allocation is made per frame;
imagecodecs writes there itself, numcodecs' result is copied there. Both
compress on the calling thread alone, without the interpreter's lock, so
that writer threads compress frames side by side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ome_writers.backends.zarr._array_writer import BLOSC, BLOSC_BLOCK_BYTES, ZSTD_LEVEL

if TYPE_CHECKING:
    from collections.abc import Callable

    #: encodes a frame (C-contiguous, little-endian) into `out` (uint8, at
    #: least `encoded_bound` bytes) and returns how many bytes it wrote
    FrameEncoder = Callable[[np.ndarray, np.ndarray], int]


def encoded_bound(nbytes: int) -> int:
    """Bytes an encoded frame of `nbytes` may take, at most (blosc's and
    zstd's worst cases, on incompressible data, with room to spare)."""
    return nbytes + nbytes // 128 + 65536


def frame_encoder(compression: str) -> FrameEncoder | None:
    """What encodes a frame's chunk for `compression`; None for ``"none"``
    (raw) and when it cannot be encoded here (no such codec, or neither
    imagecodecs nor numcodecs is installed)."""
    if compression not in BLOSC and compression != "zstd":
        return None
    try:
        return _imagecodecs_encoder(compression)
    except ImportError:
        pass
    try:
        return _numcodecs_encoder(compression)
    except ImportError:
        return None


def _imagecodecs_encoder(compression: str) -> FrameEncoder:
    import imagecodecs

    # imagecodecs takes any buffer as input and output; its stubs name fewer
    if compression == "zstd":

        def encode_zstd(frame: np.ndarray, out: np.ndarray) -> int:
            encoded = imagecodecs.zstd_encode(
                frame,  # type: ignore[arg-type]
                level=ZSTD_LEVEL,
                out=out,  # type: ignore[arg-type]
            )
            return len(encoded)

        return encode_zstd
    cname, clevel = BLOSC[compression]
    shuffle = imagecodecs.BLOSC.SHUFFLE.SHUFFLE

    def encode_blosc(frame: np.ndarray, out: np.ndarray) -> int:
        # blosc's type size is the frame's item size, as declared
        encoded = imagecodecs.blosc_encode(
            frame,  # type: ignore[arg-type]
            level=clevel,
            compressor=cname,
            shuffle=shuffle,
            typesize=frame.itemsize,
            blocksize=BLOSC_BLOCK_BYTES,
            numthreads=1,
            out=out,  # type: ignore[arg-type]
        )
        return len(encoded)

    return encode_blosc


def _numcodecs_encoder(compression: str) -> FrameEncoder:
    from numcodecs import blosc, zstd

    def into(out: np.ndarray, encoded: bytes) -> int:
        out[: len(encoded)] = np.frombuffer(encoded, np.uint8)
        return len(encoded)

    if compression == "zstd":
        return lambda frame, out: into(out, zstd.compress(frame, ZSTD_LEVEL))
    cname, clevel = BLOSC[compression]
    name = cname.encode()

    def encode_blosc(frame: np.ndarray, out: np.ndarray) -> int:
        encoded = blosc.compress(frame, name, clevel, blosc.SHUFFLE, BLOSC_BLOCK_BYTES)
        return into(out, encoded)

    return encode_blosc
