"""Serve a dataset over HTTP, read-only, to viewers and other processes.

Needs the ``serve`` extra (aiohttp): ``pip install "ome-writers[serve]"``.
"""

import importlib.util

if importlib.util.find_spec("aiohttp") is None:
    raise ImportError(
        "ome_writers.serve needs aiohttp: pip install 'ome-writers[serve]'"
    )

from ome_writers.serve._app import make_app
from ome_writers.serve._process import ServedDataset, start
from ome_writers.serve._serve import serve

__all__ = ["ServedDataset", "make_app", "serve", "start"]
