"""Random settings and frame sequences on every backend.

Either the settings are refused with a clear error before anything is written,
or the dataset round-trips pixel-exactly (our view, and an independent reader).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaozarrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ome_writers import AcquisitionSettings, create_stream
from ome_writers._registry import BY_NAME
from tests.backends.params import backend_params, root_for
from tests.backends.readers import read_stored
from tests.router.strategies import acquisitions, expected_view

COMPRESSIONS = {
    "ome-zarr": [None, "blosc-zstd", "blosc-lz4", "zstd"],
    "ome-tiff": [None, "lzw", "zlib"],
    "scratch": [None],
}


@pytest.mark.parametrize("backend", backend_params())
@given(case=acquisitions(max_frames=12), data=st.data())
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_fuzz(backend: str, case: tuple[AcquisitionSettings, int], data: Any) -> None:
    base, n_frames = case
    fmt = BY_NAME[backend].format
    compression = data.draw(st.sampled_from(COMPRESSIONS[fmt]))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            s = AcquisitionSettings.model_validate(
                {
                    **base.model_dump(),
                    "root_path": root_for(Path(tmp), backend, "f"),
                    "format": backend,
                    "compression": compression,
                }
            )
            stream = create_stream(s)
        except (ValueError, NotImplementedError) as e:
            refused: BaseException | None = e
        else:
            refused = None
        if refused is not None:
            words = ("support", "axis order", "OME-TIFF", "not")
            assert any(w in str(refused) for w in words), refused
            assert not any(Path(tmp).iterdir()), "a refused stream left files behind"
            return
        rng = np.random.default_rng(n_frames)
        frames = [
            rng.integers(1, 60000, (2, 3), dtype="uint16") for _ in range(n_frames)
        ]
        with stream:
            for frame in frames:
                stream.append(frame)
        expected = expected_view(s, frames)
        view = np.asarray(stream.view())
        live_shape = stream.view().shape
        np.testing.assert_array_equal(
            view, expected[tuple(slice(0, n) for n in live_shape)]
        )
        stored = read_stored(s) if n_frames else None
        if stored is None:
            return
        flat_written = np.concatenate([a.data.reshape(-1, 2, 3) for a in stored])
        # every appended frame is somewhere on disk, pixel-exact
        for frame in frames:
            assert (flat_written == frame).all(axis=(1, 2)).any()
        if fmt == "ome-zarr":
            yaozarrs.validate_zarr_store(s.output_path)
