"""`start(stream)`: serving a stream while it is written, at a lower priority."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.serve import start
from ome_writers.serve._process import stream_dataset
from tests.serve.conftest import raw_request

FRAME = (16, 16)


def _settings(root: Path, fmt: str, positions: int = 1) -> AcquisitionSettings:
    dims = [
        Dimension(name="t", count=3, type="time"),
        Dimension(name="y", count=FRAME[0], type="space"),
        Dimension(name="x", count=FRAME[1], type="space"),
    ]
    if positions > 1:
        names = [f"pos{i}" for i in range(positions)]
        dims.insert(0, Dimension(name="p", type="position", coords=names))
    return AcquisitionSettings(
        root_path=str(root), dimensions=dims, dtype="uint16", format=fmt
    )


def _niceness(pid: int) -> int:
    return _niceness_of(pid, pid)


def _niceness_of(pid: int, tid: int) -> int:
    """The niceness of thread `tid` of process `pid` (Linux sets it per thread)."""
    stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[16])  # field 19 of stat(5)


@pytest.mark.parametrize(
    ("fmt", "positions", "member"),
    [
        ("ome-zarr", 1, "zarr.json"),
        ("ome-tiff", 1, ""),
        ("ome-tiff", 2, "run_p001.ome.tiff"),
    ],
)
def test_a_stream_is_served_while_written_and_after_close(
    tmp_path: Path, fmt: str, positions: int, member: str
) -> None:
    stream = create_stream(_settings(tmp_path / "run", fmt, positions))
    stream.append(np.ones(FRAME, "uint16"))
    with start(stream) as served:
        path = served.url.split(str(served.port), 1)[1].rstrip("/")
        target = f"{path}/{member}" if member else path
        assert raw_request(served.port, target).status == 200
        assert raw_request(served.port, "/").status == 200  # the viewer page
        for _ in range(3 * positions - 1):
            stream.append(np.ones(FRAME, "uint16"))
        stream.close()
        assert served.running  # a finished dataset is still worth viewing
        assert raw_request(served.port, target).status == 200


def test_the_served_path_of_each_stream(tmp_path: Path) -> None:
    with create_stream(_settings(tmp_path / "z", "ome-zarr")) as stream:
        assert stream_dataset(stream) == str(tmp_path / "z.ome.zarr")
    with create_stream(_settings(tmp_path / "t", "ome-tiff", 3)) as stream:
        assert stream_dataset(stream) == str(tmp_path / "t")
        for _ in range(9):
            stream.append(np.zeros(FRAME, "uint16"))


def test_a_stream_without_a_dataset_on_disk_is_refused(tmp_path: Path) -> None:
    settings = AcquisitionSettings(
        dimensions=_settings(tmp_path / "m", "ome-zarr").dimensions,
        dtype="uint16",
        format="scratch",
    )
    with (
        create_stream(settings) as stream,
        pytest.raises(ValueError, match="no dataset on disk that viewers read"),
    ):
        start(stream)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_the_server_runs_at_a_lower_priority(tmp_path: Path) -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    with start(tmp_path) as served:
        assert _niceness(served.pid) == max(base, 10)
    with start(tmp_path, nice=15) as served:
        assert _niceness(served.pid) == max(base, 15)
    with start(tmp_path, nice=0) as served:
        assert _niceness(served.pid) == base


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux I/O classes")
def test_the_server_reads_the_disk_at_the_idle_io_priority(tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")
    if os.getpriority(os.PRIO_PROCESS, 0) >= 10:
        pytest.skip("run at niceness 10 or more: no thread tells the server's apart")
    (tmp_path / "zarr.json").write_text("{}")
    with start(tmp_path) as served:
        assert raw_request(served.port, "/zarr.json").status == 200
        # threads started after the priority was lowered inherit both the
        # niceness and the I/O class
        lowered = [
            t.id
            for t in psutil.Process(served.pid).threads()
            if _niceness_of(served.pid, t.id) >= 10
        ]
        assert len(lowered) >= 2
        for tid in lowered:
            assert psutil.Process(tid).ionice().ioclass == psutil.IOPRIO_CLASS_IDLE
    with start(tmp_path, nice=0) as served:
        ioclass = psutil.Process(served.pid).ionice().ioclass
        assert ioclass != psutil.IOPRIO_CLASS_IDLE


@pytest.mark.parametrize("nice", [-1, 20, 2.5, True])
def test_a_bad_niceness_is_refused_before_a_process_starts(
    tmp_path: Path, nice: object
) -> None:
    with pytest.raises(ValueError, match="nice must be an integer from 0 to 19"):
        start(tmp_path, nice=nice)  # type: ignore[arg-type]


def test_the_command_refuses_a_bad_niceness(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            *(sys.executable, "-m", "ome_writers.tools.cli", "serve"),
            *(str(tmp_path), "--nice", "30", "--port", "0"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "nice must be an integer from 0 to 19, got 30" in out.stderr
