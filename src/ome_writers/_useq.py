"""Types and functions of the useq adapter (kept at this path for pymmcore-plus)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from ome_writers.adapters._useq import dims_from_useq, useq_to_acquisition_settings

if TYPE_CHECKING:
    from ome_writers._schema import Dimension, Plate


class AcquisitionSettingsDict(TypedDict):
    """What `useq_to_acquisition_settings` returns."""

    dimensions: list[Dimension]
    plate: Plate | None


__all__ = ["AcquisitionSettingsDict", "dims_from_useq", "useq_to_acquisition_settings"]
