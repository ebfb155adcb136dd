"""Settings for object-storage outputs (``s3://`` root paths)."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator

from ome_writers._schema._base import SettingsModel

#: ``scheme://`` at the start of a root path (two letters at least, so that a
#: Windows drive such as ``C:\\`` is not taken for one)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")

#: URL schemes of object storage some backend writes
OBJECT_SCHEMES = ("s3",)


def url_scheme(path: str) -> str | None:
    """The lower-cased URL scheme of `path` (``"s3"``), or None for a local path."""
    match = _SCHEME.match(path)
    return match.group(1).lower() if match else None


class S3Options(SettingsModel):
    """How to reach an S3-compatible object store (AWS, MinIO, Ceph, ...).

    Every field left unset comes from the standard AWS configuration: the
    environment (``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``, ``AWS_REGION``/
    ``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``), then the profile in
    ``~/.aws/credentials`` and ``~/.aws/config`` (or ``AWS_SHARED_CREDENTIALS_FILE``
    and ``AWS_CONFIG_FILE``). Secrets never appear in a repr, log line, error
    message or written metadata.

    Parameters
    ----------
    endpoint_url : str | None
        The server, e.g. ``"http://127.0.0.1:9000"`` (MinIO). None: AWS.
    region : str | None
        The region (default ``us-east-1``).
    profile : str | None
        A profile of the AWS configuration files.
    access_key_id : str | None
        An explicit access key (with `secret_access_key`).
    secret_access_key : SecretStr | None
        Its secret.
    session_token : SecretStr | None
        A temporary session token.
    retry_seconds : float
        How long a failing request (5xx reply, reset or refused connection,
        timeout) is retried, with exponential backoff, before the stream
        raises at the next `append` or at `close` (default 60 s).
    """

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    retry_seconds: float = Field(default=60.0, gt=0)

    @field_validator("endpoint_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and url_scheme(value) not in ("http", "https"):
            raise ValueError(
                f"endpoint_url must start with http:// or https://, got {value!r}"
            )
        return value.rstrip("/") if value else value
