"""Adapters from other libraries (useq-schema, pymmcore-plus) to ome-writers."""
