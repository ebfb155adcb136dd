"""Types and functions of the useq adapter (kept at this path for pymmcore-plus)."""

from __future__ import annotations

from typing import TypedDict

from ._schema import Dimension, Plate
from .adapters._useq import dims_from_useq, useq_to_acquisition_settings


class AcquisitionSettingsDict(TypedDict):
    """What `useq_to_acquisition_settings` returns."""

    dimensions: list[Dimension]
    plate: Plate | None


__all__ = ["AcquisitionSettingsDict", "dims_from_useq", "useq_to_acquisition_settings"]
