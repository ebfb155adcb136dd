"""ome-types (for the OME-XML at close) is imported while the acquisition
leaves time for it, never on a thread while frames arrive back to back."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from typing import TYPE_CHECKING

import pytest

from ome_writers.backends.tiff._deferred_import import (
    IMPORT_SWITCH_INTERVAL,
    ImportWhenIdle,
)

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module nobody imported yet."""
    name = f"idle_import_probe_{time.monotonic_ns()}"
    (tmp_path / f"{name}.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def _wait_imported(name: str, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if name in sys.modules:
            return True
        time.sleep(0.005)
    return False


def test_waits_while_appends_go_on_then_imports(module: str) -> None:
    appends = iter(range(10**9))  # a new count at every look: never idle
    busy = True

    def appended() -> int:
        return next(appends) if busy else -1

    importer = ImportWhenIdle(module, appended, interval=0.01)
    assert importer.thread is not None
    time.sleep(0.2)  # twenty looks, each finding new appends
    assert module not in sys.modules
    busy = False  # the appends stop: the next look but one finds the same count
    assert _wait_imported(module)
    importer.thread.join(10)
    assert not importer.thread.is_alive()


def test_now_imports_without_a_pause(module: str) -> None:
    appends = iter(range(10**9))
    importer = ImportWhenIdle(module, lambda: next(appends), interval=0.01)
    time.sleep(0.05)
    assert module not in sys.modules
    importer.now()
    assert _wait_imported(module)


def test_then_runs_after_an_import_in_a_pause(module: str, tmp_path: Path) -> None:
    # the bindings of the OME-XML are built ahead, on the importing thread
    (tmp_path / f"{module}.py").write_text(
        "import threading\nRAN = []\n"
        "def prepare():\n    RAN.append(threading.current_thread().name)\n"
    )
    importer = ImportWhenIdle(module, lambda: 0, interval=0.01, then="prepare")
    assert importer.thread is not None
    importer.thread.join(10)
    assert sys.modules[module].RAN == ["ome-writers-import"]


def test_a_failing_then_is_left_to_its_user(module: str, tmp_path: Path) -> None:
    # the work is redone where it is needed; the thread ends quietly
    (tmp_path / f"{module}.py").write_text(
        "def prepare():\n    raise ValueError('not now')\n"
    )
    errors: list[BaseException] = []
    hook = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    try:
        importer = ImportWhenIdle(module, lambda: 0, interval=0.01, then="prepare")
        assert importer.thread is not None
        importer.thread.join(10)
    finally:
        threading.excepthook = hook
    assert module in sys.modules
    assert errors == []


def test_then_is_left_to_close_after_now(module: str, tmp_path: Path) -> None:
    # at close the work is done where it is needed, not twice beside it
    (tmp_path / f"{module}.py").write_text(
        "RAN = []\ndef prepare():\n    RAN.append(1)\n"
    )
    appends = iter(range(10**9))
    importer = ImportWhenIdle(
        module, lambda: next(appends), interval=0.01, then="prepare"
    )
    assert importer.thread is not None
    importer.now()
    importer.thread.join(10)
    assert sys.modules[module].RAN == []


@pytest.fixture
def switch_interval() -> float:
    """The interpreter's switch interval, restored after the test."""
    before = sys.getswitchinterval()
    yield before
    sys.setswitchinterval(before)


def _import_recording(module: str, tmp_path: Path, body: str = "") -> float:
    """Import `module` through `ImportWhenIdle`; the switch interval it ran with."""
    (tmp_path / f"{module}.py").write_text(
        f"import sys\nINTERVAL = sys.getswitchinterval()\n{body}"
    )
    importer = ImportWhenIdle(module, lambda: 0, interval=0.01)
    assert importer.thread is not None
    importer.thread.join(10)
    assert not importer.thread.is_alive()
    interval: float = sys.modules[module].INTERVAL
    return interval


def test_import_runs_with_a_short_switch_interval(
    module: str, tmp_path: Path, switch_interval: float
) -> None:
    # a waiting append gets the interpreter back within 0.5 ms, not 5 ms
    sys.setswitchinterval(0.005)
    before = sys.getswitchinterval()
    during = _import_recording(module, tmp_path)
    assert during == pytest.approx(IMPORT_SWITCH_INTERVAL, rel=0.01)
    assert sys.getswitchinterval() == before  # restored


def test_a_shorter_switch_interval_is_kept(
    module: str, tmp_path: Path, switch_interval: float
) -> None:
    sys.setswitchinterval(IMPORT_SWITCH_INTERVAL / 5)
    shorter = sys.getswitchinterval()  # as stored (whole µs)
    assert _import_recording(module, tmp_path) == shorter
    assert sys.getswitchinterval() == shorter


def test_a_switch_interval_set_meanwhile_is_not_undone(
    module: str, tmp_path: Path, switch_interval: float
) -> None:
    sys.setswitchinterval(0.005)
    _import_recording(module, tmp_path, body="sys.setswitchinterval(0.002)\n")
    assert sys.getswitchinterval() == pytest.approx(0.002, rel=0.01)


def test_nothing_to_do_when_imported() -> None:
    assert ImportWhenIdle("json", lambda: 0).thread is None


CHILD = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from ome_writers import AcquisitionSettings, Dimension, create_stream
    from ome_writers.backends.tiff import _deferred_import as _warm

    _warm.IDLE_INTERVAL = 1.0  # a stalled machine must not look like a pause
    root = sys.argv[1]
    settings = AcquisitionSettings(
        root_path=root,
        format="tifffile",
        dimensions=[
            Dimension(name="t", count=None, type="time"),
            Dimension(name="y", count=32),
            Dimension(name="x", count=32),
        ],
        dtype="uint16",
    )
    stream = create_stream(settings)
    frame = np.zeros((32, 32), "uint16")
    n = 0
    end = time.monotonic() + 0.5
    while time.monotonic() < end:  # frames back to back
        frame[0, 0] = n
        stream.append(frame)
        n += 1
    during = "ome_types.model" in sys.modules
    stream.close()
    print(json.dumps({"frames": n, "during": during,
                      "after": "ome_types.model" in sys.modules}))
    """
)


def test_frames_back_to_back_leave_the_import_to_close(tmp_path: Path) -> None:
    import ome_types
    import tifffile

    root = tmp_path / "burst.ome.tiff"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["during"] is False
    assert report["after"] is True
    ome = ome_types.from_tiff(root)  # the complete OME-XML, written at close
    assert ome.images[0].pixels.size_t == report["frames"]
    with tifffile.TiffFile(root) as tif:
        assert len(tif.pages) == report["frames"]
        assert int(tif.pages[-1].asarray()[0, 0]) == (report["frames"] - 1) % 65536
