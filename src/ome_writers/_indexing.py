"""Basic numpy indexing keys, resolved the same way by every array-like view."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np


def normalise_key(key: Any, ndim: int) -> list[int | slice]:
    """`key` as one integer or slice per dimension (numpy's basic indexing:
    integers, slices and one ``...``)."""
    if not isinstance(key, tuple):
        key = (key,)
    n_ellipsis = sum(k is Ellipsis for k in key)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    n_given = len(key) - n_ellipsis
    if n_given > ndim:
        raise IndexError(
            f"too many indices for array: array is {ndim}-dimensional, "
            f"but {n_given} were indexed"
        )
    items: list[int | slice] = []
    for k in key:
        if k is Ellipsis:
            items.extend([slice(None)] * (ndim - n_given))
        elif isinstance(k, slice):
            items.append(k)
        elif isinstance(k, (bool, np.bool_)) or k is None:
            raise TypeError(f"Invalid index type: {type(k)}")
        else:
            try:
                items.append(operator.index(k))
            except TypeError:
                raise TypeError(
                    f"Invalid index type: {type(k)} (only integers, slices and "
                    "... are supported)"
                ) from None
    items.extend([slice(None)] * (ndim - len(items)))
    return items
