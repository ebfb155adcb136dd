"""Reading a dataset from outside the process writing it: `open`, `DatasetView`."""

from ome_writers.reading._channels import ChannelDisplay
from ome_writers.reading._open import open
from ome_writers.reading._view import DatasetView

__all__ = ["ChannelDisplay", "DatasetView", "open"]
