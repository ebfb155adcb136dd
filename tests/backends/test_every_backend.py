"""Every registered backend runs the conformance suite, in its format's class."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from ome_writers._registry import BACKENDS

from .conformance import (
    BackendConformance,
    ScratchConformance,
    TiffConformance,
    ZarrConformance,
)

pytestmark = pytest.mark.conformance

BASES = {
    "ome-zarr": ZarrConformance,
    "ome-tiff": TiffConformance,
    "scratch": ScratchConformance,
}


def test_every_backend_has_a_conformance_class() -> None:
    found: dict[str, type[BackendConformance]] = {}
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        module = importlib.import_module(f"{__package__}.{path.stem}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BackendConformance)
                and value.__name__.startswith("Test")
            ):
                found[value.backend] = value
    assert sorted(found) == sorted(r.name for r in BACKENDS)
    for record in BACKENDS:
        assert issubclass(found[record.name], BASES[record.format]), record.name
