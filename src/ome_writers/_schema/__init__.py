"""Settings models."""

from ome_writers._schema._dimension import (
    Channel,
    Dimension,
    Position,
    PositionDimension,
    StandardAxis,
    dims_from_standard_axes,
)
from ome_writers._schema._format import (
    OmeTiffFormat,
    OmeZarrFormat,
    ScratchFormat,
    ome_stem_suffix,
)
from ome_writers._schema._labels import LabelImage
from ome_writers._schema._object_storage import S3Options
from ome_writers._schema._plate import Plate
from ome_writers._schema._pyramid import Pyramid
from ome_writers._schema._settings import AcquisitionSettings
from ome_writers._schema._size_estimate import SizeEstimate, SizePart
from ome_writers._schema._storage import effective_type

__all__ = [
    "AcquisitionSettings",
    "Channel",
    "Dimension",
    "LabelImage",
    "OmeTiffFormat",
    "OmeZarrFormat",
    "Plate",
    "Position",
    "PositionDimension",
    "Pyramid",
    "S3Options",
    "ScratchFormat",
    "SizeEstimate",
    "SizePart",
    "StandardAxis",
    "dims_from_standard_axes",
    "effective_type",
    "ome_stem_suffix",
]
