"""An independent numpy reference for pyramid levels (per block, in Python).

Written from the documented rules, not from the writer's code: a level
reduces the level above by 2 along each reduced axis (sizes rounded up; a
last odd block reduced over what exists), each block in block order (z, y,
x); integer means round half up, float means are summed sequentially in
float64 and rounded once; "decimate" keeps the block's first pixel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def reduce_once(a: np.ndarray, reduced: Sequence[bool], method: str) -> np.ndarray:
    """One level below `a` (reduced axes halved, rounded up)."""
    out_shape = tuple(
        math.ceil(n / 2) if r else n for n, r in zip(a.shape, reduced, strict=True)
    )
    out = np.empty(out_shape, dtype=a.dtype)
    for index in np.ndindex(*out_shape):
        region = tuple(
            slice(2 * i, 2 * i + 2) if r else slice(i, i + 1)
            for i, r in zip(index, reduced, strict=True)
        )
        values = list(a[region].ravel())  # C order: block order
        out[index] = _combine(values, method, a.dtype)
    return out


def _combine(values: list[object], method: str, dtype: np.dtype) -> object:
    if method == "decimate":
        return values[0]
    if method == "min":
        return min(values)  # type: ignore[type-var]
    if method == "max":
        return max(values)  # type: ignore[type-var]
    n = len(values)
    if dtype.kind == "f":
        total = 0.0
        for v in values:
            total += float(v)  # type: ignore[arg-type]
        return total / n
    total_int = sum(int(v) for v in values)  # type: ignore[call-overload]
    return (total_int + n // 2) // n


def reference_levels(
    a: np.ndarray, reduced: Sequence[bool], method: str, levels: int
) -> list[np.ndarray]:
    """Levels 0..levels-1 of `a`, each reduced from the one above."""
    out = [a]
    for _ in range(levels - 1):
        out.append(reduce_once(out[-1], reduced, method))
    return out
