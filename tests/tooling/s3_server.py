"""A real S3 HTTP endpoint for the tests: moto's server on 127.0.0.1 (a pytest plugin)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.tooling.net import free_port

ACCESS_KEY, SECRET_KEY = "AKIATESTTESTTEST", "test-secret"


def _moto(extra_env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, **extra_env}
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield url
    server.terminate()
    server.wait(10)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A real S3 HTTP endpoint on 127.0.0.1 that accepts any credentials."""
    yield from _moto({})


@pytest.fixture(scope="session")
def moto_auth_url() -> Iterator[str]:
    """An S3 endpoint that authenticates every request (only keys it issued are valid)."""
    yield from _moto({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})


@pytest.fixture
def s3_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DLPIPE_S3__ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return moto_url


@pytest.fixture
def bucket(s3_env: str) -> object:
    import boto3

    client = boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1")
    name = f"data-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=name)
    client.bucket = name  # type: ignore[attr-defined]
    return client
