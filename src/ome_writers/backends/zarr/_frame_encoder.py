"""A frame's chunk bytes compressed as the array's codecs declare them.

A compressed chunk of one frame is written by threads of ours (`ChunkFiles`)
when its compression can be encoded here: the codecs of `codec_configs` and
`v2_compressor` (blosc with byte shuffle and `BLOSC_BLOCK_BYTES` blocks, or
zstd), through numcodecs. Each call compresses on the calling thread alone
(numcodecs uses blosc's contextual API off the main thread, without the
global lock), so that writer threads compress frames side by side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ome_writers.backends.zarr._array_writer import BLOSC, BLOSC_BLOCK_BYTES, ZSTD_LEVEL

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    FrameEncoder = Callable[[np.ndarray], bytes]


def frame_encoder(compression: str) -> FrameEncoder | None:
    """What encodes a frame's chunk (a C-contiguous little-endian array) for
    `compression`; None for ``"none"`` (raw) and when it cannot be encoded
    here (no such codec, or numcodecs is not installed)."""
    try:
        from numcodecs import blosc, zstd
    except ImportError:
        return None
    if compression in BLOSC:
        cname, clevel = BLOSC[compression]
        name = cname.encode()

        def encode_blosc(frame: np.ndarray) -> bytes:
            # blosc's type size is the frame's item size, as declared
            encoded: bytes = blosc.compress(
                frame, name, clevel, blosc.SHUFFLE, BLOSC_BLOCK_BYTES
            )
            return encoded

        return encode_blosc
    if compression == "zstd":

        def encode_zstd(frame: np.ndarray) -> bytes:
            encoded: bytes = zstd.compress(frame, ZSTD_LEVEL)
            return encoded

        return encode_zstd
    return None
