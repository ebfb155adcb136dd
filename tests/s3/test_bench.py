"""`ome-writers bench --s3`: a loopback-S3 row beside each local-disk row."""

from __future__ import annotations

import json

import pytest

from ome_writers.tools.cli import main as cli_main

pytest.importorskip("moto.server")


def test_bench_s3_rows(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "--quick", "-s", "f", "--json", "--no-raw", "-q", "--s3"]
    argv += ["--backends", "zarr-python", "tifffile"]
    assert cli_main(argv) == 0
    rows = {r["target"]: r for r in json.loads(capsys.readouterr().out)}
    # TIFF is never written to object storage: no S3 row for it
    assert set(rows) == {
        "ceiling",
        "disk",
        "ours:zarr-python",
        "s3:zarr-python",
        "ours:tifffile",
    }
    s3 = rows["s3:zarr-python"]
    assert "error" not in s3, s3
    assert s3["frames"] == rows["ours:zarr-python"]["frames"] > 0
    assert s3["vs_local"] == s3["gbps_sync"] / rows["ours:zarr-python"]["gbps_sync"]
