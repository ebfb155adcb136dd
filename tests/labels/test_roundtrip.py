"""Label planes round trip on every Zarr backend, read by zarr-python and
tensorstore: any order, gaps (read as 0), overwrites, lower levels reduced by
mode or nearest, the cut of an unbounded axis at close, bad planes refused
with nothing else lost."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

import ome_writers as ow
from ome_writers.backends._select import select_backend
from tests.backends.params import backend_params

from ._helpers import naive_levels, read_both

if TYPE_CHECKING:
    from pathlib import Path

BACKENDS = backend_params(format="ome-zarr")
Y, X = 10, 9  # odd: lower levels round up
COUNTS = {"t": 3, "p": 2, "c": 2, "z": 2}
TYPES = {"t": "time", "p": "position", "c": "channel", "z": "space"}


def dims(t: int | None = COUNTS["t"]) -> list[ow.Dimension]:
    out = [ow.Dimension(name="t", count=t, type="time")]
    out += [
        ow.Dimension(name=name, count=COUNTS[name], type=TYPES[name])  # type: ignore[arg-type]
        for name in ("p", "c", "z")
    ]
    return [
        *out,
        ow.Dimension(name="y", count=Y, type="space"),
        ow.Dimension(name="x", count=X, type="space"),
    ]


def settings_for(
    tmp_path: Path, backend: str, *labels: ow.LabelImage, **kwargs: Any
) -> ow.AcquisitionSettings:
    settings = ow.AcquisitionSettings(
        root_path=str(tmp_path / "data.ome.zarr"),
        format=kwargs.pop("format", backend),
        dimensions=kwargs.pop("dimensions", dims()),
        dtype="uint16",
        labels=labels,
        **kwargs,
    )
    try:
        select_backend(settings)
    except NotImplementedError as e:
        pytest.skip(f"{backend} cannot write these settings: {e}")
    return settings


def frame(n: int) -> np.ndarray:
    return np.full((Y, X), n + 1, "uint16")


def plane(seed: int, high: int = 50, dtype: str = "uint32") -> np.ndarray:
    """A label plane with blobs of a few values (so modes are not trivial)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, high, size=(Y // 2 + 1, X // 2 + 1))
    big = np.kron(small, np.ones((2, 2), int))[:Y, :X]
    noise = rng.integers(0, high, size=(Y, X))
    return np.where(rng.random((Y, X)) < 0.2, noise, big).astype(dtype)


def coords(n: int) -> dict[str, int]:
    """Frame `n` of the t, p, c, z order (the declared order)."""
    t, p, c, z = np.unravel_index(n, tuple(COUNTS.values()))
    return {"t": int(t), "p": int(p), "c": int(c), "z": int(z)}


def label_path(root: Path, position: int, name: str, level: int = 0) -> Path:
    return root / str(position) / "labels" / name / str(level)


def expected_arrays(
    written: dict[int, np.ndarray], per_channel: bool, dtype: str = "uint32"
) -> list[np.ndarray]:
    """Per position: (t, c, z, y, x) holding the last plane written per cell."""
    c = COUNTS["c"] if per_channel else 1
    out = [
        np.zeros((COUNTS["t"], c, COUNTS["z"], Y, X), dtype) for _ in range(COUNTS["p"])
    ]
    for n, data in written.items():  # insertion order: the write order
        k = coords(n)
        out[k["p"]][k["t"], k["c"] if per_channel else 0, k["z"]] = data
    return out


def write_scrambled(
    stream: Any, name: str, seed: int, dtype: str = "uint32"
) -> dict[int, np.ndarray]:
    """Append every frame; write label planes of 2/3 of them, in shuffled
    order, some before later frames are appended, one written twice."""
    rng = np.random.default_rng(seed)
    total = int(np.prod(list(COUNTS.values())))
    chosen = [int(n) for n in rng.permutation(total)[: 2 * total // 3]]
    written: dict[int, np.ndarray] = {}
    pending = list(chosen)
    for n in range(total):
        stream.append(frame(n))
        if n % 5 == 4:  # a few planes while the run goes on, out of order
            ready = [m for m in pending if m <= n]
            for m in ready[:3]:
                pending.remove(m)
                written.pop(m, None)
                written[m] = plane(m, dtype=dtype)
                stream.write_label(name, written[m], frame=m)
    for m in pending:
        written.pop(m, None)
        written[m] = plane(m, dtype=dtype)
        stream.write_label(name, written[m], frame=m)
    again = chosen[0]
    written.pop(again)
    written[again] = plane(1000 + again, dtype=dtype)
    stream.write_label(name, written[again], frame=again)
    return written


@pytest.mark.parametrize("pyramid", [1, 2, 3])
@pytest.mark.parametrize("backend", BACKENDS)
def test_round_trip(tmp_path: Path, backend: str, pyramid: int) -> None:
    label = ow.LabelImage(name="cells")
    settings = settings_for(
        tmp_path, backend, label, **({"pyramid": pyramid} if pyramid > 1 else {})
    )
    with ow.create_stream(settings) as stream:
        written = write_scrambled(stream, "cells", seed=pyramid)
    root = tmp_path / "data.ome.zarr"
    expected = expected_arrays(written, per_channel=False)
    assert len(written) > 10
    for p in range(COUNTS["p"]):
        levels = naive_levels(expected[p], pyramid, "mode")
        for k, level in enumerate(levels):
            data = read_both(label_path(root, p, "cells", k))
            assert data.dtype == np.uint32
            np.testing.assert_array_equal(
                data, level, err_msg=f"position {p} level {k}"
            )
        assert not label_path(root, p, "cells", pyramid).exists()
        # the frames are untouched
        image = read_both(root / str(p) / "0")
        n = np.ravel_multi_index(
            (COUNTS["t"] - 1, p, COUNTS["c"] - 1, COUNTS["z"] - 1),
            tuple(COUNTS.values()),
        )
        np.testing.assert_array_equal(image[-1, -1, -1], frame(int(n)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_nearest_per_channel_and_small_dtype(tmp_path: Path, backend: str) -> None:
    label = ow.LabelImage(
        name="nuclei", dtype="uint8", per_channel=True, downsample="nearest"
    )
    settings = settings_for(tmp_path, backend, label, pyramid=2)
    with ow.create_stream(settings) as stream:
        written = write_scrambled(stream, "nuclei", seed=7, dtype="uint8")
    root = tmp_path / "data.ome.zarr"
    expected = expected_arrays(written, per_channel=True, dtype="uint8")
    for p in range(COUNTS["p"]):
        for k, level in enumerate(naive_levels(expected[p], 2, "nearest")):
            data = read_both(label_path(root, p, "nuclei", k))
            assert data.dtype == np.uint8
            np.testing.assert_array_equal(data, level)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bool_masks_and_castable_integers(tmp_path: Path, backend: str) -> None:
    settings = settings_for(
        tmp_path, backend, ow.LabelImage(name="mask", dtype="uint16")
    )
    mask = np.zeros((Y, X), bool)
    mask[2:5, 3:7] = True
    with ow.create_stream(settings) as stream:
        for n in range(4):
            stream.append(frame(n))
        stream.write_label("mask", mask, frame=0)
        stream.write_label("mask", np.full((Y, X), 300, "int64"), frame=3)  # fits
    data = read_both(label_path(tmp_path / "data.ome.zarr", 0, "mask"))
    np.testing.assert_array_equal(data[0, 0, 0], mask.astype("uint16"))
    np.testing.assert_array_equal(data[0, 0, 1], np.full((Y, X), 300))


@pytest.mark.parametrize("backend", BACKENDS)
def test_unbounded_time_is_cut_to_the_image(tmp_path: Path, backend: str) -> None:
    settings = settings_for(
        tmp_path, backend, ow.LabelImage(name="cells"), dimensions=dims(t=None)
    )
    per_t = COUNTS["p"] * COUNTS["c"] * COUNTS["z"]
    total = 5 * per_t + 3  # the last time point is partial
    with ow.create_stream(settings) as stream:
        for n in range(total):
            stream.append(frame(n))
        stream.write_label("cells", plane(1), frame=per_t + 1)  # t1 p0 c0 z1
        stream.write_label("cells", plane(2), frame=total - 1)  # t5 p0 c1 z0
    root = tmp_path / "data.ome.zarr"
    for p in range(COUNTS["p"]):
        image = zarr_shape(root / str(p) / "0")
        labels = read_both(label_path(root, p, "cells"))
        assert labels.shape == (image[0], 1, *image[2:]), (image, labels.shape)
        assert labels.shape[0] == 6 - p  # position 1 has no frame at t5
    labels = read_both(label_path(root, 0, "cells"))
    expected = np.zeros_like(labels)
    expected[1, 0, 1] = plane(1)
    expected[5, 0, 0] = plane(2)
    np.testing.assert_array_equal(labels, expected)


def zarr_shape(path: Path) -> tuple[int, ...]:
    import zarr

    return tuple(zarr.open_array(str(path), mode="r").shape)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_planes_are_refused_and_nothing_is_lost(
    tmp_path: Path, backend: str
) -> None:
    settings = settings_for(
        tmp_path, backend, ow.LabelImage(name="cells", dtype="uint8"), pyramid=2
    )
    good = plane(3, dtype="uint8")
    with ow.create_stream(settings) as stream:
        for n in range(3):
            stream.append(frame(n))
        stream.write_label("cells", good, frame=0)
        with pytest.raises(ValueError, match=r"shape \(9, 10\), expected"):
            stream.write_label("cells", np.zeros((X, Y), "uint8"), frame=1)
        with pytest.raises(TypeError, match="float64 values do not fit"):
            stream.write_label("cells", np.zeros((Y, X)), frame=1)
        with pytest.raises(TypeError, match="do not fit the label dtype uint8"):
            stream.write_label("cells", np.full((Y, X), 256, "uint16"), frame=1)
        with pytest.raises(TypeError, match="do not fit the label dtype uint8"):
            stream.write_label("cells", np.full((Y, X), -1, "int16"), frame=1)
        with pytest.raises(IndexError, match="has not been appended"):
            stream.write_label("cells", good, frame=3)
        with pytest.raises(KeyError, match="no label image 'other'"):
            stream.write_label("other", good, frame=0)
        # the stream goes on
        stream.append(frame(3))
        stream.write_label("cells", np.full((Y, X), 255, "uint16"), frame=3)
        for n in range(4, int(np.prod(list(COUNTS.values())))):
            stream.append(frame(n))
    root = tmp_path / "data.ome.zarr"
    labels = read_both(label_path(root, 0, "cells"))
    expected = np.zeros_like(labels)
    expected[0, 0, 0] = good
    expected[0, 0, 1] = 255  # frame 3: t0 p0 c1 z1
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(
        read_both(label_path(root, 0, "cells", 1)), naive_levels(expected, 2, "mode")[1]
    )
    image = read_both(root / "0" / "0")
    np.testing.assert_array_equal(image[0, 0, 0], frame(0))
    last = np.ravel_multi_index((2, 0, 1, 1), tuple(COUNTS.values()))
    np.testing.assert_array_equal(image[-1, -1, -1], frame(int(last)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_last_of_quick_rewrites_stays(tmp_path: Path, backend: str) -> None:
    """Planes written to one cell in quick succession (another channel's
    frame, a corrected plane): the last one is what is read."""
    settings = settings_for(tmp_path, backend, ow.LabelImage(name="cells"), pyramid=2)
    total = int(np.prod(list(COUNTS.values())))
    with ow.create_stream(settings) as stream:
        for n in range(total):
            stream.append(frame(n))
        for n in range(total):
            for k in range(12):
                stream.write_label("cells", plane(100 * n + k), frame=n)
    root = tmp_path / "data.ome.zarr"
    written = {n: plane(100 * n + 11) for n in range(total)}
    expected = expected_arrays(written, per_channel=False)
    for p in range(COUNTS["p"]):
        for k, level in enumerate(naive_levels(expected[p], 2, "mode")):
            data = read_both(label_path(root, p, "cells", k))
            np.testing.assert_array_equal(
                data, level, err_msg=f"position {p} level {k}"
            )
