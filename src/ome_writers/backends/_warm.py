"""Importing what only close needs on a background thread, at create time.

Some modules are needed only when a stream closes (ome-types, most of a second
to import, builds the OME-XML). Importing one at `create_stream` would delay
the first frame; importing it at close would lengthen close. A daemon thread
imports it while the acquisition starts; close then finds it loaded (or waits
for the import in progress, under Python's import lock).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading


def import_in_background(module: str) -> threading.Thread | None:
    """Start importing `module` on a daemon thread (None: already imported).

    A module that cannot be imported is left for its user to report.
    """
    if module in sys.modules:
        return None

    def run() -> None:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)

    thread = threading.Thread(target=run, name="ome-writers-import", daemon=True)
    thread.start()
    return thread
