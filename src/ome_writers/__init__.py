"""Stream camera frames into OME-Zarr (v0.5, or v0.4) and OME-TIFF."""

from ome_writers._schema import (
    AcquisitionSettings,
    Channel,
    Dimension,
    LabelImage,
    OmeTiffFormat,
    OmeZarrFormat,
    Plate,
    Position,
    PositionDimension,
    Pyramid,
    S3Options,
    ScratchFormat,
    SizeEstimate,
    SizePart,
    StandardAxis,
    dims_from_standard_axes,
)
from ome_writers._stream._coords import CoordUpdate
from ome_writers._stream._ome_stream import OMEStream, create_stream
from ome_writers._stream._view import StreamView
from ome_writers._version import __version__
from ome_writers.adapters._useq import dims_from_useq, useq_to_acquisition_settings
from ome_writers.reading import ChannelDisplay, DatasetView, open

# The NGFF models (yaozarrs, slow to import) load with the package, not while
# a first stream's frames arrive: imported on a background thread at
# `create_stream`, they hold the interpreter long enough that a fast camera's
# appends fall behind; loaded, the group documents are built quickly
# (`backends/zarr/_group_documents.py`).
from ome_writers.metadata import _ngff  # noqa: F401  # isort: skip

__all__ = [
    "AcquisitionSettings",
    "Channel",
    "ChannelDisplay",
    "CoordUpdate",
    "DatasetView",
    "Dimension",
    "LabelImage",
    "OMEStream",
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
    "StreamView",
    "__version__",
    "create_stream",
    "dims_from_standard_axes",
    "dims_from_useq",
    "open",
    "useq_to_acquisition_settings",
]
