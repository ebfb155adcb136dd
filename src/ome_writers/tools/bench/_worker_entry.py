"""The script a worker process runs: ``python _worker_entry.py --worker JOB``.

It is run by path, also under a ``--compare`` interpreter whose ome-writers
may be an older version without this package. So this folder is loaded as a
package of its own (`PACKAGE`), never through ``ome_writers``, and the
installed ome-writers is the one the runners measure.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys

PACKAGE = "_ome_writers_bench"


def end_with_parent() -> None:
    """Have this process end when the bench that started it ends (Linux):
    a worker left behind goes on writing and slows whatever runs next."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def main() -> None:
    end_with_parent()
    here = os.path.dirname(os.path.abspath(__file__))
    # a script's folder comes first on sys.path: its modules must not stand in
    # for installed ones
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.util.spec_from_file_location(
        PACKAGE, os.path.join(here, "__init__.py"), submodule_search_locations=[here]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {here} as a package")
    sys.modules[PACKAGE] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[PACKAGE])
    worker = importlib.import_module(f"{PACKAGE}._worker")
    job = json.loads(sys.argv[sys.argv.index("--worker") + 1])
    print(json.dumps(worker.measure(job)))


if __name__ == "__main__":
    main()
