"""Stream camera frames into OME-Zarr v0.5 and OME-TIFF."""

from ome_writers._schema import (
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
from ome_writers._stream._coords import CoordUpdate
from ome_writers._stream._ome_stream import OMEStream, create_stream
from ome_writers._version import __version__
from ome_writers.adapters._useq import dims_from_useq, useq_to_acquisition_settings

# The NGFF models (yaozarrs: ~60 ms of import) load with the package, not while
# a first stream's frames arrive: its group documents are then built in a few
# milliseconds (`backends/zarr/_group_documents.py`). Imported on a background thread
# at `create_stream`, they held the interpreter and two cores long enough that
# 512² frames offered at 1,500 fps waited 5-15 ms and fell behind.
from ome_writers.metadata import _ngff  # noqa: F401  # isort: skip

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
