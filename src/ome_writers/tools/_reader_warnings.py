"""The warnings a reader raises, as lines of an `ome-writers info` report."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextmanager
def reader_warnings(found: list[str], reader: str) -> Iterator[None]:
    """Add the warnings `reader` raises within the block to `found`, once each.

    Warnings are recorded rather than shown (or raised, where warnings are
    errors), so that they become part of the report.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for warning in caught:
                for text in _texts(warning.message):
                    entry = f"{reader}: {text}"
                    if entry not in found:
                        found.append(entry)


def _texts(message: Warning | str) -> list[str]:
    """One line per finding (yaozarrs bundles its findings in one warning)."""
    details = getattr(message, "warnings", None)
    if callable(details):
        out = []
        for detail in details(include_context=False):
            text = str(detail.get("msg", "")).removeprefix("Warning: ")
            loc = ".".join(str(part) for part in detail.get("loc", ()))
            out.append(f"{loc}: {text}" if loc else text)
        if out:
            return out
    return [" ".join(str(message).split())]
