"""The local GitOps backend against real git: branch + one commit per change, conflicts, merge."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.checkov.gate import PolicyGate
from engine.claim import parse_claim
from engine.errors import ChangeNotFound, CheckFailed, Conflict, GitOpsError
from engine.gitops.local import LocalRepository
from engine.hcl import parse_hcl, resources_of
from engine.pipeline import process_request
from tests.support.claims import ACCEPTED_AT
from tests.support.repositories import repo_snapshot

SEED = {"database_name": "mydb123", "database_engine": "mysql", "environment": "prod"}


def git(repo: LocalRepository, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo.path), *args], capture_output=True, text=True, check=True
    ).stdout


def test_a_new_repository_has_the_catalog_and_a_first_commit(tmp_path: Path) -> None:
    repo = LocalRepository.open_or_create(tmp_path / "fresh")
    assert git(repo, "log", "--format=%an %s", "main").strip() == "dbvend dbvend: initialise the repository"
    assert "environments:" in git(repo, "show", "main:dbvend.yaml")
    assert repo.catalog().environments["prod"].instance_classes["small"] == "db.t3.medium"


def test_a_request_becomes_one_commit_on_its_branch(repo: LocalRepository, gate: PolicyGate) -> None:
    outcome = process_request(SEED, repo, gate, request_id="req-0001", accepted_at=ACCEPTED_AT)
    change = outcome.change
    assert change is not None and change.status == "open" and change.branch == "dbvend/prod/mydb123"
    assert git(repo, "rev-list", "--count", f"main..{change.branch}").strip() == "1"
    assert git(repo, "log", "-1", "--format=%an <%ae>", change.branch).strip() == "dbvend <dbvend@localhost>"
    assert "Request-Id: req-0001" in git(repo, "log", "-1", "--format=%B", change.branch)
    files = git(repo, "diff", "--name-only", f"main...{change.branch}").split()
    assert files == ["terraform/prod/mydb123/main.tf", "terraform/prod/mydb123/request.json"]
    main_tf = git(repo, "show", f"{change.branch}:terraform/prod/mydb123/main.tf")
    parsed = parse_hcl(main_tf)
    db = resources_of(parsed)[("aws_db_instance", "this")]
    assert db["instance_class"] == '"db.t3.medium"' and db["engine"] == '"mysql"'
    claim = parse_claim(git(repo, "show", f"{change.branch}:terraform/prod/mydb123/request.json"))
    assert claim.request_id == "req-0001" and claim.instance_class == "db.t3.medium"
    assert git(repo, "status", "--porcelain") == "", "the working tree is never touched by a request"


def test_the_description_has_claim_cost_and_checks(repo: LocalRepository, gate: PolicyGate) -> None:
    change = process_request(SEED, repo, gate, request_id="req-0002", accepted_at=ACCEPTED_AT).change
    assert change is not None
    text = change.description
    assert "| instance_class | db.t3.medium |" in text
    assert "### Estimated monthly cost: $" in text
    for check in ("hcl-parse", "claim", "no-password", "provider-schema", "terraform-fmt"):
        assert f"| {check} |" in text


def test_conflict_with_an_open_change_and_with_main(repo: LocalRepository, gate: PolicyGate) -> None:
    change = process_request(SEED, repo, gate, request_id="req-a", accepted_at=ACCEPTED_AT).change
    assert change is not None
    before = repo_snapshot(repo)
    with pytest.raises(Conflict, match=r"prod/mydb123 is already requested in open change #1"):
        process_request(SEED, repo, gate, request_id="req-b", accepted_at=ACCEPTED_AT)
    assert repo_snapshot(repo) == before
    repo.merge(change.id)
    with pytest.raises(Conflict, match=r"prod/mydb123 already exists on main"):
        process_request(SEED, repo, gate, request_id="req-c", accepted_at=ACCEPTED_AT)
    # The same name in another environment is another database.
    assert process_request({**SEED, "environment": "dev"}, repo, gate, request_id="req-d").change is not None


def test_the_same_request_twice_finds_its_change(repo: LocalRepository, gate: PolicyGate) -> None:
    first = process_request(SEED, repo, gate, request_id="req-same", accepted_at=ACCEPTED_AT).change
    again = process_request(SEED, repo, gate, request_id="req-same", accepted_at=ACCEPTED_AT).change
    assert first == again
    assert len(repo.changes()) == 1


def test_merge_brings_the_root_onto_main_and_deletes_the_branch(
    repo: LocalRepository, gate: PolicyGate
) -> None:
    one = process_request(SEED, repo, gate, request_id="req-1").change
    two = process_request({**SEED, "database_name": "other"}, repo, gate, request_id="req-2").change
    assert one is not None and two is not None
    merged_one = repo.merge(one.id)
    merged_two = repo.merge(two.id)  # main moved since two was branched: a real merge
    assert merged_one.status == merged_two.status == "merged"
    tree = git(repo, "ls-tree", "-r", "--name-only", "main").split()
    assert "terraform/prod/mydb123/main.tf" in tree and "terraform/prod/other/main.tf" in tree
    assert git(repo, "branch", "--list", "dbvend/*").strip() == ""
    parents = git(repo, "log", "-1", "--format=%P", "main").split()
    assert len(parents) == 2
    assert (repo.path / "terraform/prod/other/main.tf").exists(), "the checked-out main follows"
    with pytest.raises(GitOpsError, match="merged, not open"):
        repo.merge(one.id)
    with pytest.raises(ChangeNotFound):
        repo.merge(99)


def test_changes_are_listed_by_status(repo: LocalRepository, gate: PolicyGate) -> None:
    one = process_request(SEED, repo, gate, request_id="req-1").change
    process_request({**SEED, "database_name": "two"}, repo, gate, request_id="req-2")
    assert one is not None
    repo.merge(one.id)
    assert [c.id for c in repo.changes()] == [1, 2]
    assert [c.id for c in repo.changes("open")] == [2]
    assert [c.id for c in repo.changes("merged")] == [1]


def test_a_failing_check_commits_nothing(
    repo: LocalRepository, monkeypatch: pytest.MonkeyPatch, gate: PolicyGate
) -> None:
    import engine.pipeline

    def broken(claim: object) -> object:
        from engine.render import render_claim

        rendered = render_claim(claim)  # type: ignore[arg-type]
        text = rendered.files["main.tf"].replace("manage_master_user_password", "password")
        return type(rendered)(rendered.root, {**rendered.files, "main.tf": text})

    monkeypatch.setattr(engine.pipeline, "render_claim", broken)
    before = repo_snapshot(repo)
    with pytest.raises(CheckFailed, match="no-password"):
        process_request(SEED, repo, gate, request_id="req-x")
    assert repo_snapshot(repo) == before


def test_an_existing_user_checkout_is_left_alone(tmp_path: Path, gate: PolicyGate) -> None:
    path = tmp_path / "infra"
    repo = LocalRepository.open_or_create(path)
    (path / "notes.txt").write_text("work in progress\n")
    change = process_request(SEED, repo, gate, request_id="req-1").change
    assert change is not None
    assert git(repo, "status", "--porcelain").strip() == "?? notes.txt"
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"


def test_a_closed_change_frees_the_name(repo: LocalRepository, gate: PolicyGate) -> None:
    change = process_request(SEED, repo, gate, request_id="req-1").change
    assert change is not None
    closed = repo.close(change.id)
    assert closed.status == "closed" and git(repo, "branch", "--list", "dbvend/*").strip() == ""
    with pytest.raises(GitOpsError, match="closed, not open"):
        repo.merge(change.id)
    again = process_request(SEED, repo, gate, request_id="req-2").change
    assert again is not None and again.id == 2 and again.status == "open"


def test_a_change_made_after_a_merge_builds_on_the_new_main(repo: LocalRepository, gate: PolicyGate) -> None:
    first = process_request(SEED, repo, gate, request_id="req-1").change
    assert first is not None
    repo.merge(first.id)
    later = process_request({**SEED, "database_name": "later"}, repo, gate, request_id="req-2").change
    assert later is not None
    assert later.base == git(repo, "rev-parse", "main").strip()
    tree = git(repo, "ls-tree", "-r", "--name-only", later.branch).split()
    assert "terraform/prod/mydb123/main.tf" in tree and "terraform/prod/later/main.tf" in tree
    assert git(repo, "diff", "--name-only", f"main...{later.branch}").split() == [
        "terraform/prod/later/main.tf",
        "terraform/prod/later/request.json",
    ]


def test_main_moved_by_hand_is_followed_exactly(repo: LocalRepository, gate: PolicyGate) -> None:
    """The kept index of main follows removals and edits made with plain git, not only merges."""
    for n, name in enumerate(("first", "second")):
        change = process_request({**SEED, "database_name": name}, repo, gate, request_id=f"req-{n}").change
        assert change is not None
        repo.merge(change.id)
    process_request(
        {**SEED, "database_name": "warm"}, repo, gate, request_id="req-warm"
    )  # index of main kept
    git(repo, "rm", "-q", "-r", "terraform/prod/first")
    (repo.path / "NOTES.md").write_text("hand-made\n")
    git(repo, "add", "NOTES.md")
    git(repo, "-c", "user.name=someone", "-c", "user.email=someone@example.com", "commit", "-qm", "by hand")
    later = process_request({**SEED, "database_name": "later"}, repo, gate, request_id="req-later").change
    assert later is not None
    assert git(repo, "diff", "--name-status", "main", later.branch).splitlines() == [
        "A\tterraform/prod/later/main.tf",
        "A\tterraform/prod/later/request.json",
    ]


def test_a_crash_between_branch_and_record_is_finished_by_the_redelivery(
    repo: LocalRepository, monkeypatch: pytest.MonkeyPatch, gate: PolicyGate
) -> None:
    def crash(change: object) -> None:
        raise KeyboardInterrupt("killed between update-ref and recording the change")

    with monkeypatch.context() as patched:
        patched.setattr(repo, "_save", crash)
        with pytest.raises(KeyboardInterrupt):
            process_request(SEED, repo, gate, request_id="req-1")
    branch_commit = git(repo, "rev-parse", "dbvend/prod/mydb123").strip()
    change = process_request(SEED, repo, gate, request_id="req-1").change
    assert change is not None and change.commit == branch_commit
    assert change.base == git(repo, "rev-parse", "main").strip()
    assert [c.id for c in repo.changes()] == [change.id]
    with pytest.raises(Conflict):
        process_request(SEED, repo, gate, request_id="req-2")


def test_a_redelivery_after_merge_or_close_finds_the_change(repo: LocalRepository, gate: PolicyGate) -> None:
    merged = process_request(SEED, repo, gate, request_id="req-1").change
    closed = process_request({**SEED, "database_name": "other"}, repo, gate, request_id="req-2").change
    assert merged is not None and closed is not None
    repo.merge(merged.id)
    repo.close(closed.id)
    again = process_request(SEED, repo, gate, request_id="req-1").change
    assert again is not None and (again.id, again.status) == (merged.id, "merged")
    again = process_request({**SEED, "database_name": "other"}, repo, gate, request_id="req-2").change
    assert again is not None and (again.id, again.status) == (closed.id, "closed")
    assert len(repo.changes()) == 2


def test_the_catalog_follows_main_however_it_moves(repo: LocalRepository) -> None:
    """catalog() is parsed once per version of main; a commit by hand, packed refs and a reset
    all show at once."""

    def commit_catalog(old: str, new: str) -> None:
        path = repo.path / "dbvend.yaml"
        path.write_text(git(repo, "show", "main:dbvend.yaml").replace(old, new, 1))
        git(repo, "add", "dbvend.yaml")
        git(repo, "-c", "user.name=a", "-c", "user.email=a@example.com", "commit", "-qm", new)

    assert repo.catalog() is repo.catalog()  # kept while main stands still
    assert repo.catalog().environments["prod"].instance_classes["small"] == "db.t3.medium"
    commit_catalog("{small: db.t3.medium,", "{small: db.t3.large,")
    assert repo.catalog().environments["prod"].instance_classes["small"] == "db.t3.large"
    git(repo, "pack-refs", "--all")  # main now lives in packed-refs only
    assert repo.catalog().environments["prod"].instance_classes["small"] == "db.t3.large"
    commit_catalog("{small: db.t3.large,", "{small: db.t3.xlarge,")
    assert repo.catalog().environments["prod"].instance_classes["small"] == "db.t3.xlarge"
    git(repo, "pack-refs", "--all")
    git(repo, "reset", "-q", "--hard", "HEAD~2")
    assert repo.catalog().environments["prod"].instance_classes["small"] == "db.t3.medium"
