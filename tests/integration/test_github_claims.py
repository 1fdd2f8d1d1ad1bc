"""GitHubRepository.claims: every request.json at a ref in one GraphQL call (query DbvendClaims),
against tests/support/github_server.py and checked against engine.ci.claims_at on the fake's bare
repository."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.ci import claims_at
from engine.claim import Claim, claim_from_raw
from engine.errors import GitOpsError
from engine.github.repository import GitHubRepository
from engine.gitops import Change, Proposal
from engine.render import render_claim
from tests.support.claims import SEED
from tests.support.github_clients import client_for
from tests.support.github_server import BLOB_TEXT_LIMIT, GitHubServer

ORDERS = {"database_name": "orders", "database_engine": "postgres", "environment": "dev"}
ACCEPTED_AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


@pytest.fixture
def github(tmp_path: Path) -> Iterator[GitHubServer]:
    with GitHubServer(tmp_path) as server:
        yield server


@pytest.fixture
def repo(github: GitHubServer) -> GitHubRepository:
    return GitHubRepository(client_for(github), f"{github.owner}/{github.repo}")


def request(repo: GitHubRepository, raw: dict[str, Any], request_id: str) -> tuple[Claim, Change]:
    """A change opened through the backend (no policy gate: claims() does not care)."""
    claim = claim_from_raw(raw, repo.catalog(), request_id, ACCEPTED_AT)
    change = repo.open_change(
        Proposal(render_claim(claim), claim, f"dbvend: {claim.identifier}", "a test request")
    )
    return claim, change


def one_call(github: GitHubServer, repo: GitHubRepository, ref: str) -> dict[str, str]:
    """claims(ref), asserting it took exactly one HTTP request: POST /graphql, query DbvendClaims."""
    before = len(github.requests)
    found = repo.claims(ref)
    made = github.requests[before:]
    assert [(r.method, r.path) for r in made] == [("POST", "/graphql")]
    assert "query DbvendClaims" in made[0].body["query"]
    return found


def test_a_repository_without_claims_has_none(github: GitHubServer, repo: GitHubRepository) -> None:
    assert one_call(github, repo, "main") == {} == claims_at(github.git_dir, "main")
    github.commit("bare", {"terraform/README.md": None})  # no terraform tree at all
    assert github.git.resolve("bare:terraform") is None
    assert one_call(github, repo, "bare") == {}


def test_merged_claims_are_read_as_claims_at_reads_them(github: GitHubServer, repo: GitHubRepository) -> None:
    first, change = request(repo, SEED, "req-1")
    repo.merge(change.id)
    second, change = request(repo, ORDERS, "req-2")
    repo.merge(change.id)
    found = one_call(github, repo, "main")
    assert found == {first.root: first.to_json(), second.root: second.to_json()}
    assert set(found) == {"terraform/prod/mydb123", "terraform/dev/orders"}
    assert found == claims_at(github.git_dir, "main")
    assert repo.claims() == found  # main by default
    head = github.branch_sha("main") or ""
    assert one_call(github, repo, head) == found  # a commit sha is a ref too


def test_an_open_change_is_on_its_branch_not_on_main(github: GitHubServer, repo: GitHubRepository) -> None:
    merged, change = request(repo, SEED, "req-1")
    repo.merge(change.id)
    opened, change = request(repo, ORDERS, "req-2")
    assert change.status == "open" and change.branch == "dbvend/dev/orders"
    assert one_call(github, repo, "main") == {merged.root: merged.to_json()}
    on_branch = one_call(github, repo, change.branch)
    assert on_branch == {merged.root: merged.to_json(), opened.root: opened.to_json()}
    assert on_branch == claims_at(github.git_dir, change.branch)
    assert one_call(github, repo, change.commit) == on_branch


def test_an_unknown_ref_is_an_error_not_an_empty_repository(
    github: GitHubServer, repo: GitHubRepository
) -> None:
    with pytest.raises(GitOpsError, match="unknown ref 'nope'"):
        one_call(github, repo, "nope")
    with pytest.raises(GitOpsError, match="unknown ref"):
        one_call(github, repo, "0" * 40)
    before = len(github.requests)
    for bad in ("", "main:terraform"):
        with pytest.raises(GitOpsError, match="not a ref"):
            repo.claims(bad)
    assert len(github.requests) == before, "refused before any call"


def test_only_request_json_at_terraform_env_id_counts(github: GitHubServer, repo: GitHubRepository) -> None:
    claim, change = request(repo, SEED, "req-1")
    repo.merge(change.id)
    text = claim.to_json()
    github.commit(
        "main",
        {
            "request.json": text,  # shallower ...
            "terraform/request.json": text,
            "terraform/prod/request.json": text,
            "terraform/prod/mydb123/modules/request.json": text,  # ... and deeper
            "terraform/prod/other/request.json/x": text,  # a directory named request.json
            "terraform/prod/Upper/request.json": text,  # not a database root's name
            "terraform/prod/other/main.tf": "# no request.json beside it\n",
        },
    )
    found = one_call(github, repo, "main")
    assert found == {claim.root: text} == claims_at(github.git_dir, "main")


def test_a_truncated_request_json_is_an_error_naming_it(github: GitHubServer, repo: GitHubRepository) -> None:
    github.commit("main", {"terraform/dev/big/request.json": "{}" + " " * BLOB_TEXT_LIMIT + "\n"})
    with pytest.raises(GitOpsError, match=r"terraform/dev/big/request\.json at main is too large"):
        one_call(github, repo, "main")
    github.commit("main", {"terraform/dev/big/main.tf": "#" * (BLOB_TEXT_LIMIT + 1)})
    github.commit("main", {"terraform/dev/big/request.json": '{"small": true}\n'})
    assert one_call(github, repo, "main") == {"terraform/dev/big": '{"small": true}\n'}  # main.tf is not read
