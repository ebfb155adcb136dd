"""Another process follows a running ``mda.run`` through ``open(live=True)``.

A child process runs pymmcore-plus's ``mda.run(seq, output=...)`` with the
demo camera (t x p x c x z, OME-Zarr and OME-TIFF, the default loss window of
1 s) and records, for every frame, the time `append` returned and the frame's
checksum. This process follows the dataset as it is written and reads every
frame as soon as the dataset counts it: each is found at its event's index,
pixel-exact (a SHA-256 of its bytes), within two loss windows of its
`append`.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

useq = pytest.importorskip("useq")
pytest.importorskip("pymmcore_plus")

import ome_writers as ow  # noqa: E402

LOSS_WINDOW = 1.0  # the default
SEQUENCE = useq.MDASequence(
    time_plan={"interval": 0.4, "loops": 5},
    stage_positions=[(0, 0, 0), (10, 10, 0)],
    channels=["DAPI", "FITC"],
    z_plan={"range": 2, "step": 1},
    axis_order="tpcz",
)
WRITER = """
import hashlib, json, sys, time
import useq
import ome_writers
from ome_writers.adapters.demo_camera import demo_core

output, log = sys.argv[1], sys.argv[2]
sequence = useq.MDASequence.model_validate_json(sys.argv[3])
records = open(log, "w", buffering=1)
append = ome_writers.OMEStream.append

def recorded(self, frame, **kwargs):
    append(self, frame, **kwargs)
    n = self._n - 1
    digest = hashlib.sha256(frame.tobytes()).hexdigest()
    record = {"n": n, "sha256": digest, "returned": time.time()}
    records.write(json.dumps(record) + "\\n")

ome_writers.OMEStream.append = recorded
core = demo_core(width=64, height=48)
core.mda.run(sequence, output=output)
records.close()
"""


def _follow(
    output: Path, events: list[useq.MDAEvent], writer: subprocess.Popen[bytes]
) -> tuple[dict[int, float], dict[int, str], ow.DatasetView]:
    deadline = time.monotonic() + 60
    view = None
    while view is None:  # until the child has created the dataset
        try:
            view = ow.open(output, live=True, poll_interval=0.05)
        except (FileNotFoundError, ValueError):
            assert writer.poll() is None, "the writer ended before writing"
            assert time.monotonic() < deadline, "no dataset appeared"
            time.sleep(0.02)
    seen: dict[int, float] = {}
    digests: dict[int, str] = {}
    while len(seen) < len(events):
        assert time.monotonic() < deadline, f"{len(seen)} frames seen"
        # a complete OME-TIFF states no count: every frame is there
        counted = len(events) if view.complete else (view.frames or 0)
        for n in range(len(seen), counted):
            key = tuple(events[n].index.get(name, 0) for name in view.dims[:-2])
            plane = np.ascontiguousarray(view[key])
            seen[n] = time.time()
            digests[n] = hashlib.sha256(plane.tobytes()).hexdigest()
        if len(seen) < len(events):
            time.sleep(0.02)
    return seen, digests, view


@pytest.mark.parametrize("suffix", [".ome.zarr", ".ome.tiff"])
def test_another_process_follows_an_mda_run(tmp_path: Path, suffix: str) -> None:
    output = tmp_path / f"run{suffix}"
    log = tmp_path / "appended.jsonl"
    events = list(SEQUENCE)
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WRITER,
            str(output),
            str(log),
            SEQUENCE.model_dump_json(),
        ],
        env=dict(os.environ),
        stderr=subprocess.PIPE,
    )
    try:
        seen, digests, view = _follow(output, events, writer)
        _, stderr = writer.communicate(timeout=60)
        assert writer.returncode == 0, stderr.decode()
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    deadline = time.monotonic() + 10
    while not view.complete:
        assert time.monotonic() < deadline, "the view never saw the run complete"
        time.sleep(0.02)
    assert view.dims == ("p", "t", "c", "z", "y", "x")
    assert view.shape == (2, 5, 2, 3, 48, 64)
    assert view.coords["c"] == ["DAPI", "FITC"]
    view.close()
    appended = [json.loads(line) for line in log.read_text().splitlines()]
    assert [a["n"] for a in appended] == list(range(len(events)))
    wrong = [a["n"] for a in appended if digests[a["n"]] != a["sha256"]]
    assert not wrong, f"frames read other than appended: {wrong}"
    latency = [seen[a["n"]] - a["returned"] for a in appended]
    report = (
        f"{suffix}: {len(latency)} frames, first seen after append: "
        f"median {statistics.median(latency):.3f} s, "
        f"p90 {statistics.quantiles(latency, n=10)[-1]:.3f} s, "
        f"max {max(latency):.3f} s"
    )
    print(report)
    late = [(n, round(t, 3)) for n, t in enumerate(latency) if t > 2 * LOSS_WINDOW]
    assert not late, f"seen later than two loss windows: {late}; {report}"
