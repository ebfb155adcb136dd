"""The backend registry is the one place that states facts about backends."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, _registry, create_stream
from ome_writers._registry import BACKENDS, BackendRecord, backend_names
from ome_writers._schema import _format, _settings
from ome_writers.backends._base import Backend, StorageKey
from ome_writers.tools import benchmark

if TYPE_CHECKING:
    from ome_writers.backends._base import BackendContext

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize(
    ("literal", "format_name", "auto"),
    [
        (_format.ZarrBackendLiteral, "ome-zarr", True),
        (_format.TiffBackendLiteral, "ome-tiff", True),
        (_format.ScratchBackendLiteral, "scratch", False),
    ],
)
def test_typing_literals_equal_the_registry(
    literal: object, format_name: str, auto: bool
) -> None:
    expected = {*backend_names(format_name), *(["auto"] if auto else [])}
    assert set(typing.get_args(literal)) == expected


def test_compression_literal_is_every_registered_compression() -> None:
    registered = {c for r in BACKENDS for c in r.compressions}
    assert set(typing.get_args(_settings.Compression)) == registered


def test_tools_and_docs_list_the_registered_backends() -> None:
    assert benchmark.file_backends() == [r.name for r in BACKENDS if r.writes_files]
    formats_doc = (ROOT / "docs" / "formats.md").read_text()
    for record in BACKENDS:
        if record.writes_files:
            assert record.name in formats_doc, record.name


def test_backend_classes_read_their_facts_from_the_record() -> None:
    for record in _registry.BACKENDS:
        if not record.available:
            continue
        from ome_writers.backends._select import load_backend

        cls = load_backend(record)
        assert cls.name == record.name
        assert cls.record() is record
        # nothing about the backend is restated on the class
        for fact in ("format", "compressions", "writes_in_background"):
            assert fact not in vars(cls), (record.name, fact)


# ---------------------------------------------------------------- toy backend


class ToyBackend(Backend):
    """A whole backend in a few lines: frames kept in a dict."""

    name = "toy"

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        self.frames: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}
        self.closed_after: int | None = None

    def prepare(self) -> None:
        pass

    def write(self, position: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        self.frames[(position, index)] = frame.copy()

    def finalize(self, frames_done: int) -> None:
        self.closed_after = frames_done

    def read(self, position: int, key: StorageKey) -> np.ndarray:
        shape = tuple(int(n or 0) for n in self.storage_shape)
        full = np.zeros(shape, dtype=self.dtype)
        for (p, index), frame in self.frames.items():
            if p == position:
                full[index] = frame
        return np.asarray(full[key])


TOY = BackendRecord(
    name="toy",
    format="scratch",
    target=f"{__name__}:ToyBackend",
    requires=(),
    extra="toy",
    aliases=("toy-memory",),
)


@pytest.fixture
def toy() -> typing.Iterator[BackendRecord]:
    _registry.register(TOY)
    try:
        yield TOY
    finally:
        _registry.unregister(TOY.name)


@pytest.mark.parametrize("spelling", ["toy", "toy-memory"])
def test_a_new_backend_is_its_module_plus_one_record(
    toy: BackendRecord, spelling: str
) -> None:
    settings = AcquisitionSettings(
        root_path="",
        format=spelling,
        dimensions=[
            Dimension(name="t", count=3),
            Dimension(name="y", count=4),
            Dimension(name="x", count=5),
        ],
        dtype="uint16",
    )
    assert settings.format.backend == "toy"
    frames = [np.full((4, 5), i + 1, dtype="uint16") for i in range(3)]
    with create_stream(settings) as stream:
        for frame in frames:
            stream.append(frame)
        backend = stream._backend
        assert isinstance(backend, ToyBackend)
        np.testing.assert_array_equal(np.asarray(stream.view()), np.stack(frames))
    assert backend.closed_after == 3
    assert toy in _registry.available_backends("scratch")


def test_registering_a_taken_name_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        _registry.register(_registry.BY_NAME["tensorstore"])


def test_unknown_backend_names_are_refused_by_the_format() -> None:
    with pytest.raises(ValueError, match="Unknown ome-zarr backend 'toy'"):
        _format.OmeZarrFormat(backend="toy")  # type: ignore[arg-type]
