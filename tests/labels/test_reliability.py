"""Label planes follow the frames' loss window: readable by another process
while the stream is open, and still there after the writer is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

import ome_writers as ow

if TYPE_CHECKING:
    from pathlib import Path

Y, X = 16, 12
WINDOW = 0.2

READER = textwrap.dedent(
    """
    import json, sys
    import numpy as np, zarr
    path, t = sys.argv[1], int(sys.argv[2])
    doc = json.load(open(path + "/zarr.json"))
    try:
        array = zarr.open_array(path, mode="r")
        plane = array[t].reshape(array.shape[-2:])
    except Exception:
        plane = None
    print(json.dumps({
        "shape": doc["shape"],
        "plane": None if plane is None else np.asarray(plane).tolist(),
    }))
    """
)


def label_plane(n: int) -> np.ndarray:
    """Label plane `n`: no pixel 0, a pattern of its own."""
    rows = np.arange(Y)[:, None]
    cols = np.arange(X)[None, :]
    return ((n * 5 + rows * 2 + cols) % 250 + 1).astype("uint8")


def read_elsewhere(path: Path, t: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", READER, str(path), str(t)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict = json.loads(out.stdout)
    return result


@pytest.mark.parametrize("backend", ["tensorstore", "zarr-python"])
def test_a_plane_is_readable_by_another_process_within_the_window(
    tmp_path: Path, backend: str
) -> None:
    pytest.importorskip(backend.replace("-python", "").replace("-", "_"))
    settings = ow.AcquisitionSettings(
        root_path=str(tmp_path / "run.ome.zarr"),
        format=backend,
        dimensions=[
            ow.Dimension(name="t", count=None, type="time"),
            ow.Dimension(name="y", count=Y, type="space"),
            ow.Dimension(name="x", count=X, type="space"),
        ],
        dtype="uint16",
        loss_window=WINDOW,
        labels=[ow.LabelImage(name="cells", dtype="uint8")],
    )
    path = tmp_path / "run.ome.zarr" / "labels" / "cells" / "0"
    stream = ow.create_stream(settings, checkpoint_seconds=None)
    try:
        for n in range(6):
            stream.append(np.full((Y, X), n, "uint16"))
        stream.write_label("cells", label_plane(4), frame=4)  # nothing after it
        written = time.monotonic()
        seen = None
        while time.monotonic() - written < 5:
            seen = read_elsewhere(path, 4)
            if seen["plane"] is not None and np.array_equal(
                seen["plane"], label_plane(4)
            ):
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"plane 4 not readable 5 s after it was written: {seen}")
        assert seen["shape"][0] >= 5, seen["shape"]  # the extent is declared
        assert time.monotonic() - written < 5
    finally:
        stream.close()
    np.testing.assert_array_equal(
        zarr.open_array(str(path), mode="r")[4], label_plane(4)
    )


CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import ome_writers as ow

    backend, root, window = sys.argv[1], sys.argv[2], float(sys.argv[3])
    Y, X = int(sys.argv[4]), int(sys.argv[5])
    settings = ow.AcquisitionSettings(
        root_path=root,
        format=backend,
        dimensions=[
            ow.Dimension(name="t", count=None, type="time"),
            ow.Dimension(name="c", count=2, type="channel"),
            ow.Dimension(name="y", count=Y, type="space"),
            ow.Dimension(name="x", count=X, type="space"),
        ],
        dtype="uint16",
        loss_window=window,
        pyramid=2,
        labels=[ow.LabelImage(name="cells", dtype="uint8")],
    )
    stream = ow.create_stream(settings, checkpoint_seconds=None)
    rows = np.arange(Y)[:, None]
    cols = np.arange(X)[None, :]

    def plane(t):
        return ((t * 5 + rows * 2 + cols) % 250 + 1).astype("uint8")

    pending = []
    n = 0
    while True:
        stream.append(np.full((Y, X), n % 60000, "uint16"))
        if n % 2 == 1:  # a time point is complete: its label comes later
            pending.append(n // 2)
        if len(pending) >= 3:  # analysis results, newest first
            for t in sorted(pending, reverse=True):
                stream.write_label("cells", plane(t), frame=2 * t)
                sys.stdout.write(f"{t} {time.monotonic()!r}\\n")
                sys.stdout.flush()
            pending = []
        n += 1
        time.sleep(0.01)
    """
)


@pytest.mark.parametrize("backend", ["tensorstore", "zarr-python", "zarrs-python"])
def test_planes_written_before_the_window_survive_sigkill(
    tmp_path: Path, backend: str
) -> None:
    pytest.importorskip(backend.replace("-python", "").replace("-", "_"))
    root = tmp_path / "kill.ome.zarr"
    window = 0.3
    stderr = open(tmp_path / "child.stderr", "w+")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, backend, str(root), str(window), str(Y), str(X)],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    returned: dict[int, float] = {}

    def read_lines() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            t, when = line.split()
            returned[int(t)] = float(when)

    reader = threading.Thread(target=read_lines)
    reader.start()
    try:
        start = time.monotonic()
        while not returned and time.monotonic() - start < 60:
            time.sleep(0.05)
        stderr.seek(0)
        assert returned, f"no plane written: {stderr.read()[-3000:]}"
        time.sleep(1.5)
        kill_time = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(60)
        reader.join(60)
        assert proc.stdout is not None
        proc.stdout.close()
        stderr.close()
    required = sorted(t for t, when in returned.items() if when <= kill_time - window)
    assert len(required) > 10, (len(returned), required)
    labels = zarr.open_array(str(root / "labels" / "cells" / "0"), mode="r")
    level1 = zarr.open_array(str(root / "labels" / "cells" / "1"), mode="r")
    assert labels.shape[0] > max(required), (labels.shape, max(required))
    data = np.asarray(labels[...])
    reduced = np.asarray(level1[...])
    from ome_writers.labels._reduce import reduce_labels

    missing = [t for t in required if not np.array_equal(data[t, 0], label_plane(t))]
    assert not missing, f"label planes lost: {missing} of {len(required)}"
    wrong = [
        t
        for t in required
        if not np.array_equal(reduced[t, 0], reduce_labels(label_plane(t), "mode"))
    ]
    assert not wrong, f"level 1 planes lost: {wrong}"
    # every other cell holds its plane or zeros, never a torn one
    for t in range(data.shape[0]):
        assert np.array_equal(data[t, 0], label_plane(t)) or not data[t, 0].any(), t
