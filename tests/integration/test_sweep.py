"""The time-to-live sweep's reminders, driven by the clock (--now): each one told exactly once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engine.checkov.gate import PolicyGate
from engine.ci import claims_at
from engine.cli import main
from engine.gitops.local import LocalRepository
from engine.intake import accept_request
from engine.queue.local import LocalQueue
from engine.queue.worker import Worker
from engine.store.ledger import Ledger
from engine.sweep import remind
from engine.ttl import due, lease_of


class Replies:
    def __init__(self) -> None:
        self.posted: list[tuple[int, str]] = []

    def reply(self, issue_number: int, marker: str, body: str) -> None:
        assert body.startswith(marker)
        self.posted.append((issue_number, marker))


@pytest.fixture
def served(tmp_path: Path, gate: PolicyGate) -> tuple[Path, Ledger, LocalRepository, str]:
    """A dev database requested with an issue as its origin, its change merged: (data, ledger, repo, id)."""
    data = tmp_path / "data"
    repo = LocalRepository.open_or_create(data / "repo")
    ledger = Ledger.connect(f"sqlite:///{data / 'ledger.sqlite3'}")
    raw = {"database_name": "orders", "database_engine": "postgres", "environment": "dev"}
    record, _ = accept_request(
        raw, "issue", "github:alice", ledger, repo, origin={"repository": "a/b", "issue": 12}
    )
    assert Worker(ledger, LocalQueue(ledger), repo, gate, None).run_once()
    change = repo.change_of_request(record.id)
    assert change is not None
    repo.merge(change.id)
    return data, ledger, repo, record.id


def sweep(data: Path, now: Any, *extra: str) -> Any:
    result = CliRunner().invoke(
        main, ["ttl", "sweep", "--now", now.isoformat(), *extra], env={"DBVEND_DATA": str(data)}
    )
    assert result.exit_code == 0, result.output
    return result


def test_reminders_48h_and_2h_before_each_once_then_expiry(
    served: tuple[Path, Ledger, LocalRepository, str],
) -> None:
    data, ledger, repo, request_id = served
    (lease,) = [lease_of(d, t) for d, t in claims_at(repo.path, "main").items()]
    assert lease.expires_at is not None and lease.request_id == request_id
    expires = lease.expires_at
    assert "Nothing is expired" in sweep(data, expires - timedelta(days=3)).output
    events = len(ledger.get(request_id).history)  # type: ignore[union-attr]
    dry = sweep(data, expires - timedelta(hours=47), "--dry-run")
    assert "via dry run" in dry.output and len(ledger.get(request_id).history) == events  # type: ignore[union-attr]
    first = sweep(data, expires - timedelta(hours=47))
    assert "reminded: `terraform/dev/orders` (2d 0h before expiry) via ledger" in first.output
    again = sweep(data, expires - timedelta(hours=46))
    assert "reminded" not in again.output and "sent by an earlier sweep" in again.output
    late = sweep(data, expires - timedelta(hours=1))
    assert "(2h 0m before expiry)" in late.output
    sweep(data, expires - timedelta(minutes=30))
    notes = [e.detail for e in ledger.get(request_id).history if e.detail and "Time-to-live" in e.detail]  # type: ignore[union-attr]
    assert len(notes) == 2 and "in 1d 23h" in notes[0] and "in 1h 0m" in notes[1]
    gone = sweep(data, expires + timedelta(minutes=1))
    assert "expired: `terraform/dev/orders`" in gone.output


def test_in_github_mode_the_request_issue_gets_one_comment_per_reminder(
    served: tuple[Path, Ledger, LocalRepository, str],
) -> None:
    _, ledger, repo, _ = served
    leases = [lease_of(d, t) for d, t in claims_at(repo.path, "main").items()]
    expires = leases[0].expires_at
    assert expires is not None
    replies = Replies()
    now = expires - timedelta(hours=30)
    told = remind(due(leases, now), ledger, replies, now)
    assert [t.where for t in told] == ["issue #12"]
    assert remind(due(leases, now), ledger, replies, now) == []
    soon = expires - timedelta(minutes=90)
    assert [t.window for t in remind(due(leases, soon), ledger, replies, soon)] == ["2h 0m"]
    expiry = int(expires.timestamp())
    assert replies.posted == [
        (12, f"<!-- dbvend:ttl-reminder:{expiry}:172800s -->"),
        (12, f"<!-- dbvend:ttl-reminder:{expiry}:7200s -->"),
    ]


def test_without_a_ledger_reminders_are_listed_not_sent(tmp_path: Path) -> None:
    from tests.support.repositories import commit, git, write_root

    repo = tmp_path / "infra"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write_root(repo, "orders", "dev")
    commit(repo, "one")
    (lease,) = [lease_of(d, t) for d, t in claims_at(repo, "main").items()]
    assert lease.expires_at is not None
    now = (lease.expires_at - timedelta(hours=1)).isoformat()
    result = CliRunner().invoke(
        main, ["ci", "ttl", "--repo", str(repo), "--now", now], env={"DBVEND_DATA": str(tmp_path / "none")}
    )
    assert result.exit_code == 0 and "reminder owed: `terraform/dev/orders`" in result.output
    assert "reminders are listed, not sent" in result.output
