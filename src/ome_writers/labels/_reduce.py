"""Lower resolution levels of a label plane: never averaged."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ome_writers._schema._labels import LabelDownsample


def reduce_labels(plane: np.ndarray, method: LabelDownsample) -> np.ndarray:
    """`plane` halved along both axes (sizes round up).

    "nearest": each 2x2 block's top-left value. "mode": its most frequent
    value among the pixels that exist (a last odd row or column has fewer);
    ties go to the first in row order (top-left, top-right, bottom-left,
    bottom-right).
    """
    if method == "nearest":
        return np.ascontiguousarray(plane[::2, ::2])
    h, w = plane.shape
    hh, ww = -(-h // 2), -(-w // 2)
    padded = np.zeros((2 * hh, 2 * ww), plane.dtype)
    padded[:h, :w] = plane
    exists = np.zeros((2 * hh, 2 * ww), bool)
    exists[:h, :w] = True
    # (4, hh, ww): the block's pixels in row order
    values = padded.reshape(hh, 2, ww, 2).transpose(1, 3, 0, 2).reshape(4, hh, ww)
    valid = exists.reshape(hh, 2, ww, 2).transpose(1, 3, 0, 2).reshape(4, hh, ww)
    counts = ((values[:, None] == values[None, :]) & valid[None, :]).sum(axis=1)
    counts[~valid] = -1
    first_best = counts.argmax(axis=0)  # the first of the most frequent
    reduced: np.ndarray = np.take_along_axis(values, first_best[None], axis=0)[0]
    return reduced
