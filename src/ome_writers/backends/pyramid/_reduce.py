"""2x2 block reduction of planes: one pyramid level from the one above.

A `PlaneReducer` reduces planes of one shape into preallocated buffers, so a
level costs no allocation per frame. One plane gives a 2x2 (Y, X) reduction,
two planes (a z pair) a 2x2x2 one. Odd sizes round up: the last row and
column are reduced over the pixels that exist.

Rounding (the same on every backend that uses this module):
- integer ``mean``: ``(sum + n // 2) // n`` with n the pixels that exist in
  the block (round half up); every block size is a power of two, so this is a
  shift;
- float ``mean``: summed in float64 in block order (z, then y, then x), divided
  once and rounded to the pixel type;
- ``decimate``: the block's first pixel (lowest z, top-left);
- ``min``/``max``: exact.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

METHODS = ("mean", "decimate", "min", "max")


def reduced_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """Y, X of a plane of `shape` reduced by 2 (rounded up)."""
    return (math.ceil(shape[0] / 2), math.ceil(shape[1] / 2))


def _accumulator(dtype: np.dtype) -> np.dtype:
    """A type that holds the sum of 8 pixels of `dtype` exactly."""
    if dtype.kind == "f":
        return np.dtype(np.float64)
    if dtype.kind == "b" or (dtype.kind in "iu" and dtype.itemsize <= 2):
        return np.dtype(np.int32)
    return np.dtype(np.uint64 if dtype.kind == "u" else np.int64)


class PlaneReducer:
    """Reduces planes of `shape` and `dtype` by 2 along Y, X with `method`."""

    def __init__(self, shape: tuple[int, int], dtype: np.dtype, method: str) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown reduction method {method!r}; use {METHODS}")
        self.shape = shape
        self.out_shape = reduced_shape(shape)
        self.dtype = np.dtype(dtype)
        self.method = method
        # rows / columns that have a second pixel in their block
        self._h1 = shape[0] // 2
        self._w1 = shape[1] // 2
        self._acc: np.ndarray | None = None
        self._rows: np.ndarray | None = None  # row pairs summed (integer mean)
        self._rows_more: np.ndarray | None = None  # the same of a z pair's second
        if method == "mean":
            kind = _accumulator(self.dtype)
            self._acc = np.empty(self.out_shape, dtype=kind)
            if kind.kind != "f":
                rows_shape = (self.out_shape[0], shape[1])
                self._rows = np.empty(rows_shape, dtype=kind)
                self._rows_more = np.empty(rows_shape, dtype=kind)

    def new_output(self) -> np.ndarray:
        """A buffer for `reduce`'s result."""
        return np.zeros(self.out_shape, dtype=self.dtype)

    def reduce(self, planes: Sequence[np.ndarray], out: np.ndarray) -> np.ndarray:
        """Reduce one plane (or a z pair, lowest z first) into `out`."""
        if self.method == "decimate":
            np.copyto(out, planes[0][0::2, 0::2])
            return out
        if self.method == "mean":
            return self._mean(planes, out)
        combine = np.minimum if self.method == "min" else np.maximum
        h1, w1 = self._h1, self._w1
        np.copyto(out, planes[0][0::2, 0::2])
        for i, plane in enumerate(planes):
            if i:
                combine(out, plane[0::2, 0::2], out=out)
            combine(out[:, :w1], plane[0::2, 1::2], out=out[:, :w1])
            combine(out[:h1], plane[1::2, 0::2], out=out[:h1])
            combine(out[:h1, :w1], plane[1::2, 1::2], out=out[:h1, :w1])
        return out

    def _mean(self, planes: Sequence[np.ndarray], out: np.ndarray) -> np.ndarray:
        acc = self._acc
        assert acc is not None
        if acc.dtype.kind == "f":
            self._float_sum(planes, acc)
        else:
            self._int_sum(planes, acc)
        n = len(planes)
        h1, w1 = self._h1, self._w1
        # regions by how many pixels their blocks hold: 4n, 2n (last column,
        # last row), n (the corner)
        regions = [
            (acc[:h1, :w1], out[:h1, :w1], 4 * n),
            (acc[:h1, w1:], out[:h1, w1:], 2 * n),
            (acc[h1:, :w1], out[h1:, :w1], 2 * n),
            (acc[h1:, w1:], out[h1:, w1:], n),
        ]
        floating = acc.dtype.kind == "f"
        for a, o, count in regions:
            if not a.size:
                continue
            if floating:  # divided in float64, rounded once into `out`
                np.divide(a, count, out=o, casting="unsafe")
            else:  # count is a power of two: round half up with a shift
                np.add(a, count // 2, out=a, casting="unsafe")
                np.right_shift(a, count.bit_length() - 1, out=o, casting="unsafe")
        return out

    def _float_sum(self, planes: Sequence[np.ndarray], acc: np.ndarray) -> None:
        """Block sums in block order: z, then y, then x (a float sum depends on it)."""
        h1, w1 = self._h1, self._w1
        np.copyto(acc, planes[0][0::2, 0::2], casting="unsafe")
        for i, plane in enumerate(planes):
            if i:
                np.add(acc, plane[0::2, 0::2], out=acc, casting="unsafe")
            np.add(acc[:, :w1], plane[0::2, 1::2], out=acc[:, :w1], casting="unsafe")
            np.add(acc[:h1], plane[1::2, 0::2], out=acc[:h1], casting="unsafe")
            np.add(
                acc[:h1, :w1], plane[1::2, 1::2], out=acc[:h1, :w1], casting="unsafe"
            )

    def _int_sum(self, planes: Sequence[np.ndarray], acc: np.ndarray) -> None:
        """Block sums, rows first (contiguous, so vectorised): exact for integers."""
        h1, w1 = self._h1, self._w1
        rows = self._rows
        assert rows is not None
        for i, plane in enumerate(planes):
            target = rows if i == 0 else self._rows_more
            assert target is not None
            np.add(plane[0 : 2 * h1 : 2], plane[1::2], out=target[:h1], dtype=acc.dtype)
            if h1 < target.shape[0]:  # odd height: the last row alone
                np.copyto(target[h1], plane[-1], casting="unsafe")
            if i:
                np.add(rows, target, out=rows)
        np.add(rows[:, 0 : 2 * w1 : 2], rows[:, 1::2], out=acc[:, :w1])
        if w1 < acc.shape[1]:  # odd width: the last column alone
            np.copyto(acc[:, w1], rows[:, -1])
