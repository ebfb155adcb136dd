"""Small frames in the default layout (many frames per shard or chunk) after
SIGKILL: every frame appended a loss window before the kill reads back.

A shard of small frames fills over minutes at this rate, so each frame on disk
got there by a provisional write of a partly filled shard (or Zarr v2 chunk)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ome_writers._registry import BY_NAME
from ome_writers._schema._storage import chunk_grid
from tests.backends.params import backend_params, suffix

from ._crash_matrix import (
    LOSS_WINDOW,
    Kill,
    Layout,
    frame_number_of,
    kills_per_cell,
    run_kills,
)
from .test_loss_window import _check_kill

if TYPE_CHECKING:
    from pathlib import Path

GROUPING = [
    p.values[0] for p in backend_params(format="ome-zarr", groups_small_frames=True)
]
CASES = [
    *((name, "0.5") for name in GROUPING),
    *((name, "0.4") for name in GROUPING if BY_NAME[name].writes_zarr_format(2)),
]


@pytest.mark.parametrize(("backend", "version"), CASES)
def test_default_layout_frames_readable_after_sigkill(
    tmp_path: Path, backend: str, version: str
) -> None:
    layout = Layout(
        f"small-default-{version}",
        ({"name": "t", "count": None, "type": "time"},),
        options=(("ngff_version", version),),
    )
    probe = layout.settings(backend, str(tmp_path / "probe.ome.zarr"), zarr=True)
    chunks, shards = chunk_grid(probe.array_storage_dimensions)
    assert (shards or chunks)[0] >= 1024, "frames are not grouped by default"
    kills = run_kills(backend, layout, tmp_path, suffix(backend), kills_per_cell())
    check = _check_kill_v2 if version == "0.4" else _check_kill_v3
    with ThreadPoolExecutor(len(kills)) as pool:
        checked = list(pool.map(check, kills))
    problems = []
    for kill, found in zip(kills, checked, strict=True):
        if found:
            problems.append(kill.describe())
            problems += [f"    {p}" for p in found]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def _check_kill_v3(kill: Kill) -> list[str]:
    return _check_kill(kill, True, None)


def _check_kill_v2(kill: Kill) -> list[str]:
    """The Zarr v2 array read by zarr-python and tensorstore: every frame
    returned a loss window before the kill is there, pixel-exact; any other
    index holds its own frame or zeros."""
    import tensorstore as ts
    import zarr

    if kill.error:
        return [f"the writer was not killed as planned: {kill.error}\n{kill.stderr}"]
    path = kill.root / "0"
    required = kill.frames_before(LOSS_WINDOW)
    problems = []
    try:
        by_zarr = np.asarray(zarr.open_array(str(path), mode="r", zarr_format=2)[...])
        spec = {"driver": "zarr", "kvstore": {"driver": "file", "path": str(path)}}
        by_ts = ts.open(spec).result().read().result()
    except Exception as e:
        return [f"cannot read {path}: {e!r}"]
    for reader, data in (("zarr-python", by_zarr), ("tensorstore", by_ts)):
        if data.shape[0] < required:
            problems.append(f"{reader}: {data.shape[0]} frames, {required} required")
            continue
        for n, frame in enumerate(data):
            if frame_number_of(frame) == n:
                continue
            if n < required or frame.any():
                problems.append(f"{reader}: frame {n} is wrong")
    return problems
