"""useq-schema MDASequence -> acquisition settings."""

from __future__ import annotations

from typing import Any


def useq_to_acquisition_settings(seq: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Translate a `useq.MDASequence` into settings fields."""
    raise NotImplementedError("The useq adapter is not available yet.")


def dims_from_useq(seq: Any, *args: Any, **kwargs: Any) -> list[Any]:
    """Deprecated: use `useq_to_acquisition_settings`."""
    raise NotImplementedError("The useq adapter is not available yet.")
