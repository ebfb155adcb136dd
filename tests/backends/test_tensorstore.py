"""The conformance suite on the tensorstore backend."""

from __future__ import annotations

import pytest

from .conformance import ZarrConformance

pytestmark = pytest.mark.conformance


class TestTensorstore(ZarrConformance):
    backend = "tensorstore"
