"""A database's whole life on the local store, the clock driven with --now: request -> reminder ->
extension -> expiry -> destroy change -> merge, each step exactly once however often the sweep runs."""

from __future__ import annotations

import getpass
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engine.audit import parse_audit_query
from engine.checkov.gate import PolicyGate
from engine.cli import main
from engine.gitops import Proposal
from engine.gitops.local import LocalRepository
from engine.intake import accept_request
from engine.queue.local import LocalQueue
from engine.queue.worker import Worker
from engine.store.ledger import Ledger
from engine.ttl import parse_time


def dbvend(data: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args), env={"DBVEND_DATA": str(data)})
    assert result.exit_code == code, result.output
    return result.output


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def requested(tmp_path: Path, gate: PolicyGate) -> tuple[Path, Ledger, LocalRepository, str]:
    """dev/orders requested (7 days, dev's default) and merged with `dbvend merge`."""
    data = tmp_path / "data"
    repo = LocalRepository.open_or_create(data / "repo")
    ledger = Ledger.connect(f"sqlite:///{data / 'ledger.sqlite3'}")
    raw = {"database_name": "orders", "database_engine": "postgres", "environment": "dev", "owner": "alice"}
    record, _ = accept_request(raw, "api", "key-1", ledger, repo)
    assert Worker(ledger, LocalQueue(ledger), repo, gate, None).run_once()
    assert "merged change #1" in dbvend(data, "merge", "1")
    return data, ledger, repo, record.id


def main_claim(repo: LocalRepository) -> dict[str, Any]:
    text = repo.read_file("main", "terraform/dev/orders/request.json")
    assert text is not None
    claim: dict[str, Any] = json.loads(text)
    return claim


def notes(ledger: Ledger, request_id: str, text: str) -> list[str]:
    record = ledger.get(request_id)
    assert record is not None
    return [e.detail for e in record.history if e.detail and text in e.detail]


def test_request_reminder_extension_expiry_destroy_change_merge_each_once(
    requested: tuple[Path, Ledger, LocalRepository, str],
) -> None:
    data, ledger, repo, request_id = requested
    first = parse_time(main_claim(repo)["expires_at"])

    def sweep(moment: datetime) -> str:
        return dbvend(data, "ttl", "sweep", "--now", at(moment))

    # the 48h reminder of the first expiry, once
    assert "reminded: `terraform/dev/orders` (2d 0h before expiry) via ledger" in sweep(
        first - timedelta(hours=47)
    )
    assert "reminded" not in sweep(first - timedelta(hours=46, minutes=30))

    # an extension: a change of its own, found again by the same call, a different one refused
    extend_at = at(first - timedelta(hours=46))
    said = dbvend(data, "extend", "dev/orders", "3d", "--now", extend_at, "--by", "alice")
    assert "change #2 (dbvend/dev/orders.extend-1)" in said
    second = first - timedelta(hours=46) + timedelta(days=3)
    assert at(second) in said
    assert "change #2" in dbvend(data, "extend", "dev/orders", "3d", "--now", extend_at, "--by", "alice")
    refused = dbvend(data, "extend", "dev/orders", "4d", "--now", extend_at, code=4)
    assert "already open in change #2" in refused
    too_long = dbvend(data, "extend", "dev/orders", "40d", "--now", extend_at, code=2)
    assert "at most 30d from its request" in too_long
    change = repo.change(2)
    extended = json.loads(repo.read_file(change.commit, "terraform/dev/orders/request.json") or "")
    assert extended["expires_at"] == at(second) and extended["extensions"] == 1
    assert extended["tags"]["expires-at"] == at(second)
    main_tf = repo.read_file(change.commit, "terraform/dev/orders/main.tf") or ""
    assert '"expires-at"' in main_tf and at(second) in main_tf
    assert main_claim(repo)["expires_at"] == at(first)  # nothing moves before the merge
    assert "merged change #2" in dbvend(data, "merge", "2")
    assert main_claim(repo)["expires_at"] == at(second)

    # the new expiry's reminders, once each; the first expiry passes without a word
    assert "(2d 0h before expiry)" in sweep(first - timedelta(hours=1))
    quiet = sweep(first + timedelta(minutes=1))
    assert "expired" not in quiet and "reminded" not in quiet
    assert "(2h 0m before expiry)" in sweep(second - timedelta(hours=1))
    assert "reminded" not in sweep(second - timedelta(minutes=30))

    # expiry: one destroy change, however often the sweep runs
    gone = sweep(second + timedelta(minutes=1))
    assert "expired: `terraform/dev/orders`: destroy change #3 is open" in gone
    assert "destroy change #3 is open" in sweep(second + timedelta(hours=2))
    assert [c.id for c in repo.changes()] == [1, 2, 3]
    destroy = repo.change(3)
    assert destroy.branch == "dbvend/dev/orders.destroy-1" and destroy.request_id == f"{request_id}.destroy-1"
    marked = json.loads(repo.read_file(destroy.commit, "terraform/dev/orders/request.json") or "")
    assert marked["destroy_requested_at"] == at(second + timedelta(minutes=1))
    assert "time-to-live ran out" in marked["destroy_reason"]
    assert repo.read_file(destroy.commit, "terraform/dev/orders/main.tf") == repo.read_file(
        "main", "terraform/dev/orders/main.tf"
    ), "a destroy change touches the claim only"
    assert "Why: its time-to-live ran out" in destroy.description
    record = ledger.get(request_id)
    assert record is not None and record.status == "destroy_open"

    # merged: the destroy is under way (CI plans -destroy and applies it); the sweep stays quiet
    assert "merged change #3" in dbvend(data, "merge", "3")
    later = sweep(second + timedelta(hours=3))
    assert "being destroyed: `terraform/dev/orders`" in later and "destroy change" not in later
    assert [c.id for c in repo.changes()] == [1, 2, 3]
    assert "destroying" in dbvend(data, "ttl", "list", "--repo", str(repo.path), "--ref", "main")

    # each step exactly once in the ledger
    assert len(notes(ledger, request_id, "Time-to-live: `terraform/dev/orders` expires at")) == 3
    assert len(notes(ledger, request_id, "expired at")) == 1
    assert len(notes(ledger, request_id, "extension to")) == 1
    record = ledger.get(request_id)
    assert record is not None
    statuses = [e.status for e in record.history]
    assert statuses.count("destroy_open") >= 1 and record.status == "destroy_open"
    assert [e.detail for e in record.history if e.detail and e.detail.startswith("destroy change #3")] == [
        "destroy change #3: its time-to-live ran out at " + at(second),
        "destroy change #3 merged with dbvend merge",
    ]

    # and each action in the audit trail, once, with who did it and through which door
    me = f"cli:{getpass.getuser()}"
    trail = [
        (row.actor, row.door, row.action, row.outcome)
        for row in ledger.audit_rows(parse_audit_query(database="dev/orders"))
    ]
    assert trail == [
        ("key-1", "api", "request", "ok"),
        ("dbvend", "dbvend", "change_open", "ok"),
        (me, "cli", "merge", "ok"),  # change #1, the request's
        ("cli:alice", "cli", "extend", "ok"),  # change #2; asked again, found again: no second row
        (me, "cli", "extend", "refused"),  # another extension while #2 is open
        (me, "cli", "extend", "refused"),  # 40d: beyond the environment's maximum
        (me, "cli", "merge", "ok"),  # change #2
        ("dbvend", "schedule", "destroy", "ok"),  # change #3, however often the sweep ran
        (me, "cli", "merge", "ok"),  # change #3
    ]


def test_a_closed_destroy_change_keeps_the_database_until_it_is_extended(
    requested: tuple[Path, Ledger, LocalRepository, str],
) -> None:
    data, ledger, repo, request_id = requested
    first = parse_time(main_claim(repo)["expires_at"])
    dbvend(data, "ttl", "sweep", "--now", at(first + timedelta(minutes=1)))
    assert "closed change #2" in dbvend(data, "close", "2")
    record = ledger.get(request_id)
    assert record is not None and record.status == "merged"  # the database stays
    again = dbvend(data, "ttl", "sweep", "--now", at(first + timedelta(hours=1)))
    assert "destroy change #2 was closed unmerged" in again
    assert [c.id for c in repo.changes()] == [1, 2]
    # an extension after a closed attempt of the same number gets a fresh change
    dbvend(data, "extend", "dev/orders", "2d", "--now", at(first + timedelta(hours=2)))
    assert "closed change #3" in dbvend(data, "close", "3")
    retry = dbvend(data, "extend", "dev/orders", "2d", "--now", at(first + timedelta(hours=3)))
    assert "change #4 (dbvend/dev/orders.extend-1-3)" in retry
    dbvend(data, "merge", "4")
    later = parse_time(main_claim(repo)["expires_at"])
    assert later == first + timedelta(hours=3) + timedelta(days=2)
    expired = dbvend(data, "ttl", "sweep", "--now", at(later + timedelta(minutes=1)))
    assert "destroy change #5 is open" in expired  # the new expiry: a destroy change of its own


def test_extending_needs_a_database_on_main_and_a_duration(
    requested: tuple[Path, Ledger, LocalRepository, str],
) -> None:
    data, _, _, _ = requested
    assert "no database dev/nothing on main" in dbvend(data, "extend", "dev/nothing", "3d", code=1)
    assert "none` is not an extension" in dbvend(data, "extend", "dev/orders", "none", code=2)
    assert "is not a TTL" in dbvend(data, "extend", "dev/orders", "3 days", code=2)
    assert "must be <environment>/<name>" in dbvend(data, "extend", "orders", "3d", code=2)


def test_a_production_destroy_needs_an_approval_and_never_runs_on_merge(tmp_path: Path) -> None:
    from dataclasses import replace

    from engine.commands import ApplyRules, Command, PullRequestFacts, authorize
    from tests.support.repositories import commit, git, write_root

    lax = ApplyRules(require_approval=False, required_checks=(), require_mergeable=False)
    unreviewed = PullRequestFacts(commenter="carol", permission="write", author="dbvend[bot]")
    destroy = Command("destroy")
    assert authorize(destroy, unreviewed, lax) is None  # the rules need no approval here
    refusal = authorize(destroy, unreviewed, lax, destroys_production=True)
    assert refusal is not None and "needs an approving review" in refusal.reason
    assert authorize(destroy, unreviewed, replace(lax, require_approval=True)) is not None

    repo = tmp_path / "infra"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    root = write_root(repo, "core", "prod")
    base = commit(repo, "core")
    claim_file = repo / root / "request.json"
    claim = json.loads(claim_file.read_text())
    claim |= {"destroy_requested_at": "2026-12-01T00:00:00Z", "destroy_reason": "asked"}
    claim_file.write_text(json.dumps(claim, indent=2, sort_keys=True) + "\n")
    head = commit(repo, "destroy core")
    result = CliRunner().invoke(
        main,
        ["ci", "apply", "--repo", str(repo), "--base", base, "--head", head],
        env={"DBVEND_TERRAFORM": "false"},
    )
    assert result.exit_code == 1
    assert "production database marked for destruction" in result.output and "/destroy" in result.output


def test_a_sweep_cut_short_is_finished_by_the_next_one_nothing_twice(
    tmp_path: Path, gate: PolicyGate
) -> None:
    """Two databases expire; the first sweep dies after opening one destroy change (the branch of the
    second made, its change not yet recorded). The next sweep finishes: one change each, one word each."""
    from engine.ci import claims_at
    from engine.errors import GitOpsError
    from engine.sweep import expire
    from engine.ttl import due, lease_of

    data = tmp_path / "data"
    repo = LocalRepository.open_or_create(data / "repo")
    ledger = Ledger.connect(f"sqlite:///{data / 'ledger.sqlite3'}")
    ids = []
    for name in ("alpha", "beta"):
        raw = {"database_name": name, "database_engine": "postgres", "environment": "dev", "ttl": "1d"}
        record, _ = accept_request(raw, "api", "key-1", ledger, repo)
        assert Worker(ledger, LocalQueue(ledger), repo, gate, None).run_once()
        change = repo.change_of_request(record.id)
        assert change is not None
        dbvend(data, "merge", str(change.id))
        ids.append(record.id)
    leases = [lease_of(d, t) for d, t in claims_at(repo.path, "main").items()]
    now = max(lease.expires_at for lease in leases if lease.expires_at) + timedelta(minutes=5)

    class DiesAfterTheBranch:
        """The local store, killed between making the second branch and recording its change."""

        def __init__(self) -> None:
            self.opened = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(repo, name)

        def open_change(self, proposal: Proposal, seen: Any = None) -> Any:
            rendered, claim, title, kind = proposal.rendered, proposal.claim, proposal.title, proposal.kind
            self.opened += 1
            if self.opened == 2:
                branch = f"dbvend/dev/{claim.identifier}.{kind}"
                tree = repo._tree_with(repo._rev("refs/heads/main") or "", rendered)
                message = f"{title}\n\nRequest-Id: {claim.request_id}.{kind}\n"
                commit = repo._git("commit-tree", tree, "-p", "main", "-F", "-", input=message).strip()
                repo._git("update-ref", f"refs/heads/{branch}", commit, "")
                raise GitOpsError("killed")
            return repo.open_change(proposal)

    catalog = repo.catalog()
    first = expire(due(leases, now), catalog, DiesAfterTheBranch(), ledger, None, now)  # type: ignore[arg-type]
    assert [e.action.split(" is ")[0] for e in first] == ["destroy change #3", "failed: killed"]
    second = expire(due(leases, now), catalog, repo, ledger, None, now)
    assert [e.action for e in second] == ["destroy change #3 is open", "destroy change #4 is open"]
    third = expire(due(leases, now), catalog, repo, ledger, None, now)
    assert [e.action for e in third] == [e.action for e in second]
    assert [(c.id, c.branch) for c in repo.changes("open")] == [
        (3, "dbvend/dev/alpha.destroy-0"),
        (4, "dbvend/dev/beta.destroy-0"),
    ]
    for request_id in ids:
        assert len(notes(ledger, request_id, "expired at")) == 1
        record = ledger.get(request_id)
        assert record is not None and record.status == "destroy_open"
