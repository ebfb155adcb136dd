"""Property: for any acquisition order (stored in NGFF order), positions, z
chunks, skips and early close, every level equals the reference reduction of
level 0 as stored."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ome_writers import AcquisitionSettings, Dimension, Pyramid, create_stream
from tests.backends.readers import zarr_image_groups

from .reference import reference_levels

KINDS = {"t": "time", "c": "channel", "z": "space"}


@st.composite
def acquisitions(draw: st.DrawFn) -> dict[str, object]:
    names = draw(st.permutations(["t", "c", "z"]))
    counts = {"t": draw(st.integers(1, 3)), "c": draw(st.integers(1, 2))}
    counts["z"] = draw(st.integers(1, 5))
    positions = draw(st.integers(1, 2))
    # NGFF orders axes t, c, z: "ome" storage; acquisition orders vary
    storage = "ome"
    y, x = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    z_chunk = draw(st.sampled_from([1, 2]))
    total = math_prod(counts.values()) * positions
    n = draw(st.integers(1, total))
    skips = draw(st.sets(st.integers(0, n - 1), max_size=3))
    return {
        "names": names,
        "counts": counts,
        "positions": positions,
        "storage": storage,
        "frame": (y, x),
        "z_chunk": min(z_chunk, counts["z"]),
        "n": n,
        "skips": skips,
        "method": draw(st.sampled_from(["mean", "decimate", "min", "max"])),
        "reduce_z": draw(st.booleans()),
        "levels": draw(st.integers(2, 3)),
    }


def math_prod(values: object) -> int:
    out = 1
    for v in values:  # type: ignore[attr-defined]
        out *= int(v)
    return out


@given(acquisitions())
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
def test_levels_follow_level_zero(case: dict[str, object]) -> None:
    names: list[str] = case["names"]  # type: ignore[assignment]
    counts: dict[str, int] = case["counts"]  # type: ignore[assignment]
    y, x = case["frame"]  # type: ignore[misc]
    dims = [
        Dimension(
            name=n,
            count=counts[n],
            type=KINDS[n],  # type: ignore[arg-type]
            chunk_size=case["z_chunk"] if n == "z" else None,  # type: ignore[arg-type]
        )
        for n in names
    ]
    if case["positions"] == 2:
        dims.insert(1, Dimension(name="p", type="position", coords=["a", "b"]))
    dims += [
        Dimension(name="y", count=y, type="space"),
        Dimension(name="x", count=x, type="space"),
    ]
    levels = case["levels"]
    if max(y, x) < 2 ** (levels - 1):  # too many levels for this frame
        levels = max(1, max(y, x).bit_length())
    with tempfile.TemporaryDirectory() as tmp:
        acq = AcquisitionSettings(
            root_path=str(Path(tmp) / "p.ome.zarr"),
            dimensions=dims,
            dtype="uint16",
            format="tensorstore",
            storage_order=case["storage"],  # type: ignore[arg-type]
            pyramid=Pyramid(
                levels=levels,
                method=case["method"],  # type: ignore[arg-type]
                reduce_z=case["reduce_z"],  # type: ignore[arg-type]
            ),
        )
        rng = np.random.default_rng(0)
        with create_stream(acq) as stream:
            for i in range(case["n"]):  # type: ignore[call-overload]
                if i in case["skips"]:  # type: ignore[operator]
                    stream.skip()
                else:
                    stream.append(rng.integers(0, 60000, (y, x)).astype("uint16"))
        root = Path(acq.output_path)
        for group in zarr_image_groups(root, acq.positions):
            base = zarr.open_array(str(group / "0"), mode="r")
            axes = base.metadata.dimension_names
            reduced = [
                a in ("y", "x") or (case["reduce_z"] and a == "z" and counts["z"] > 1)
                for a in axes
            ]
            expected = reference_levels(base[...], reduced, case["method"], levels)  # type: ignore[arg-type]
            for k in range(1, levels):
                got = zarr.open_array(str(group / str(k)), mode="r")[...]
                np.testing.assert_array_equal(got, expected[k], f"level {k}")
