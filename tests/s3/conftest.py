"""Fixtures of the object-storage tests: a real S3 server on 127.0.0.1.

The server starts with the first test that needs it and stops after the last;
every test gets its own bucket-prefix and the AWS environment pointing at the
server (credentials "testing"), with the user's AWS files out of reach.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
pytest.importorskip("obstore", reason="obstore is in the s3 extra")

from .server import FaultProxy, LocalS3

if TYPE_CHECKING:
    from collections.abc import Iterator

BUCKET = "ome-writers-test"
ACCESS_KEY = "testing-key-id"
SECRET_KEY = "testing-secret-4f1a9c"  # tests assert this never leaks


def _serve(server: LocalS3) -> Iterator[LocalS3]:
    server.start()
    import boto3

    boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    ).create_bucket(Bucket=BUCKET)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def local_s3() -> Iterator[LocalS3]:
    """The S3 server, in a process of its own."""
    yield from _serve(LocalS3())


@pytest.fixture(scope="session")
def restartable_s3() -> Iterator[LocalS3]:
    """An S3 server that keeps its objects when stopped and started again."""
    yield from _serve(LocalS3(in_process=True))


@pytest.fixture
def s3_env(
    local_s3: LocalS3,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """The standard AWS environment for the local server; its endpoint."""
    if not local_s3.running:  # a fault test stopped it
        local_s3.start()
    aws = tmp_path_factory.mktemp("aws")
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_S3",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_s3.endpoint)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return local_s3.endpoint


@pytest.fixture
def s3_prefix(s3_env: str) -> str:
    """A fresh ``s3://bucket/<unique>`` prefix for one test."""
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def fault_proxy(
    restartable_s3: LocalS3, s3_env: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the restartable server; the
    environment's endpoint is the proxy."""
    if not restartable_s3.running:
        restartable_s3.start()
    proxy = FaultProxy(restartable_s3)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    yield proxy
    proxy.close()
    if not restartable_s3.running:
        restartable_s3.start()


@pytest.fixture(autouse=True)
def _quiet_server_log(caplog: pytest.LogCaptureFixture) -> None:
    """The server logs every request; keep pytest from capturing them all."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
