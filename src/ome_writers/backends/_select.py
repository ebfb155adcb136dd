"""Choosing and importing the backend class for a set of settings."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ome_writers._registry import BACKENDS, BY_NAME, BackendRecord, available_backends

if TYPE_CHECKING:
    from ome_writers._schema import AcquisitionSettings
    from ome_writers.backends._base import Backend


def load_backend(record: BackendRecord) -> type[Backend]:
    """Import and return the class `record` names."""
    module_name, _, cls_name = record.target.partition(":")
    module = importlib.import_module(module_name)
    cls: type[Backend] = getattr(module, cls_name)
    return cls


def select_backend(settings: AcquisitionSettings) -> type[Backend]:
    """Pick the backend class for `settings` (see the registry order)."""
    fmt = settings.format
    requested: str = fmt.backend
    if requested != "auto":
        record = BY_NAME.get(requested)
        if record is None:
            names = [r.name for r in available_backends()]
            raise ValueError(f"Unknown backend {requested!r}. Available: {names}")
        if record.format != fmt.name:
            raise ValueError(
                f"Backend {requested!r} writes {record.format!r}, not {fmt.name!r}."
            )
        if not record.available:
            raise ValueError(
                f"Requested backend {requested!r} is not available. "
                f"Install with: pip install ome-writers[{record.extra}]"
            )
        try:
            cls = load_backend(record)
        except ImportError as e:
            raise ValueError(f"Could not import backend {requested!r}: {e}") from e
        reason = cls.check_settings(settings)
        if reason:
            raise NotImplementedError(
                f"Backend {cls.__name__!r} ({requested}) does not support "
                f"settings: {reason}"
            )
        return cls

    attempted: dict[str, str] = {}
    for record in BACKENDS:
        if record.format != fmt.name:
            continue
        if not record.available:
            attempted[record.name] = (
                f"not installed (pip install ome-writers[{record.extra}])"
            )
            continue
        try:
            cls = load_backend(record)
        except ImportError as e:
            attempted[record.name] = f"import failed: {e}"
            continue
        reason = cls.check_settings(settings)
        if reason is None:
            return cls
        attempted[record.name] = reason
    raise ValueError(
        f"Could not find compatible backend for requested backend 'auto' and target "
        f"format {fmt.name!r}. Attempted: {list(attempted)}. Reasons: {attempted}"
    )
