"""OMEStream lifecycle and metadata (scratch format); bad input,
skips and buffer reuse on every backend: the conformance suite (tests/backends)."""

from __future__ import annotations

import gc
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ome_writers import (
    AcquisitionSettings,
    CoordUpdate,
    Dimension,
    OMEStream,
    OmeZarrFormat,
    create_stream,
)
from ome_writers.errors import (
    BackendError,
    StreamClosedError,
)
from tests.conftest import frame_for


def _scratch(*dims: Dimension, **kwargs: object) -> AcquisitionSettings:
    return AcquisitionSettings(
        dimensions=[*dims, Dimension(name="y", count=4), Dimension(name="x", count=5)],
        dtype=kwargs.pop("dtype", "uint16"),
        format="scratch",
        **kwargs,
    )


def test_create_stream_requires_dims_dtype_root() -> None:
    with pytest.raises(ValueError, match="dimensions must be set"):
        create_stream(AcquisitionSettings(format="scratch"))
    no_dtype = AcquisitionSettings(
        dimensions=[Dimension(name="y", count=2), Dimension(name="x", count=2)]
    )
    with pytest.raises(ValueError, match="dtype must be set"):
        create_stream(no_dtype)
    zarr = AcquisitionSettings(
        format=OmeZarrFormat(),
        dimensions=[Dimension(name="y", count=2), Dimension(name="x", count=2)],
        dtype="u1",
    )
    with pytest.raises(ValueError, match="root_path is required for ome-zarr format"):
        create_stream(zarr)
    with pytest.raises(TypeError):
        create_stream(root_path="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="create_stream"):
        OMEStream()


def test_settings_are_copied() -> None:
    s = _scratch(Dimension(name="t", count=2))
    with create_stream(s) as stream:
        s.dtype = "uint8"
        stream.append(np.zeros((4, 5), "uint16"))


def test_unknown_backend_lists_available() -> None:
    from ome_writers.backends._select import select_backend

    s = _scratch()
    fake = s.format.model_copy(update={"backend": "nope"})
    object.__setattr__(s, "format", fake)
    with pytest.raises(ValueError, match=r"Unknown backend 'nope'. Available: \[.*"):
        select_backend(s)


def test_non_contiguous_and_buffer_frames() -> None:
    s = _scratch(Dimension(name="t", count=3))
    big = frame_for(0, (8, 10))
    with create_stream(s) as stream:
        stream.append(big[::2, ::2])  # non-contiguous view
        stream.append(memoryview(np.ascontiguousarray(big[:4, :5])))
        stream.append(np.asfortranarray(big[4:, 5:]))
        view = stream.view()
        np.testing.assert_array_equal(view[0], big[::2, ::2])
        np.testing.assert_array_equal(view[1], big[:4, :5])
        np.testing.assert_array_equal(view[2], big[4:, 5:])


def test_close_idempotent_and_context_manager() -> None:
    s = _scratch(Dimension(name="t", count=2))
    stream = create_stream(s)
    assert not stream.closed
    stream.close()
    stream.close()
    assert stream.closed
    with pytest.raises(ZeroDivisionError), create_stream(s) as st2:
        st2.append(frame_for(0, (4, 5)))
        1 / 0  # noqa: B018
    assert st2.closed
    np.testing.assert_array_equal(st2.view()[0], frame_for(0, (4, 5)))
    assert "closed" in repr(st2)


def test_keyword_only_frame_metadata(tmp_path: Path) -> None:
    """`metadata=` is an alias of `frame_metadata=` (as the 0.3.x usage docs
    show); both at once, or positionally, is a TypeError."""
    s = _scratch(Dimension(name="t", count=3)).model_copy(
        update={"root_path": str(tmp_path / "m")}
    )
    with create_stream(s) as stream:
        with pytest.raises(TypeError):
            stream.append(np.zeros((4, 5), "u2"), {"a": 1})  # type: ignore[misc]
        with pytest.raises(TypeError, match="not both"):
            stream.append(
                np.zeros((4, 5), "u2"), metadata={"a": 1}, frame_metadata={"a": 2}
            )
        stream.append(np.zeros((4, 5), "u2"), frame_metadata={"delta_t": 0.1})
        stream.append(np.zeros((4, 5), "u2"), metadata={"delta_t": 0.2, "k": 1})
    lines = (tmp_path / "m" / "frame_metadata.jsonl").read_text().splitlines()
    assert [json.loads(line)["delta_t"] for line in lines] == [0.1, 0.2]


def test_gc_warns_only_after_frames() -> None:
    s = _scratch(Dimension(name="t", count=2))
    stream = create_stream(s)
    del stream
    gc.collect()
    stream = create_stream(s)
    stream.append(np.zeros((4, 5), "u2"))
    with pytest.warns(UserWarning, match="was not closed before garbage collection"):
        del stream
        gc.collect()


_CYCLE_CHILD = """
import gc, sys, warnings
import numpy as np
from ome_writers import AcquisitionSettings, Dimension, create_stream

warnings.simplefilter("ignore")
settings = AcquisitionSettings(
    root_path=sys.argv[1], format=sys.argv[2], loss_window=None,
    dimensions=[Dimension(name="t", count=None, type="time"),
                Dimension(name="p", count=2, type="position"),
                Dimension(name="y", count=16), Dimension(name="x", count=16)],
    dtype="uint16",
)
stream = create_stream(settings)
for n in range(300):
    stream.append(np.full((16, 16), n, "uint16"))
stream.checkpoint()
for n in range(300, 310):  # partly filled shards, written at close
    stream.append(np.full((16, 16), n, "uint16"))
cycle = {"stream": stream}  # as a failed test's traceback would keep it
cycle["itself"] = cycle
del stream, cycle
gc.collect()
print("COLLECTED", flush=True)
"""


@pytest.mark.parametrize("backend", ["zarr-python", "tensorstore"])
def test_an_open_stream_in_a_collected_cycle_closes(
    tmp_path: Path, backend: str
) -> None:
    """A stream left open inside a reference cycle (a failed test's
    traceback) is closed when the collector frees the cycle: the writer's
    thread pool, whose weak reference the collector clears first, still runs
    the writes close queues, so close does not wait for them forever."""
    import subprocess
    import sys

    pytest.importorskip("zarr" if backend == "zarr-python" else backend)
    root = tmp_path / "cycle.ome.zarr"
    done = subprocess.run(
        [sys.executable, "-c", _CYCLE_CHILD, str(root), backend],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == "COLLECTED", done.stderr[-2000:]
    import zarr

    for p in range(2):
        data = zarr.open_array(str(root / str(p) / "0"), mode="r")[...]
        assert data.shape == (155, 16, 16)
        np.testing.assert_array_equal(data[:, 0, 0], np.arange(p, 310, 2))


def test_global_metadata_validation() -> None:
    with create_stream(_scratch()) as stream:
        for bad in ("", None):
            with pytest.raises(
                ValueError, match="namespace must be a non-empty string"
            ):
                stream.set_global_metadata(bad, {})  # type: ignore[arg-type]
        for reserved in ("ome", "ome_writers"):
            with pytest.raises(ValueError, match="is reserved by ome-writers"):
                stream.set_global_metadata(reserved, {})
        stream.set_global_metadata("mine", {"a": 1})
        assert stream.get_metadata() is None
        stream.update_metadata({})
    stream.set_global_metadata("after", {"b": 2})  # allowed after close


class _FailingBackend:
    """Wraps a backend so that its n-th write raises."""

    def __init__(self, backend: object, fail_at: int, error: Exception) -> None:
        self._backend = backend
        self.calls = 0
        self.fail_at = fail_at
        self.error = error

    def write(self, *args: object) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise self.error
        self._backend.write(*args)  # type: ignore[attr-defined]


def test_backend_error_is_sticky_and_keeps_data() -> None:
    s = _scratch(Dimension(name="t", count=5))
    stream = create_stream(s)
    wrapper = _FailingBackend(stream._backend, 3, RuntimeError("disk on fire"))
    stream._write = wrapper.write
    stream.append(frame_for(0, (4, 5)))
    stream.append(frame_for(1, (4, 5)))
    with pytest.raises(BackendError, match="disk on fire"):
        stream.append(frame_for(2, (4, 5)))
    with pytest.raises(StreamClosedError, match="an earlier write failed"):
        stream.append(frame_for(3, (4, 5)))
    stream.close()  # already reported: close does not raise again
    view = stream.view()
    np.testing.assert_array_equal(view[1], frame_for(1, (4, 5)))


def test_os_errors_pass_through() -> None:
    s = _scratch(Dimension(name="t", count=5))
    stream = create_stream(s)
    stream._write = _FailingBackend(stream._backend, 1, OSError(28, "No space")).write
    with pytest.raises(OSError, match="No space"):
        stream.append(frame_for(0, (4, 5)))
    stream.close()


def test_on_events() -> None:
    s = _scratch(
        Dimension(name="t", count=2), Dimension(name="c", type="channel", coords="ab")
    )
    changed: list[CoordUpdate] = []
    expanded: list[CoordUpdate] = []
    threads: set[str] = set()
    with create_stream(s) as stream:
        with pytest.raises(ValueError, match="Unknown event: 'bogus'"):
            stream.on("bogus", print)  # type: ignore[arg-type]
        stream.on("coords_changed", changed.append)
        stream.on("coords_expanded", expanded.append)
        stream.on(
            "coords_changed", lambda u: threads.add(threading.current_thread().name)
        )
        for i in range(4):
            stream.append(frame_for(i, (4, 5)))
    # close() delivers every pending notification before returning
    assert [u.frame_number for u in sorted(changed, key=lambda u: u.frame_number)] == [
        0,
        1,
        2,
        3,
    ]
    assert [u.frame_number for u in expanded] == [0, 1, 2]
    last = max(changed, key=lambda u: u.frame_number)
    assert last.current_indices == {"t": 1, "c": 1, "y": 0, "x": 0}
    assert last.max_coords["c"] == ["a", "b"]
    assert list(last.max_coords["t"]) == [0, 1]
    assert threading.current_thread().name not in threads


def test_listener_errors_do_not_break_acquisition(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = _scratch(Dimension(name="t", count=3))

    def broken(update: CoordUpdate) -> None:
        raise RuntimeError("listener bug")

    with create_stream(s) as stream:
        stream.on("coords_changed", broken)
        for i in range(3):
            stream.append(frame_for(i, (4, 5)))
    assert "listener bug" in caplog.text


def test_plain_coords_with_listener() -> None:
    """Float/str coords must not break appends while a view exists (defect §10.11)."""
    s = _scratch(Dimension(name="z", coords=[0.0, 0.5, 1.0]))
    with create_stream(s) as stream:
        view = stream.view()
        for i in range(3):
            stream.append(frame_for(i, (4, 5)))
    assert view.coords["z"] == [0.0, 0.5, 1.0]


def test_concurrent_reads_while_appending() -> None:
    s = _scratch(Dimension(name="t", count=None))
    stream = create_stream(s)
    view = stream.view()
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                shape = view.shape
                if shape[0]:
                    frame = view[shape[0] - 1]
                    # never torn: all pixels come from the same frame
                    n = int(frame[0, 0]) // 100
                    assert (frame // 100 == n).all()
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(300):
        stream.append(frame_for(i, (4, 5)))
        if i % 50 == 0:
            time.sleep(0.001)
    stop.set()
    thread.join()
    stream.close()
    assert not errors
    assert view.shape[0] == 300


def test_non_finite_float_frames() -> None:
    from ome_writers.errors import FrameValueError

    s = _scratch(Dimension(name="t", count=3), dtype="float32")
    with create_stream(s) as stream:
        stream.append(np.ones((4, 5), "float32"))
        for bad in (np.nan, np.inf, -np.inf):
            frame = np.ones((4, 5), "float32")
            frame[2, 3] = bad
            with pytest.raises(FrameValueError, match="NaN or infinite"):
                stream.append(frame)
        big = np.full((4, 5), np.finfo("float32").max, "float32")
        stream.append(big)  # huge but finite
    assert stream.view().shape[0] == 2
    with create_stream(s, finite_only=False) as stream:
        stream.append(np.full((4, 5), np.nan, "float32"))
        assert np.isnan(stream.view()[0]).all()
