"""``python -m ome_writers.benchmark``: runs `ome_writers.tools.benchmark`."""

from __future__ import annotations

import sys

from ome_writers.tools.benchmark import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
