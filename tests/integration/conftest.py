"""Fixtures of the integration tests, which start things: a fresh local GitOps repository (real git),
the real policy gate (checkov), a PostgreSQL server, a moto server and a state bucket on it.
tests/conftest.py has the ones every test may use."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from engine.checkov.gate import PolicyGate
from engine.gitops.local import LocalRepository
from engine.settings import Settings
from tests.support.catalogs import NETWORKED_CATALOG
from tests.support.postgres_server import PostgresServer
from tests.support.server import free_port


@pytest.fixture
def repo(tmp_path: Path) -> LocalRepository:
    """A fresh repository made the way `dbvend request` makes one, with the networked catalog."""
    path = tmp_path / "repo"
    repository = LocalRepository.open_or_create(path)
    (path / "dbvend.yaml").write_text(NETWORKED_CATALOG, encoding="utf-8")
    import subprocess

    subprocess.run(
        ["git", "-C", str(path), "commit", "-qam", "networked catalog", "--no-verify"],
        check=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "PATH": "/usr/bin:/bin",
        },
    )
    return repository


@pytest.fixture(scope="session")
def gate() -> Iterator[PolicyGate]:
    """The real policy gate: checkov's warm worker from .tools/checkov (or DBVEND_CHECKOV)."""
    with Settings().policy_gate() as started:
        started.known()
        yield started


# PostgreSQL: one throw-away server per test session (per worker under pytest-xdist), a fresh
# database per test. Without PostgreSQL installed these fixtures fail, with the command to install it.


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty database, dropped after the test."""
    with postgres_server.temporary_database() as url:
        yield url


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server process (moto[server]) on a free port: its endpoint URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.1)
    try:
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def backend(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh S3 bucket on the moto server for terraform's state (tests/support/terraform_roots.py)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-value")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"state-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    yield {"bucket": bucket, "key": "dev/orders/terraform.tfstate", "endpoint": moto_server}
