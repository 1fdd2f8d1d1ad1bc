"""dbvend's app in-process (FastAPI's TestClient) as the API and portal tests drive it: local services,
a browser signed in with a key, the portal's forms, and the queue drained by the worker."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.app import create_app
from engine.checkov.gate import PolicyGate
from engine.queue.local import LocalQueue
from engine.queue.worker import Worker
from engine.services import Services, build_services

KEY = {"x-api-key": "k-one"}
ORDERS = {
    "database_name": "orders",
    "database_engine": "postgres",
    "environment": "dev",
    "ttl": "3d",
    "owner": "alice",
    "team": "data",
}


@pytest.fixture
def services(tmp_path: Path) -> Services:
    from engine.settings import Settings

    built, _ = build_services(Settings(data=tmp_path / "data", api_keys="k-one, k-two", rate_limit=1000))
    return built


@pytest.fixture
def browser(services: Services) -> Iterator[TestClient]:
    """A client signed in with a key, as a browser would be (its cookie kept)."""
    with TestClient(create_app(services), follow_redirects=False) as client:
        answer = sign_in_as(client, "k-one", "/fleet")
        assert answer.status_code == 303 and answer.headers["location"] == "/fleet"
        yield client


def sign_in_as(client: TestClient, key: str, next_path: str = "/fleet") -> Any:
    """The sign-in page, then its form posted back with its token (as a browser does)."""
    found = re.search(r'name="signin_token" value="([^"]+)"', client.get("/signin").text)
    assert found is not None
    return client.post("/signin", data={"api_key": key, "next": next_path, "signin_token": found.group(1)})


def form_token(client: TestClient, path: str = "/request") -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def submit(client: TestClient, fields: dict[str, str]) -> object:
    return client.post("/request", data={"csrf": form_token(client), **fields})


def drain(services: Services, gate: PolicyGate) -> None:
    worker = Worker(services.ledger, LocalQueue(services.ledger), services.backend, gate, None)
    while worker.run_once():
        pass
