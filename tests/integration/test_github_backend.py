"""The GitHub backend (githubkit) against tests/support/github_server.py: commits in a real bare
repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from engine.checkov.gate import PolicyGate
from engine.errors import Conflict, GitOpsError
from engine.github.client import Pacer, github_client
from engine.github.replies import GitHubIssueReplies
from engine.github.repository import GitHubRepository
from engine.intake import accept_request
from engine.pipeline import process_request
from engine.queue.local import LocalQueue
from engine.queue.worker import Worker
from engine.store.ledger import Ledger
from tests.support.claims import SEED
from tests.support.github_clients import FAST, client_for, github_services
from tests.support.github_server import GitHubServer


@pytest.fixture
def github(tmp_path: Path) -> Iterator[GitHubServer]:
    with GitHubServer(tmp_path) as server:
        yield server


@pytest.fixture
def repo(github: GitHubServer) -> GitHubRepository:
    return GitHubRepository(client_for(github), f"{github.owner}/{github.repo}")


def calls_during(github: GitHubServer, action: Any) -> tuple[Any, list[tuple[str, str]]]:
    before = len(github.calls)
    result = action()
    return result, github.calls[before:]


def test_a_new_request_is_one_commit_and_one_pull_request_in_at_most_five_calls(
    github: GitHubServer, repo: GitHubRepository, gate: PolicyGate
) -> None:
    outcome, calls = calls_during(github, lambda: process_request(SEED, repo, gate, request_id="req-1"))
    change = outcome.change
    assert change is not None and change.id == 1 and change.branch == "dbvend/prod/mydb123"
    # dbvend.yaml, state, branch + commit, pull request, labels: the change in five calls;
    # then the dbvend/policy check run on its head commit.
    assert [path for _, path in calls] == [
        "/graphql",
        "/graphql",
        "/graphql",
        "/repos/acme/infra/pulls",
        "/repos/acme/infra/issues/1/labels",
        "/repos/acme/infra/check-runs",
    ]
    (run,) = github.check_runs
    assert run["name"] == "dbvend/policy" and run["conclusion"] == "success"
    assert run["head_sha"] == change.commit
    notes = run["annotations"]
    assert {a["annotation_level"] for a in notes} == {"notice"}  # the default skips, each with its reason
    assert {a["path"] for a in notes} == {"terraform/prod/mydb123/main.tf"}
    assert all(a["message"].startswith("Skipped by dbvend.yaml: ") for a in notes)
    assert github.log("dbvend/prod/mydb123")[0].endswith("dbvend: mysql database mydb123 in prod")
    assert len(github.log("dbvend/prod/mydb123")) == len(github.log("main")) + 1, "exactly one commit"
    main_tf = github.read_file("dbvend/prod/mydb123", "terraform/prod/mydb123/main.tf")
    assert main_tf == outcome.rendered.files["main.tf"]
    pull = github.pull_request(1)
    assert {label["name"] for label in pull["labels"]} == {"dbvend", "prod"}
    assert change.request_id == "req-1" and change.link and change.status == "open"
    assert repo.change(1).description == change.description


def test_a_redelivered_request_makes_no_second_pull_request(
    github: GitHubServer, repo: GitHubRepository, gate: PolicyGate
) -> None:
    first = process_request(SEED, repo, gate, request_id="req-1").change
    again = process_request(SEED, repo, gate, request_id="req-1").change
    assert first is not None and again is not None and again.id == first.id
    assert len(github.pulls) == 1 and len(github.log("dbvend/prod/mydb123")) == len(github.log("main")) + 1
    with pytest.raises(Conflict, match="already requested in open pull request #1"):
        process_request(SEED, repo, gate, request_id="req-other")


def test_a_crash_between_branch_and_pull_request_is_finished_by_the_redelivery(
    github: GitHubServer, repo: GitHubRepository, gate: PolicyGate
) -> None:
    github.fail("POST", r"/repos/acme/infra/pulls", 422, times=1, body={"message": "simulated crash"})
    with pytest.raises(GitOpsError):
        process_request(SEED, repo, gate, request_id="req-1")
    assert github.branch_sha("dbvend/prod/mydb123") is not None and not github.pulls
    change = process_request(SEED, repo, gate, request_id="req-1").change
    assert change is not None and len(github.pulls) == 1
    assert len(github.log("dbvend/prod/mydb123")) == len(github.log("main")) + 1


def test_502s_and_a_403_with_retry_after_are_retried(
    github: GitHubServer, repo: GitHubRepository, gate: PolicyGate
) -> None:
    github.fail("POST", r"/graphql", 502, times=2)
    github.fail("POST", r"/repos/acme/infra/pulls", 403, headers={"Retry-After": "1"})
    change = process_request(SEED, repo, gate, request_id="req-1").change
    assert change is not None and len(github.pulls) == 1


def test_a_permanent_failure_ends_failed_with_its_reason(
    tmp_path: Path, github: GitHubServer, repo: GitHubRepository, gate: PolicyGate
) -> None:
    ledger = Ledger.connect(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    record, _ = accept_request(SEED, "api", "key-a", ledger, repo)
    github.fail("POST", r"/repos/acme/infra/pulls", 502, times=100)
    worker = Worker(ledger, LocalQueue(ledger, visibility_timeout=0.01, max_receives=2), repo, gate, None)
    worker.retry_delays = (0.0,)
    while worker.run_once():
        pass
    for message in LocalQueue(ledger).dead_letters():
        assert message.request_id == record.id
    failed = ledger.get(record.id)
    assert failed is not None and failed.status == "failed"
    assert "502" in failed.errors[0]["error"] and "open a pull request" in failed.errors[0]["error"]


def test_merge_and_list(github: GitHubServer, repo: GitHubRepository, gate: PolicyGate) -> None:
    change = process_request(SEED, repo, gate, request_id="req-1").change
    assert change is not None
    merged = repo.merge(change.id)
    assert merged.status == "merged" and github.read_file("main", "terraform/prod/mydb123/main.tf")
    assert [c.id for c in repo.changes("merged")] == [1] and repo.changes("open") == []
    with pytest.raises(Conflict, match="already exists on main"):
        process_request(SEED, repo, gate, request_id="req-2")
    assert repo.read_file("main", "dbvend.yaml") is not None and repo.read_file("main", "nope") is None


def test_issue_replies_edit_one_comment(github: GitHubServer) -> None:
    replies = GitHubIssueReplies(client_for(github), "acme/infra")
    issue = github.create_issue("[database] orders", "body", user="alice")
    replies.reply(issue, "<!-- m -->", "<!-- m -->\nfirst")
    replies.reply(issue, "<!-- m -->", "<!-- m -->\nsecond")
    mine = [c for c in github.comments if c["issue_number"] == issue]
    assert [c["body"] for c in mine] == ["<!-- m -->\nsecond"]


def test_the_app_authenticates_as_its_installation(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with GitHubServer(tmp_path, app_public_key=public) as server:
        client = github_client(
            base_url=server.url,
            app_id=server.app_id,
            private_key=private,
            repository="acme/infra",
            retry=FAST,
        )
        repo = GitHubRepository(client, "acme/infra")
        assert repo.catalog().environments["prod"].production
        assert ("POST", f"/app/installations/{server.installation_id}/access_tokens") in server.calls
        assert server.issued_tokens


def test_more_than_50_findings_go_in_batches_of_50(github: GitHubServer, repo: GitHubRepository) -> None:
    from engine.gitops import Change
    from engine.policy import PolicyDecision, PolicyFinding

    findings = tuple(
        PolicyFinding(
            f"CKV_X_{n}", "a check", "LOW", "aws_db_instance.this", "terraform/dev/x/main.tf", (1, 3), None
        )
        for n in range(120)
    )
    head = github.branch_sha("main") or ""
    change = Change(1, "dbvend/dev/x", "open", "t", "r", "terraform/dev/x", head, head, "", "")
    repo.report_checks(change, PolicyDecision("warn", warnings=findings))
    (run,) = github.check_runs
    assert run["conclusion"] == "neutral" and len(run["annotations"]) == 120
    assert github.count("POST", r"/repos/acme/infra/check-runs") == 1
    assert github.count("PATCH", r"/repos/acme/infra/check-runs/\d+") == 2


def test_the_pacer_keeps_writes_under_the_limits() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(limits=((3, 60.0), (5, 3600.0)), clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.wait_for_turn()
    assert slept == []
    pacer.wait_for_turn()  # the fourth in a minute waits for the first to leave the window
    assert slept == [60.0]
    pacer.wait_for_turn()
    assert now[0] == 60.0
    pacer.wait_for_turn()  # the sixth in an hour waits for the hour
    assert now[0] == 3600.0


def test_github_mode_end_to_end_issue_to_pull_request_with_the_link_on_the_issue(
    tmp_path: Path, github: GitHubServer, gate: PolicyGate
) -> None:
    """DBVEND_GITOPS=github: an issue form delivery -> request -> worker -> pull request, and the
    one reply comment on the issue ends with the pull request's link."""
    from fastapi.testclient import TestClient

    from engine.app import create_app
    from engine.forms import render_issue_body
    from tests.support.deliveries import deliver, issue_payload

    services = github_services(tmp_path, github)
    body = render_issue_body({"database_name": "orders", "database_engine": "postgres", "environment": "dev"})
    number = github.create_issue("[database] orders", body, user="alice")
    with TestClient(create_app(services)) as client:
        answer = deliver(client, "issues", issue_payload("opened", body, number=number))
    assert answer.json()["detail"] == "accepted"
    worker = Worker(services.ledger, LocalQueue(services.ledger), services.backend, gate, None)
    worker.replies = services.replies
    assert worker.run_once()
    record = services.ledger.get(answer.json()["request_id"])
    assert record is not None and record.status == "change_open"
    assert record.change_link == github.pull_request(record.change_id or 0)["html_url"]
    replies = [c["body"] for c in github.comments if c["issue_number"] == number]
    assert len(replies) == 1 and f"pull request [#{record.change_id}]" in replies[0]


def comment_payload(number: int, login: str, body: str, comment_id: int = 900) -> dict[str, Any]:
    """An issue_comment.created delivery on dbvend's pull request, as GitHub sends it."""
    from tests.support.github_payloads import issue_comment

    return issue_comment(
        "created", number, body, login, comment_id, title="dbvend: mysql database mydb123 in prod"
    )


def test_apply_comments_are_authorized_then_dispatched_once(
    tmp_path: Path, github: GitHubServer, gate: PolicyGate
) -> None:
    from fastapi.testclient import TestClient

    from engine.app import create_app
    from tests.support.deliveries import deliver

    services = github_services(tmp_path, github)
    change = process_request(SEED, services.backend, gate, request_id="req-1").change
    assert change is not None
    github.set_permission("reader", "read")
    github.set_permission("writer", "write")

    def say(client: Any, login: str, body: str) -> dict[str, Any]:
        made = github.add_comment(change.id, login, body)  # the comment exists on GitHub, then is delivered
        said.append(made["id"])
        answer: dict[str, Any] = deliver(
            client, "issue_comment", comment_payload(change.id, login, body, made["id"])
        ).json()
        return answer

    said: list[int] = []
    with TestClient(create_app(services)) as client:
        read = say(client, "reader", "/apply")
        assert read["detail"] == "refused" and any("write" in r for r in read["reasons"])
        unapproved = say(client, "writer", "/apply")
        assert unapproved["detail"] == "refused" and any("approv" in r for r in unapproved["reasons"])
        assert github.dispatches == []
        github.add_review(change.id, "carol", "APPROVED")
        github.set_check(github.pull_request(change.id)["head"]["sha"], "ci", "success")
        github.set_mergeable(change.id, True, "clean")
        applied = say(client, "writer", "/apply")
        assert applied == {"detail": "dispatched", "command": "apply", "directory": "terraform/prod/mydb123"}
        assert say(client, "writer", "/help")["detail"] == "replied"
        assert say(client, "writer", "looks good")["detail"] == "not a command"
    assert len(github.dispatches) == 1
    assert github.dispatches[0]["inputs"] == {
        "pr": str(change.id),
        "directory": "terraform/prod/mydb123",
        "command": "apply",
    }
    bodies = github.comment_bodies(change.id)
    assert any("was not run for @reader" in b and "write" in b for b in bodies)
    assert any("started by @writer" in b for b in bodies) and any("/plan" in b for b in bodies)
    assert {r["comment_id"] for r in github.reactions} == set(said[:4])


def test_approver_teams_are_looked_up_for_the_approving_reviewers(
    tmp_path: Path, github: GitHubServer, gate: PolicyGate
) -> None:
    from fastapi.testclient import TestClient

    from engine.app import create_app
    from tests.support.deliveries import deliver

    catalog = github.read_file("main", "dbvend.yaml")
    assert catalog is not None and "approver_teams: []" in catalog
    github.commit("main", {"dbvend.yaml": catalog.replace("approver_teams: []", "approver_teams: [dba]")})
    services = github_services(tmp_path, github)
    change = process_request(SEED, services.backend, gate, request_id="req-1").change
    assert change is not None
    github.set_permission("writer", "write")
    github.set_check(github.pull_request(change.id)["head"]["sha"], "ci", "success")
    github.set_mergeable(change.id, True, "clean")
    github.add_review(change.id, "carol", "APPROVED")

    def apply(client: Any) -> dict[str, Any]:
        made = github.add_comment(change.id, "writer", "/apply")
        payload = comment_payload(change.id, "writer", "/apply", made["id"])
        answer: dict[str, Any] = deliver(client, "issue_comment", payload).json()
        return answer

    with TestClient(create_app(services)) as client:
        outsider = apply(client)
        assert outsider["detail"] == "refused"
        assert "a member of team `dba`" in outsider["reasons"][0]
        assert "`carol` approved but are not among the approvers" in outsider["reasons"][0]
        github.fail("GET", r"/orgs/acme/teams/dba/memberships/carol", 403)
        unreadable = apply(client)
        assert "the team membership of `carol` is not known" in unreadable["reasons"][0]
        github.add_team_member("dba", "carol", state="pending")
        assert apply(client)["detail"] == "refused"  # an invitation is not a membership
        github.add_team_member("dba", "carol")
        assert apply(client)["detail"] == "dispatched"
    assert len(github.dispatches) == 1
    assert github.count("GET", r"/orgs/acme/teams/dba/memberships/carol$") == 4
    assert github.count("GET", r"/orgs/.*/memberships/writer$") == 0  # only approvers are looked up


def test_a_summary_in_parts_is_rewritten_in_place_and_shrinks(github: GitHubServer) -> None:
    from engine.comment_parts import split_comment
    from engine.github.pulls import GitHubPullRequests

    number = github.create_issue("a pull request stands in", "")
    github.add_comment(number, "alice", "LGTM")
    pulls = GitHubPullRequests(client_for(github), "acme/infra")
    long = "\n".join(f"line {n} " + "x" * 80 for n in range(3000))  # ~260 KB: several comments
    parts = split_comment(long, "dbvend:plan-summary")
    assert len(parts) >= 4
    first = pulls.write_parts(number, "dbvend:plan-summary", parts)
    assert len(first) == len(parts) and len(github.comment_bodies(number)) == len(parts) + 1
    short = split_comment("all quiet\n", "dbvend:plan-summary")
    again = pulls.write_parts(number, "dbvend:plan-summary", short)
    assert again == first[:1], "part 1 edited in place"
    bodies = github.comment_bodies(number)
    assert bodies == ["LGTM", short[0]], "the parts left over were deleted, the human's comment kept"


def test_the_pacing_limits_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """GitHub's secondary limits by default (80 a minute, 500 an hour); GitHub Enterprise Server
    sets its own, so they are settings (DBVEND_GITHUB_WRITES_PER_MINUTE / _PER_HOUR)."""
    import engine.github.client as github_module
    from engine.services import build_backend
    from engine.settings import Settings

    given: list[Pacer] = []

    def client(**options: Any) -> object:
        given.append(options["pacer"])
        return object()

    monkeypatch.setattr(github_module, "github_client", client)
    base = {"gitops": "github", "github_repository": "acme/infra", "github_token": "ghs_test"}
    build_backend(Settings(**base))
    build_backend(Settings(**base, github_writes_per_minute=20, github_writes_per_hour=100))
    assert [pacer.limits for pacer in given] == [((80, 60.0), (500, 3600.0)), ((20, 60.0), (100, 3600.0))]
