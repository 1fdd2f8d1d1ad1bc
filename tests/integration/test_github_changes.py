"""dbvend's changes in GitHub mode come from the ledger (engine.store.changes), against
tests/support/github_server.py: never a listing of every pull request. Recorded when dbvend opens,
merges or closes one, when a pull_request webhook moves one, and by the reconcile pass (a search by
dbvend's label), which records only dbvend's own pull requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.app import create_app
from engine.checkov.gate import PolicyGate
from engine.errors import Conflict
from engine.github.repository import GitHubRepository
from engine.identity import person
from engine.lifecycle import extend_database, modify_database
from engine.pipeline import process_request
from engine.services import Services
from tests.support import github_payloads as payloads
from tests.support.claims import SEED
from tests.support.deliveries import deliver
from tests.support.github_clients import client, github_services
from tests.support.github_server import GitHubServer

MARKER = "<!-- dbvend:request-id={} -->"


@pytest.fixture
def github(tmp_path: Path) -> Iterator[GitHubServer]:
    with GitHubServer(tmp_path) as server:
        yield server


@pytest.fixture
def services(tmp_path: Path, github: GitHubServer) -> Services:
    built: Services = github_services(tmp_path, github)
    return built


@pytest.fixture
def repo(services: Services) -> GitHubRepository:
    assert isinstance(services.backend, GitHubRepository) and services.backend.changes_store is not None
    return services.backend


def pull_listings(github: GitHubServer, since: int = 0) -> list[str]:
    """Every GET of the repository's pull requests (a listing, not one pull request), with its query."""
    return [
        f"{r.path}?{r.query}"
        for r in github.requests[since:]
        if r.method == "GET" and r.path.endswith("/pulls")
    ]


def searches(github: GitHubServer, since: int = 0) -> list[str]:
    """The reconcile's searches: each query DbvendChangeSearch's `query` variable."""
    return [
        str(r.body["variables"]["query"])
        for r in github.requests[since:]
        if r.path == "/graphql"
        and isinstance(r.body, dict)
        and "DbvendChangeSearch" in str(r.body.get("query"))
    ]


def statuses(repo: GitHubRepository) -> dict[int, str]:
    return {change.id: change.status for change in repo.changes()}


def test_changes_are_read_from_the_ledger_after_open_merge_and_close(
    github: GitHubServer, repo: GitHubRepository, gate: PolicyGate
) -> None:
    first = process_request(SEED, repo, gate, request_id="req-1").change
    second = process_request({**SEED, "database_name": "other"}, repo, gate, request_id="req-2").change
    assert first is not None and second is not None
    start = len(github.requests)
    assert statuses(repo) == {first.id: "open", second.id: "open"}
    # The first read reconciles once (one search by label, never a listing); the next reads cost nothing.
    assert searches(github, start) == ['repo:acme/infra is:pr label:"dbvend" sort:created-asc']
    before = len(github.requests)
    assert [c.id for c in repo.changes("open")] == [first.id, second.id]
    assert len(github.requests) == before
    repo.merge(first.id)
    repo.close(second.id)
    before = len(github.requests)
    assert statuses(repo) == {first.id: "merged", second.id: "closed"}
    assert [c.id for c in repo.changes("merged")] == [first.id] and repo.changes("open") == []
    (merged,) = repo.changes("merged")
    assert merged.request_id == "req-1" and merged.root == "terraform/prod/mydb123" and merged.merged_at
    assert len(github.requests) == before, "reads of the ledger call nobody"
    assert pull_listings(github) == []


def test_a_webhook_records_a_merge_or_close_made_on_github(
    github: GitHubServer, services: Services, repo: GitHubRepository, gate: PolicyGate
) -> None:
    accepted = process_request(SEED, repo, gate, request_id="req-1").change
    other = process_request({**SEED, "database_name": "other"}, repo, gate, request_id="req-2").change
    assert accepted is not None and other is not None
    assert statuses(repo) == {accepted.id: "open", other.id: "open"}
    # merged and closed on GitHub by people: only the webhooks tell the ledger
    with client(github) as gh:
        gh.rest.pulls.merge("acme", "infra", accepted.id, merge_method="merge")
        gh.rest.pulls.update("acme", "infra", other.id, state="closed")
    assert statuses(repo) == {accepted.id: "open", other.id: "open"}
    with TestClient(create_app(services)) as web:
        for change, merged in ((accepted, True), (other, False)):
            pull = github.pull_request(change.id)
            payload = payloads.pull_request(
                "closed",
                change.id,
                change.branch,
                merged=merged,
                head_sha=pull["head"]["sha"],
                body=pull["body"],
                labels=("dbvend", "prod"),
            )
            deliver(web, "pull_request", payload)
    before = len(github.requests)
    assert statuses(repo) == {accepted.id: "merged", other.id: "closed"}
    assert len(github.requests) == before and pull_listings(github) == []


def test_an_extensions_conflict_check_reads_the_ledger_not_the_pull_requests(
    github: GitHubServer, services: Services, repo: GitHubRepository, gate: PolicyGate
) -> None:
    made = process_request({**SEED, "environment": "dev", "ttl": "3d"}, repo, gate, request_id="req-1").change
    assert made is not None
    repo.merge(made.id)
    now, alice = datetime.now(UTC), person("alice", "portal", permission="write")  # an admin
    start = len(github.requests)
    extension = extend_database(repo, "dev", "mydb123", "3d", now, alice, services.ledger).change
    assert extension.status == "open" and repo.open_changes_of("dev", "mydb123") == [extension]
    with pytest.raises(Conflict, match=f"change #{extension.id} of dev/mydb123 is open"):
        modify_database(repo, "dev", "mydb123", {"storage_gb": 40}, now, alice, gate, services.ledger)
    assert pull_listings(github, start) == []
    assert repo.open_changes_of("dev", "other") == []


def open_pull(github: GitHubServer, branch: str, body: str, labels: tuple[str, ...] = ("dbvend",)) -> int:
    """A pull request made on GitHub directly (not by this dbvend), labelled."""
    github.commit(branch, {f"terraform/{branch.removeprefix('dbvend/')}/request.json": "{}\n"})
    with client(github) as gh:
        pull = gh.rest.pulls.create("acme", "infra", title=branch, head=branch, base="main", body=body)
        number = pull.parsed_data.number
        gh.rest.issues.add_labels("acme", "infra", number, labels=list(labels))
    return number


def test_reconcile_records_dbvends_pull_requests_the_ledger_missed_and_nothing_else(
    github: GitHubServer, repo: GitHubRepository, gate: PolicyGate
) -> None:
    made = process_request(SEED, repo, gate, request_id="req-1").change
    assert made is not None and [c.id for c in repo.changes()] == [made.id]  # reconciled once here
    missed = open_pull(github, "dbvend/dev/side", f"asked elsewhere\n{MARKER.format('req-9')}\n")
    look_alike = open_pull(github, "feature/side", f"not dbvend's\n{MARKER.format('req-8')}\n")
    unmarked = open_pull(github, "dbvend/dev/bare", "no marker")
    fork = github.create_fork_pull(
        "mallory",
        "dbvend/dev/forked",
        title="dbvend: a fork",
        body=f"x\n{MARKER.format('req-7')}\n",
        files={"terraform/dev/forked/request.json": "{}\n"},
    )
    with client(github) as gh:
        gh.rest.issues.add_labels("acme", "infra", fork, labels=["dbvend"])
    unlabelled = open_pull(github, "dbvend/dev/quiet", f"x\n{MARKER.format('req-6')}\n", labels=("prod",))
    assert [c.id for c in repo.changes()] == [made.id], "reconciled a moment ago: not due"
    start = len(github.requests)
    assert repo.reconcile_changes() == 2  # made (again) and missed
    (query,) = searches(github, start)
    assert query.startswith('repo:acme/infra is:pr label:"dbvend" sort:created-asc updated:>=')
    found = {c.id: c for c in repo.changes()}
    assert sorted(found) == [made.id, missed]
    assert found[missed].branch == "dbvend/dev/side" and found[missed].request_id == "req-9"
    assert found[missed].root == "terraform/dev/side" and found[missed].status == "open"
    assert repo.open_changes_of("dev", "side") == [found[missed]]
    assert {look_alike, unmarked, fork, unlabelled}.isdisjoint(found)
    assert pull_listings(github) == []


def test_a_first_read_reconciles_and_a_stale_ledger_is_reconciled_again(
    github: GitHubServer, repo: GitHubRepository, services: Services
) -> None:
    missed = open_pull(github, "dbvend/dev/side", f"x\n{MARKER.format('req-9')}\n")
    assert [c.id for c in repo.changes("open")] == [missed]  # never reconciled: the read does it
    with client(github) as gh:
        gh.rest.pulls.update("acme", "infra", missed, state="closed")  # no webhook reaches this ledger
    assert repo.changes("closed") == []
    long_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    services.ledger.mark_changes_reconciled(long_ago)
    assert [c.id for c in repo.changes("closed")] == [missed]


def test_a_merged_change_is_not_made_open_again_by_a_stale_reading(
    repo: GitHubRepository, services: Services, gate: PolicyGate
) -> None:
    made = process_request(SEED, repo, gate, request_id="req-1").change
    assert made is not None
    merged = repo.merge(made.id)
    services.ledger.record_change(made)  # a reading taken before the merge, written after it
    assert services.ledger.recorded_change(made.id) == merged
