"""``ome-writers bench``: the write-throughput benchmark, in `ome_writers.tools.bench`.

This module keeps the names it has always offered (`main` above all); the
package's docstring describes the scenarios, the rows and its modules.
"""

from __future__ import annotations

import sys

from ome_writers.tools.bench._cli import build_parser, main
from ome_writers.tools.bench._measure import latency_sample
from ome_writers.tools.bench._plan import compile_package, run, run_order, targets_for
from ome_writers.tools.bench._run_ours import run_public_api
from ome_writers.tools.bench._scenarios import DESCRIPTIONS, file_backends, scenario
from ome_writers.tools.bench._tables import (
    dumps_rows,
    print_rich,
    render,
    render_markdown,
)

__all__ = [
    "DESCRIPTIONS",
    "build_parser",
    "compile_package",
    "dumps_rows",
    "file_backends",
    "latency_sample",
    "main",
    "print_rich",
    "render",
    "render_markdown",
    "run",
    "run_order",
    "run_public_api",
    "scenario",
    "targets_for",
]

if __name__ == "__main__":
    sys.exit(main())
