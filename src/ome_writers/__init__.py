"""Stream camera frames into OME-Zarr v0.5 and OME-TIFF."""

from ._coords import CoordUpdate
from ._schema import (
    AcquisitionSettings,
    Channel,
    Dimension,
    OmeTiffFormat,
    OmeZarrFormat,
    Plate,
    Position,
    PositionDimension,
    Pyramid,
    S3Options,
    ScratchFormat,
    StandardAxis,
    dims_from_standard_axes,
)
from ._stream import OMEStream, create_stream
from ._version import __version__
from .adapters._useq import dims_from_useq, useq_to_acquisition_settings

__all__ = [
    "AcquisitionSettings",
    "Channel",
    "CoordUpdate",
    "Dimension",
    "OMEStream",
    "OmeTiffFormat",
    "OmeZarrFormat",
    "Plate",
    "Position",
    "PositionDimension",
    "Pyramid",
    "S3Options",
    "ScratchFormat",
    "StandardAxis",
    "__version__",
    "create_stream",
    "dims_from_standard_axes",
    "dims_from_useq",
    "useq_to_acquisition_settings",
]
