"""Arrays of one shape made from the first one's document.

zarr-python and zarrs-python: each `zarr.create_array` cost 1.1-1.4 ms of
interpreter time, most of a plate's append phase. tensorstore: creating an
array cost 0.4 ms of CPU time, copying the document 0.1 ms. Arrays after the
first of a shape copy its ``zarr.json`` and are opened from its metadata. They
must be the same arrays as before: identical documents, the same codec
pipeline, the same bytes on disk for every reader.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorstore as ts
import yaozarrs
import zarr

from ome_writers import AcquisitionSettings, Dimension, Position, create_stream
from ome_writers.backends.zarr import _tensorstore, _zarr_python
from tests.backends.params import backend_params
from tests.backends.zarr.internals import library_writer

BACKENDS = backend_params(names=["zarr-python", "zarrs-python"])
POSITIONS = 6


def _settings(root: Path, backend: str, **extra: object) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(root),
        format=backend,
        dtype="uint16",
        dimensions=[
            Dimension(
                name="p",
                type="position",
                coords=[Position(name=f"fov{i}") for i in range(POSITIONS)],
            ),
            Dimension(name="c", count=2, type="channel"),
            Dimension(name="y", count=32, chunk_size=16),
            Dimension(name="x", count=32, chunk_size=16),
        ],
        overwrite=True,
        **extra,  # type: ignore[arg-type]
    )


def _frames() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 60_000, (32, 32), dtype="uint16") for _ in range(12)]


def _assert_read_back(root: Path, frames: list[np.ndarray]) -> None:
    """zarr-python and tensorstore read each position's two frames back."""
    for i in range(POSITIONS):
        expected = np.stack(frames[2 * i : 2 * i + 2])
        path = root / f"fov{i}" / "0"
        np.testing.assert_array_equal(zarr.open_array(path, mode="r")[:], expected)
        spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}}
        stored = ts.open(spec, open=True).result().read().result()
        np.testing.assert_array_equal(stored, expected)


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The shapes `zarr.create_array` is called with by the backends."""
    shapes: list[object] = []
    real = zarr.create_array

    def counted(*args: object, **kwargs: object) -> object:
        shapes.append(kwargs.get("shape"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_zarr_python.zarr, "create_array", counted)
    return shapes


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "extra",
    [{}, {"compression": "blosc-zstd"}],
    ids=["raw", "blosc-zstd"],
)
def test_arrays_after_the_first_are_made_from_its_document(
    tmp_path: Path, created: list[object], backend: str, extra: dict[str, object]
) -> None:
    root = tmp_path / "t.ome.zarr"
    stream = create_stream(_settings(root, backend, **extra))
    frames = _frames()
    for frame in frames:
        stream.append(frame)
    arrays = library_writer(stream._backend)._arrays
    pipelines = {type(a.async_array.codec_pipeline) for a in arrays}
    stream.close()

    assert len(created) == 1  # the first position's; the others from it
    documents = {
        (root / f"fov{i}" / "0" / "zarr.json").read_bytes() for i in range(POSITIONS)
    }
    assert len(documents) == 1
    doc = json.loads(documents.pop())
    assert doc["node_type"] == "array"
    assert doc["shape"] == [2, 32, 32]
    # the zarrs variant's arrays all use zarrs' pipeline, the other zarr's own
    assert len(pipelines) == 1
    assert ("Zarrs" in pipelines.pop().__name__) == (backend == "zarrs-python")
    yaozarrs.validate_zarr_store(str(root))
    _assert_read_back(root, frames)


@pytest.mark.parametrize("backend", BACKENDS)
def test_arrays_of_another_shape_are_created_for_themselves(
    tmp_path: Path, created: list[object], backend: str
) -> None:
    # a template is per shape: an unbounded array cut at close keeps its own
    stream = create_stream(_settings(tmp_path / "s.ome.zarr", backend))
    backend_ = library_writer(stream._backend)
    first = backend_._arrays[0]
    other = backend_._create_array(tmp_path / "other", [3, 32, 32])
    again = backend_._create_array(tmp_path / "again", [3, 32, 32])
    stream.close()
    assert created == [(2, 32, 32), (3, 32, 32)]
    assert other.shape == again.shape == (3, 32, 32)
    assert first.shape == (2, 32, 32)


@pytest.fixture
def ts_created(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The shapes tensorstore is asked to create arrays with."""
    shapes: list[object] = []
    real = ts.open

    def counted(spec: dict[str, object], *args: object, **kwargs: object) -> object:
        if kwargs.get("create"):
            shapes.append(tuple(spec["metadata"]["shape"]))  # type: ignore[index]
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(_tensorstore.ts, "open", counted)
    return shapes


@pytest.mark.parametrize(
    "extra",
    [{}, {"compression": "blosc-zstd"}],
    ids=["chunk-files", "blosc-zstd"],
)
def test_tensorstore_makes_arrays_after_the_first_from_its_document(
    tmp_path: Path, ts_created: list[object], extra: dict[str, object]
) -> None:
    root = tmp_path / "t.ome.zarr"
    with create_stream(_settings(root, "tensorstore", **extra)) as stream:
        frames = _frames()
        for frame in frames:
            stream.append(frame)

    assert ts_created == [(2, 32, 32)]  # the first position's; the others from it
    documents = {
        (root / f"fov{i}" / "0" / "zarr.json").read_bytes() for i in range(POSITIONS)
    }
    assert len(documents) == 1
    assert json.loads(documents.pop())["shape"] == [2, 32, 32]
    yaozarrs.validate_zarr_store(str(root))
    _assert_read_back(root, frames)


def test_tensorstore_makes_arrays_of_another_shape_for_themselves(
    tmp_path: Path, ts_created: list[object]
) -> None:
    stream = create_stream(_settings(tmp_path / "s.ome.zarr", "tensorstore"))
    backend_ = library_writer(stream._backend)
    backend_.create(
        [(0, tmp_path / "other", [3, 32, 32]), (1, tmp_path / "again", [3, 32, 32])]
    )
    assert backend_._arrays[0].shape == backend_._arrays[1].shape == (3, 32, 32)
    stream.close()
    assert ts_created == [(2, 32, 32), (3, 32, 32)]
    other = json.loads((tmp_path / "other" / "zarr.json").read_text())
    assert other == json.loads((tmp_path / "again" / "zarr.json").read_text())
    assert other["shape"] == [3, 32, 32]
