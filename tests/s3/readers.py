"""Reading a dataset in a bucket without ome-writers.

`mirror` downloads a dataset prefix with boto3 into a directory, where the
local readers of the conformance suite (zarr-python, tensorstore, yaozarrs)
check it; `zarr_from_s3` and `tensorstore_from_s3` read an array straight
from the server, each through its own S3 client.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np


def split(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key.strip("/")


def boto_client() -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def listing(url: str) -> list[tuple[str, str]]:
    """(key relative to the prefix, ETag) of every object below a prefix."""
    bucket, prefix = split(url)
    out = []
    pages = boto_client().get_paginator("list_objects_v2")
    for page in pages.paginate(Bucket=bucket, Prefix=prefix + "/"):
        out += [
            (o["Key"][len(prefix) + 1 :], o["ETag"]) for o in page.get("Contents", [])
        ]
    return sorted(out)


def keys(url: str) -> list[str]:
    """Every key below a prefix, relative to it."""
    return [key for key, _ in listing(url)]


def mirror(url: str, dest: Path) -> Path:
    """Download every object below `url` into `dest`; `dest`."""
    bucket, prefix = split(url)
    client = boto_client()
    if dest.exists():
        shutil.rmtree(dest)
    for key in keys(url):
        target = dest / key
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, f"{prefix}/{key}", str(target))
    return dest


def zarr_from_s3(url: str) -> np.ndarray:
    """An array read by zarr-python from the server (its obstore store)."""
    import zarr
    from obstore.store import S3Store
    from zarr.storage import ObjectStore

    bucket, key = split(url)
    store = S3Store(
        bucket,
        prefix=key,
        endpoint=os.environ["AWS_ENDPOINT_URL"],
        region="us-east-1",
        client_options={"allow_http": True},
    )
    return np.asarray(
        zarr.open_array(ObjectStore(store, read_only=True), mode="r")[...]
    )


def tensorstore_from_s3(url: str, driver: str = "zarr3") -> np.ndarray:
    """An array read by tensorstore from the server (its s3 kvstore), with
    its `driver` (``zarr`` for a Zarr v2 array)."""
    import tensorstore as ts

    bucket, key = split(url)
    spec = {
        "driver": driver,
        "kvstore": {
            "driver": "s3",
            "bucket": bucket,
            "path": key + "/",
            "endpoint": os.environ["AWS_ENDPOINT_URL"],
            "aws_region": "us-east-1",
            "aws_credentials": {"type": "environment"},
        },
    }
    return np.asarray(ts.open(spec, open=True).result().read().result())
