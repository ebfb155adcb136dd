"""Bad input never costs data, on every backend.

Each rejected call raises an exception that names the problem, uses no frame
slot, and leaves everything appended before it on disk and readable by
independent readers (the rejected frames themselves: the conformance suite,
tests/backends).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._registry import BY_NAME
from ome_writers.errors import StreamClosedError
from tests.backends.params import backend_params, root_for
from tests.backends.readers import read_stored, to_declared

SHAPE = (6, 5)


def _frame(n: int) -> np.ndarray:
    return (np.arange(30, dtype="uint16").reshape(SHAPE) + 100 * (n + 1)).astype(
        "uint16"
    )


def _settings(tmp_path: Path, backend: str, t: int | None = 4) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=root_for(tmp_path, backend),
        format=backend,
        dimensions=[
            Dimension(name="t", count=t),
            Dimension(name="c", count=2),
            Dimension(name="y", count=SHAPE[0]),
            Dimension(name="x", count=SHAPE[1]),
        ],
        dtype="uint16",
    )


def _read_independently(settings: AcquisitionSettings) -> np.ndarray:
    stored = read_stored(settings)
    assert stored is not None, "no file to read"
    return to_declared(settings, stored[0])


@pytest.mark.parametrize("backend", backend_params())
def test_exception_inside_context_leaves_readable_partial(
    tmp_path: Path, backend: str
) -> None:
    settings = _settings(tmp_path, backend, t=None)
    with pytest.raises(KeyboardInterrupt), create_stream(settings) as stream:
        for n in range(5):
            stream.append(_frame(n))
        raise KeyboardInterrupt
    view = stream.view()
    assert view.shape[:2] == (3, 2)
    data = np.asarray(view).reshape(-1, *SHAPE)
    for n in range(5):
        np.testing.assert_array_equal(data[n], _frame(n))
    if BY_NAME[backend].writes_files:
        on_disk = _read_independently(settings).reshape(-1, *SHAPE)
        for n in range(5):
            np.testing.assert_array_equal(on_disk[n], _frame(n))
        assert not on_disk[5:].any()  # padding (TIFF) or nothing


@pytest.mark.parametrize("backend", backend_params())
def test_append_read_close_threads(tmp_path: Path, backend: str) -> None:
    """An acquisition thread, a viewer thread and a closing thread."""
    settings = _settings(tmp_path, backend, t=None)
    stream = create_stream(settings)
    view = stream.view()
    errors: list[BaseException] = []
    written = [0]
    started = threading.Event()
    done = threading.Event()

    def acquire() -> None:
        try:
            for n in range(400):
                stream.append(_frame(n))
                written[0] = n + 1
                if n == 40:
                    started.set()
        except StreamClosedError:
            pass
        except BaseException as e:
            errors.append(e)
        finally:
            started.set()

    def watch() -> None:
        try:
            while not done.is_set():
                t, c = view.shape[:2]
                if t and c:
                    frame = view[t - 1, c - 1]
                    assert len(np.unique(frame // 100)) <= 1, "torn frame"
        except BaseException as e:
            errors.append(e)

    def close() -> None:
        started.wait()
        stream.close()

    threads = [threading.Thread(target=f) for f in (acquire, watch, close)]
    for thread in threads:
        thread.start()
    threads[0].join(60)
    threads[2].join(60)
    done.set()
    threads[1].join(60)
    assert not any(thread.is_alive() for thread in threads), "deadlock"
    assert not errors, errors
    data = np.asarray(stream.view()).reshape(-1, *SHAPE)
    for n in range(written[0]):
        np.testing.assert_array_equal(data[n], _frame(n))


def test_overwrite_refuses_home_and_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ome_writers._io._paths import remove_dataset

    for path in (Path("/"), Path.home()):
        with pytest.raises(ValueError, match="Refusing to overwrite"):
            remove_dataset(path.resolve(), is_dataset=True)
    foreign = tmp_path / "x.ome.zarr"
    foreign.mkdir()
    (foreign / "zarr.json").write_text(json.dumps({"not": "ours"}))
    settings = _settings(tmp_path, "zarr-python").model_copy(
        update={"root_path": str(foreign), "overwrite": False}
    )
    with pytest.raises(FileExistsError, match="already exists"):
        create_stream(settings)
    assert (foreign / "zarr.json").is_file()
