"""The conformance suite on the zarr-python backend."""

from __future__ import annotations

import pytest

from .conformance import ZarrConformance

pytestmark = pytest.mark.conformance


class TestZarrPython(ZarrConformance):
    backend = "zarr-python"
