"""The test environment is the one the `test` extra declares, and consistent.

moto takes any botocore while aiobotocore (fsspec[s3] -> s3fs, pulled by
yaozarrs[io] and ome-zarr) accepts a narrow range: without bounds in the `test`
extra pip backtracks for minutes, or leaves a set that `pip check` rejects.
No network: only the installed distributions' metadata is read.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = "ome-writers"
# resolved together: each bounded from above in the `test` extra
BOUNDED = ("aiobotocore", "botocore", "boto3")


def _extra_requirements(extras: set[str]) -> list[Requirement]:
    """The project's requirements under `extras`, self-references expanded."""
    out: list[Requirement] = []
    seen: set[str] = set()
    todo = set(extras)
    while todo:
        extra = todo.pop()
        seen.add(extra)
        for line in metadata.requires(PROJECT) or []:
            req = Requirement(line)
            if req.marker is None or not req.marker.evaluate({"extra": extra}):
                continue
            if canonicalize_name(req.name) == PROJECT:
                todo |= req.extras - seen
            else:
                out.append(req)
    return out


def test_pip_check_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_installed_versions_satisfy_the_test_extra() -> None:
    unmet = []
    for req in _extra_requirements({"test"}):
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            unmet.append(f"{req.name}{req.specifier} (not installed)")
            continue
        if not req.specifier.contains(version, prereleases=True):
            unmet.append(f"{req.name}{req.specifier} (installed {version})")
    assert not unmet, "reinstall with pip install -e '.[test]': " + ", ".join(unmet)


def test_the_test_extra_bounds_the_aws_clients() -> None:
    reqs = {canonicalize_name(r.name): r for r in _extra_requirements({"test"})}
    for name in BOUNDED:
        assert name in reqs, f"the test extra does not name {name}"
        ops = {spec.operator for spec in reqs[name].specifier}
        assert ops & {"<", "<=", "==", "~="}, f"{name} is not bounded: {reqs[name]}"
