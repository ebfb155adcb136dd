"""The benchmark's ceilings: direct-I/O disk writes and the codec's CPU rate;
their figures are not asserted (the machine is shared), their structure is."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ome_writers.tools.bench import _run_ceiling
from ome_writers.tools.bench._plan import ceiling_fps
from ome_writers.tools.bench._run_ceiling import (
    BLOSC,
    BLOSC_BLOCK_BYTES,
    ZSTD_LEVEL,
    alignment,
    cores,
    direct_io_supported,
    run_ceiling,
)
from ome_writers.tools.bench._scenarios import scenario
from ome_writers.tools.bench._summary import add_ratios, median_of_repeats
from ome_writers.tools.bench._tables import (
    BUFFERED_NOTE,
    dumps_rows,
    print_rich,
    render,
    render_markdown,
)
from tests.memory_maps import advised_huge_pages

RATES = ("gbps_sync", "ceiling_prealloc_gbps", "ceiling_per_file_gbps", "fps")


def small(name: str, frames: int = 12, size: int = 64) -> dict[str, Any]:
    """Scenario `name` with `frames` frames of `size`²."""
    spec = scenario(name, quick=True)
    spec["frames"] = frames
    spec["frame_shape"] = (size, size)
    for dim in spec["dims"][-2:]:
        dim["count"], dim["chunk_size"] = size, None
    return spec


def _check_disk_row(row: dict[str, Any], spec: dict[str, Any], out: Path) -> None:
    """Rates positive, the faster variant counted, every frame written."""
    assert all(row[key] > 0 for key in RATES), row
    variants = (row["ceiling_prealloc_gbps"], row["ceiling_per_file_gbps"])
    assert row["gbps_sync"] == max(variants)
    assert row["frames"] == spec["frames"]
    ny, nx = spec["frame_shape"]
    assert row["gb"] == spec["frames"] * ny * nx * 2 / 1e9
    size = -(-ny * nx * 2 // row["aligned_to"]) * row["aligned_to"]
    assert row["padded"] == (size != ny * nx * 2)
    # one preallocated file of every frame, and one file per frame
    assert (out / "ceiling.raw").stat().st_size == spec["frames"] * size
    per_frame = sorted((out / "frames").iterdir(), key=lambda p: int(p.name))
    assert [p.name for p in per_frame] == [str(i) for i in range(spec["frames"])]
    assert {p.stat().st_size for p in per_frame} == {size}


def test_direct_io_ceiling(tmp_path: Path) -> None:
    if not direct_io_supported(tmp_path, alignment(tmp_path)):
        pytest.skip("this filesystem refuses O_DIRECT")
    spec = small("a")
    row = run_ceiling(spec, tmp_path)
    assert row["direct_io"] is True and row["in_flight"] == _run_ceiling.IN_FLIGHT
    assert row["aligned_to"] % 512 == 0
    assert "cpu_gbps" not in row  # uncompressed: no CPU ceiling
    _check_disk_row(row, spec, tmp_path)


def test_frames_padded_to_the_alignment(tmp_path: Path) -> None:
    """16² uint16 frames (512 bytes) are padded for the ceiling run only; the
    rate counts the scenario's bytes."""
    spec = small("f", frames=9, size=16)
    row = run_ceiling(spec, tmp_path)
    assert row["padded"] is True and row["gb"] == 9 * 512 / 1e9
    _check_disk_row(row, spec, tmp_path)


def _tmpfs(tmp_path: Path) -> Path:
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        return tmp_path
    folder = shm / f"ome-writers-ceiling-{os.getpid()}-{tmp_path.name}"
    folder.mkdir()
    return folder


def test_buffered_fallback_when_o_direct_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a tmpfs (which refuses O_DIRECT on older kernels; refused here for
    every kernel) the ceiling is buffered writes + fsync, and says so."""
    import shutil

    flag = getattr(os, "O_DIRECT", 0)
    real_open = os.open
    direct_opens = []

    def refusing_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flag and flags & flag:
            direct_opens.append(path)
            raise OSError(errno.EINVAL, "Invalid argument", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(_run_ceiling.os, "open", refusing_open)
    out = _tmpfs(tmp_path)
    try:
        spec = small("a", frames=5)
        row = run_ceiling(spec, out)
        assert row["direct_io"] is False
        _check_disk_row(row, spec, out)
        assert len(direct_opens) == (1 if flag else 0)  # the probe only
        assert not (out / ".direct-io-probe").exists()
    finally:
        if out != tmp_path:
            shutil.rmtree(out)


def test_refused_direct_write_means_no_direct_io(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Filesystems that open with O_DIRECT but refuse the write (EINVAL)."""
    if not getattr(os, "O_DIRECT", 0):
        pytest.skip("no O_DIRECT on this platform")

    def refusing_pwrite(*args: Any) -> int:
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(_run_ceiling.os, "pwrite", refusing_pwrite)
    assert direct_io_supported(tmp_path, 4096) is False
    assert not (tmp_path / ".direct-io-probe").exists()


def test_other_write_errors_are_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk is not a refusal of direct I/O: the error surfaces."""

    def full(*args: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_run_ceiling.os, "pwrite", full)
    with pytest.raises(OSError, match="No space left"):
        run_ceiling(small("a", frames=3), tmp_path)


def test_cpu_ceiling_of_a_compressed_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without imagecodecs: numcodecs' blosc, its threads kept to one."""
    pytest.importorskip("numcodecs")
    from numcodecs import blosc

    # blosc's settings are the process's: given back to the other tests
    monkeypatch.setattr(blosc, "use_threads", blosc.use_threads)
    threads = blosc.get_nthreads()
    monkeypatch.setitem(__import__("sys").modules, "imagecodecs", None)
    spec = small("d", frames=6, size=128)
    try:
        row = run_ceiling(spec, tmp_path)
        assert blosc.get_nthreads() == 1 and blosc.use_threads is False
    finally:
        blosc.set_nthreads(threads)
    assert row["cpu_core_gbps"] > 0 and row["compression_ratio"] > 1
    assert row["cpu_cores"] == cores() == len(os.sched_getaffinity(0))
    assert row["cpu_gbps"] == pytest.approx(row["cpu_core_gbps"] * row["cpu_cores"])
    assert row["cpu_codec"] == "numcodecs blosc zstd level 3 shuffle, 1 thread"
    _check_disk_row(row, spec, tmp_path)


def test_cpu_ceiling_with_imagecodecs_uses_one_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """imagecodecs' blosc (the writer threads' library) with one thread and
    the same parameters, into a reused buffer."""
    imagecodecs = pytest.importorskip("imagecodecs")
    calls: list[dict[str, Any]] = []
    real = imagecodecs.blosc_encode

    def spy(data: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(data, **kwargs)

    monkeypatch.setattr(imagecodecs, "blosc_encode", spy)
    spec = small("d", frames=3)
    result = _run_ceiling.cpu_ceiling(spec, _frames(spec))
    assert result["cpu_core_gbps"] > 0
    assert result["cpu_codec"].startswith("imagecodecs blosc zstd level 3")
    assert calls and all(c["numthreads"] == 1 for c in calls)
    assert len({id(c["out"]) for c in calls}) == 1  # no allocation per chunk
    assert {(c["compressor"], c["level"], c["blocksize"]) for c in calls} == {
        ("zstd", 3, BLOSC_BLOCK_BYTES)
    }


def _frames(spec: dict[str, Any]) -> list[Any]:
    from ome_writers.tools.bench._scenarios import make_frames

    return make_frames(spec["frame_shape"])


def test_cpu_ceiling_compresses_chunk_by_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The codec sees the chunks the writer stores, not whole frames."""
    shapes: list[tuple[int, ...]] = []
    monkeypatch.setattr(
        _run_ceiling,
        "compressor",
        lambda c: ("spy", lambda a: shapes.append(a.shape) or b"x"),
    )
    spec = small("d", frames=8, size=64)
    for dim in spec["dims"][-2:]:
        dim["chunk_size"] = 32
    _run_ceiling.cpu_ceiling(spec, _frames(spec))
    assert set(shapes) == {(32, 32)} and len(shapes) == 8 * 4


def test_codec_parameters_are_the_backends() -> None:
    """The CPU ceiling compresses as our OME-Zarr backends do."""
    from ome_writers.backends.zarr import _array_writer
    from ome_writers.backends.zarr._array_writer import codec_configs

    assert BLOSC == _array_writer.BLOSC
    assert BLOSC_BLOCK_BYTES == _array_writer.BLOSC_BLOCK_BYTES
    for compression, (cname, clevel) in BLOSC.items():
        (config,) = codec_configs(compression, 2)
        assert config["configuration"] == {
            "cname": cname,
            "clevel": clevel,
            "shuffle": "shuffle",
            "typesize": 2,
            "blocksize": BLOSC_BLOCK_BYTES,
        }
    (zstd,) = codec_configs("zstd", 2)
    assert zstd["configuration"]["level"] == ZSTD_LEVEL
    with pytest.raises(ValueError, match="no CPU ceiling"):
        _run_ceiling.compressor("gzip")


def test_paced_at_the_lower_ceiling() -> None:
    row = {"gbps_sync": 2.0, "gb": 1.0, "frames": 100}
    assert ceiling_fps(row) == 200.0
    assert ceiling_fps({**row, "cpu_gbps": 0.5}) == 50.0
    assert ceiling_fps({**row, "cpu_gbps": 4.0}) == 200.0


def _rows(direct: bool) -> list[dict[str, Any]]:
    """Scenario d's ceiling, plain write and our row, two repeats each."""

    def run(gbps: float, **extra: Any) -> dict[str, Any]:
        speeds = {"gbps_close": gbps, "gbps_sync": gbps, "gbps_total": gbps}
        return {**speeds, "fps": 1.0, "peak_rss_mb": 10.0, **extra}

    ceiling = {"direct_io": direct, "cpu_gbps": 0.8, "ceiling_prealloc_gbps": 1.0}
    rows = [
        {
            **median_of_repeats([run(1.8, **ceiling), run(2.2, **ceiling)]),
            "scenario": "d",
            "target": "ceiling",
        },
        {**median_of_repeats([run(0.5)]), "scenario": "d", "target": "disk"},
        {
            **median_of_repeats([run(0.3), run(0.5)]),
            "scenario": "d",
            "target": "ours:tensorstore",
            "version": "0.4.0",
        },
    ]
    add_ratios(rows)
    return rows


def test_every_row_over_the_ceiling_medians() -> None:
    ceiling, disk, ours = _rows(direct=True)
    assert ceiling["gbps_sync"] == 2.0  # the median of the repeats
    assert "vs_ceiling" not in ceiling
    assert ours["vs_ceiling"] == pytest.approx(0.4 / 2.0)
    assert ours["vs_cpu_ceiling"] == pytest.approx(0.4 / 0.8)
    assert disk["vs_ceiling"] == pytest.approx(0.5 / 2.0)
    saved = {r["target"]: r for r in json.loads(dumps_rows([ceiling, disk, ours]))}
    assert saved["ours:tensorstore"]["vs_ceiling"] == pytest.approx(0.2)
    assert saved["ceiling"]["direct_io"] is True


def test_ceiling_columns_in_the_tables(capsys: pytest.CaptureFixture[str]) -> None:
    text = render(_rows(direct=True))
    header = next(line for line in text.splitlines() if "÷ceiling" in line)
    assert "÷CPU ceiling" in header and "CPU GB/s" in header
    ours = next(line for line in text.splitlines() if line.startswith("tensorstore"))
    assert " 0.20 " in ours and " 0.50 " in ours  # ÷ceiling, ÷CPU ceiling
    assert "disk ceiling (O_DIRECT)" in text and BUFFERED_NOTE not in text
    lines = render_markdown(_rows(direct=True)).splitlines()
    assert "| ours ÷ ceiling (disk / CPU) |" in lines[0]
    ceiling = "| d | disk ceiling (O_DIRECT) | 2.00 (+sync), CPU 0.80 |"
    assert lines[3].startswith(ceiling)
    cells = [c.strip() for c in lines[4].strip("|").split("|")]
    assert len(cells) == len(lines[0].strip("|").split("|"))
    assert cells[12] == "0.20 / 0.50"
    if print_rich(_rows(direct=True)):
        out = capsys.readouterr().out
        assert "÷ceiling" in out and BUFFERED_NOTE not in out


def test_buffered_ceiling_footnoted(capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows(direct=False)
    text = render(rows)
    assert "disk ceiling*" in text and BUFFERED_NOTE in text
    assert BUFFERED_NOTE in render_markdown(rows)
    assert json.loads(dumps_rows(rows))[0]["direct_io"] is False
    if print_rich(rows):
        assert "O_DIRECT" in capsys.readouterr().out


def test_ceiling_writes_from_huge_pages() -> None:
    """The ceiling's buffers are advised huge pages, as the writers' own
    run and frame buffers are: on some disks a direct write from them is
    faster, and the ceiling is to be the best the disk does."""
    frames = _frames(small("f", frames=3, size=512))
    memory, buffers = _run_ceiling.aligned_copies(frames, 4096)
    try:
        base = np.frombuffer(memory, np.uint8).ctypes.data
        assert advised_huge_pages(base)
        for frame, buffer in zip(frames, buffers, strict=True):
            assert bytes(buffer[: frame.nbytes]) == frame.tobytes()
    finally:
        for buffer in buffers:
            buffer.release()
        memory.close()
