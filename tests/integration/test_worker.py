"""The queue worker: pipeline per message, final refusals, retries, dead letters, redelivery."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.checkov.gate import PolicyGate
from engine.errors import GitOpsError
from engine.gitops.local import LocalRepository
from engine.intake import accept_request, record_and_queue
from engine.queue.local import LocalQueue
from engine.queue.worker import Worker
from engine.store.ledger import Ledger
from engine.store.records import NewRequest

SEED = {"database_name": "mydb123", "database_engine": "mysql", "environment": "prod"}


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.connect(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")


def make_worker(ledger: Ledger, repo: LocalRepository, gate: PolicyGate, max_receives: int = 5) -> Worker:
    queue = LocalQueue(ledger, visibility_timeout=0.01, max_receives=max_receives)
    return Worker(ledger, queue, repo, gate, terraform=None)


def test_an_accepted_request_becomes_an_open_change(
    ledger: Ledger, repo: LocalRepository, gate: PolicyGate
) -> None:
    record, _ = accept_request(SEED, "api", "key-a", ledger, repo)
    worker = make_worker(ledger, repo, gate)
    assert worker.run_once()
    done = ledger.get(record.id)
    assert done is not None and done.status == "change_open" and done.change_id == 1
    assert done.change_link == "/v1/changes/1"
    assert [e.status for e in done.history] == ["accepted", "processing", "change_open"]
    assert not worker.run_once(), "the message was acknowledged"
    assert repo.change(1).request_id == record.id


def test_a_redelivered_message_finishes_the_bookkeeping_without_a_second_change(
    ledger: Ledger, repo: LocalRepository, monkeypatch: pytest.MonkeyPatch, gate: PolicyGate
) -> None:
    record, _ = accept_request(SEED, "api", "key-a", ledger, repo)
    worker = make_worker(ledger, repo, gate)

    def die(*args: object, **kwargs: object) -> None:
        raise SystemExit("killed after the change was made, before the ledger heard of it")

    with monkeypatch.context() as patched:
        patched.setattr(worker, "_finish", die)
        with pytest.raises(SystemExit):
            worker.run_once()
    assert ledger.get(record.id).status == "processing"  # type: ignore[union-attr]
    time.sleep(0.02)  # past the visibility timeout
    assert worker.run_once()
    done = ledger.get(record.id)
    assert done is not None and done.status == "change_open" and done.change_id == 1
    assert len(repo.changes()) == 1


def test_a_request_refused_by_the_worker_is_rejected_with_its_errors(
    ledger: Ledger, repo: LocalRepository, gate: PolicyGate
) -> None:
    # Recorded directly, as if dbvend.yaml changed between acceptance and processing.
    record_and_queue(
        ledger, NewRequest("req-1", "api", "key-a", {**SEED, "environment": "qa"}, "qa", "mydb123", "mydb123")
    )
    worker = make_worker(ledger, repo, gate)
    assert worker.run_once()
    record = ledger.get("req-1")
    assert record is not None and record.status == "rejected"
    assert record.errors[0]["field"] == "environment"
    assert not worker.run_once() and repo.changes() == []


def test_a_conflict_found_by_the_worker_is_rejected(
    ledger: Ledger, repo: LocalRepository, gate: PolicyGate
) -> None:
    from engine.pipeline import process_request

    process_request(SEED, repo, gate, request_id="made-by-the-cli")
    record_and_queue(ledger, NewRequest("req-1", "api", "key-a", SEED, "prod", "mydb123", "mydb123"))
    make_worker(ledger, repo, gate).run_once()
    record = ledger.get("req-1")
    assert (
        record is not None
        and record.status == "rejected"
        and "already requested" in record.errors[0]["error"]
    )


def test_a_failing_backend_is_retried_then_dead_lettered_and_failed(
    ledger: Ledger, repo: LocalRepository, monkeypatch: pytest.MonkeyPatch, gate: PolicyGate
) -> None:
    record, _ = accept_request(SEED, "api", "key-a", ledger, repo)
    worker = make_worker(ledger, repo, gate, max_receives=3)
    calls = []

    def broken(*args: object, **kwargs: object) -> None:
        calls.append(1)
        raise GitOpsError(f"git failed: disk full ({len(calls)})")

    monkeypatch.setattr(repo, "open_change", broken)
    worker.retry_delays = (0.0,)
    for _ in range(3):
        assert worker.run_once()
        time.sleep(0.02)
    assert not worker.run_once()  # the 4th receive finds it over the limit: dead, not delivered
    failed = ledger.get(record.id)
    assert failed is not None and failed.status == "failed"
    assert failed.errors == [{"error": "GitOpsError: git failed: disk full (3)"}]
    assert len(calls) == 3
    (dead,) = worker.queue.dead_letters()
    assert dead.request_id == record.id
    again, _ = accept_request(SEED, "api", "key-a", ledger, repo)  # the name is free again
    assert again.status == "accepted"
