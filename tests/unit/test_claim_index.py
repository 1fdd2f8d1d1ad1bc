"""The claims index's pure parts (engine.claim_index, engine.github.claim_reads' documents and
decoders): what a reconcile reads and removes, the row a claim becomes, what a push changed."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse, validate

from engine.catalog import default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.claim import claim_from_raw
from engine.claim_index import (
    BLOBS_PER_QUERY,
    batches,
    claim_blobs,
    claim_root,
    index_diff,
    indexed_claim,
    ls_tree_entries,
    push_changes,
)
from engine.errors import GitOpsError
from engine.github import claim_reads
from tests.support.claims import ACCEPTED_AT
from tests.support.github_schema import github_schema
from tests.support.octokit import example

CATALOG = parse_catalog(default_catalog_text(), "dbvend.yaml")
A, B, C = "a" * 40, "b" * 40, "c" * 40


def test_only_changed_blobs_are_read_and_gone_roots_removed() -> None:
    tree = {"terraform/dev/x": A, "terraform/dev/y": B, "terraform/prod/z": C}
    indexed = {"terraform/dev/x": A, "terraform/dev/y": C, "terraform/dev/gone": A}
    diff = index_diff(tree, indexed)
    assert diff.fetch == {"terraform/dev/y": B, "terraform/prod/z": C}
    assert diff.removed == ["terraform/dev/gone"]
    assert diff.unchanged == 1
    same = index_diff(tree, tree)
    assert (same.fetch, same.removed, same.unchanged) == ({}, [], 3)
    assert index_diff({}, {}).fetch == {}


def test_a_claim_becomes_its_row_with_cost_and_expiry() -> None:
    raw = {"database_name": "orders", "database_engine": "postgres", "environment": "dev", "team": "Data"}
    claim = claim_from_raw({**raw, "owner": "alice"}, CATALOG, "req-1", ACCEPTED_AT)
    row = indexed_claim(claim.root, A, claim.to_json())
    assert (row.root, row.environment, row.identifier, row.blob_oid) == (
        "terraform/dev/orders",
        "dev",
        "orders",
        A,
    )
    assert (row.engine, row.owner, row.team, row.expires_at) == (
        "postgres",
        "alice",
        "Data",
        claim.expires_at,
    )
    assert row.monthly_usd is not None and row.monthly_usd > 0
    assert row.claim == claim.to_json()


@pytest.mark.parametrize("text", ["{not json", "[]", '{"schema": 1}', ""])
def test_a_claim_that_does_not_parse_keeps_its_text(text: str, caplog: pytest.LogCaptureFixture) -> None:
    row = indexed_claim("terraform/dev/broken", A, text)
    assert row.claim == text and (row.engine, row.owner, row.team, row.monthly_usd) == (None,) * 4
    assert "terraform/dev/broken" in caplog.text  # logged, not dropped


def test_only_a_roots_request_json_is_a_claim() -> None:
    entries = [
        ("blob", A, "terraform/dev/x/request.json"),
        ("blob", B, "terraform/dev/x/main.tf"),
        ("tree", C, "terraform/dev/y/request.json"),  # a directory of that name
        ("blob", C, "terraform/dev/Upper/request.json"),
        ("blob", C, "terraform/request.json"),
        ("blob", C, "terraform/dev/x/deeper/request.json"),
    ]
    assert claim_blobs(entries) == {"terraform/dev/x": A}
    assert claim_root("terraform/prod/orders/request.json") == "terraform/prod/orders"
    assert claim_root("terraform/prod/orders/main.tf") is None
    listing = f"100644 blob {A}\tterraform/dev/x/request.json\x00100644 blob {B}\tterraform/dev/x/main.tf\x00"
    assert list(ls_tree_entries(listing)) == [
        ("blob", A, "terraform/dev/x/request.json"),
        ("blob", B, "terraform/dev/x/main.tf"),
    ]


def test_batches_of_a_hundred() -> None:
    assert [len(b) for b in batches(list(range(250)))] == [100, 100, 50]
    assert list(batches([])) == []
    assert BLOBS_PER_QUERY == 100


def github_push(**changes: Any) -> dict[str, Any]:
    """GitHub's example push to a branch, with `changes` to it."""
    payload = example("push", None, index=4)
    assert payload["ref"] == "refs/heads/master"
    return {**payload, **changes}


def test_a_push_names_the_roots_whose_claim_changed() -> None:
    commit = {"added": ["terraform/dev/x/request.json", "terraform/dev/x/main.tf"], "modified": ["README.md"]}
    second = {"removed": ["terraform/prod/y/request.json"], "modified": ["terraform/dev/x/request.json"]}
    found = push_changes(github_push(before=A, after=B, commits=[commit, second]), "master")
    assert found is not None
    assert (found.before, found.after, found.roots) == (A, B, ["terraform/dev/x", "terraform/prod/y"])
    assert found.terraform_touched and found.reconcile is None
    readme = push_changes(github_push(before=A, after=B), "master")  # GitHub's own: README.md added
    assert readme is not None and readme.roots == [] and not readme.terraform_touched


def test_pushes_elsewhere_are_not_the_index_s() -> None:
    assert push_changes(github_push(), "main") is None  # another branch
    tag = example("push", None, index=0)
    assert tag["ref"].startswith("refs/tags/") and push_changes(tag, "master") is None
    assert push_changes(github_push(deleted=True, after="0" * 40), "master") is None


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"forced": True}, "forced"),
        ({"before": "0" * 40}, "created"),
        ({"commits": []}, "no commits"),
        ({"commits": [{"added": []}] * 2048}, "cut"),
    ],
)
def test_a_push_that_may_not_list_everything_reconciles(changes: dict[str, Any], why: str) -> None:
    found = push_changes(github_push(**{"before": A, "after": B, **changes}), "master")
    assert found is not None and found.reconcile is not None and why in found.reconcile


# -- GitHub's documents and answers ---------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 100])
def test_batched_documents_validate_against_githubs_schema(count: int) -> None:
    for document in (claim_reads.blobs_query(count), claim_reads.files_query(count)):
        assert validate(github_schema(), parse(document)) == []
        assert document.count(": object(oid: $b") + document.count(": file(path: $f") == count
    assert claim_reads.blobs_query(1) == claim_reads.CLAIM_BLOBS_QUERY
    assert claim_reads.files_query(1) == claim_reads.CLAIM_FILES_QUERY
    bare = claim_reads._without_files(claim_reads.CLAIM_FILES_QUERY)
    assert validate(github_schema(), parse(bare)) == [] and "$f0" not in bare


def entries(*items: dict[str, Any]) -> dict[str, Any]:
    return {"entries": list(items)}


def test_the_tree_answer_gives_blob_ids_without_text() -> None:
    database = entries(
        {"name": "request.json", "type": "blob", "oid": A}, {"name": "main.tf", "type": "blob", "oid": B}
    )
    environment = entries({"name": "orders", "type": "tree", "object": database})
    terraform = {
        "oid": C,
        "type": "tree",
        "object": entries({"name": "dev", "type": "tree", "object": environment}),
    }
    data = {"repository": {"object": {"oid": B, "file": terraform}}}
    tree = claim_reads.claim_tree(data, "acme/infra", "HEAD")
    assert (tree.commit_oid, tree.tree_oid, tree.blobs) == (B, C, {"terraform/dev/orders": A})
    empty = claim_reads.claim_tree({"repository": {"object": {"oid": B, "file": None}}}, "acme/infra", "HEAD")
    assert (empty.tree_oid, empty.blobs) == (None, {})
    for unknown in (None, {}):
        with pytest.raises(GitOpsError, match="unknown ref"):
            claim_reads.claim_tree({"repository": {"object": unknown}}, "acme/infra", "nope")


def test_blob_and_file_answers_leave_out_what_is_not_text() -> None:
    data = {
        "repository": {
            "b0": {"oid": A, "text": "{}", "isTruncated": False, "byteSize": 2},
            "b1": None,
            "b2": {},
            "b3": {"oid": C, "text": "cut", "isTruncated": True, "byteSize": 600_000},
        }
    }
    assert claim_reads.blob_texts(data, "acme/infra", {"b0": A, "b1": B, "b2": B, "b3": C}) == {A: "{}"}
    commit = {
        "oid": B,
        "terraform": {"oid": C},
        "f0": {"oid": A, "object": {"text": "{}", "isTruncated": False}},
        "f1": None,
    }
    files = claim_reads.claim_files(
        {"repository": {"object": commit}}, "acme/infra", {"f0": "r/x", "f1": "r/y"}
    )
    assert (files.commit_oid, files.tree_oid, files.found) == (B, C, {"r/x": (A, "{}")})
    with pytest.raises(GitOpsError):
        claim_reads.claim_files({"repository": {"object": None}}, "acme/infra", {})
