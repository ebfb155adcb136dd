"""The conformance suite on the scratch backend."""

from __future__ import annotations

import pytest

from .conformance import ScratchConformance

pytestmark = pytest.mark.conformance


class TestScratch(ScratchConformance):
    backend = "scratch"
