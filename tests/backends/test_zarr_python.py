"""The conformance suite (OME-Zarr 0.5 and 0.4) on the zarr-python backend."""

from __future__ import annotations

import pytest

from .conformance import ZarrConformance, ZarrNgff04Conformance

pytestmark = pytest.mark.conformance


class TestZarrPython(ZarrConformance):
    backend = "zarr-python"


class TestZarrPythonNgff04(ZarrNgff04Conformance):
    backend = "zarr-python"
