"""Restores through the front half (issue 22): the source found on main or in the ledger, "final"
resolved to the snapshot the ledger holds, and refusals against the source, with a real repository."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from engine.checkov.gate import PolicyGate
from engine.errors import InvalidRequest
from engine.gitops.local import LocalRepository
from engine.intake import accept_request, record_and_queue
from engine.pipeline import process_request
from engine.store.ledger import Ledger
from tests.support.claims import ACCEPTED_AT
from tests.support.ledgers import new

SOURCE = {"database_name": "orders", "database_engine": "postgres", "environment": "staging"}


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = Ledger.connect(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    yield opened
    opened.engine.dispose()


def refused(
    raw: dict[str, object], repo: LocalRepository, gate: PolicyGate, ledger: Ledger | None
) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as caught:
        process_request(raw, repo, gate, request_id="req-r", accepted_at=ACCEPTED_AT, ledger=ledger)
    return {error.field: error.rule for error in caught.value.errors}


def test_a_restore_of_a_database_on_main(repo: LocalRepository, gate: PolicyGate, ledger: Ledger) -> None:
    source = process_request(SOURCE, repo, gate, request_id="req-s", accepted_at=ACCEPTED_AT).change
    assert source is not None
    latest = {"database": "staging/orders", "point_in_time": "latest"}
    raw = {**SOURCE, "environment": "dev", "identifier": "orders-copy", "restore_from": latest}
    assert "restore_from.database" in refused(raw, repo, gate, ledger), "not merged: not on main yet"
    repo.merge(source.id)

    outcome = process_request(raw, repo, gate, request_id="req-r", accepted_at=ACCEPTED_AT, ledger=ledger)
    assert outcome.claim.restore_latest and outcome.claim.restore_source_identifier == "orders"
    assert outcome.claim.engine_version == "17" and outcome.policy.result != "fail"
    assert outcome.change is not None
    assert repo.read_file(None, "terraform/staging/orders/request.json") is not None  # the source stays

    found = refused({**raw, "database_engine": "mysql", "identifier": "orders-two"}, repo, gate, ledger)
    assert found["database_engine"].startswith("must be postgres, the engine of staging/orders")
    found = refused({**raw, "engine_version": "16", "identifier": "orders-two"}, repo, gate, ledger)
    assert "major version 17" in found["engine_version"]
    before = {**latest, "point_in_time": "2026-11-01T00:00:00Z"}  # staging keeps 7 days of backups
    found = refused({**raw, "identifier": "orders-two", "restore_from": before}, repo, gate, ledger)
    assert "older than the backups of staging/orders reach" in found["restore_from.point_in_time"]


def test_a_source_nobody_knows_is_refused(repo: LocalRepository, gate: PolicyGate, ledger: Ledger) -> None:
    raw = {**SOURCE, "restore_from": {"database": "staging/nowhere", "snapshot": "nowhere-final-1"}}
    assert (
        "no database staging/nowhere on main nor destroyed by dbvend"
        in refused(raw, repo, gate, ledger)["restore_from.database"]
    )
    assert "no ledger here" in refused(raw, repo, gate, None)["restore_from.database"]


def test_final_resolves_to_the_snapshot_the_ledger_kept(
    repo: LocalRepository, gate: PolicyGate, ledger: Ledger
) -> None:
    payload = {
        "database_name": "gone",
        "database_engine": "mysql",
        "environment": "staging",
        "storage_gb": 50,
    }
    record_and_queue(
        ledger, new(7, identifier="gone", database_name="gone", environment="staging", payload=payload)
    )
    for status in ("change_open", "merged"):
        assert ledger.transition("req-7", status)
    assert ledger.transition("req-7", "destroyed", "destroyed", final_snapshot="gone-final-req7")

    raw = {
        "database_name": "gone",
        "database_engine": "mysql",
        "environment": "dev",
        "identifier": "gone-again",
        "restore_from": {"database": "staging/gone", "snapshot": "final"},
    }
    record, _ = accept_request(raw, "api", "key-a", ledger, repo)
    assert record.payload["restore_from"] == {"database": "staging/gone", "snapshot": "gone-final-req7"}
    outcome = process_request(record.payload, repo, gate, request_id=record.id, ledger=ledger)
    assert outcome.claim.restore_snapshot == "gone-final-req7" and outcome.claim.storage_gb == 50
    assert 'snapshot_identifier = "gone-final-req7"' in outcome.rendered.files["main.tf"]

    latest = {
        **raw,
        "identifier": "gone-later",
        "restore_from": {"database": "staging/gone", "point_in_time": "latest"},
    }
    assert "was destroyed" in refused(latest, repo, gate, ledger)["restore_from.point_in_time"]
    without = refused({**raw, "identifier": "gone-x"}, repo, gate, None)  # no ledger: no destroyed source
    assert "no ledger here" in without["restore_from.database"]


def test_a_copy_dbvend_yaml_does_not_allow_is_refused_before_anything_is_looked_up(
    repo: LocalRepository, gate: PolicyGate, ledger: Ledger
) -> None:
    """clone_from (the default file: dev copies dev and staging, staging only staging, prod only prod)."""
    from_prod = {
        **SOURCE,
        "environment": "dev",
        "restore_from": {"database": "prod/orders", "snapshot": "x1"},
    }
    rule = refused(from_prod, repo, gate, ledger)["restore_from.database"]
    assert rule == (
        "production data stays in production: dev may copy only from dev, staging"
        " (dbvend.yaml: environments.dev.clone_from)"
    )
    from_dev = {**SOURCE, "restore_from": {"database": "dev/orders", "point_in_time": "latest"}}
    assert refused(from_dev, repo, gate, ledger)["restore_from.database"] == (
        "staging may copy only from staging (dbvend.yaml: environments.staging.clone_from)"
    )


def test_undo_a_destroy_from_the_fleet(tmp_path: Path, gate: PolicyGate) -> None:
    """request -> its TTL runs out (the sweep's destroy change, merged; destroyed, its final snapshot in
    the ledger, its root gone from main) -> the fleet's "Restore" -> a new request of the same name
    from that snapshot -> its change open."""
    import re
    import subprocess

    from fastapi.testclient import TestClient

    from engine.app import create_app
    from engine.ci import claims_at
    from engine.services import build_services
    from engine.settings import Settings
    from engine.sweep import expire
    from engine.ttl import due, lease_of
    from tests.support.app import drain, sign_in_as

    services, _ = build_services(Settings(data=tmp_path / "data", api_keys="k-one", rate_limit=1000))
    repo = str(tmp_path / "data" / "repo")
    with TestClient(create_app(services), follow_redirects=False) as browser:
        sign_in_as(browser, "k-one")
        key = {"x-api-key": "k-one"}
        first = browser.post("/v1/databases", headers=key, json=SOURCE)
        drain(services, gate)
        request_id = first.json()["request_id"]
        change = services.ledger.get(request_id).change_id  # type: ignore[union-attr]
        assert browser.post(f"/v1/changes/{change}/merge", headers=key).status_code == 200
        # the time-to-live runs out: the sweep opens the destroy change, which is merged
        leases = [lease_of(d, t) for d, t in claims_at(Path(repo), "main").items()]
        expires_at = leases[0].expires_at
        assert expires_at is not None
        after = expires_at + timedelta(hours=1)
        catalog = services.backend.catalog()
        (expired,) = expire(due(leases, after), catalog, services.backend, services.ledger, None, after)
        assert expired.action.startswith("destroy change #"), expired
        destroy_change = int(expired.action.split("#", 1)[1].split()[0])
        assert browser.post(f"/v1/changes/{destroy_change}/merge", headers=key).status_code == 200
        # then what `dbvend ci destroy` does: the request destroyed with the final snapshot its
        # claim names (the lease), the root removed from main
        kept = leases[0].final_snapshot
        assert kept == "orders-final-" + request_id.replace("-", "")[:8]
        assert services.ledger.transition(request_id, "destroyed", "destroyed", final_snapshot=kept)
        subprocess.run(["git", "-C", repo, "rm", "-rq", "terraform/staging/orders"], check=True)
        subprocess.run(
            ["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "removed"],
            check=True,
        )

        assert "Restore" not in browser.get("/fleet").text  # the fleet shows what holds its name
        fleet = browser.get("/fleet?status=destroyed").text
        assert f"final snapshot <code>{kept}</code>" in fleet
        form = re.search(r'<form method="post" action="/request" class="inline">(.*?)</form>', fleet, re.S)
        assert form is not None
        fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', form.group(1)))
        assert fields["restore_from"] == "staging/orders:final"
        restored = browser.post("/request", data=fields)
        assert restored.status_code == 303, restored.text
        new_id = restored.headers["location"].rsplit("/", 1)[1]
        drain(services, gate)
        record = services.ledger.get(new_id)
        assert record is not None and record.status == "change_open", record
        assert record.payload["restore_from"] == {"database": "staging/orders", "snapshot": kept}
        main_tf = services.backend.read_file("dbvend/staging/orders", "terraform/staging/orders/main.tf")
        assert main_tf is not None and f'snapshot_identifier = "{kept}"' in main_tf
