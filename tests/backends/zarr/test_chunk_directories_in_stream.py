"""Chunk directories made ahead once a backend falls behind: same layout, same data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

from ome_writers import AcquisitionSettings, Dimension, create_stream
from tests.backends.params import backend_params
from tests.conftest import frame_for

PREPARING = backend_params(format="ome-zarr", makes_directories_ahead=True)
SHAPE = (32, 24)


def _chunk_tree(array_dir: Path) -> tuple[set[Path], set[Path]]:
    """(directories below c/, parents of chunk files) of one array."""
    base = array_dir / "c"
    directories = {p for p in base.rglob("*") if p.is_dir()} | {base}
    parents = {p.parent for p in base.rglob("*") if p.is_file()}
    parents |= {q for p in parents for q in p.parents if base in (*q.parents, q)}
    return directories, parents


@pytest.mark.parametrize("backend", PREPARING)
@pytest.mark.parametrize("count", [None, 40])
def test_layout_and_data_match(tmp_path: Path, backend: str, count: int | None) -> None:
    root = tmp_path / "ahead.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        format=backend,
        dimensions=[
            Dimension(name="t", count=count),
            Dimension(name="p", type="position", count=2),
            Dimension(name="c", count=2),
            Dimension(name="y", count=SHAPE[0], chunk_size=16),  # two y chunks
            Dimension(name="x", count=SHAPE[1]),
        ],
        dtype="uint16",
    )
    n = 2 * 2 * 37  # 37 time points: stops short of a bounded t of 40
    with create_stream(settings, checkpoint_seconds=None) as stream:
        backend_ = stream._backend.arrays
        backend_.writer.falling_behind = lambda: True  # as if an append had waited
        for i in range(n):
            stream.append(frame_for(i, SHAPE))
        assert backend_.preparer is not None
    for position in range(2):
        array_dir = root / str(position) / "0"
        directories, parents = _chunk_tree(array_dir)
        # every directory made ahead either holds chunks or was removed
        assert directories == parents, sorted(directories - parents)[:5]
        data = zarr.open_array(str(array_dir), mode="r")[:37]
        expected = np.stack(
            [
                frame_for(t * 4 + position * 2 + c, SHAPE)
                for t in range(37)
                for c in (0, 1)
            ]
        ).reshape(37, 2, *SHAPE)
        np.testing.assert_array_equal(data, expected)
