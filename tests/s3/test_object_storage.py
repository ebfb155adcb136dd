"""Writing to ``s3://``: what is refused, credentials, secrets, overwrite."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, S3Options, create_stream
from ome_writers._io._object_store import resolve_s3
from ome_writers._registry import BY_NAME, url_writers

from .conftest import ACCESS_KEY, BUCKET, SECRET_KEY
from .readers import boto_client, keys, split, zarr_from_s3

ZARR_BACKENDS = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(not BY_NAME[name].available, reason="not installed"),
    )
    for name in url_writers("s3")
]


def dims() -> list[Dimension]:
    return [
        Dimension(name="t", count=3),
        Dimension(name="y", count=16),
        Dimension(name="x", count=8),
    ]


def settings(root: str, **kwargs: object) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=root, dimensions=dims(), dtype="uint16", **kwargs
    )


def frames(n: int = 3) -> list[np.ndarray]:
    return [np.full((16, 8), i + 1, "uint16") for i in range(n)]


def restore_environment(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """The variables the readers use (a test removed them)."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)


def write(s: AcquisitionSettings, data: list[np.ndarray]) -> None:
    with create_stream(s) as stream:
        for f in data:
            stream.append(f)


# ----------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("root", "fmt", "message"),
    [
        ("gs://bucket/x.ome.zarr", "auto", r"no backend writes gs:// URLs"),
        ("http://host/x.ome.zarr", "auto", r"no backend writes http:// URLs"),
        ("s3://bucket/x.ome.tiff", "auto", r"ome-tiff cannot be written to s3://"),
        ("s3://bucket/x", "tifffile", r"random-access file.*OME-Zarr"),
        ("s3://bucket/x", "scratch", r"scratch format spills to a local"),
    ],
)
def test_unwritable_url_refused_before_anything_exists(
    root: str,
    fmt: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message) as info:
        settings(root, format=fmt)
    assert "tensorstore" in str(info.value) or "scheme" not in root
    assert list(tmp_path.iterdir()) == []  # no local "s3:" directory


def test_tiff_refusal_names_ome_zarr() -> None:
    with pytest.raises(ValueError, match="cannot be written") as info:
        settings("s3://bucket/run/x.ome.tiff")
    text = str(info.value)
    assert "OME-Zarr" in text
    assert all(name in text for name in url_writers("s3"))


@pytest.mark.parametrize(
    "url", ["s3://bucket", "s3://bucket/", "s3:///x.ome.zarr", "s3://b/a/../x.ome.zarr"]
)
def test_url_without_dataset_key_refused(url: str, s3_env: str) -> None:
    with pytest.raises(ValueError, match=r"bucket|not allowed"):
        create_stream(settings(url, format="ome-zarr"))


def test_no_local_directory_named_s3(
    s3_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(settings(f"{s3_prefix}/x.ome.zarr"), frames())
    assert list(tmp_path.iterdir()) == []
    assert "zarr.json" in keys(f"{s3_prefix}/x.ome.zarr")


# -------------------------------------------------------------- credentials


def test_environment_endpoint_honoured_by_every_backend(s3_prefix: str) -> None:
    """AWS_ENDPOINT_URL alone points every backend at the server."""
    for param in ZARR_BACKENDS:
        name = param.values[0]
        if not BY_NAME[name].available:
            continue
        url = f"{s3_prefix}/{name}.ome.zarr"
        write(settings(url, format=name), frames())
        got = zarr_from_s3(f"{url}/0")
        assert [int(got[i, 0, 0]) for i in range(3)] == [1, 2, 3], name


def test_output_paths_name_the_url_and_no_secret(
    s3_env: str, s3_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    options = S3Options(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    url = f"{s3_prefix}/named.ome.zarr"
    caplog.set_level(logging.INFO, logger="ome_writers")
    with create_stream(settings(url, format="zarr-python", s3=options)) as stream:
        assert stream.output_paths == (url,)
    opened = [r.getMessage() for r in caplog.records if r.name == "ome_writers"]
    assert any(url in line for line in opened)
    assert SECRET_KEY not in caplog.text


def test_explicit_options(
    s3_env: str, s3_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Endpoint and keys given in S3Options, none in the environment."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    options = S3Options(
        endpoint_url=s3_env,
        region="us-east-1",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
    )
    url = f"{s3_prefix}/explicit.ome.zarr"
    s = settings(url, format="ome-zarr", s3=options)
    with create_stream(s) as stream:
        # tensorstore and acquire-zarr read credentials themselves: the
        # first backend that takes explicit keys is chosen
        assert stream._backend.name in ("zarrs-python", "zarr-python")
        for f in frames():
            stream.append(f)
    restore_environment(monkeypatch, s3_env)
    got = zarr_from_s3(f"{url}/0")
    assert [int(got[i, 0, 0]) for i in range(3)] == [1, 2, 3]


def test_explicit_keys_refused_by_tensorstore(s3_env: str, s3_prefix: str) -> None:
    options = S3Options(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    s = settings(f"{s3_prefix}/x.ome.zarr", format="tensorstore", s3=options)
    with pytest.raises(NotImplementedError, match="zarr-python or zarrs-python"):
        create_stream(s)


def test_profile_from_config_files(
    s3_env: str, s3_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials and endpoint of a named profile in the AWS files."""
    credentials = Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.write_text(
        f"[lab]\naws_access_key_id = {ACCESS_KEY}\n"
        f"aws_secret_access_key = {SECRET_KEY}\n"
    )
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(
        f"[profile lab]\nregion = us-east-1\nendpoint_url = {s3_env}\n"
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_PROFILE", "lab")
    location = resolve_s3(f"{s3_prefix}/p.ome.zarr").location
    assert (location.endpoint, location.credential_source) == (s3_env, "profile")
    url = f"{s3_prefix}/p.ome.zarr"
    write(settings(url, format="zarr-python"), frames())
    restore_environment(monkeypatch, s3_env)
    assert zarr_from_s3(f"{url}/0").shape == (3, 16, 8)


def test_no_credentials_is_a_clear_error(
    s3_env: str, s3_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ValueError, match="No S3 credentials found"):
        create_stream(settings(f"{s3_prefix}/x.ome.zarr"))


@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_wrong_credentials_fail_before_the_first_frame(
    backend: str, fault_proxy, s3_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault_proxy.required_key = "the-right-key"
    url = f"{s3_prefix}/{backend}.ome.zarr"
    with pytest.raises(PermissionError) as info:
        create_stream(settings(url, format=backend))
    text = str(info.value)
    assert "refused the credentials" in text
    assert url in text or url.split("://")[1] in text
    assert SECRET_KEY not in text
    fault_proxy.required_key = None
    assert keys(url) == []  # nothing was written


# ------------------------------------------------------------------- secrets


@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_secret_never_shown(
    backend: str,
    s3_env: str,
    s3_prefix: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Not in a repr, a log record, output, an error or a written object."""
    url = f"{s3_prefix}/{backend}.ome.zarr"
    options = S3Options(endpoint_url=s3_env, region="us-east-1")
    if backend in ("zarr-python", "zarrs-python"):
        options = options.model_copy(
            update={"access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY}
        )
        options = S3Options.model_validate(options.model_dump())
    s = settings(url, format=backend, s3=options)
    caplog.set_level(logging.DEBUG)
    with create_stream(s) as stream:
        for i, f in enumerate(frames()):
            stream.append(f, frame_metadata={"i": i})
        shown = [repr(s), str(s), repr(stream), s.model_dump_json()]
        shown += [repr(stream._backend.root), repr(stream._backend.root.location)]
    with pytest.raises(ValueError, match="gs://") as info:  # shows the input
        AcquisitionSettings(**{**s.model_dump(), "root_path": "gs://x/y"})
    shown.append(str(info.value))
    out, err = capfd.readouterr()
    shown += [out, err, caplog.text]
    bucket, prefix = split(url)
    client = boto_client()
    for key in keys(url):
        shown.append(
            client.get_object(Bucket=bucket, Key=f"{prefix}/{key}")["Body"]
            .read()
            .decode("latin-1")
        )
    assert not [text for text in shown if SECRET_KEY in text]


# ------------------------------------------------------------------ overwrite


def test_overwrite_replaces_only_the_dataset(s3_prefix: str) -> None:
    url = f"{s3_prefix}/run.ome.zarr"
    bucket, prefix = split(url)
    client = boto_client()
    sibling = f"{prefix}2/keep.txt"  # shares the name's characters, not its prefix
    client.put_object(Bucket=bucket, Key=sibling, Body=b"keep")
    write(settings(url), frames())
    with pytest.raises(FileExistsError, match="overwrite=True"):
        create_stream(settings(url))
    client.put_object(Bucket=bucket, Key=f"{prefix}/0/c/9/0/0", Body=b"stale")
    write(settings(url, overwrite=True), frames(2)[::-1])
    assert "0/c/9/0/0" not in keys(url)  # the old dataset is gone entirely
    got = zarr_from_s3(f"{url}/0")
    assert [int(got[i, 0, 0]) for i in range(2)] == [2, 1]
    assert client.get_object(Bucket=bucket, Key=sibling)["Body"].read() == b"keep"


def test_overwrite_refuses_a_prefix_that_is_no_dataset(s3_prefix: str) -> None:
    url = f"{s3_prefix}/notes.ome.zarr"
    bucket, prefix = split(url)
    boto_client().put_object(Bucket=bucket, Key=f"{prefix}/readme.txt", Body=b"x")
    with pytest.raises(FileExistsError, match="not a dataset"):
        create_stream(settings(url, overwrite=True))
    assert keys(url) == ["readme.txt"]


def test_bucket_name_constant() -> None:
    assert split(f"s3://{BUCKET}/x")[0] == BUCKET


# ------------------------------------------------- pyramids, frame metadata


@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_pyramid_levels_in_a_bucket(backend: str, s3_prefix: str) -> None:
    url = f"{s3_prefix}/{backend}.ome.zarr"
    data = [np.arange(16 * 8, dtype="uint16").reshape(16, 8) + i for i in range(3)]
    write(settings(url, format=backend, pyramid=2), data)
    level0 = zarr_from_s3(f"{url}/0")
    level1 = zarr_from_s3(f"{url}/1")
    assert level1.shape == (3, 8, 4)
    for t in range(3):  # 2x2 mean, rounded half up
        blocks = level0[t].reshape(8, 2, 4, 2).astype(np.uint32).sum(axis=(1, 3))
        np.testing.assert_array_equal(level1[t], (blocks + 2) // 4)


def test_frame_metadata_checkpoints_as_parts(s3_prefix: str) -> None:
    url = f"{s3_prefix}/meta.ome.zarr"
    stream = create_stream(settings(url), checkpoint_seconds=None)
    stream.append(frames()[0], frame_metadata={"exposure_time": 0.01})
    stream.checkpoint()
    stream.append(frames()[1], frame_metadata={"exposure_time": 0.02})
    stream.checkpoint()
    assert [k for k in keys(url) if "frame_metadata" in k] == [
        "frame_metadata.jsonl.000000",
        "frame_metadata.jsonl.000001",
    ]
    stream.append(frames()[2])
    stream.close()
    assert not [k for k in keys(url) if "frame_metadata" in k]  # consolidated
    bucket, prefix = split(url)
    doc = json.loads(
        boto_client()
        .get_object(Bucket=bucket, Key=f"{prefix}/zarr.json")["Body"]
        .read()
    )
    written = doc["attributes"]["ome_writers"]["frame_metadata"]
    assert [r["exposure_time"] for r in written] == [0.01, 0.02]
