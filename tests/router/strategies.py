"""Hypothesis strategies for acquisitions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import strategies as st

from ome_writers import AcquisitionSettings, Dimension

INDEX_NAMES = ("t", "c", "z", "q")
TYPES = {"t": "time", "c": "channel", "z": "space", "q": "other"}


@st.composite
def acquisitions(
    draw: st.DrawFn, *, fmt: str = "scratch", max_frames: int = 60
) -> tuple[AcquisitionSettings, int]:
    """Random settings (dims, order, positions, unbounded) and a frame count."""
    names = draw(st.permutations(INDEX_NAMES))[: draw(st.integers(0, 3))]
    dims: list[Dimension] = []
    for name in names:
        dims.append(
            Dimension(name=name, count=draw(st.integers(1, 3)), type=TYPES[name])
        )
    if draw(st.booleans()):
        n_pos = draw(st.integers(1, 3))
        at = draw(st.integers(0, len(dims)))
        dims.insert(
            at,
            Dimension(
                name="p", type="position", coords=[f"pos{i}" for i in range(n_pos)]
            ),
        )
    unbounded = bool(dims) and dims[0].type != "position" and draw(st.booleans())
    if unbounded:
        dims[0] = dims[0].model_copy(update={"count": None})
    dims += [Dimension(name="y", count=2), Dimension(name="x", count=3)]
    order_kind = draw(st.sampled_from(["ome", "acquisition", "list"]))
    order: Any = order_kind
    if order_kind == "list":
        order = [*draw(st.permutations([d.name for d in dims[:-2]])), "y", "x"]
    settings = AcquisitionSettings(
        dimensions=dims,
        dtype="uint16",
        format=fmt,
        storage_order=order,
        root_path="" if fmt == "scratch" else "unused.ome.zarr",
    )
    total = settings.num_frames
    if total is None:
        n_frames = draw(st.integers(0, max_frames))
    else:
        n_frames = draw(st.integers(0, total))
    return settings, n_frames


def expected_view(s: AcquisitionSettings, frames: list[np.ndarray]) -> np.ndarray:
    """Acquisition-order array (zeros where unwritten) transposed to view order."""
    dims = s.dimensions
    counts = [d.count for d in dims[:-2]]
    if counts and counts[0] is None:
        inner = math.prod(c for c in counts[1:] if c)
        counts[0] = -(-len(frames) // inner)
    frame_shape = [d.count for d in dims[-2:]]
    acq = np.zeros([*counts, *frame_shape], dtype=s.dtype)
    flat = acq.reshape(-1, *frame_shape)
    for n, frame in enumerate(frames):
        flat[n] = frame
    names = [d.name for d in dims]
    perm = [names.index(d.name) for d in s.view_dimensions]
    return acq.transpose(perm)
