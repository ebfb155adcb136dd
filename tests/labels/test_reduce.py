"""`reduce_labels` equals a naive block-by-block reduction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ome_writers.labels._reduce import reduce_labels

from ._helpers import naive_reduce

PLANES = st.tuples(st.integers(1, 9), st.integers(1, 9)).flatmap(
    lambda shape: arrays(
        st.sampled_from([np.uint8, np.uint32, np.int16, np.uint64]),
        shape,
        elements=st.integers(0, 3),  # few values: ties and majorities both occur
    )
)


@settings(max_examples=300, deadline=None)
@given(plane=PLANES, method=st.sampled_from(["mode", "nearest"]))
def test_reduce_labels_is_the_naive_reduction(plane: np.ndarray, method: str) -> None:
    reduced = reduce_labels(plane, method)  # type: ignore[arg-type]
    expected = naive_reduce(plane, method)
    assert reduced.dtype == plane.dtype
    assert reduced.shape == ((plane.shape[0] + 1) // 2, (plane.shape[1] + 1) // 2)
    np.testing.assert_array_equal(reduced, expected)


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ([[1, 2], [3, 4]], 1),  # all differ: the first
        ([[1, 2], [2, 1]], 1),  # a tie of two pairs: the first's value
        ([[5, 2], [2, 9]], 2),  # a majority beats the top-left
        ([[0, 0], [7, 7]], 0),  # background counts like any label
    ],
)
def test_mode_of_one_block(block: list[list[int]], expected: int) -> None:
    plane = np.array(block, "uint16")
    assert reduce_labels(plane, "mode").tolist() == [[expected]]
    assert reduce_labels(plane, "nearest").tolist() == [[block[0][0]]]


def test_a_last_odd_row_and_column_count_their_existing_pixels() -> None:
    plane = np.array([[1, 2, 3], [2, 2, 4], [5, 5, 6]], "uint8")
    # blocks: [1,2,2,2] -> 2; [3,4] -> 3; [5,5] -> 5; [6] -> 6
    assert reduce_labels(plane, "mode").tolist() == [[2, 3], [5, 6]]
