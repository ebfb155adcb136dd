"""acquire-zarr's bundled OpenMP runtime sleeps while idle instead of spinning."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ome_writers._io._openmp import passive_openmp

pytest.importorskip("acquire_zarr")


def _runtime_settings(env: dict[str, str]) -> tuple[str, str]:
    """What the OpenMP runtime loaded with the backend reports (stderr), and
    the process's wait policy after the import (stdout)."""
    code = (
        "import os\n"
        "import ome_writers.backends.zarr._acquire_zarr\n"
        "print(os.environ.get('OMP_WAIT_POLICY'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "OMP_DISPLAY_ENV": "VERBOSE"},
        capture_output=True,
        text=True,
        check=True,
    )
    if "GOMP_SPINCOUNT" not in done.stderr:
        pytest.skip("acquire-zarr's OpenMP runtime is not libgomp here")
    return done.stderr, done.stdout.strip()


def test_backend_loads_openmp_passive() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    shown, after = _runtime_settings(env)
    assert "GOMP_SPINCOUNT = '0'" in shown
    assert after == "None"  # the process's environment is left as it was


def test_user_policy_kept() -> None:
    shown, after = _runtime_settings({**os.environ, "OMP_WAIT_POLICY": "ACTIVE"})
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in shown
    assert after == "ACTIVE"


def test_passive_openmp_restores_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    with passive_openmp():
        assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")
    with passive_openmp():
        assert os.environ["OMP_WAIT_POLICY"] == "active"
    assert os.environ["OMP_WAIT_POLICY"] == "active"
