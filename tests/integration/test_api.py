"""The REST API in-process (FastAPI's TestClient): contract, keys, limits, paging, merging."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.api.bodies import REQUEST_EXAMPLES
from engine.app import create_app
from engine.checkov.gate import PolicyGate
from engine.gitops.local import LocalRepository
from engine.queue.local import LocalQueue
from engine.services import Services, build_services
from engine.settings import Settings
from tests.support.app import drain
from tests.support.repositories import repo_snapshot

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


def test_provision_rds_answers_the_seed_contract(
    client: TestClient, services: Services, gate: PolicyGate
) -> None:
    answer = client.post("/provision-rds", headers=KEY, json=SEED)
    assert answer.status_code == 202
    body = answer.json()
    assert set(body) == {"message", "sns_message_id", "request_id"}
    assert body["message"] == "Request accepted"
    assert answer.headers["location"] == f"/v1/requests/{body['request_id']}"
    status = client.get(answer.headers["location"], headers=KEY).json()
    assert status["status"] == "accepted" and status["request"] == SEED
    drain(services, gate)
    status = client.get(answer.headers["location"], headers=KEY).json()
    assert status["status"] == "change_open" and status["change_link"] == "/v1/changes/1"


def test_v1_databases_takes_the_full_request(
    client: TestClient, services: Services, gate: PolicyGate
) -> None:
    full = REQUEST_EXAMPLES["aurora"]["value"]  # the example /docs shows
    answer = client.post("/v1/databases", headers=KEY, json=full)
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == answer.json()["location"]
    drain(services, gate)
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


def test_restore_from_through_the_api(client: TestClient, services: Services, gate: PolicyGate) -> None:
    copy = {**SEED, "identifier": "mydb123-copy"}  # prod copies prod only (dbvend.yaml's clone_from)
    shapes = [
        ({"database": "prod/mydb123"}, "restore_from"),
        ({"database": "prod/mydb123", "snapshot": "final", "point_in_time": "latest"}, "restore_from"),
        ({"database": "dev", "snapshot": "s1"}, "restore_from.database"),
        ({"database": "prod/mydb123", "snapshot": "final"}, "restore_from.database"),  # nowhere yet
    ]
    for restore, field in shapes:
        answer = client.post("/v1/databases", headers=KEY, json={**copy, "restore_from": restore})
        assert answer.status_code == 422 and field in {e["field"] for e in answer.json()["errors"]}, (
            answer.text
        )
    accepted = client.post("/v1/databases", headers=KEY, json=SEED)
    drain(services, gate)
    change = client.get(accepted.headers["location"], headers=KEY).json()["change_id"]
    assert client.post(f"/v1/changes/{change}/merge", headers=KEY).status_code == 200
    restore = {"database": "prod/mydb123", "point_in_time": "latest"}
    answer = client.post("/v1/databases", headers=KEY, json={**copy, "restore_from": restore})
    assert answer.status_code == 202, answer.text
    drain(services, gate)
    status = client.get(answer.headers["location"], headers=KEY).json()
    assert status["status"] == "change_open", status
    claim = services.backend.read_file("dbvend/prod/mydb123-copy", "terraform/prod/mydb123-copy/main.tf")
    assert claim is not None and "use_latest_restorable_time    = true" in claim
    elsewhere = client.post(
        "/v1/databases", headers=KEY, json={**copy, "environment": "dev", "restore_from": restore}
    )
    assert elsewhere.status_code == 422
    assert elsewhere.json()["errors"] == [
        {
            "field": "restore_from.database",
            "rule": "production data stays in production: dev may copy only from dev, staging"
            " (dbvend.yaml: environments.dev.clone_from)",
        }
    ]


def test_a_clone_is_one_request_restored_from_the_latest_time_with_its_own_ttl(
    client: TestClient, services: Services, gate: PolicyGate
) -> None:
    staging = {"database_name": "orders", "database_engine": "postgres", "environment": "staging"}
    clone = {"to_environment": "dev", "name": "orders_pr123", "ttl": "2d"}
    missing = client.post("/v1/databases/staging/orders/clone", headers=KEY, json=clone)
    assert missing.status_code == 404, missing.text  # not on main yet
    accepted = client.post("/v1/databases", headers=KEY, json=staging)
    drain(services, gate)
    change = client.get(accepted.headers["location"], headers=KEY).json()["change_id"]
    assert client.post(f"/v1/changes/{change}/merge", headers=KEY).status_code == 200

    answer = client.post("/v1/databases/staging/orders/clone", headers=KEY, json=clone)
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == answer.json()["location"]
    drain(services, gate)
    status = client.get(answer.headers["location"], headers=KEY).json()
    assert status["status"] == "change_open", status
    copy = client.get("/v1/databases/dev/orders-pr123", headers=KEY).json()
    claim = copy["claim"]
    assert claim["request"]["restore_from"] == {"database": "staging/orders", "point_in_time": "latest"}
    assert claim["ttl"] == "2d" and claim["request"]["database_name"] == "orders"
    assert claim["restore_latest"] and claim["restore_source_identifier"] == "orders"
    branches = [c["branch"] for c in client.get("/v1/changes", headers=KEY).json()["items"]]
    assert branches.count("dbvend/dev/orders-pr123") == 1

    again = client.post("/v1/databases/staging/orders/clone", headers=KEY, json=clone)
    assert again.status_code == 409, again.text  # the name is taken by the first copy
    for body, field in [
        ({**clone, "size": "large"}, "size"),
        ({"to_environment": "dev"}, "name"),
        ({**clone, "name": "orders-pr1"}, "name"),
        ({"to_environment": "prod", "name": "orders_pr9"}, "restore_from.database"),  # clone_from
        ({**clone, "to_environment": "qa", "name": "orders_pr9"}, "to_environment"),
        ({**clone, "name": "orders_pr9", "ttl": "90d"}, "ttl"),
    ]:
        refused = client.post("/v1/databases/staging/orders/clone", headers=KEY, json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert field in {e["field"] for e in refused.json()["errors"]}, (body, refused.text)


def test_conflicts_are_409(client: TestClient, services: Services, gate: PolicyGate) -> None:
    assert client.post("/provision-rds", headers=KEY, json=SEED).status_code == 202
    queued = client.post("/provision-rds", headers=KEY, json=SEED)
    assert queued.status_code == 409 and "already requested" in queued.json()["detail"]
    drain(services, gate)
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


def test_merge_through_the_api(client: TestClient, services: Services, gate: PolicyGate) -> None:
    request_id = client.post("/provision-rds", headers=KEY, json=SEED).json()["request_id"]
    drain(services, gate)
    assert client.get("/v1/changes?status=open", headers=KEY).json()["items"][0]["id"] == 1
    merged = client.post("/v1/changes/1/merge", headers=KEY)
    assert merged.status_code == 200 and merged.json()["status"] == "merged"
    assert client.get(f"/v1/requests/{request_id}", headers=KEY).json()["status"] == "merged"
    assert client.post("/v1/changes/1/merge", headers=KEY).status_code == 409
    missing = client.post("/v1/changes/99/merge", headers=KEY)
    assert missing.status_code == 404 and missing.json()["detail"] == "no change #99"
    # the server's own paths stay on the server (issue 20: the 404 named the repository's path)
    assert str(services.backend.path) not in missing.text  # type: ignore[attr-defined]


def test_health_and_docs_need_no_key(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.json() == {"status": "ok"} and health.headers["x-content-type-options"] == "nosniff"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/provision-rds", "/v1/databases", "/v1/requests/{request_id}", "/v1/changes"} <= set(paths)


def commit_catalog(repository: LocalRepository, text: str) -> None:
    """Put a dbvend.yaml on main, as the platform team would by merging a pull request."""
    import subprocess

    (repository.path / "dbvend.yaml").write_text(text)
    for args in (["add", "dbvend.yaml"], ["commit", "-qm", "catalog: a narrower allow-list"]):
        subprocess.run(["git", "-C", str(repository.path), *args], check=True, capture_output=True)


def test_a_policy_violation_is_refused_with_the_finding_and_nothing_committed(
    client: TestClient, services: Services, gate: PolicyGate
) -> None:
    """dev's allow-list leaves out db.t3.small, the class `medium` maps to: CKV_DBV_3 refuses it."""
    text = services.backend.read_file("main", "dbvend.yaml")
    assert text is not None
    commit_catalog(
        services.backend,
        text.replace("  dev:\n", "  dev:\n    allowed_instance_classes: [db.t3.micro, db.t3.medium]\n", 1),
    )
    before = repo_snapshot(services.backend)
    body = {"database_name": "narrow", "database_engine": "postgres", "environment": "dev", "size": "medium"}
    answer = client.post("/v1/databases", headers=KEY, json=body)
    assert answer.status_code == 202
    drain(services, gate)
    status = client.get(answer.headers["Location"], headers=KEY).json()
    assert status["status"] == "rejected"
    assert [e["check"] for e in status["errors"]] == ["CKV_DBV_3"]
    assert status["errors"][0]["resource"] == "aws_db_instance.this"
    assert status["errors"][0]["file"] == "terraform/dev/narrow/main.tf"
    assert status["policy"]["result"] == "fail"
    assert repo_snapshot(services.backend) == before
    small = client.post("/v1/databases", headers=KEY, json={**body, "database_name": "fits", "size": "small"})
    drain(services, gate)
    passed = client.get(small.headers["Location"], headers=KEY).json()
    assert passed["status"] == "change_open" and passed["policy"]["result"] == "pass"
    assert {s["check_id"] for s in passed["policy"]["skipped"]} >= {"CKV_AWS_118"}
    description = services.backend.change(passed["change_id"]).description
    assert "### Policy gate: pass" in description and "CKV\\_AWS\\_118" in description


def test_patch_extends_the_time_to_live_with_a_change_to_merge(
    client: TestClient, services: Services, gate: PolicyGate
) -> None:
    asked = {"database_name": "orders", "database_engine": "postgres", "environment": "dev", "ttl": "2d"}
    request_id = client.post("/v1/databases", headers=KEY, json=asked).json()["request_id"]
    drain(services, gate)
    early = client.patch("/v1/databases/dev/orders", headers=KEY, json={"ttl": "3d"})
    assert early.status_code == 404 and "no database dev/orders on main" in early.json()["detail"]
    assert client.post("/v1/changes/1/merge", headers=KEY).status_code == 200
    before = client.get("/v1/databases/dev/orders", headers=KEY).json()
    answer = client.patch("/v1/databases/dev/orders", headers=KEY, json={"ttl": "5d"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["previous_expires_at"] == before["expires_at"] and body["extensions"] == 1
    assert body["change"]["branch"] == "dbvend/dev/orders.extend-1" and body["change"]["status"] == "open"
    again = client.patch("/v1/databases/dev/orders", headers=KEY, json={"ttl": "6d"})
    assert again.status_code == 409 and "already open in change #2" in again.json()["detail"]
    # nothing changes until the extension is merged
    assert client.get("/v1/databases/dev/orders", headers=KEY).json()["expires_at"] == before["expires_at"]
    assert client.post("/v1/changes/2/merge", headers=KEY).status_code == 200
    after = client.get("/v1/databases/dev/orders", headers=KEY).json()
    assert after["expires_at"] == body["expires_at"] and after["extensions"] == 1
    assert after["claim"]["tags"]["expires-at"] == body["expires_at"]
    too_long = client.patch("/v1/databases/dev/orders", headers=KEY, json={"ttl": "31d"})
    assert too_long.status_code == 422
    assert (
        too_long.json()["errors"][0]["field"] == "ttl"
        and "at most 30d" in too_long.json()["errors"][0]["rule"]
    )
    status = client.get(f"/v1/requests/{request_id}", headers=KEY).json()
    assert status["status"] == "merged"
    notes = [e["detail"] or "" for e in status["history"]]
    assert (
        sum("extension to" in n for n in notes) == 1
        and sum("extend change #2 merged" in n for n in notes) == 1
    )
