"""Settings models."""

from ._dimension import (
    Channel,
    Dimension,
    Position,
    PositionDimension,
    StandardAxis,
    dims_from_standard_axes,
)
from ._format import OmeTiffFormat, OmeZarrFormat, ScratchFormat, ome_stem_suffix
from ._object_storage import S3Options
from ._plate import Plate
from ._pyramid import Pyramid
from ._settings import AcquisitionSettings
from ._storage import effective_type

__all__ = [
    "AcquisitionSettings",
    "Channel",
    "Dimension",
    "OmeTiffFormat",
    "OmeZarrFormat",
    "Plate",
    "Position",
    "PositionDimension",
    "Pyramid",
    "S3Options",
    "ScratchFormat",
    "StandardAxis",
    "dims_from_standard_axes",
    "effective_type",
    "ome_stem_suffix",
]
