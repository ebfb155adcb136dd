"""Object storage: where an ``s3://`` output is and how each library reaches it.

`resolve_s3` turns a root path and `S3Options` into an `S3Location` (bucket,
endpoint, region, credentials from the options, else the standard AWS
environment and configuration files). An `ObjectPath` is a key prefix in that
bucket with the few path operations the dataset writers use (``/``,
``write_text``, ``exists``...), so metadata documents go to a bucket through
the same code as to a directory. `tensorstore_kvstore` and `zarr_store` turn a
location into each library's store; acquire-zarr gets `S3Location.acquire_settings`.

Secrets: `S3Location` and `ObjectPath` never show a secret in a repr or a
message; they are handed only to the libraries' credential parameters.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from ome_writers._schema._object_storage import S3Options, url_scheme

if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_REGION = "us-east-1"
#: backoff between retries of a failing request: from 0.1 s, doubling, at most
#: 5 s, for `S3Options.retry_seconds`; then the write fails and the stream raises
FIRST_RETRY_SECONDS = 0.1
MAX_RETRY_DELAY_SECONDS = 5.0


@dataclass(frozen=True, repr=False)
class S3Location:
    """A bucket on an S3-compatible server, and how to reach it."""

    bucket: str
    endpoint: str
    region: str
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = field(default=None, compare=False)
    session_token: SecretStr | None = field(default=None, compare=False)
    #: where the credentials came from: "explicit", "environment", "profile"
    credential_source: str = "environment"
    profile: str | None = None
    retry_seconds: float = 60.0

    def __repr__(self) -> str:
        return (
            f"S3Location(bucket={self.bucket!r}, endpoint={self.endpoint!r}, "
            f"region={self.region!r}, credentials={self.credential_source!r})"
        )

    @property
    def allow_http(self) -> bool:
        return self.endpoint.startswith("http://")

    @property
    def max_retries(self) -> int:
        """Retries whose backoff delays add up to `retry_seconds`."""
        delay, total, n = FIRST_RETRY_SECONDS, 0.0, 0
        while total + delay <= self.retry_seconds:
            total += delay
            n += 1
            delay = min(2 * delay, MAX_RETRY_DELAY_SECONDS)
        return max(1, n)

    @property
    def max_jittered_retries(self) -> int:
        """Retries for obstore, whose delays are drawn between 0.1 s and twice the
        previous one: enough that its ``retry_timeout`` ends the retrying, not the
        count (jittered delays can add up to far less than `retry_seconds`)."""
        return max(1, math.ceil(self.retry_seconds / FIRST_RETRY_SECONDS))

    def tensorstore_retries(self) -> dict[str, Any]:
        """tensorstore's ``s3_request_retries`` context resource."""
        return {
            "max_retries": self.max_retries,
            "initial_delay": f"{FIRST_RETRY_SECONDS}s",
            "max_delay": f"{MAX_RETRY_DELAY_SECONDS}s",
        }

    def client(self, prefix: str = "") -> Any:
        """An obstore client of the bucket, or of the keys below `prefix`."""
        return _client(self, prefix)

    def acquire_settings(self) -> Any:
        """acquire-zarr's ``S3Settings`` for this bucket."""
        import acquire_zarr

        return acquire_zarr.S3Settings(
            endpoint=self.endpoint, bucket_name=self.bucket, region=self.region
        )


@functools.lru_cache(maxsize=64)
def _client(location: S3Location, prefix: str) -> Any:
    from obstore.store import S3Store

    config: dict[str, Any] = {"endpoint": location.endpoint, "region": location.region}
    if location.access_key_id is not None and location.secret_access_key:
        config["access_key_id"] = location.access_key_id
        config["secret_access_key"] = location.secret_access_key.get_secret_value()
    if location.session_token is not None:
        config["token"] = location.session_token.get_secret_value()
    return S3Store(
        location.bucket,
        prefix=prefix or None,
        config=config,  # type: ignore[arg-type]
        client_options={
            "allow_http": location.allow_http,
            "connect_timeout": "5s",
            "timeout": "60s",
        },
        retry_config={
            "max_retries": location.max_jittered_retries,
            "backoff": {
                "init_backoff": timedelta(seconds=FIRST_RETRY_SECONDS),
                "max_backoff": timedelta(seconds=MAX_RETRY_DELAY_SECONDS),
                "base": 2,
            },
            "retry_timeout": timedelta(seconds=location.retry_seconds),
        },
    )


@dataclass(frozen=True)
class ObjectPath:
    """A key (or key prefix) in a bucket, with the path operations we use."""

    location: S3Location
    key: str

    def __str__(self) -> str:
        return f"s3://{self.location.bucket}/{self.key}"

    def __repr__(self) -> str:
        return f"ObjectPath({str(self)!r})"

    def __truediv__(self, part: str) -> ObjectPath:
        part = part.strip("/")
        if part in ("", "."):
            return self
        return ObjectPath(self.location, f"{self.key}/{part}" if self.key else part)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> ObjectPath:
        return ObjectPath(self.location, self.key.rpartition("/")[0])

    # -------------------------------------------------------------- queries

    def is_file(self) -> bool:
        import obstore

        try:
            obstore.head(self.location.client(), self.key)
        except FileNotFoundError:
            return False
        except Exception as e:
            raise object_store_error(e, self) from None
        return True

    def exists(self) -> bool:
        """Whether an object is stored at this key or below it."""
        return self.is_file() or next(self.iter_keys(), None) is not None

    def is_symlink(self) -> bool:
        return False

    def iter_keys(self) -> Iterator[str]:
        """Keys below this prefix (``key/...``), relative to it."""
        import obstore

        start = len(self.key) + 1
        try:
            for batch in obstore.list(self.location.client(), prefix=self.key + "/"):
                for meta in batch:
                    yield meta["path"][start:]
        except Exception as e:
            raise object_store_error(e, self) from None

    # ------------------------------------------------------ reading, writing

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: a bucket has no directories."""

    def write_bytes(self, data: bytes) -> int:
        import obstore

        try:  # one PUT: readers see the old object or the new one, whole
            obstore.put(self.location.client(), self.key, data)
        except Exception as e:
            raise object_store_error(e, self) from None
        return len(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> int:
        return self.write_bytes(text.encode(encoding))

    def read_bytes(self) -> bytes:
        import obstore

        try:
            return bytes(obstore.get(self.location.client(), self.key).bytes())
        except FileNotFoundError:
            raise
        except Exception as e:
            raise object_store_error(e, self) from None

    def read_tail(self, n: int) -> bytes:
        """The last `n` bytes of the object."""
        import obstore

        client = self.location.client()
        try:
            size = obstore.head(client, self.key)["size"]
            return bytes(
                obstore.get_range(client, self.key, start=max(0, size - n), end=size)
            )
        except FileNotFoundError:
            raise
        except Exception as e:
            raise object_store_error(e, self) from None

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def unlink(self, missing_ok: bool = False) -> None:
        import obstore

        try:
            obstore.delete(self.location.client(), self.key)
        except FileNotFoundError:
            if not missing_ok:
                raise
        except Exception as e:
            raise object_store_error(e, self) from None

    def remove_tree(self) -> None:
        """Delete every object below this prefix (never anything beside it)."""
        import obstore

        keys = [f"{self.key}/{k}" for k in self.iter_keys()]
        client = self.location.client()
        try:
            for i in range(0, len(keys), 1000):
                obstore.delete(client, keys[i : i + 1000])
        except Exception as e:
            raise object_store_error(e, self) from None
        self.unlink(missing_ok=True)


def explain_write_failure(error: BaseException, root: DatasetPath) -> BaseException:
    """A failed write's error as the user sees it: in a bucket, an OSError
    naming the dataset (an OSError is one already: ours, or the library's)."""
    if (
        isinstance(root, ObjectPath)
        and isinstance(error, Exception)
        and not isinstance(error, OSError)
    ):
        return object_store_error(error, root)
    return error


def object_store_error(error: Exception, path: ObjectPath) -> OSError:
    """An OSError naming the dataset object and what the server said.

    The library's message is kept (it names the request and the status, never
    a secret); credential failures say so.
    """
    import obstore.exceptions as oe

    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, (oe.PermissionDeniedError, oe.UnauthenticatedError)) or (
        "403" in text or "InvalidAccessKeyId" in text or "SignatureDoesNotMatch" in text
    ):
        return PermissionError(
            f"Access denied: the object store refused the credentials for {path} "
            f"({path.location.credential_source} credentials, endpoint "
            f"{path.location.endpoint}): {text}"
        )
    return OSError(
        f"Object storage request for {path} failed ({path.location.endpoint}, "
        f"retried for up to {path.location.retry_seconds:g} s): {text}"
    )


def resolve_s3(url: str, options: S3Options | None = None) -> ObjectPath:
    """The `ObjectPath` of ``s3://bucket/key`` with its resolved location.

    Raises ValueError for a URL without a bucket or a key, or when no
    credentials are found.
    """
    if url_scheme(url) != "s3":
        raise ValueError(f"Not an s3:// URL: {url!r}")
    rest = url.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    key = key.strip("/")
    if not bucket or not key:
        raise ValueError(
            f"{url!r} names no dataset inside a bucket: use s3://bucket/name.ome.zarr"
        )
    if any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"{url!r}: '.' and '..' are not allowed in object keys")
    return ObjectPath(_location(bucket, options or S3Options()), key)


def _location(bucket: str, options: S3Options) -> S3Location:
    env = os.environ
    profile = options.profile or env.get("AWS_PROFILE") or "default"
    config = _profile_section(
        env.get("AWS_CONFIG_FILE", "~/.aws/config"),
        profile if profile == "default" else f"profile {profile}",
    )
    endpoint = (
        options.endpoint_url
        or env.get("AWS_ENDPOINT_URL_S3")
        or env.get("AWS_ENDPOINT_URL")
        or config.get("endpoint_url")
    )
    region = (
        options.region
        or env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION")
        or config.get("region")
        or DEFAULT_REGION
    )
    if not endpoint:
        endpoint = f"https://s3.{region}.amazonaws.com"
    common: dict[str, Any] = {
        "bucket": bucket,
        "endpoint": endpoint.rstrip("/"),
        "region": region,
        "retry_seconds": options.retry_seconds,
    }
    if options.access_key_id or options.secret_access_key:
        if not (options.access_key_id and options.secret_access_key):
            raise ValueError("S3Options needs both access_key_id and secret_access_key")
        return S3Location(
            **common,
            access_key_id=options.access_key_id,
            secret_access_key=options.secret_access_key,
            session_token=options.session_token,
            credential_source="explicit",
        )
    key_id, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if key_id and secret and not options.profile:
        token = env.get("AWS_SESSION_TOKEN")
        return _with_keys(common, key_id, secret, token, "environment")
    credentials = _profile_section(
        env.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"), profile
    )
    key_id = credentials.get("aws_access_key_id") or config.get("aws_access_key_id")
    secret = credentials.get("aws_secret_access_key") or config.get(
        "aws_secret_access_key"
    )
    if key_id and secret:
        token = credentials.get("aws_session_token")
        return _with_keys(common, key_id, secret, token, "profile", profile)
    raise ValueError(
        f"No S3 credentials found for s3://{bucket}: set AWS_ACCESS_KEY_ID and "
        f"AWS_SECRET_ACCESS_KEY, a profile ({profile!r} was looked up in the AWS "
        "configuration files), or S3Options(access_key_id=..., "
        "secret_access_key=...)"
    )


def _with_keys(
    common: dict[str, Any],
    key_id: str,
    secret: str,
    token: str | None,
    source: str,
    profile: str | None = None,
) -> S3Location:
    return S3Location(
        **common,
        access_key_id=key_id,
        secret_access_key=SecretStr(secret),
        session_token=SecretStr(token) if token else None,
        credential_source=source,
        profile=profile,
    )


def _profile_section(path: str, section: str) -> dict[str, str]:
    # imported here: only buckets read profiles, and local datasets' first
    # stream imports this module
    import configparser

    parser = configparser.RawConfigParser()
    try:
        parser.read(os.path.expanduser(path), encoding="utf-8")
    except configparser.Error:
        return {}
    return dict(parser[section]) if parser.has_section(section) else {}


# ------------------------------------------------------------- library stores


def tensorstore_kvstore(path: Path | ObjectPath) -> dict[str, Any]:
    """tensorstore's kvstore spec for an array directory or key prefix.

    tensorstore cannot take explicit keys: it reads them from the environment
    or a profile (`credentials_problem`).
    """
    if isinstance(path, Path):
        return {"driver": "file", "path": str(path)}
    location = path.location
    spec: dict[str, Any] = {
        "driver": "s3",
        "bucket": location.bucket,
        "path": path.key + "/",
        "endpoint": location.endpoint,
        "aws_region": location.region,
    }
    if location.credential_source == "profile":
        spec["aws_credentials"] = {"type": "profile", "profile": location.profile}
    else:
        spec["aws_credentials"] = {"type": "environment"}
    return spec


def credentials_problem(
    path: ObjectPath, backend: str, readable: tuple[str, ...]
) -> str | None:
    """Why `backend`, which reads credentials only from `readable` sources
    (empty: it takes any), cannot use `path`'s."""
    source = path.location.credential_source
    if not readable or source in readable:
        return None
    return (
        f"the {backend} backend reads S3 credentials only from "
        f"{' or '.join(readable)} (these are {source}); use zarr-python or "
        "zarrs-python for explicit S3Options credentials"
    )


def zarr_store(path: Path | ObjectPath, *, atomic: bool = False) -> Any:
    """A zarr-python store for an array directory or key prefix.

    `atomic`: a local directory through obstore's file system store, which
    writes each file under a temporary name and renames it into place (for
    zarrs, whose own file system store truncates a chunk file before
    rewriting it, so a crash could leave it torn).
    """
    if isinstance(path, Path):
        if not atomic:
            return str(path)
        from obstore.store import LocalStore
        from zarr.storage import ObjectStore

        return ObjectStore(LocalStore(prefix=path, mkdir=True))
    from zarr.storage import ObjectStore

    # the store's root is the array itself, as for a local directory: zarr
    # then writes nothing above it (no implicit parent groups)
    return ObjectStore(path.location.client(prefix=path.key))


#: where a dataset is: a local directory or file, or a key prefix in a bucket
DatasetPath = Path | ObjectPath
