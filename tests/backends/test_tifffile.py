"""The conformance suite on the tifffile backend."""

from __future__ import annotations

import pytest

from .conformance import TiffConformance

pytestmark = pytest.mark.conformance


class TestTifffile(TiffConformance):
    backend = "tifffile"
