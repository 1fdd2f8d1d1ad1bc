"""The REST API in-process (FastAPI's TestClient): contract, keys, limits, paging, merging."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.api import build_services, create_app
from engine.api.deps import Services
from engine.queue.local import LocalQueue
from engine.queue.worker import Worker
from engine.settings import Settings

KEY = {"x-api-key": "k-one"}
SEED = {"database_name": "mydb123", "database_engine": "mysql", "environment": "prod"}


@pytest.fixture
def services(tmp_path: Path) -> Services:
    settings = Settings(data=tmp_path / "data", api_keys="k-one, k-two", rate_limit=1000)
    built, new_key = build_services(settings)
    assert new_key is None
    return built


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as test_client:
        yield test_client


def drain(services: Services) -> None:
    worker = Worker(services.ledger, LocalQueue(services.ledger), services.backend, None)
    while worker.run_once():
        pass


def test_provision_rds_answers_the_seed_contract(client: TestClient, services: Services) -> None:
    answer = client.post("/provision-rds", headers=KEY, json=SEED)
    assert answer.status_code == 202
    body = answer.json()
    assert set(body) == {"message", "sns_message_id", "request_id"}
    assert body["message"] == "Request accepted"
    assert answer.headers["location"] == f"/v1/requests/{body['request_id']}"
    status = client.get(answer.headers["location"], headers=KEY).json()
    assert status["status"] == "accepted" and status["request"] == SEED
    drain(services)
    status = client.get(answer.headers["location"], headers=KEY).json()
    assert status["status"] == "change_open" and status["change_link"] == "/v1/changes/1"


def test_v1_databases_takes_the_full_request(client: TestClient, services: Services) -> None:
    full = {
        "database_name": "analytics",
        "database_engine": "aurora-postgresql",
        "environment": "dev",
        "min_acu": 0.5,
        "max_acu": 2,
        "readers": 1,
        "ttl": "3d",
        "owner": "ann",
        "team": "Data",
        "reason": "load test",
    }
    answer = client.post("/v1/databases", headers=KEY, json=full)
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == answer.json()["location"]
    drain(services)
    database = client.get("/v1/databases/dev/analytics", headers=KEY).json()
    assert database["status"] == "change_open" and database["claim"]["readers"] == 1
    assert database["expires_at"] is not None and database["cost"]["monthly_usd"] > 0
    assert client.get("/v1/databases/dev/nothere", headers=KEY).status_code == 404


def test_invalid_requests_are_422_with_fields_and_leave_nothing(
    client: TestClient, services: Services
) -> None:
    answer = client.post(
        "/provision-rds", headers=KEY, json={**SEED, "database_name": "postgres", "colour": 1}
    )
    assert answer.status_code == 422
    assert {e["field"] for e in answer.json()["errors"]} == {"database_name", "colour"}
    assert services.ledger.count() == 0 and LocalQueue(services.ledger).depth()["ready"] == 0


def test_conflicts_are_409(client: TestClient, services: Services) -> None:
    assert client.post("/provision-rds", headers=KEY, json=SEED).status_code == 202
    queued = client.post("/provision-rds", headers=KEY, json=SEED)
    assert queued.status_code == 409 and "already requested" in queued.json()["detail"]
    drain(services)
    services.backend.merge(1)
    on_main = client.post("/v1/databases", headers=KEY, json=SEED)
    assert on_main.status_code == 409
    assert services.ledger.count() == 1


def test_keys_401_403_same_body(client: TestClient) -> None:
    missing = client.post("/provision-rds", json=SEED)
    wrong = client.post("/provision-rds", headers={"x-api-key": "k-three"}, json=SEED)
    assert (missing.status_code, wrong.status_code) == (401, 403)
    assert missing.json() == wrong.json()
    assert client.get("/v1/changes", headers={"x-api-key": "k-two"}).status_code == 200


def test_rate_limit_per_key_with_retry_after(services: Services) -> None:
    services.limiter = type(services.limiter)(3)
    with TestClient(create_app(services)) as client:
        answers = [client.get("/v1/changes", headers=KEY).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        limited = client.get("/v1/changes", headers=KEY)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert client.get("/v1/changes", headers={"x-api-key": "k-two"}).status_code == 200


def test_idempotency_key_replays_the_202(client: TestClient, services: Services) -> None:
    headers = {**KEY, "Idempotency-Key": "order-42"}
    first = client.post("/provision-rds", headers=headers, json=SEED)
    again = client.post("/provision-rds", headers=headers, json=SEED)
    assert first.status_code == again.status_code == 202 and first.json() == again.json()
    other = client.post("/provision-rds", headers=headers, json={**SEED, "database_name": "other"})
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert services.ledger.count() == 1


def test_listing_pages_and_filters(client: TestClient) -> None:
    for n in range(5):
        owner = "ann" if n % 2 else "bob"
        body = {**SEED, "database_name": f"db{n}", "environment": "dev", "owner": owner}
        assert client.post("/v1/databases", headers=KEY, json=body).status_code == 202
    page = client.get("/v1/databases?limit=2", headers=KEY).json()
    names = [item["database_name"] for item in page["items"]]
    while page["next_cursor"]:
        page = client.get(f"/v1/databases?limit=2&cursor={page['next_cursor']}", headers=KEY).json()
        names += [item["database_name"] for item in page["items"]]
    assert names == ["db4", "db3", "db2", "db1", "db0"]
    ann = client.get("/v1/databases?owner=ann&environment=dev&status=accepted", headers=KEY).json()
    assert [item["database_name"] for item in ann["items"]] == ["db3", "db1"]
    assert client.get("/v1/databases?status=bogus", headers=KEY).status_code == 422


def test_merge_through_the_api(client: TestClient, services: Services) -> None:
    request_id = client.post("/provision-rds", headers=KEY, json=SEED).json()["request_id"]
    drain(services)
    assert client.get("/v1/changes?status=open", headers=KEY).json()["items"][0]["id"] == 1
    merged = client.post("/v1/changes/1/merge", headers=KEY)
    assert merged.status_code == 200 and merged.json()["status"] == "merged"
    assert client.get(f"/v1/requests/{request_id}", headers=KEY).json()["status"] == "merged"
    assert client.post("/v1/changes/1/merge", headers=KEY).status_code == 409
    assert client.post("/v1/changes/99/merge", headers=KEY).status_code == 404


def test_health_and_docs_need_no_key(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.json() == {"status": "ok"} and health.headers["x-content-type-options"] == "nosniff"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/provision-rds", "/v1/databases", "/v1/requests/{request_id}", "/v1/changes"} <= set(paths)
