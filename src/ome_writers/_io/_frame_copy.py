"""Frame copies on the acquisition thread that keep the interpreter lock.

numpy releases the GIL while it copies a frame and must take it back after.
By then a writer thread of ours (chunk files, OME-TIFF) has usually taken it,
and the appending thread waits until that thread lets go again, which on
busy cores can mean waiting for it to be scheduled, longer than a frame
period. A memoryview slice assignment is one ``memcpy`` like numpy's copy, but
Python's own buffer copy never releases the lock.
"""

from __future__ import annotations

import numpy as np


def copy_frame(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src``, keeping the GIL where both are C-contiguous arrays
    of one dtype and shape (else numpy's copy, which converts)."""
    if (
        isinstance(src, np.ndarray)
        and src.dtype == dst.dtype
        and src.shape == dst.shape
        and src.flags.c_contiguous
        and dst.flags.c_contiguous
        and not dst.dtype.hasobject
    ):
        dst.data.cast("B")[:] = src.data.cast("B")
    else:
        dst[...] = src
