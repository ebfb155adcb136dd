"""The conformance suite on the acquire-zarr backend."""

from __future__ import annotations

import pytest

from .conformance import ZarrConformance

pytestmark = pytest.mark.conformance


class TestAcquireZarr(ZarrConformance):
    backend = "acquire-zarr"
