"""Tables while they are written: another process reads them after a
loss-window visit, and a writer killed with SIGKILL keeps every row older
than the loss window."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

pq = pytest.importorskip("pyarrow.parquet")

from ome_writers import AcquisitionSettings, Dimension, create_stream  # noqa: E402

LOSS_WINDOW = 0.2

FORMATS = {
    "zarr": (
        {"name": "ome-zarr", "backend": "tensorstore"},
        "run.ome.zarr",
        "run.ome.zarr/tables/cells",
    ),
    "tiff": ("ome-tiff", "run.ome.tiff", "run.tables/cells"),
}

READER = textwrap.dedent(
    """
    import sys, pyarrow.parquet as pq
    table = pq.read_table(sys.argv[1])
    print(sorted(table.column("frame").to_pylist()))
    """
)


def read_elsewhere(table_dir: Path) -> list[int] | None:
    """The frames of the table's rows, read by another process (None:
    nothing there yet)."""
    if not table_dir.is_dir() or not any(table_dir.glob("part-*.parquet")):
        return None
    out = subprocess.run(
        [sys.executable, "-c", READER, str(table_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return list(json.loads(out.stdout))


def settings(fmt: str, tmp_path: Path) -> AcquisitionSettings:
    spec, name, _ = FORMATS[fmt]
    return AcquisitionSettings(
        root_path=str(tmp_path / name),
        dimensions=[
            Dimension(name="t", count=None, type="time"),
            Dimension(name="y", count=8, type="space"),
            Dimension(name="x", count=8, type="space"),
        ],
        dtype="uint16",
        format=spec,
        loss_window=LOSS_WINDOW,
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_another_process_reads_rows_mid_run(fmt: str, tmp_path: Path) -> None:
    table_dir = tmp_path / FORMATS[fmt][2]
    with create_stream(settings(fmt, tmp_path), checkpoint_seconds=None) as stream:
        for n in range(5):
            stream.append(np.zeros((8, 8), "uint16"))
            stream.write_row("cells", {"count": n})
        deadline = time.monotonic() + 10
        seen = read_elsewhere(table_dir)
        while seen != list(range(5)):
            assert time.monotonic() < deadline, seen
            time.sleep(0.1)
            seen = read_elsewhere(table_dir)
        for n in range(5, 8):
            stream.append(np.zeros((8, 8), "uint16"))
            stream.write_row("cells", {"count": n})
    assert read_elsewhere(table_dir) == list(range(8))


CHILD = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from ome_writers import AcquisitionSettings, Dimension, create_stream

    root, spec = sys.argv[1], json.loads(sys.argv[2])
    settings = AcquisitionSettings(
        root_path=root,
        dimensions=[
            Dimension(name="t", count=None, type="time"),
            Dimension(name="y", count=8, type="space"),
            Dimension(name="x", count=8, type="space"),
        ],
        dtype="uint16",
        format=spec,
        loss_window=float(sys.argv[3]),
    )
    stream = create_stream(settings, checkpoint_seconds=None)
    n = 0
    while True:
        stream.append(np.zeros((8, 8), "uint16"))
        stream.write_row("cells", {"count": n, "label": f"c{n}"})
        print(n, flush=True)  # the row's write_row returned
        n += 1
        time.sleep(0.01)
    """
)


@pytest.mark.parametrize("fmt", FORMATS)
def test_rows_older_than_the_loss_window_survive_sigkill(
    fmt: str, tmp_path: Path
) -> None:
    spec, name, table = FORMATS[fmt]
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / name), json.dumps(spec), "0.2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    returned: dict[int, float] = {}  # row -> when its write_row returned
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first, "the writer reported no row"
        returned[int(first)] = time.monotonic()
        stop = time.monotonic() + 1.5
        while time.monotonic() < stop:
            line = proc.stdout.readline()
            assert line, "the writer exited by itself"
            returned[int(line)] = time.monotonic()
        killed = time.monotonic()  # before the signal: conservative
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    # 0.2 s window; the margin covers a visit waiting for the busy machine
    must = sorted(n for n, t in returned.items() if t < killed - LOSS_WINDOW - 0.3)
    assert len(must) > 10
    rows = pq.read_table(tmp_path / table).to_pylist()
    frames = [r["frame"] for r in rows]
    assert frames == sorted(frames)  # parts in write order, no duplicates
    assert len(set(frames)) == len(frames)
    assert set(must) <= set(frames)
    for r in rows:
        assert (r["count"], r["label"]) == (r["frame"], f"c{r['frame']}")
    leftovers = [p.name for p in (tmp_path / table).iterdir()]
    assert all(p.endswith(".parquet") or p.startswith(".") for p in leftovers)
