"""Array backends: one module per library, chosen through the registry."""

from ome_writers._registry import BACKENDS, BackendRecord, available_backends

__all__ = ["BACKENDS", "BackendRecord", "available_backends"]
