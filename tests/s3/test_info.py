"""`ome-writers info` / `validate` on datasets in a bucket."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.tools.cli import main
from ome_writers.tools.info import inspect_dataset

from .conftest import SECRET_KEY
from .server import FaultProxy


def write(url: str, fmt: object = "tensorstore", **dims_kwargs: object) -> None:
    settings = AcquisitionSettings(
        root_path=url,
        format=fmt,
        dimensions=[
            Dimension(name="t", count=4, chunk_size=1, **dims_kwargs),
            Dimension(name="c", count=2),
            Dimension(name="y", count=16),
            Dimension(name="x", count=16),
        ],
        dtype="uint16",
        compression="zstd",
    )
    with create_stream(settings) as stream:
        for i in range(6):  # t=3 is never acquired
            stream.append(np.full((16, 16), i + 1, "uint16"), frame_metadata={"i": i})


@pytest.mark.parametrize("sharded", [False, True])
def test_info_reads_the_bucket(s3_prefix: str, sharded: bool) -> None:
    url = f"{s3_prefix}/run.ome.zarr"
    write(url, **({"shard_size_chunks": 4} if sharded else {}))
    report = inspect_dataset(url)
    assert report.valid, report.problems
    assert str(report.path) == url
    [image] = report.images
    assert image.shape == (4, 2, 16, 16)
    assert image.frames is not None
    assert image.frames.acquired == 6
    assert image.frames.missing == []
    assert image.frames.past_last == [(3, 0), (3, 1)]  # declared, never reached
    if sharded:  # counted from the shard index (a ranged read)
        assert image.storage is not None and image.storage.shards == (4, 1, 16, 16)


def test_info_reads_ngff_04_in_the_bucket(s3_prefix: str) -> None:
    """An OME-Zarr 0.4 dataset: its ``.zgroup``, ``.zattrs`` and ``.zarray``
    documents are read, its Zarr v2 chunk keys counted."""
    url = f"{s3_prefix}/run04.ome.zarr"
    write(url, {"backend": "tensorstore", "ngff_version": "0.4"})
    report = inspect_dataset(url)
    assert report.valid, report.problems
    [image] = report.images
    assert image.shape == (4, 2, 16, 16)
    assert image.storage is not None
    assert image.storage.compression == "zstd (level 3)"
    assert image.frames is not None
    assert image.frames.acquired == 6
    assert image.frames.past_last == [(3, 0), (3, 1)]


def test_cli_info_and_validate(s3_prefix: str) -> None:
    url = f"{s3_prefix}/cli.ome.zarr"
    write(url)
    for command in ("info", "validate"):
        done = subprocess.run(
            [sys.executable, "-m", "ome_writers.tools.cli", command, url, "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert doc["path"] == url
        assert doc["valid"] is True


def test_info_on_a_prefix_without_dataset(s3_prefix: str) -> None:
    report = inspect_dataset(f"{s3_prefix}/nothing.ome.zarr")
    assert not report.valid
    assert "no OME-Zarr dataset" in report.problems[0]


def test_cli_info_without_credentials(
    s3_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The URL is printed as given, with what is missing; no verdict on data
    that was never read."""
    url = f"{s3_prefix}/run.ome.zarr"
    write(url)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert main(["info", url]) == 1
    header, problem, verdict = capsys.readouterr().out.splitlines()
    assert header == f"{url} (unreadable)"
    assert problem.startswith("  problem: No S3 credentials found for s3://")
    assert "AWS_ACCESS_KEY_ID" in problem
    assert verdict == "  NOT READ"
    assert main(["info", "--json", url]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert (doc["path"], doc["kind"], doc["valid"]) == (url, "unreadable", False)


def test_cli_info_with_refused_credentials(
    fault_proxy: FaultProxy, s3_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"{s3_prefix}/run.ome.zarr"
    write(url)
    fault_proxy.required_key = "the-right-key"
    assert main(["info", url]) == 1
    header, problem, verdict = capsys.readouterr().out.splitlines()
    assert header == f"{url} (unreadable)"
    assert "Access denied: the object store refused the credentials" in problem
    assert SECRET_KEY not in problem
    assert verdict == "  NOT READ"
