"""`stream.view(label=...)`: a label image read live, beside the frames."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

from ome_writers import (
    AcquisitionSettings,
    Dimension,
    LabelImage,
    OmeZarrFormat,
    create_stream,
)
from tests.backends.params import backend_params
from tests.labels._helpers import H, W, tpc_dimensions

if TYPE_CHECKING:
    from pathlib import Path


def _settings(
    path: Path, backend: str = "auto", *, t: int | None = 3, **kw: object
) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(path / "labels.ome.zarr"),
        dimensions=tpc_dimensions(t),
        dtype="uint16",
        format=OmeZarrFormat(backend=backend),  # type: ignore[arg-type]
        overwrite=True,
        **kw,  # type: ignore[arg-type]
    )


def _plane(value: int) -> np.ndarray:
    plane = np.full((H, W), value, dtype="uint16")
    plane[0, 0] = value + 100  # a pixel of its own, to tell planes apart
    return plane


@pytest.mark.parametrize("backend", backend_params(format="ome-zarr"))
def test_label_view_follows_the_frames_and_reads_planes_at_once(
    tmp_path: Path, backend: str
) -> None:
    settings = _settings(tmp_path, backend, labels=[LabelImage(name="cells")])
    with create_stream(settings) as stream:
        view = stream.view(label="cells")
        assert view.dims == ("t", "p", "c", "y", "x")
        assert view.dtype == np.dtype("uint32")
        assert view.shape == (0, 0, 0, H, W)
        written: dict[tuple[int, int], int] = {}
        for n in range(6):  # t0 (A, B: two channels each), t1 A
            stream.append(np.zeros((H, W), "uint16"))
            t, p = divmod(n, 4)[0], (n % 4) // 2
            # the frame's extent, not the planes: every other frame only
            assert view.shape == (t + 1, 2 if t else p + 1, 1, H, W)
            if n % 2:
                continue
            stream.write_label("cells", _plane(n + 1))
            written[t, p] = n + 1
            # visible as soon as write_label returns, the others still 0
            for (tt, pp), value in written.items():
                np.testing.assert_array_equal(view[tt, pp, 0], _plane(value))
        assert view.coords["c"] == range(1)
        assert view.coords["p"] == ["A", "B"]
        assert int(view[1, 1, 0, 0, 0]) == 0  # a frame acquired, no plane
        np.testing.assert_array_equal(view[:, :, 0, 0, 0], [[101, 103], [105, 0]])
        # integer indices past the live extent read zeros unless strict
        assert int(view[2, 0, 0, 0, 0]) == 0
        with pytest.raises(IndexError, match="live dimension 't'"):
            stream.view(label="cells", strict=True)[2, 0, 0]
        assert stream.view(label="cells", dynamic_shape=False).shape == (
            3,
            2,
            1,
            H,
            W,
        )
        one = stream.view(label="cells", position=1)
        assert one.dims == ("t", "c", "y", "x")
        assert one.shape == (2, 1, H, W)
        np.testing.assert_array_equal(one[0, 0], _plane(3))
        live = np.asarray(view)
    # the same values as zarr-python reads from the arrays written
    for p, image in enumerate(["A", "B"]):
        path = tmp_path / f"labels.ome.zarr/{image}/labels/cells/0"
        stored = zarr.open_array(str(path))
        assert stored.shape == (3, 1, H, W)
        np.testing.assert_array_equal(stored[:2], live[:, p])
    np.testing.assert_array_equal(np.asarray(view)[:, :, :, :, :], live)


def test_label_view_levels_are_the_label_arrays(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, pyramid=2, labels=[LabelImage(name="cells", dtype="uint8")]
    )
    rng = np.random.default_rng(0)
    planes = [rng.integers(0, 4, (H, W), dtype="uint8") for _ in range(3)]
    with create_stream(settings) as stream:
        for n in range(3):
            stream.append(np.zeros((H, W), "uint16"))
            stream.write_label("cells", planes[n], frame=n)
        level1 = stream.view(label="cells", level=1)
        assert level1.shape == (1, 2, 1, H // 2, W // 2)
        assert level1.dtype == np.dtype("uint8")
        live = level1[0]
        one = stream.view(label="cells", level=1, position=0)
        np.testing.assert_array_equal(one[0], live[0])
    root = tmp_path / "labels.ome.zarr"
    for p, image in enumerate(["A", "B"]):
        stored = zarr.open_array(str(root / f"{image}/labels/cells/1"))
        np.testing.assert_array_equal(stored[0], live[p])
    # a label plane is reduced by its mode, never averaged: values stay labels
    assert set(np.unique(live)) <= {0, 1, 2, 3}


def test_per_channel_label_view_keeps_the_channels(tmp_path: Path) -> None:
    label = LabelImage(name="nuclei", per_channel=True)
    with create_stream(_settings(tmp_path, labels=[label])) as stream:
        for n in range(2):
            stream.append(np.zeros((H, W), "uint16"))
            stream.write_label("nuclei", _plane(n + 1))
        view = stream.view(label="nuclei")
        assert view.shape == (1, 1, 2, H, W)
        assert view.coords["c"] == ["DAPI", "FITC"]
        np.testing.assert_array_equal(view[0, 0, :, 0, 0], [101, 102])


def test_label_added_while_running_and_unbounded_time(tmp_path: Path) -> None:
    with create_stream(_settings(tmp_path, t=None)) as stream:
        for _ in range(5):
            stream.append(np.zeros((H, W), "uint16"))
        stream.add_labels({"name": "late", "dtype": "uint16"})
        view = stream.view(label="late")
        assert view.shape == (2, 2, 1, H, W)  # the frames', none written yet
        assert not view[...].any()
        stream.write_label("late", _plane(7), frame=1)
        np.testing.assert_array_equal(view[0, 0, 0], _plane(7))
    np.testing.assert_array_equal(view[0, 0, 0], _plane(7))  # after close too
    stored = zarr.open_array(str(tmp_path / "labels.ome.zarr/A/labels/late/0"))
    assert stored.shape[0] == 2  # cut to the image's extent at close


def test_label_view_refuses_unknown_names_and_tiff(tmp_path: Path) -> None:
    settings = _settings(tmp_path, labels=[LabelImage(name="a")])
    with create_stream(settings) as stream, pytest.raises(KeyError, match="'b'"):
        stream.view(label="b")
    tiff = AcquisitionSettings(
        root_path=str(tmp_path / "x.ome.tiff"),
        dimensions=[Dimension(name="y", count=H), Dimension(name="x", count=W)],
        dtype="uint8",
    )
    with create_stream(tiff) as stream, pytest.raises(ValueError, match="OME-Zarr"):
        stream.view(label="a")
