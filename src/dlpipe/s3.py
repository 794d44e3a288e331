"""S3 and S3-compatible stores (MinIO, Ceph): client set-up, listing, bounded
parallel downloads verified by size, uploads, and errors a user can act on.

Settings come from the ``s3`` configuration section. For users of older
scripts that export them (as many MinIO tutorials do), the lower-case variables ``endpoint_url``,
``aws_access_key_id``, ``aws_secret_access_key``, ``aws_session_token``,
``region_name`` and ``signature_version`` are accepted as fallbacks. Without
explicit keys, boto3's own chain applies (``AWS_*`` variables, web identity,
instance roles).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlpipe import atomic
from dlpipe.errors import ConfigError, DlpipeError
from dlpipe.secrets import Secret

MAX_ATTEMPTS = 5
_ALIASES = {
    "endpoint_url": "endpoint_url",
    "region": "region_name",
    "signature_version": "signature_version",
    "access_key_id": "aws_access_key_id",
    "secret_access_key": "aws_secret_access_key",
    "session_token": "aws_session_token",
}
_CREDENTIAL_ERRORS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken"}


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str


def parse_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``."""
    if not uri.startswith("s3://"):
        raise ConfigError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise ConfigError(f"{uri!r} names no bucket", "use s3://bucket/prefix")
    return bucket, key


def settings(section: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``s3`` section, completed from the lower-case legacy variables."""
    environ = os.environ if environ is None else environ
    merged = dict(section)
    for key, alias in _ALIASES.items():
        if key not in merged and environ.get(alias):
            value = environ[alias]
            merged[key] = Secret(value) if key in ("access_key_id", "secret_access_key", "session_token") else value
    return merged


def client(section: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Any:
    import boto3
    from botocore.config import Config

    cfg = settings(section, environ)
    style = cfg.get("addressing_style", "auto")
    botocore_config = Config(
        signature_version=cfg.get("signature_version") or None,
        s3={"addressing_style": style},
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=32,
    )
    verify: bool | str = cfg.get("ca_bundle") or cfg.get("verify_tls", True)
    kwargs: dict[str, Any] = {
        "endpoint_url": cfg.get("endpoint_url") or None,
        "region_name": cfg.get("region") or None,
        "verify": verify,
        "config": botocore_config,
    }
    for key in ("access_key_id", "secret_access_key", "session_token"):
        if cfg.get(key):
            kwargs[f"aws_{key}"] = cfg[key].reveal()
    return boto3.session.Session().client("s3", **kwargs)


def require_credentials(section: Mapping[str, Any], uri: str, environ: Mapping[str, str] | None = None) -> None:
    """Refuse, before hours of work, an upload that could not sign its requests: no keys in the
    configuration and none in boto3's default chain (variables, a profile, a pod's IAM role)."""
    import boto3

    if settings(section, environ).get("access_key_id") or boto3.session.Session().get_credentials() is not None:
        return
    raise ConfigError(
        f"{uri}: no S3 credentials to upload with",
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the charts: s3.existingSecret), or give the pod an IAM role",
    )


def explain(exc: Exception, where: str) -> DlpipeError:
    """Turn a botocore exception into one line that says what to do."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(exc, ClientError):
        code = _error_code(exc)
        if code in ("NoSuchKey", "404", "NotFound"):
            return DlpipeError(f"{where} does not exist")
        if code == "NoSuchBucket":
            return DlpipeError(f"{where}: the bucket does not exist")
        if code in _CREDENTIAL_ERRORS or code == "403":
            return DlpipeError(
                f"{where}: S3 refused the credentials ({code})",
                "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the Secret named by s3.existingSecret",
            )
        return DlpipeError(f"{where}: S3 error {code}: {exc.response.get('Error', {}).get('Message', '')}")
    if isinstance(exc, EndpointConnectionError):
        return DlpipeError(
            f"{where}: cannot reach the S3 endpoint {exc.kwargs.get('endpoint_url', '')}",
            "check s3.endpoint_url and the network",
        )
    if isinstance(exc, NoCredentialsError):
        return DlpipeError(f"{where}: no S3 credentials", "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    if "NoSuchBucket" in str(exc):  # an upload's failure carries the S3 error in its text only
        return DlpipeError(f"{where}: the bucket does not exist", "create it, or correct the s3:// address")
    return DlpipeError(f"{where}: {type(exc).__name__}: {exc}")


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _botocore_errors() -> tuple[type[Exception], ...]:
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, S3UploadFailedError)


def list_objects(s3: Any, uri: str) -> list[S3Object]:
    """The object at ``uri``, or every object under it as a prefix."""
    bucket, key = parse_uri(uri)
    try:
        if key and not key.endswith("/"):
            try:
                head = s3.head_object(Bucket=bucket, Key=key)
                return [S3Object(key, head["ContentLength"], head.get("ETag", "").strip('"'))]
            except _botocore_errors() as exc:
                if _error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                    raise
                key += "/"  # not an object: try it as a prefix
        found = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/"):
                    found.append(S3Object(item["Key"], item["Size"], item.get("ETag", "").strip('"')))
    except _botocore_errors() as exc:
        raise explain(exc, uri) from None
    if not found:
        raise DlpipeError(f"{uri} does not exist (no object and no objects under that prefix)")
    return sorted(found, key=lambda o: o.key)


def download_all(
    s3: Any,
    bucket: str,
    objects: list[S3Object],
    prefix: str,
    dest: Path,
    workers: int = 8,
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """Download ``objects`` below ``dest`` (keys relative to ``prefix``), ``workers`` at a time.

    Each file is written to a temporary name, checked against the listed size
    and renamed; botocore retries transient errors (``MAX_ATTEMPTS``).
    """

    def fetch(obj: S3Object) -> int:
        relative = obj.key[len(prefix) :].lstrip("/") or Path(obj.key).name
        target = dest / relative
        if not target.resolve().is_relative_to(dest.resolve()):
            raise DlpipeError(f"s3://{bucket}/{obj.key}: key escapes the download directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = atomic.temp_sibling(target)
        try:
            s3.download_file(bucket, obj.key, str(tmp))
            size = tmp.stat().st_size
            if size != obj.size:
                raise DlpipeError(f"s3://{bucket}/{obj.key}: got {size} bytes, listed {obj.size}")
            os.replace(tmp, target)
        except _botocore_errors() as exc:
            raise explain(exc, f"s3://{bucket}/{obj.key}") from None
        finally:
            tmp.unlink(missing_ok=True)
        return obj.size

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(fetch, obj) for obj in objects]
        try:
            for future in as_completed(futures):
                done = future.result()
                if on_bytes:
                    on_bytes(done)
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def upload_tree(s3: Any, local: Path, uri: str, last: str, workers: int = 8) -> int:
    """Upload every file below ``local`` to ``uri`` (a prefix); the marker ``last`` goes up last.

    A tree whose marker is already there, the same size, was uploaded whole before:
    nothing is sent again (so re-running a stage redoes only an unfinished upload).
    Returns how many files were sent.
    """
    bucket, prefix = parse_uri(uri)
    prefix = prefix.rstrip("/")
    files = sorted(p for p in local.rglob("*") if p.is_file())
    first = [p for p in files if p.name != last]
    final = [p for p in files if p.name == last]

    def key_of(path: Path) -> str:
        return f"{prefix}/{path.relative_to(local).as_posix()}" if prefix else path.relative_to(local).as_posix()

    if final and _size(s3, bucket, key_of(final[0])) == final[0].stat().st_size:
        return 0

    def put(path: Path) -> None:
        key = key_of(path)
        try:
            s3.upload_file(str(path), bucket, key)
        except _botocore_errors() as exc:
            raise explain(exc, f"s3://{bucket}/{key}") from None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for future in as_completed([pool.submit(put, p) for p in first]):
            future.result()
    for path in final:
        put(path)
    return len(files)


def _size(s3: Any, bucket: str, key: str) -> int | None:
    """The object's size, or None when there is none (or it cannot be read: then it is uploaded again)."""
    try:
        return int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    except _botocore_errors():
        return None
