"""Appending then reading the scratch view equals numpy's transpose (fast = slow)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

from ome_writers import AcquisitionSettings, create_stream

from .strategies import acquisitions
from .strategies import expected_view as _expected


@given(acquisitions())
@settings(max_examples=150, deadline=None)
def test_view_equals_transpose(case: tuple[AcquisitionSettings, int]) -> None:
    s, n_frames = case
    rng = np.random.default_rng(n_frames)
    frames = [rng.integers(1, 60000, (2, 3), dtype="uint16") for _ in range(n_frames)]
    with create_stream(s) as stream:
        view = stream.view()
        full = stream.view(dynamic_shape=False)
        for frame in frames:
            stream.append(frame)
        expected = _expected(s, frames)
        assert view.dims == tuple(d.name for d in s.view_dimensions)
        live = np.asarray(view)
        # dynamic view: shape is the live extent, data is the expected prefix
        assert live.shape == view.shape
        assert np.array_equal(live, expected[tuple(slice(0, n) for n in view.shape)])
        bounded = [d.count for d in s.view_dimensions]
        assert full.shape == tuple(
            v if b is None else b for v, b in zip(view.shape, bounded, strict=True)
        )
    # after close the view keeps working
    assert np.array_equal(np.asarray(view), live)
