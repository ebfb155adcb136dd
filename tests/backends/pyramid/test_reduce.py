"""The 2x2 reducer against the independent reference, over shapes, types, methods."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ome_writers.backends.pyramid._reduce import PlaneReducer

from .reference import reduce_once

DTYPES = ["uint8", "uint16", "int16", "uint32", "int32", "float32", "float64"]
METHODS = ["mean", "decimate", "min", "max"]


@st.composite
def planes(draw: st.DrawFn) -> tuple[np.ndarray, str]:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    n = draw(st.sampled_from([1, 2]))  # one plane, or a z pair
    if dtype.kind == "f":
        elements = st.floats(-1e6, 1e6, width=dtype.itemsize * 8)
    else:
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max))
    data = draw(hnp.arrays(dtype, (n, *shape), elements=elements))
    return data, draw(st.sampled_from(METHODS))


@given(planes())
@settings(max_examples=300, deadline=None)
def test_reducer_equals_reference(case: tuple[np.ndarray, str]) -> None:
    data, method = case
    reducer = PlaneReducer(data.shape[1:], data.dtype, method)
    out = reducer.reduce(list(data), reducer.new_output())
    reduced = (len(data) == 2, True, True)
    expected = reduce_once(data, reduced, method)[0]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", ["uint16", "int16", "float32"])
def test_reducer_reuses_its_buffers(dtype: str) -> None:
    """Reducing again overwrites the output: nothing accumulates between calls."""
    reducer = PlaneReducer((6, 5), np.dtype(dtype), "mean")
    out = reducer.new_output()
    first = np.full((6, 5), 7, dtype)
    second = np.full((6, 5), 3, dtype)
    reducer.reduce([first], out)
    reducer.reduce([second], out)
    np.testing.assert_array_equal(out, np.full((3, 3), 3, dtype))


def test_integer_mean_rounds_half_up() -> None:
    block = np.array([[1, 2], [2, 1]], "uint8")  # 6 / 4 = 1.5 -> 2
    reducer = PlaneReducer((2, 2), block.dtype, "mean")
    assert reducer.reduce([block], reducer.new_output())[0, 0] == 2
    signed = np.array([[-1, -2], [-2, -1]], "int16")  # -1.5 -> -1 (half up)
    reducer = PlaneReducer((2, 2), signed.dtype, "mean")
    assert reducer.reduce([signed], reducer.new_output())[0, 0] == -1


def test_unknown_method() -> None:
    with pytest.raises(ValueError, match="unknown reduction method 'median'"):
        PlaneReducer((4, 4), np.dtype("uint8"), "median")
