"""OpenMP runtimes that sleep instead of spinning while idle.

A library that bundles its own OpenMP runtime (acquire-zarr's libgomp) reads
the wait policy once, when the runtime is loaded. By default its idle threads
busy-wait for the next parallel region: between frames they keep cores busy
that the library's writer threads and the acquisition need.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

_POLICY = "OMP_WAIT_POLICY"


@contextlib.contextmanager
def passive_openmp() -> Iterator[None]:
    """Load OpenMP runtimes within this block with the passive wait policy.

    Only runtimes first loaded here see it (the environment is restored on
    leaving); a policy the user set is kept.
    """
    if _POLICY in os.environ:
        yield
        return
    os.environ[_POLICY] = "PASSIVE"
    try:
        yield
    finally:
        os.environ.pop(_POLICY, None)
