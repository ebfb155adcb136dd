"""The conformance suite on the zarrs-python backend."""

from __future__ import annotations

import pytest

from .conformance import ZarrConformance

pytestmark = pytest.mark.conformance


class TestZarrsPython(ZarrConformance):
    backend = "zarrs-python"
