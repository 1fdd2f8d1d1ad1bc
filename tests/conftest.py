"""Shared fixtures: a catalog, a fresh local GitOps repository, a fixed clock."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.catalog import Catalog, default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.checkov.gate import PolicyGate
from engine.gitops.local import LocalRepository
from engine.settings import Settings
from tests.postgres_server import PostgresServer
from tests.server import free_port

ACCEPTED_AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)

# The default catalog with network settings, so that RDS Proxy can be requested everywhere.
NETWORKED_CATALOG = default_catalog_text().replace(
    "network: {db_subnet_group: null, security_group_ids: [], subnet_ids: []}",
    "network: {db_subnet_group: dbvend-private, security_group_ids: [sg-0123456789abcdef0],"
    " subnet_ids: [{id: subnet-0123456789abcdef0, az: us-east-1a},"
    " {id: subnet-0fedcba9876543210, az: us-east-1b}]}",
)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return parse_catalog(NETWORKED_CATALOG)


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


def repo_snapshot(repository: LocalRepository) -> tuple[str, str]:
    """Every ref and every change record: equal before and after means nothing was written."""
    import subprocess

    refs = subprocess.run(
        ["git", "-C", str(repository.path), "for-each-ref"], capture_output=True, text=True, check=True
    ).stdout
    changes = "".join(sorted(p.name for p in (repository.state / "changes").iterdir()))
    return refs, changes


# PostgreSQL: one throw-away server per test session (per worker under pytest-xdist), a fresh
# database per test. Without PostgreSQL installed these fixtures fail, with the command to install it.


@pytest.fixture(scope="session")
def gate() -> Iterator[PolicyGate]:
    """The real policy gate: checkov's warm worker from .tools/checkov (or DBVEND_CHECKOV)."""
    with Settings().policy_gate() as started:
        started.known()
        yield started


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
