"""`ome_writers.open`: an image's label images, ours and other writers'.

`view.labels` lists them; `view.label(name)` reads one with the image's
dimensions and valid extent, following the dataset with its view.
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

import ome_writers as ow
from ome_writers import (
    AcquisitionSettings,
    Dimension,
    LabelImage,
    OmeZarrFormat,
    create_stream,
)
from tests.labels._helpers import H, W, tpc_dimensions

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def _settings(
    root: Path, *, t: int | None = 3, ngff: str = "0.5", **kw: object
) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(root),
        dimensions=tpc_dimensions(t, chunk_size=1),
        dtype="uint16",
        format=OmeZarrFormat(ngff_version=ngff),  # type: ignore[arg-type]
        loss_window=0.1,
        overwrite=True,
        **kw,  # type: ignore[arg-type]
    )


def _plane(value: int) -> np.ndarray:
    plane = np.full((H, W), value, dtype="uint16")
    plane[1, 1] = value + 100
    return plane


def _wait(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("ngff", ["0.4", "0.5", "0.6rc0"])
def test_our_label_images_read_as_zarr_python_reads_them(
    tmp_path: Path, ngff: str
) -> None:
    root = tmp_path / "run.ome.zarr"
    labels = [
        LabelImage(name="cells", dtype="uint16"),
        LabelImage(name="nuclei", per_channel=True, dtype="uint8"),
    ]
    with create_stream(_settings(root, ngff=ngff, labels=labels, pyramid=2)) as s:
        for n in range(6):
            s.append(np.zeros((H, W), "uint16"))
            s.write_label("nuclei", _plane(n + 1))
            if n % 2:
                s.write_label("cells", _plane(n + 1))
    with ow.open(root) as view:
        assert view.labels == ["cells", "nuclei"]
        cells = view.label("cells")
        assert cells.dims == view.dims == ("p", "t", "c", "y", "x")
        assert cells.dtype == np.dtype("uint16")
        assert cells.shape == (2, 2, 1, H, W)  # the frames' valid extent
        assert cells.coords["c"] == range(1)
        assert cells.coords["p"] == ["A", "B"]
        assert cells.channels == []
        assert cells.labels == []
        assert cells.levels == 2
        nuclei = view.label("nuclei")
        assert nuclei.shape == (2, 2, 2, H, W)
        assert nuclei.coords["c"] == ["DAPI", "FITC"]
        low = view.at_level(1).label("cells")
        assert low.level == 1
        assert low.shape == (2, 2, 1, H // 2, W // 2)
        for p, image in enumerate(["A", "B"]):
            for name, label_view in (("cells", cells), ("nuclei", nuclei)):
                for level, read in ((0, label_view), (1, label_view.at_level(1))):
                    path = root / image / "labels" / name / str(level)
                    expected = zarr.open_array(str(path), mode="r")[:2]
                    np.testing.assert_array_equal(read[p], expected)
        np.testing.assert_array_equal(cells[:, :, 0, 1, 1], [[102, 106], [104, 0]])
        one = ow.open(root, image="B").label("nuclei")
        assert one.dims == ("t", "c", "y", "x")
        np.testing.assert_array_equal(one[0, :, 1, 1], [103, 104])
        one.close()


def test_a_label_view_follows_the_planes_written(tmp_path: Path) -> None:
    root = tmp_path / "live.ome.zarr"
    settings = _settings(root, t=None, labels=[LabelImage(name="cells")])
    emitted: list[tuple[int, ...]] = []
    with create_stream(settings) as stream:
        stream.append(np.zeros((H, W), "uint16"))
        stream.write_label("cells", _plane(1))
        stream.checkpoint()
        view = ow.open(root, live=True, poll_interval=0.02)
        cells = view.label("cells")
        cells.coords_changed.connect(lambda: emitted.append(cells.shape))
        assert cells.status == "writing"
        assert cells.shape == (1, 1, 1, H, W)
        np.testing.assert_array_equal(cells[0, 0, 0], _plane(1))
        for n in range(1, 10):  # into t2 of position B
            stream.append(np.zeros((H, W), "uint16"))
            if n % 2 == 0:
                stream.write_label("cells", _plane(n + 1))
        # the unbounded label arrays grew with the planes, read as they land
        _wait(lambda: cells.shape == (2, 3, 1, H, W))
        _wait(lambda: int(cells[0, 2, 0, 1, 1]) == 109)
        np.testing.assert_array_equal(
            cells[:, :, 0, 1, 1], [[101, 105, 109], [103, 107, 0]]
        )
    _wait(lambda: cells.status == "complete")
    assert emitted and emitted[-1] == cells.shape
    for p, image in enumerate(["A", "B"]):
        stored = zarr.open_array(str(root / image / "labels/cells/0"), mode="r")
        # each label array is cut to its image's extent at close (B: 2)
        assert stored.shape[0] == 3 - p
        np.testing.assert_array_equal(stored[...], cells[p, : 3 - p])
    view.close()  # closes the label view with it, and stops following
    _wait(lambda: all(not t.is_alive() for t in _follow_threads()))


def _follow_threads() -> list[object]:
    import threading

    return [t for t in threading.enumerate() if t.name == "ome-writers-follow"]


def test_a_label_image_added_while_running_is_listed(tmp_path: Path) -> None:
    root = tmp_path / "late.ome.zarr"
    with create_stream(_settings(root)) as stream:
        stream.append(np.zeros((H, W), "uint16"))
        stream.checkpoint()
        with ow.open(root, live=True, poll_interval=0.02) as view:
            assert view.labels == []
            stream.add_labels({"name": "late"})
            assert view.labels == ["late"]
            late = view.label("late")
            assert late.shape == (1, 1, 1, H, W)
            assert not late[...].any()


def test_unknown_labels_and_tiff_datasets(tmp_path: Path) -> None:
    root = tmp_path / "run.ome.zarr"
    with create_stream(_settings(root, labels=[LabelImage(name="a")])) as stream:
        stream.append(np.zeros((H, W), "uint16"))
    with ow.open(root) as view, pytest.raises(KeyError, match=r"'b'.*\['a'\]"):
        view.label("b")
    tiff = AcquisitionSettings(
        root_path=str(tmp_path / "x.ome.tiff"),
        dimensions=[Dimension(name="y", count=H), Dimension(name="x", count=W)],
        dtype="uint8",
    )
    with create_stream(tiff) as stream:
        stream.append(np.zeros((H, W), "uint8"))
    with ow.open(tmp_path / "x.ome.tiff") as view:
        assert view.labels == []
        with pytest.raises(KeyError, match="OME-Zarr"):
            view.label("a")


@pytest.mark.parametrize("zarr_format", [2, 3], ids=["0.4", "0.5"])
def test_label_images_of_ome_zarr_py(tmp_path: Path, zarr_format: int) -> None:
    from ome_zarr.format import FormatV04, FormatV05

    with warnings.catch_warnings():  # its module builds a deprecated default
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr.writer import write_image, write_labels

    fmt = FormatV04() if zarr_format == 2 else FormatV05()
    path = tmp_path / "other.ome.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    image = np.arange(2 * 3 * 32 * 32, dtype="uint16").reshape(2, 3, 32, 32)
    write_image(image, group, axes="tcyx", fmt=fmt, scale_factors=[2])
    blobs = np.zeros((2, 1, 32, 32), "uint32")
    blobs[0, 0, 4:12, 4:12] = 3
    blobs[1, 0, 20:, 20:] = 7
    write_labels(
        blobs,
        group,
        name="blobs",
        axes="tcyx",
        fmt=fmt,
        scaler=None,
        scale_factors=[2],
        label_metadata={"colors": [{"label-value": 3, "rgba": [255, 0, 0, 255]}]},
    )
    with ow.open(path) as view:
        assert view.labels == ["blobs"]
        read = view.label("blobs")
        assert read.dims == ("t", "c", "y", "x")
        assert read.shape == (2, 1, 32, 32)
        assert read.complete
        np.testing.assert_array_equal(np.asarray(read), blobs)
        assert read.levels == 2
        low = view.at_level(1).label("blobs")
        assert low.shape == (2, 1, 16, 16)
        label_group = zarr.open_group(str(path / "labels/blobs"), mode="r")
        attrs = label_group.attrs.asdict()
        ngff = attrs.get("ome", attrs)
        level1 = ngff["multiscales"][0]["datasets"][1]["path"]
        np.testing.assert_array_equal(low[...], label_group[level1][...])
