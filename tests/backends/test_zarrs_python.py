"""The conformance suite (OME-Zarr 0.5 and 0.4) on the zarrs-python backend."""

from __future__ import annotations

import pytest

from .conformance import ZarrConformance, ZarrNgff04Conformance

pytestmark = pytest.mark.conformance


class TestZarrsPython(ZarrConformance):
    backend = "zarrs-python"


class TestZarrsPythonNgff04(ZarrNgff04Conformance):
    backend = "zarrs-python"
