"""Pyramids during and after acquisition: live views, memory, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaozarrs
import zarr

from ome_writers import AcquisitionSettings, Dimension, Pyramid, create_stream
from ome_writers._registry import BY_NAME
from ome_writers.tools.cli import main
from tests.backends.params import backend_params, root_for
from tests.stream.test_hot_path_memory import _append_peaks

from .reference import reference_levels

T, Z, Y, X = 3, 4, 18, 14


def _dims(t: int | None = T) -> list[Dimension]:
    return [
        Dimension(name="t", count=t, type="time"),
        Dimension(name="z", count=Z, type="space"),
        Dimension(name="y", count=Y, type="space"),
        Dimension(name="x", count=X, type="space"),
    ]


def _frame(n: int) -> np.ndarray:
    rng = np.random.default_rng(n)
    return rng.integers(0, 60000, (Y, X)).astype("uint16")


FILE_WRITERS = [p for p in backend_params() if BY_NAME[p.values[0]].writes_files]


@pytest.mark.parametrize(
    "backend",
    [p for p in FILE_WRITERS if BY_NAME[p.values[0]].complete_live_reads],
)
def test_live_level_view(tmp_path: Path, backend: str) -> None:
    """A level view grows with the acquisition and shows complete blocks."""
    reduce_z = BY_NAME[backend].format == "ome-zarr"
    settings = AcquisitionSettings(
        root_path=root_for(tmp_path, backend),
        format=backend,
        dimensions=_dims(None),
        dtype="uint16",
        pyramid=Pyramid(levels=3, reduce_z=reduce_z),
    )
    reduced = (False, reduce_z, True, True)
    with create_stream(settings) as stream:
        view = stream.view(level=1)
        deep = stream.view(level=2)
        assert view.dims == ("t", "z", "y", "x")
        assert view.shape[2:] == (9, 7)
        frames = []
        for n in range(2 * Z):
            frames.append(_frame(n))
            stream.append(frames[-1])
            if n == Z - 1:  # the first time point is complete
                expected = reference_levels(
                    np.stack(frames).reshape(1, Z, Y, X), reduced, "mean", 3
                )
                assert view.shape == expected[1].shape
                np.testing.assert_array_equal(np.asarray(view), expected[1])
                np.testing.assert_array_equal(np.asarray(deep), expected[2])
        expected = reference_levels(
            np.stack(frames).reshape(2, Z, Y, X), reduced, "mean", 3
        )
        np.testing.assert_array_equal(view[1], expected[1][1])
        np.testing.assert_array_equal(deep[:, 0], expected[2][:, 0])
    with pytest.raises(IndexError, match="Pyramid level 3 does not exist"):
        stream.view(level=3)


@pytest.mark.parametrize("backend", backend_params(names=("tensorstore", "tifffile")))
def test_no_frame_sized_allocation_with_levels(tmp_path: Path, backend: str) -> None:
    """The caller's thread copies each frame into a preallocated buffer; the
    reduction uses buffers allocated once: no frame-sized allocation per append
    (tracemalloc counts every thread, so the levels' threads are included;
    zarr-python is left out because it encodes chunks into new Python objects
    on its threads, see tests/stream/test_hot_path_memory.py)."""
    import ome_writers.metadata._ome_model  # noqa: F401  (imported in the background

    # at create: done here so that import's allocations fall outside the window)
    shape = (512, 512)
    frame_bytes = shape[0] * shape[1] * 2
    settings = AcquisitionSettings(
        root_path=root_for(tmp_path, backend),
        format=backend,
        dimensions=[
            # one frame per chunk, stated: frames this small are grouped otherwise
            Dimension(name="t", count=40, type="time", chunk_size=1),
            Dimension(name="y", count=shape[0], type="space"),
            Dimension(name="x", count=shape[1], type="space"),
        ],
        dtype="uint16",
        pyramid=3,
    )
    frames = [np.full(shape, i, "uint16") for i in range(40)]
    peaks = _append_peaks(settings, frames)
    typical = sorted(peaks)[len(peaks) // 2]
    # transient, bounded buffers of the reduction's libraries may fall inside an
    # append's window: numpy's ufunc casting buffers (np.getbufsize() = 8192
    # elements per operand: 64 KiB when two uint16 inputs are summed as int32)
    # on the levels' thread, and tifffile's `tofile` (~64 KiB per SubIFD page)
    # on the TIFF writer thread; an eighth of this frame, never a frame
    bound = frame_bytes // 4
    assert typical < bound, f"median {typical}, peaks {peaks}"
    assert max(peaks) < 1.5 * frame_bytes, f"peaks {sorted(peaks)[-3:]}"


CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from ome_writers import AcquisitionSettings, Dimension, Pyramid, create_stream

    backend, root, unbounded = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    zarr_format = not root.endswith(".tiff")
    settings = AcquisitionSettings(
        root_path=root, format=backend,
        dimensions=[Dimension(name="t", count=None if unbounded else 20, type="time"),
                    Dimension(name="z", count=4, type="space"),
                    Dimension(name="y", count=18, type="space"),
                    Dimension(name="x", count=14, type="space")],
        dtype="uint16",
        pyramid=Pyramid(levels=3, reduce_z=zarr_format),
    )
    stream = create_stream(settings, checkpoint_seconds=None)
    def frame(n):
        return np.random.default_rng(n).integers(0, 60000, (18, 14)).astype("uint16")
    for n in range(12):  # three complete time points
        stream.append(frame(n))
    stream.checkpoint()
    for n in range(12, 15):  # after the checkpoint: may or may not survive
        stream.append(frame(n))
    print("READY", flush=True)
    time.sleep(120)
    """
)


@pytest.mark.parametrize("unbounded", [False, True])
@pytest.mark.parametrize("backend", FILE_WRITERS)
def test_sigkill_after_checkpoint_levels_readable(
    tmp_path: Path, backend: str, unbounded: bool
) -> None:
    root = Path(root_for(tmp_path, backend, "crash"))
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, backend, str(root), "1" if unbounded else "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()
    frames = np.stack([_frame(n) for n in range(12)]).reshape(3, Z, Y, X)
    if BY_NAME[backend].format == "ome-tiff":
        assert main(["repair", str(root)]) == 0
        expected = reference_levels(frames, (False, False, True, True), "mean", 3)
        with tifffile.TiffFile(root) as tif:
            levels = tif.series[0].levels
            assert len(levels) == 3
            for k, level in enumerate(levels):
                data = level.asarray().reshape(-1, Z, *expected[k].shape[2:])
                np.testing.assert_array_equal(data[:3], expected[k], f"level {k}")
        return
    yaozarrs.validate_zarr_store(str(root))
    expected = reference_levels(frames, (False, True, True, True), "mean", 3)
    base = zarr.open_array(str(root / "0"), mode="r")
    durable = min(3, base.shape[0])  # acquire-zarr: complete shards only
    assert durable >= 2
    for k in range(3):
        data = zarr.open_array(str(root / str(k)), mode="r")[...]
        np.testing.assert_array_equal(
            data[:durable], expected[k][:durable], f"level {k}"
        )


@pytest.mark.parametrize("suffix", [".ome.zarr", ".ome.tiff"])
def test_pymmcore_plus_mda_run_with_pyramid(tmp_path: Path, suffix: str) -> None:
    """`mda.run(seq, output=AcquisitionSettings(..., pyramid=...))`: frame by
    frame, level 1 is the reduction of what the demo camera produced."""
    useq = pytest.importorskip("useq")
    from ome_writers.adapters.demo_camera import demo_core

    core = demo_core(width=40, height=30)
    seq = useq.MDASequence(
        time_plan={"interval": 0, "loops": 2}, channels=["DAPI", "FITC"]
    )
    frames: list[np.ndarray] = []
    core.mda.events.frameReady.connect(lambda img, *_: frames.append(img.copy()))
    path = tmp_path / f"mda{suffix}"
    core.mda.run(seq, output=AcquisitionSettings(root_path=str(path), pyramid=2))
    assert len(frames) == 4
    expected = reference_levels(np.stack(frames), (False, True, True), "mean", 2)
    if suffix == ".ome.zarr":
        data = zarr.open_array(str(path / "1"), mode="r")[...]
    else:
        with tifffile.TiffFile(path) as tif:
            data = tif.series[0].levels[1].asarray()
    np.testing.assert_array_equal(data.reshape(expected[1].shape), expected[1])


def test_cli_demo_levels_and_info(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("useq")
    args = ["demo", "--output", str(tmp_path), "--t", "2", "--z", "1"]
    args += ["--positions", "1", "--width", "64", "--height", "48", "--levels", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("  valid") == 2
    assert "every frame present once: True" in out
    assert main(["info", str(tmp_path / "demo.ome.zarr")]) == 0
    out = capsys.readouterr().out
    assert (
        "3 resolution levels (0: (2, 2, 48, 64), 1: (2, 2, 24, 32), 2: (2, 2, 12, 16))"
        in out
    )
    assert main(["info", str(tmp_path / "demo.ome.tiff")]) == 0
    assert "3 resolution levels" in capsys.readouterr().out


def test_level_write_failure_surfaces_and_keeps_level_zero(tmp_path: Path) -> None:
    """A level writer failing on the background thread is raised from the next
    append (or close); frames appended before stay readable at level 0."""
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "fail.ome.zarr"),
        format="tensorstore",
        dimensions=_dims(),
        dtype="uint16",
        pyramid=2,
    )
    stream = create_stream(settings, checkpoint_seconds=None)
    stream.append(_frame(0))
    stream._backend.pipeline.settle()

    def broken(*_: object) -> None:
        raise OSError(28, "No space left on device")

    stream._backend.levels[0].write = broken  # type: ignore[method-assign]
    stream.append(_frame(1))
    # reported once: from an append (the stream then refuses frames), from the
    # level pipeline's settle, or from close
    raised: list[OSError] = []
    for n in range(2, 12):
        try:
            stream.append(_frame(n))
            stream._backend.pipeline.settle()
        except OSError as e:
            raised.append(e)
            break
    try:
        stream.close()
    except OSError as e:
        raised.append(e)
    assert raised, "the level writer's failure was never reported"
    assert all("No space left" in str(e) for e in raised), raised
    data = zarr.open_array(str(tmp_path / "fail.ome.zarr" / "0"), mode="r")[...]
    np.testing.assert_array_equal(data[0, 0], _frame(0))
    np.testing.assert_array_equal(data[0, 1], _frame(1))
