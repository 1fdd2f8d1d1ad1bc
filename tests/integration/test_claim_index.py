"""The claims index (issue 24) against the fake GitHub, counted: at 5,000 databases a filled index
answers claims() with no call, a push changing one claim reads one blob, a reconcile after one
change reads the tree listing and one blob, a removed root leaves, an unchanged tree reads nothing
more than its listing. And the same index kept from a local git repository."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.app import create_app
from engine.catalog import default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.claim import claim_from_raw
from engine.claim_index import index_push, push_changes, reconcile_index
from engine.github.repository import GitHubRepository
from engine.gitops.local import LocalRepository
from engine.services import Services
from engine.store.ledger import Ledger
from tests.support.claims import ACCEPTED_AT
from tests.support.deliveries import deliver as signed_delivery
from tests.support.deliveries import from_example
from tests.support.github.graphql import operation_name
from tests.support.github_clients import client_for, github_services
from tests.support.github_server import GitHubServer
from tests.support.octokit import require_octokit

FLEET = 5000
CATALOG = parse_catalog(default_catalog_text(), "dbvend.yaml")


def claim_text(i: int, team: str = "Data", environment: str = "dev") -> tuple[str, str]:
    """(root, request.json) of database number i."""
    raw = {
        "database_name": f"db{i:05d}",
        "database_engine": "postgres",
        "environment": environment,
        "team": team,
        "owner": "alice",
    }
    claim = claim_from_raw(raw, CATALOG, f"req-{i}", ACCEPTED_AT)
    return claim.root, claim.to_json()


def commit_many(github: GitHubServer, files: dict[str, str | None], message: str = "many") -> str:
    """One commit on main with many files (None: deleted), by `git fast-import` (one process)."""
    parent = github.branch_sha("main")
    lines = [f"commit refs/heads/main\ncommitter Someone <someone@example.com> {int(time.time())} +0000\n"]
    lines.append(f"data {len(message.encode())}\n{message}\nfrom {parent}\n")
    for path, text in files.items():
        if text is None:
            lines.append(f"D {path}\n")
        else:
            data = text.encode()
            lines.append(f"M 100644 inline {path}\ndata {len(data)}\n")
            lines.append(data.decode() + "\n")
    done = github.git.run("fast-import", "--quiet", stdin="".join(lines).encode())
    assert done.returncode == 0, done.stderr.decode()
    sha = github.branch_sha("main")
    assert sha is not None and sha != parent
    return sha


def operations(github: GitHubServer, since: int) -> list[str]:
    """The GraphQL operations asked since request number `since` (REST calls as METHOD path)."""
    return [
        str(operation_name(r.body)) if r.path.endswith("/graphql") else f"{r.method} {r.path}"
        for r in github.requests[since:]
    ]


def blobs_asked(github: GitHubServer, since: int) -> int:
    """How many blobs the DbvendClaimBlobs queries since `since` asked for (their $bN variables)."""
    return sum(
        len([name for name in (r.body.get("variables") or {}) if name.startswith("b")])
        for r in github.requests[since:]
        if r.path.endswith("/graphql") and operation_name(r.body) == "DbvendClaimBlobs"
    )


@pytest.fixture
def github(tmp_path: Path) -> Iterator[GitHubServer]:
    with GitHubServer(tmp_path / "github") as server:
        yield server


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = Ledger.connect(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    yield opened
    opened.engine.dispose()


def test_at_5000_databases_reads_do_not_grow_with_the_fleet(github: GitHubServer, ledger: Ledger) -> None:
    files: dict[str, str | None] = {}
    for i in range(FLEET):
        root, text = claim_text(i)
        files[f"{root}/request.json"] = text
        files[f"{root}/main.tf"] = f"# root {i}\n"
    commit_many(github, files, "5,000 databases")
    repo = GitHubRepository(client_for(github), "acme/infra", index=ledger)

    # The first read fills the index: one tree listing, then the blobs a hundred per query.
    before = len(github.requests)
    claims = repo.claims()
    assert len(claims) == FLEET
    assert operations(github, before) == ["DbvendClaimTree"] + ["DbvendClaimBlobs"] * (FLEET // 100)
    assert blobs_asked(github, before) == FLEET

    # Filled: claims() is the index, no call at all; another ref still asks GitHub.
    before = len(github.requests)
    assert repo.claims() == claims and repo.claims("HEAD") == claims
    assert github.requests[before:] == []
    row = ledger.indexed("terraform/dev/db00042")
    assert row is not None and row.claim.team == "Data" and row.claim.engine == "postgres"
    assert row.claim.monthly_usd is not None and row.claim.monthly_usd > 0
    assert row.claim.expires_at == "2026-11-30T09:30:00Z"

    # An unchanged tree: the listing alone.
    before = len(github.requests)
    report = reconcile_index(ledger, repo)
    assert report.skipped and report.read_blobs == 0
    assert operations(github, before) == ["DbvendClaimTree"]

    # One claim changed, and one root removed: the listing and one blob of one.
    root, text = claim_text(7, team="Search")
    commit_many(github, {f"{root}/request.json": text, "terraform/dev/db00008/request.json": None})
    before = len(github.requests)
    report = reconcile_index(ledger, repo)
    assert (report.read_blobs, report.removed, report.unchanged) == (1, 1, FLEET - 2)
    assert operations(github, before) == ["DbvendClaimTree", "DbvendClaimBlobs"]
    assert blobs_asked(github, before) == 1
    after = repo.claims()
    assert after[root] == text and "terraform/dev/db00008" not in after and len(after) == FLEET - 1
    assert ledger.indexed("terraform/dev/db00008") is None
    changed = ledger.indexed(root)
    assert changed is not None and changed.claim.team == "Search"

    # A push changing one claim: one query, reading that one blob at the push's commit.
    root, text = claim_text(9, team="Payments")
    state = ledger.index_state()
    assert state is not None
    after_sha = commit_many(github, {f"{root}/request.json": text})
    push = push_payload(state.commit_oid, after_sha, modified=[f"{root}/request.json"])
    changes = push_changes(push, "main")
    assert changes is not None and changes.roots == [root]
    before = len(github.requests)
    assert index_push(ledger, repo, changes) == "1 claims indexed, 0 removed"
    assert operations(github, before) == ["DbvendClaimFiles"]
    assert github.requests[before].body["variables"]["f0"] == f"{root}/request.json"
    assert repo.claims()[root] == text
    now = ledger.index_state()
    assert now is not None and now.commit_oid == after_sha
    before = len(github.requests)
    assert reconcile_index(ledger, repo).skipped, "the push left the index at the tree's id"
    assert operations(github, before) == ["DbvendClaimTree"]


def push_payload(
    before: str, after: str, *, added: list[str] | None = None, modified: list[str] | None = None,
    removed: list[str] | None = None, ref: str = "refs/heads/main",
) -> dict[str, Any]:  # fmt: skip
    """GitHub's example push to a branch (@octokit/webhooks-examples), moved to acme/infra."""
    require_octokit()
    payload = from_example("push", None, "acme/infra", 1, index=4)
    commit = payload["commits"][0]
    commit.update(id=after, added=added or [], modified=modified or [], removed=removed or [])
    payload.update(ref=ref, before=before, after=after, head_commit=dict(commit))
    return payload


def test_a_push_delivery_indexes_what_it_changed(tmp_path: Path, github: GitHubServer) -> None:
    """Through POST /github/webhook with GitHub's own push shape: an added and a removed claim."""
    for i in range(3):
        root, text = claim_text(i)
        github.commit("main", {f"{root}/request.json": text})
    services: Services = github_services(tmp_path, github)
    assert len(services.backend.claims()) == 3  # filled
    state = services.ledger.index_state()
    assert state is not None
    added, text = claim_text(3, environment="prod")
    after = github.commit("main", {f"{added}/request.json": text, "terraform/dev/db00001/request.json": None})
    payload = push_payload(
        state.commit_oid,
        after,
        added=[f"{added}/request.json", f"{added}/main.tf"],
        removed=["terraform/dev/db00001/request.json", "terraform/dev/db00001/main.tf"],
    )
    payload["repository"]["id"] = github.repository_id
    with TestClient(create_app(services)) as client:
        before = len(github.requests)
        answer = signed_delivery(client, "push", payload, validate=False)
        assert answer.status_code == 200, answer.text
        assert answer.json()["detail"] == "push: 1 claims indexed, 1 removed"
        assert operations(github, before) == ["DbvendRepository", "DbvendClaimFiles"]  # trust, then the read
        assert sorted(services.backend.claims()) == ["terraform/dev/db00000", "terraform/dev/db00002", added]
        # The same delivery again, or a push to another branch: nothing read.
        other = push_payload(after, after, modified=[f"{added}/request.json"], ref="refs/heads/feature")
        other["repository"]["id"] = github.repository_id
        before = len(github.requests)
        assert (
            "not the default branch"
            in signed_delivery(client, "push", other, validate=False).json()["detail"]
        )
        assert operations(github, before) == ["DbvendRepository"]


def test_a_push_the_index_cannot_follow_reconciles(github: GitHubServer, ledger: Ledger) -> None:
    """A push after one the index missed (its `before` is not the index's commit), or a forced one,
    is not trusted to list every change: the tree's ids are compared instead."""
    repo = GitHubRepository(client_for(github), "acme/infra", index=ledger)
    first, text = claim_text(1)
    github.commit("main", {f"{first}/request.json": text})
    reconcile_index(ledger, repo)
    missed, text = claim_text(2)
    middle = github.commit("main", {f"{missed}/request.json": text})  # its push never arrived
    latest, text = claim_text(3)
    after = github.commit("main", {f"{latest}/request.json": text})
    changes = push_changes(push_payload(middle, after, added=[f"{latest}/request.json"]), "main")
    assert changes is not None
    before = len(github.requests)
    done = index_push(ledger, repo, changes)
    assert done.startswith("reconciled (the index stands at") and "2 claims read" in done
    assert operations(github, before) == ["DbvendClaimTree", "DbvendClaimBlobs"]
    assert sorted(repo.claims()) == [first, missed, latest]
    forced = push_changes({**push_payload(after, after), "forced": True}, "main")
    assert forced is not None and forced.reconcile is not None


def test_a_claim_that_does_not_parse_is_indexed_as_text(github: GitHubServer, ledger: Ledger) -> None:
    repo = GitHubRepository(client_for(github), "acme/infra", index=ledger)
    github.commit("main", {"terraform/dev/broken/request.json": "{not json\n"})
    assert repo.claims() == {"terraform/dev/broken": "{not json\n"}
    row = ledger.indexed("terraform/dev/broken")
    assert row is not None and row.claim.engine is None and row.claim.monthly_usd is None


def test_the_local_repository_keeps_the_same_index(tmp_path: Path, ledger: Ledger) -> None:
    repo = LocalRepository.open_or_create(tmp_path / "repo")
    root, text = claim_text(1)
    (tmp_path / "repo" / root).mkdir(parents=True)
    (tmp_path / "repo" / root / "request.json").write_text(text)
    repo._git("add", "-A")
    repo._git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    report = reconcile_index(ledger, repo)
    assert (report.read_blobs, report.removed) == (1, 0)
    assert ledger.indexed_claims() == repo.claims() == {root: text}
    assert reconcile_index(ledger, repo).skipped
    changed = json.loads(text)
    changed["request"]["team"] = "Search"
    (tmp_path / "repo" / root / "request.json").write_text(json.dumps(changed))
    repo._git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "two")
    assert reconcile_index(ledger, repo).read_blobs == 1
    row = ledger.indexed(root)
    assert row is not None and row.claim.team == "Search"
    files = repo.claim_files(repo._git("rev-parse", "main").strip(), [root, "terraform/dev/none"])
    assert set(files.found) == {root}
