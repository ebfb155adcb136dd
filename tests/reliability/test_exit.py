"""A script that ends without closing its stream exits, and leaves its frames.

Part of a stream's work happens on daemon threads (group documents, arrays
made ahead, the loss window), which stop for good once the interpreter starts
finalizing. Each child process below slows the building of the group documents
down, so that the script ends while that thread is still at work.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaozarrs
import zarr

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._registry import BY_NAME
from ome_writers.tools.cli import main
from tests.backends.params import backend_params, suffix
from tests.backends.readers import read_stored, to_declared

# every child: the same acquisition; with a third argument, its group documents
# take that many seconds to build (an import on a busy machine)
PRELUDE = textwrap.dedent(
    """
    import os, sys, threading, time
    import numpy as np
    from ome_writers import AcquisitionSettings, Dimension, create_stream
    from ome_writers.backends.zarr import _group_documents as _groups_ahead

    backend, root = sys.argv[1], sys.argv[2]
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    build = _groups_ahead._build

    def slow_build(*args):
        time.sleep(delay)
        return build(*args)

    _groups_ahead._build = slow_build
    settings = AcquisitionSettings(
        root_path=root, format=backend,
        dimensions=[Dimension(name="t", count=4, type="time"),
                    Dimension(name="p", count=2, type="position"),
                    Dimension(name="y", count=6), Dimension(name="x", count=5)],
        dtype="uint16",
    )
    stream = create_stream(settings)

    def append(frames):
        for n in frames:
            stream.append(np.full((6, 5), n + 1, dtype="uint16"))
    """
)
RAISES = (
    PRELUDE + 'append(range(3))\nraise RuntimeError("the acquisition script failed")\n'
)
WAITS = PRELUDE + 'append(range(3))\nprint("READY", flush=True)\ntime.sleep(120)\n'
FORMATS = ("ome-zarr", "ome-tiff")


def _settings(backend: str, root: Path) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(root),
        format=backend,
        dimensions=[
            Dimension(name="t", count=4, type="time"),
            Dimension(name="p", count=2, type="position"),
            Dimension(name="y", count=6),
            Dimension(name="x", count=5),
        ],
        dtype="uint16",
        overwrite=True,
    )


def _assert_every_frame(backend: str, root: Path) -> None:
    """All eight frames, read back independently: frame n holds n + 1."""
    settings = _settings(backend, root)
    stored = read_stored(settings)
    assert stored is not None
    for position in range(2):
        data = to_declared(settings, stored[position])
        for t in range(4):
            expected = np.full((6, 5), 2 * t + position + 1)
            np.testing.assert_array_equal(data[t], expected)


def _run_child(
    script: str, *args: str, timeout: float = 90, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`script` in a fresh interpreter with `args`, its output captured."""
    return subprocess.run(
        [sys.executable, *flags, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "backend", [p for f in FORMATS for p in backend_params(format=f)]
)
def test_script_that_raises_exits_with_its_frames(tmp_path: Path, backend: str) -> None:
    """Unclosed at exit: the stream is closed while its threads still run."""
    root = tmp_path / f"exit{suffix(backend)}"
    try:
        proc = _run_child(RAISES, backend, str(root), "0.5")
    except subprocess.TimeoutExpired:
        pytest.fail("the process did not exit: its unclosed stream hung it")
    assert proc.returncode == 1, proc.stderr
    assert "the acquisition script failed" in proc.stderr
    assert "OMEStream was not closed" in proc.stderr  # closed for the user, said so
    if BY_NAME[backend].format == "ome-zarr":
        yaozarrs.validate_zarr_store(str(root))
    stored = read_stored(_settings(backend, root))
    assert stored is not None
    settings = _settings(backend, root)
    # frames 0-2: t0 at both positions, then t1 at position 0
    for position, expected in enumerate([(1, 3), (2,)]):
        data = to_declared(settings, stored[position])
        # 4 timepoints declared, or (acquire-zarr) those that received frames
        assert data.shape in ((4, 6, 5), (len(expected), 6, 5))
        for t, value in enumerate(expected):
            np.testing.assert_array_equal(data[t], np.full((6, 5), value))
        assert not data[len(expected) :].any()


@pytest.mark.parametrize("backend", backend_params(format="ome-zarr"))
def test_killed_before_documents_leaves_a_replaceable_group(
    tmp_path: Path, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL before the group documents are written: ``overwrite=True`` works."""
    root = tmp_path / f"killed{suffix(backend)}"
    proc = subprocess.Popen(
        [sys.executable, "-c", WAITS, backend, str(root), "60"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "READY"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        proc.stdout.close()
    # the background documents never came: the placeholder root is a group
    doc = json.loads((root / "zarr.json").read_text())
    assert doc["node_type"] == "group"
    assert isinstance(zarr.open_group(str(root), mode="r"), zarr.Group)
    # nothing to repair from: said so, not "readable as written"
    assert main(["repair", str(root)]) == 1
    assert "stopped before the OME-Zarr metadata was written" in capsys.readouterr().err
    with create_stream(_settings(backend, root)) as stream:
        for t in range(4):
            for p in range(2):
                stream.append(np.full((6, 5), 10 * t + p, dtype="uint16"))
    yaozarrs.validate_zarr_store(str(root))
    stored = read_stored(_settings(backend, root))
    assert stored is not None
    for p in range(2):
        data = to_declared(_settings(backend, root), stored[p])
        for t in range(4):
            np.testing.assert_array_equal(data[t], np.full((6, 5), 10 * t + p))


WORKER = PRELUDE + textwrap.dedent(
    """
    def acquire():
        time.sleep(0.5)  # the main thread has ended by now
        append(range(8))
        stream.close()
        print("CLOSED", flush=True)

    threading.Thread(target=acquire).start()
    """
)


@pytest.mark.parametrize(
    "backend", [p for f in FORMATS for p in backend_params(format=f)]
)
def test_stream_of_a_running_thread_is_left_to_it(tmp_path: Path, backend: str) -> None:
    """The main thread ends first: a non-daemon thread still appends, then closes."""
    root = tmp_path / f"worker{suffix(backend)}"
    proc = _run_child(WORKER, backend, str(root))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "CLOSED"
    assert "Error" not in proc.stderr and "not closed" not in proc.stderr
    _assert_every_frame(backend, root)


COLLECTED_ON_A_WRITER = PRELUDE + textwrap.dedent(
    """
    import gc, weakref

    from ome_writers import OMEStream
    from ome_writers.backends.zarr import _shard_file_writer as _shards

    dropped, closed = threading.Event(), threading.Event()
    write_shard = _shards.write_shard
    close = OMEStream.close

    def recorded_close(self):
        close(self)
        closed.set()

    OMEStream.close = recorded_close

    def collecting_write(path, block, *args):
        # the write of the shard the last frame completes (frames this small
        # go to shards of ours): the stream is collected here,
        if block.flat[-1] == 8:
            dropped.wait(10)  # on the writer thread, while the shard is written
            gc.collect()
        return write_shard(path, block, *args)

    _shards.write_shard = collecting_write
    append(range(8))
    alive = weakref.ref(stream)
    box = [stream]
    box.append(box)  # freed by the cycle collector only
    gc.disable()
    del stream, box
    dropped.set()
    closed.wait(20)  # the interpreter would stop its thread pools at exit
    print("CLOSED" if alive() is None and closed.is_set() else "OPEN", flush=True)
    """
)


@pytest.mark.parametrize(
    "backend", backend_params(names=["tensorstore", "zarr-python", "zarrs-python"])
)
def test_stream_collected_on_its_writer_thread_is_closed(
    tmp_path: Path, backend: str
) -> None:
    """Left unclosed and collected on one of its own writer threads, in the
    middle of a write that close waits for: closed on a thread of its own."""
    root = tmp_path / "collected.ome.zarr"
    proc = _run_child(COLLECTED_ON_A_WRITER, backend, str(root))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "CLOSED"
    assert "not closed before garbage collection" in proc.stderr
    _assert_every_frame(backend, root)


FORKS = PRELUDE + textwrap.dedent(
    """
    append(range(3))
    child = os.fork()
    if child == 0:  # ends normally (exit hooks, then finalization), stream unclosed
        sys.exit(0)
    assert os.waitpid(child, 0)[1] == 0
    append(range(3, 8))
    stream.close()
    print("CLOSED", flush=True)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
@pytest.mark.parametrize(
    "backend", [p for f in FORMATS for p in backend_params(format=f)]
)
def test_forked_child_leaves_the_parents_stream_alone(
    tmp_path: Path, backend: str
) -> None:
    """A child forked with a stream open exits without closing the parent's."""
    root = tmp_path / f"fork{suffix(backend)}"
    proc = _run_child(
        FORKS,
        backend,
        str(root),
        timeout=30,  # a run takes a few seconds
        flags=("-W", "ignore::DeprecationWarning"),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "CLOSED"
    assert "not closed" not in proc.stderr  # the child did not close it
    if BY_NAME[backend].format == "ome-zarr":
        yaozarrs.validate_zarr_store(str(root))
    _assert_every_frame(backend, root)


FORKS_ACQUIRE_ZARR = textwrap.dedent(
    """
    import os, signal, sys, time
    import numpy as np
    from ome_writers import AcquisitionSettings, Dimension, create_stream

    root, frames, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    settings = AcquisitionSettings(
        root_path=root, format="acquire-zarr", dtype="uint16",
        dimensions=[Dimension(name="t", count=8, type="time"),
                    Dimension(name="y", count=size), Dimension(name="x", count=size)],
    )
    stream = create_stream(settings)
    for n in range(frames):
        stream.append(np.full((size, size), n + 1, dtype="uint16"))
    child = os.fork()
    if child == 0:
        sys.exit(0)
    deadline = time.monotonic() + 10
    while not os.waitpid(child, os.WNOHANG)[0]:
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            sys.exit("the child hung")
        time.sleep(0.02)
    for n in range(frames, 8):
        stream.append(np.full((size, size), n + 1, dtype="uint16"))
    stream.close()
    print("CLOSED", flush=True)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
@pytest.mark.parametrize(("frames", "size"), [(0, 64), (3, 16), (3, 1024)])
def test_forked_child_of_an_acquire_zarr_stream_exits(
    tmp_path: Path, frames: int, size: int
) -> None:
    """acquire-zarr's stream object, destroyed in a child as it exits, waited
    for a writer thread the fork did not copy: the child hung or crashed."""
    pytest.importorskip("acquire_zarr")
    root = tmp_path / "fork.ome.zarr"
    proc = _run_child(FORKS_ACQUIRE_ZARR, str(root), str(frames), str(size), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "CLOSED"
    array = zarr.open_array(str(root / "0"), mode="r")
    assert [int(array[t].max()) for t in range(8)] == list(range(1, 9))
