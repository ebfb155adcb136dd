"""The conformance suite (OME-Zarr 0.5 and 0.4) on the tensorstore backend."""

from __future__ import annotations

import pytest

from .conformance import ZarrConformance, ZarrNgff04Conformance

pytestmark = pytest.mark.conformance


class TestTensorstore(ZarrConformance):
    backend = "tensorstore"


class TestTensorstoreNgff04(ZarrNgff04Conformance):
    backend = "tensorstore"
