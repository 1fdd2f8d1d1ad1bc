"""Whose delivery it is: GitHub's own example payloads (@octokit/webhooks-examples), edited for each
scenario, delivered to the App in GitHub mode against the fake GitHub (tests/support/github_server.py).

Another repository's delivery, a fork's pull request, a look-alike workflow run and a triager's
label change nothing they should not: compared before and after (ledger tables, comments,
dispatches, check runs, reactions).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from engine.app import create_app
from engine.audit import parse_audit_query
from engine.checkov.gate import PolicyGate
from engine.forms import render_issue_body
from engine.queue.local import LocalQueue
from engine.queue.replies import ISSUE_REPLY_MARKER
from engine.queue.worker import Worker
from engine.services import Services
from engine.store.ledger import Ledger
from engine.store.schema import metadata
from tests.support.deliveries import deliver as signed_delivery
from tests.support.deliveries import from_example, issue_delivery, moved, user
from tests.support.github_clients import github_services
from tests.support.github_server import GitHubServer
from tests.support.octokit import example, require_octokit, webhook_examples

REPOSITORY = "acme/infra"
FORM = {"database_name": "orders", "database_engine": "postgres", "environment": "dev", "ttl": "3d"}


@pytest.fixture(autouse=True)
def _octokit() -> None:
    require_octokit()


@pytest.fixture
def github(tmp_path: Path) -> Iterator[GitHubServer]:
    with GitHubServer(tmp_path) as server:
        yield server


@pytest.fixture
def services(tmp_path: Path, github: GitHubServer) -> Services:
    built: Services = github_services(tmp_path, github)
    return built


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as test_client:
        yield test_client


def deliver(client: TestClient, event: str, payload: dict[str, Any], validate: bool = False) -> Any:
    """Sign and post a delivery. GitHub's examples are the reference here: githubkit's models, which
    follow a newer schema than some examples, are not asked."""
    return signed_delivery(client, event, payload, validate=validate)


def snapshot(services: Services, github: GitHubServer, deliveries: bool = True) -> dict[str, Any]:
    """Everything a delivery could change: every ledger table's rows (with `deliveries`, also the
    ids of the deliveries handled), and what GitHub was asked to do. The audit trail is left out:
    a refused delivery adds its row there (refused_deliveries counts them)."""
    with services.ledger.reading() as conn:
        tables = {
            name: sorted(
                json.dumps(dict(row._mapping), sort_keys=True, default=str)
                for row in conn.execute(sa.select(table))
            )
            for name, table in metadata.tables.items()
            if (deliveries or name != "webhook_deliveries") and name != "audit_events"
        }
    return {
        "ledger": tables,
        "comments": [(c["issue_number"], c["body"]) for c in github.comments],
        "dispatches": list(github.dispatches),
        "check_runs": len(github.check_runs),
        "reactions": len(github.reactions),
        "pulls": {n: (p.state, p.merged_at) for n, p in github.pulls.items()},
    }


def refused_deliveries(services: Services) -> list[str]:
    """The reasons of the deliveries the audit trail records as refused."""
    rows, _ = services.ledger.audit_page(parse_audit_query(action="webhook", outcome="refused"), 200, None)
    return [row.detail or "" for row in rows]


def open_request(
    services: Services, client: TestClient, github: GitHubServer, gate: PolicyGate, name: str = "orders"
) -> tuple[int, int, str]:
    """alice asks with the form: (issue, pull request, request id), the pull request opened by the worker."""
    body = render_issue_body({**FORM, "database_name": name})
    issue = github.create_issue(f"[database] {name}", body, user="alice", labels=("database-request",))
    payload = issue_delivery("opened", REPOSITORY, github.repository_id, issue, body, author="alice")
    answer = deliver(client, "issues", payload).json()
    assert answer["detail"] == "accepted", answer
    worker = Worker(services.ledger, LocalQueue(services.ledger), services.backend, gate, None)
    worker.replies = services.replies
    assert worker.run_once()
    record = services.ledger.get(answer["request_id"])
    assert record is not None and record.change_id is not None
    return issue, record.change_id, record.id


def pull_closed(
    github: GitHubServer, number: int, merged: bool, full_name: str = REPOSITORY
) -> dict[str, Any]:
    """GitHub's pull_request.closed example, for pull request `number` as the fake GitHub has it."""
    now = github.pull_request(number)
    payload = from_example("pull_request", "closed", full_name, github.repository_id)
    pull = payload["pull_request"]
    head_repo = now["head"]["repo"]
    pull.update(number=number, body=now["body"], title=now["title"], merged=merged)
    pull["merge_commit_sha"] = now.get("merge_commit_sha")
    pull["head"] = {
        **pull["head"],
        "ref": now["head"]["ref"],
        "sha": now["head"]["sha"],
        "label": now["head"]["label"],
    }
    if head_repo is None:
        pull["head"]["repo"] = None
    elif head_repo["full_name"] != full_name:  # a fork's: its own repository object
        pull["head"]["repo"] = moved(
            pull["head"]["repo"] | {"fork": True}, head_repo["full_name"], head_repo["id"], source=full_name
        )
    pull["base"]["ref"] = now["base"]["ref"]
    payload["number"] = number
    return payload


def comment_on(
    github: GitHubServer,
    number: int,
    login: str,
    text: str,
    *,
    on_pull: bool = True,
    full_name: str = REPOSITORY,
    issue_author: str = "alice",
) -> dict[str, Any]:
    """GitHub's issue_comment.created example: `login` says `text` on issue or pull request `number`."""
    made = github.add_comment(number, login, text) if full_name == REPOSITORY else {"id": 77}
    payload = from_example("issue_comment", "created", full_name, github.repository_id, sender=login)
    payload["issue"]["number"] = number
    payload["issue"]["user"] = user(payload["issue"]["user"], issue_author)
    if on_pull:
        payload["issue"]["pull_request"] = example("issue_comment", "created", 3)["issue"].get(
            "pull_request"
        ) or {
            "url": f"https://api.github.com/repos/{full_name}/pulls/{number}",
            "html_url": f"https://github.com/{full_name}/pull/{number}",
            "diff_url": f"https://github.com/{full_name}/pull/{number}.diff",
            "patch_url": f"https://github.com/{full_name}/pull/{number}.patch",
        }
    payload["comment"].update(id=made["id"], body=text, user=user(payload["comment"]["user"], login))
    return payload


def run_completed(
    github: GitHubServer,
    title: str,
    *,
    path: str = ".github/workflows/dbvend.yml",
    event: str = "workflow_dispatch",
    branch: str | None = None,
    head_sha: str | None = None,
    run_id: int = 30433642,
    full_name: str = REPOSITORY,
    index: int = 1,
) -> dict[str, Any]:
    """GitHub's workflow_run.completed example (octo-org/octo-repo's test.yml run by
    repository_dispatch), moved to `full_name` and given dbvend's facts."""
    payload = from_example("workflow_run", "completed", full_name, github.repository_id, index=index)
    run = payload["workflow_run"]
    run.update(
        display_title=title,
        path=path,
        event=event,
        conclusion="success",
        id=run_id,
        head_branch=branch or github.default_branch,
        head_sha=head_sha or github.branch_sha(github.default_branch),
    )
    payload["workflow"]["path"] = path
    return payload


# -- another repository -------------------------------------------------------------------------


def foreign_deliveries(github: GitHubServer, issue: int, pull: int) -> list[tuple[str, dict[str, Any]]]:
    """One delivery of each event dbvend handles, about octo-org/octo-repo instead of acme/infra."""
    other, other_id = "octo-org/octo-repo", 9_999_001
    body = render_issue_body({**FORM, "database_name": "billing"})
    opened = issue_delivery("opened", other, other_id, issue, body, author="alice")
    comment = comment_on(github, pull, "writer", "/apply", full_name=other)
    comment["repository"]["id"] = other_id
    closed = pull_closed(github, pull, merged=False)
    closed = moved(closed, other, other_id, source=REPOSITORY)
    run = from_example("workflow_run", "completed", "octo-org/octo-repo", 1, index=1)  # GitHub's, as is
    run["workflow_run"]["display_title"] = f"dbvend apply #{pull}"
    suite = moved(
        from_example("check_suite", "completed", REPOSITORY, github.repository_id),
        other,
        other_id,
        source=REPOSITORY,
    )
    return [
        ("issues", opened),
        ("issue_comment", comment),
        ("pull_request", closed),
        ("workflow_run", run),
        ("check_suite", suite),
    ]


def test_another_repositorys_deliveries_change_nothing(
    services: Services, client: TestClient, github: GitHubServer, gate: PolicyGate
) -> None:
    issue, pull, _ = open_request(services, client, github, gate)
    github.set_permission("writer", "write")
    before = snapshot(services, github)
    reasons = []
    for event, payload in foreign_deliveries(github, issue, pull):
        answer = deliver(client, event, payload)
        assert answer.status_code == 200, (event, answer.text)
        assert answer.json()["detail"].startswith("not this repository"), (event, answer.json())
        reasons.append(answer.json()["reason"])
    assert snapshot(services, github) == before
    assert sorted(refused_deliveries(services)) == sorted(reasons)  # each refusal in the audit trail


def test_the_same_name_with_another_id_is_another_repository(
    services: Services, client: TestClient, github: GitHubServer
) -> None:
    """A repository deleted and made again under the same name (or a rename) is not the one configured."""
    body = render_issue_body(FORM)
    payload = issue_delivery("opened", REPOSITORY, github.repository_id + 1, 5, body, author="alice")
    before = snapshot(services, github)
    answer = deliver(client, "issues", payload).json()
    assert answer["detail"].startswith("not this repository") and "id" in answer["reason"]
    assert snapshot(services, github) == before


def test_githubs_unmodified_examples_are_all_refused_as_another_repository(
    services: Services, client: TestClient, github: GitHubServer
) -> None:
    """Every one of GitHub's examples of the events dbvend handles is about Codertocat/Hello-World or
    octo-org/octo-repo: each is answered, none changes anything."""
    before = snapshot(services, github)
    answered = 0
    for event in ("issues", "issue_comment", "pull_request", "workflow_run", "check_suite"):
        for payload in webhook_examples()[event]:
            answer = deliver(client, event, payload, validate=False)
            assert answer.status_code == 200 and "not this repository" in answer.json()["detail"], answer.text
            answered += 1
    assert answered >= 50
    assert snapshot(services, github) == before


# -- forks and look-alikes ----------------------------------------------------------------------


def test_a_forks_look_alike_pull_request_changes_no_request(
    services: Services, client: TestClient, github: GitHubServer, gate: PolicyGate
) -> None:
    issue, pull, request_id = open_request(services, client, github, gate)
    real = github.pull_request(pull)
    fork = github.create_fork_pull(
        "mallory",
        real["head"]["ref"],
        title=real["title"],
        body=real["body"],
        files={"terraform/dev/orders/main.tf": "# mine\n"},
    )
    github.set_permission("writer", "write")
    assert [c.id for c in services.backend.changes()] == [pull]  # the fork's is not dbvend's

    closed = deliver(client, "pull_request", pull_closed(github, fork, merged=False)).json()
    assert closed["detail"] == "not a dbvend pull request" and "mallory/infra" in closed["reason"]
    record = services.ledger.get(request_id)
    assert record is not None and record.status == "change_open"

    before = len(github.dispatches)
    refused = deliver(client, "issue_comment", comment_on(github, fork, "writer", "/plan")).json()
    assert refused["detail"] == "not a dbvend pull request"
    assert len(github.dispatches) == before
    assert "mallory/infra" in github.comment_bodies(fork)[-1]

    services.backend.merge(pull)
    merged = deliver(client, "pull_request", pull_closed(github, pull, merged=True)).json()
    assert merged == {"detail": "merged", "request_id": request_id}
    assert f"Pull request #{pull} was merged" in github.comment_bodies(issue)[-1]


def test_a_marker_of_another_change_or_another_database_is_not_trusted(
    services: Services, client: TestClient, github: GitHubServer, gate: PolicyGate
) -> None:
    """A pull request of this repository with a dbvend branch but a marker copied from another
    database's pull request moves neither request."""
    _, pull, request_id = open_request(services, client, github, gate)
    real = github.pull_request(pull)
    github.commit("dbvend/dev/other", {"terraform/dev/other/main.tf": "# x\n"})
    rest = services.backend.client.rest  # type: ignore[attr-defined]
    made = rest.pulls.create(
        "acme", "infra", title="look-alike", head="dbvend/dev/other", base="main", body=real["body"]
    )
    other = made.parsed_data.number
    answer = deliver(client, "pull_request", pull_closed(github, other, merged=False)).json()
    assert answer["detail"] == "not a dbvend pull request"
    assert services.ledger.get(request_id).status == "change_open"  # type: ignore[union-attr]


def test_only_the_run_answering_dbvends_dispatch_counts(
    services: Services, client: TestClient, github: GitHubServer, gate: PolicyGate
) -> None:
    _, pull, request_id = open_request(services, client, github, gate)
    github.set_permission("writer", "write")
    title = f"dbvend plan #{pull}"
    before = snapshot(services, github, deliveries=False)
    look_alikes = {
        "another workflow file": run_completed(github, title, path=".github/workflows/test.yml"),
        "another event": run_completed(github, title, event="repository_dispatch"),
        "another branch": run_completed(github, title, branch="dbvend/dev/orders"),
        "never dispatched": run_completed(github, title),
    }
    for why, payload in look_alikes.items():
        answer = deliver(client, "workflow_run", payload).json()
        assert answer["detail"] == "not a dbvend run", (why, answer)
    assert snapshot(services, github, deliveries=False) == before

    dispatched = deliver(client, "issue_comment", comment_on(github, pull, "writer", "/plan")).json()
    assert dispatched["detail"] == "dispatched"
    assert github.dispatches[-1]["ref"] == github.default_branch
    counted = deliver(client, "workflow_run", run_completed(github, title, run_id=501)).json()
    assert counted["detail"] == "recorded"
    assert services.ledger.get(request_id).status == "planned"  # type: ignore[union-attr]
    again = deliver(client, "workflow_run", run_completed(github, title, run_id=501)).json()
    assert again["detail"] == "recorded"  # a re-run of the same run
    second = deliver(client, "workflow_run", run_completed(github, title, run_id=502)).json()
    assert second["detail"] == "not a dbvend run"  # one dispatch, one run


def test_plan_and_merge_runs_count_at_the_commits_the_ledger_recorded(
    services: Services, client: TestClient, github: GitHubServer, gate: PolicyGate
) -> None:
    _, pull, request_id = open_request(services, client, github, gate)
    head = github.pull_request(pull)["head"]["sha"]
    plan = run_completed(
        github, "dbvend: dev/orders", path=".github/workflows/dbvend-pr.yml", event="pull_request"
    )
    plan["workflow_run"].update(head_branch="dbvend/dev/orders", head_sha="0" * 40)
    template = example("check_suite", "completed")["check_suite"]["pull_requests"]
    ref = {
        "number": pull,
        "head": {"ref": "dbvend/dev/orders", "sha": head, "repo": {"id": github.repository_id}},
    }
    plan["workflow_run"]["pull_requests"] = [dict(template[0], **ref)] if template else [ref]
    assert (
        deliver(client, "workflow_run", plan).json()["detail"] == "not a dbvend run"
    )  # not the change's head
    plan["workflow_run"]["head_sha"] = head
    assert deliver(client, "workflow_run", plan).json()["detail"] == "recorded"
    assert services.ledger.get(request_id).status == "planned"  # type: ignore[union-attr]

    services.backend.merge(pull)
    merge_commit = github.pull_request(pull)["merge_commit_sha"]
    answer = deliver(client, "pull_request", pull_closed(github, pull, merged=True)).json()
    assert answer["detail"] == "merged", answer
    assert services.ledger.get(request_id).merge_commit == merge_commit  # type: ignore[union-attr]
    push = run_completed(github, "Merge pull request", path=".github/workflows/dbvend-main.yml", event="push")
    push["workflow_run"]["head_sha"] = "1" * 40
    assert deliver(client, "workflow_run", push).json()["detail"] == "not a dbvend run"
    push["workflow_run"]["head_sha"] = merge_commit
    assert deliver(client, "workflow_run", push).json()["detail"] == "recorded"
    assert services.ledger.get(request_id).status == "applied"  # type: ignore[union-attr]


# -- the requester is the issue's author --------------------------------------------------------


def test_a_triagers_label_makes_the_authors_request_and_edits_make_no_second_one(
    services: Services, client: TestClient, github: GitHubServer
) -> None:
    body = render_issue_body(FORM)
    issue = github.create_issue("[database] orders", body, user="alice")
    plain = issue_delivery("opened", REPOSITORY, github.repository_id, issue, body, author="alice", labels=())
    assert deliver(client, "issues", plain).json()["detail"] == "not a database request"
    labeled = issue_delivery(
        "labeled", REPOSITORY, github.repository_id, issue, body, author="alice", sender="bob"
    )
    accepted = deliver(client, "issues", labeled).json()
    assert accepted["detail"] == "accepted"
    record = services.ledger.get(accepted["request_id"])
    assert record is not None and record.requester == "github:alice"

    renamed = render_issue_body({**FORM, "database_name": "orders2"})
    edit = issue_delivery("edited", REPOSITORY, github.repository_id, issue, renamed, author="alice")
    answer = deliver(client, "issues", edit).json()
    assert answer == {"detail": "edited after acceptance", "request_id": record.id}
    longer = render_issue_body({**FORM, "ttl": "7d"})
    edit_ttl = issue_delivery(
        "edited", REPOSITORY, github.repository_id, issue, longer, author="alice", sender="bob"
    )
    assert deliver(client, "issues", edit_ttl).json()["detail"] == "edited after acceptance"
    assert services.ledger.count() == 1
    (reply,) = [b for b in github.comment_bodies(issue) if ISSUE_REPLY_MARKER in b]
    assert "/extend" in reply and "open a new one" in reply and record.id in reply


def test_issue_requesters_triage_takes_only_a_triagers_issue_or_label(
    services: Services, client: TestClient, github: GitHubServer
) -> None:
    catalog = github.read_file(github.default_branch, "dbvend.yaml") or ""
    github.commit(
        github.default_branch,
        {"dbvend.yaml": catalog.replace("issue_requesters: anyone", "issue_requesters: triage")},
    )
    github.set_permission("alice", "read")
    github.set_permission("bob", "triage")
    body = render_issue_body(FORM)
    issue = github.create_issue("[database] orders", body, user="alice", labels=("database-request",))
    opened = issue_delivery("opened", REPOSITORY, github.repository_id, issue, body, author="alice")
    assert deliver(client, "issues", opened).json()["detail"] == "not allowed"
    assert services.ledger.count() == 0
    assert "triage permission" in github.comment_bodies(issue)[-1]
    relabeled = issue_delivery(
        "labeled", REPOSITORY, github.repository_id, issue, body, author="alice", sender="bob"
    )
    accepted = deliver(client, "issues", relabeled).json()
    assert accepted["detail"] == "accepted"
    assert services.ledger.get(accepted["request_id"]).requester == "github:alice"  # type: ignore[union-attr]
    assert len([b for b in github.comment_bodies(issue) if ISSUE_REPLY_MARKER in b]) == 1


# -- the App's installation ---------------------------------------------------------------------


def test_installation_events_are_logged_and_a_removed_repository_degrades_healthz(
    services: Services, client: TestClient, github: GitHubServer
) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    removed = example("installation_repositories", "removed")
    removed["repositories_removed"] = [
        dict(removed["repositories_removed"][0], full_name=REPOSITORY, name="infra")
    ]
    assert deliver(client, "installation_repositories", removed).json()["detail"] == "installation removed"
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    assert "removed" in health.json()["detail"]
    added = example("installation_repositories", "added")
    added["repositories_added"] = [dict(added["repositories_added"][0], full_name=REPOSITORY, name="infra")]
    assert deliver(client, "installation_repositories", added).json()["detail"] == "installation active"
    assert client.get("/healthz").json() == {"status": "ok"}
    suspended = example("installation", "suspend")
    assert deliver(client, "installation", suspended).json()["detail"] == "installation suspended"
    assert client.get("/healthz").json()["status"] == "degraded"


# -- one reply comment, whatever the concurrency ------------------------------------------------


def test_opened_and_labeled_delivered_together_make_one_request_and_one_reply(
    tmp_path: Path, github: GitHubServer
) -> None:
    """GitHub sends issues.opened and issues.labeled together for every issue its form makes: 20
    issues, each pair posted at once to a real `dbvend serve` over its socket."""
    from tests.support.server import ServeProcess

    env = {
        "DBVEND_GITOPS": "github",
        "DBVEND_GITHUB_API_URL": github.url,
        "DBVEND_GITHUB_TOKEN": "ghs_test",
        "DBVEND_GITHUB_REPOSITORY": REPOSITORY,
        "DBVEND_GITHUB_WEBHOOK_SECRET": "It's a Secret to Everybody",
        # 20 requests make more than GitHub's 80 writes a minute; pacing is tested on its own
        # (test_github_backend), here it would only wait a minute
        "DBVEND_GITHUB_WRITES_PER_MINUTE": "10000",
        "DBVEND_GITHUB_WRITES_PER_HOUR": "10000",
    }
    issues = []
    for n in range(20):
        body = render_issue_body({**FORM, "database_name": f"orders{n}"})
        number = github.create_issue(
            f"[database] orders{n}", body, user="alice", labels=("database-request",)
        )
        pair = [
            issue_delivery(action, REPOSITORY, github.repository_id, number, body, author="alice")
            for action in ("opened", "labeled")
        ]
        issues.append((number, pair))
    serve = ServeProcess(tmp_path / "serve", env=env).start()
    try:
        _deliver_pairs(serve.url, issues)
    finally:
        serve.stop()
    ledger = Ledger.connect(f"sqlite:///{tmp_path / 'serve' / 'ledger.sqlite3'}")
    per_issue = {
        number: [b for b in github.comment_bodies(number) if ISSUE_REPLY_MARKER in b] for number, _ in issues
    }
    assert all(len(replies) == 1 for replies in per_issue.values()), per_issue
    assert ledger.count() == 20
    assert len({ledger.by_issue(REPOSITORY, number).id for number, _ in issues}) == 20  # type: ignore[union-attr]


def _deliver_pairs(url: str, issues: list[tuple[int, list[dict[str, Any]]]]) -> None:
    """Each issue's two deliveries posted at the same moment from two threads (one connection each)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from tests.support.deliveries import sign

    def post(payload: dict[str, Any], number: int, start: threading.Barrier) -> httpx.Response:
        raw = json.dumps(payload).encode()
        headers = {
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": f"{number}-{payload['action']}",
            "X-Hub-Signature-256": sign(raw),
            "Content-Type": "application/json",
        }
        with httpx.Client(base_url=url, timeout=60) as http:
            start.wait()
            return http.post("/github/webhook", content=raw, headers=headers)

    with ThreadPoolExecutor(2) as pool:
        for number, pair in issues:
            start = threading.Barrier(2)
            answers = list(pool.map(lambda payload: post(payload, number, start), pair))  # noqa: B023
            assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
            assert {a.json()["detail"] for a in answers} <= {"accepted", "requested before"}


# -- a default branch named master --------------------------------------------------------------


def test_a_repository_whose_default_branch_is_master_goes_the_whole_way(
    tmp_path: Path, gate: PolicyGate
) -> None:
    """request -> pull request -> /plan -> /apply -> merge -> /extend -> time-to-live destroy, on a
    repository without a `main`: every dispatch, base and read is on `master`."""
    from datetime import UTC, datetime, timedelta

    from click.testing import CliRunner

    from engine.cli import main

    with GitHubServer(tmp_path / "gh", default_branch="master") as github:
        services = github_services(tmp_path, github)
        with TestClient(create_app(services)) as client:
            issue, pull, request_id = open_request(services, client, github, gate)
            assert github.branch_sha("main") is None
            assert github.pull_request(pull)["base"]["ref"] == "master"
            github.set_permission("writer", "write")
            github.set_permission("alice", "read")

            def run(command: str, number: int, run_id: int) -> str:
                answer = deliver(client, "issue_comment", comment_on(github, number, "writer", f"/{command}"))
                assert answer.json()["detail"] == "dispatched", answer.json()
                assert github.dispatches[-1]["ref"] == "master"
                done = run_completed(github, f"dbvend {command} #{number}", run_id=run_id)
                assert deliver(client, "workflow_run", done).json()["detail"] == "recorded"
                return services.ledger.get(request_id).status  # type: ignore[union-attr]

            assert run("plan", pull, 1) == "planned"
            head = github.pull_request(pull)["head"]["sha"]
            github.add_review(pull, "reviewer", "APPROVED")
            github.set_check(head, "dbvend plan", "success")
            assert run("apply", pull, 2) == "applied"

            def merge(number: int) -> None:
                services.backend.merge(number)
                assert github.pull_request(number)["base"]["ref"] == "master"
                answer = deliver(client, "pull_request", pull_closed(github, number, merged=True)).json()
                assert answer.get("request_id") == request_id, answer

            merge(pull)
            claim = json.loads(github.read_file("master", "terraform/dev/orders/request.json") or "{}")
            extended = deliver(
                client, "issue_comment", comment_on(github, issue, "alice", "/extend 10d", on_pull=False)
            ).json()
            assert extended["detail"] == "extension opened", extended
            merge(extended["change"])
            claim = json.loads(github.read_file("master", "terraform/dev/orders/request.json") or "{}")
            assert claim["extensions"] == 1
            assert client.get("/v1/databases/dev/orders", headers={"x-api-key": "k"}).json()["status"]

        expiry = datetime.fromisoformat(claim["expires_at"].replace("Z", "+00:00"))
        env = {
            "DBVEND_DATA": str(tmp_path / "data"),
            "DBVEND_GITOPS": "github",
            "DBVEND_GITHUB_API_URL": github.url,
            "DBVEND_GITHUB_TOKEN": "ghs_test",
            "DBVEND_GITHUB_REPOSITORY": REPOSITORY,
        }
        moment = (expiry + timedelta(minutes=1)).astimezone(UTC).isoformat()
        swept = CliRunner().invoke(
            main, ["ttl", "sweep", "--now", moment, "--repo", str(github.git_dir)], env=env
        )
        assert swept.exit_code == 0, swept.output
        destroy = [p for p in github.open_pulls() if p.head_ref.endswith(".destroy-1")]
        assert len(destroy) == 1 and github.pull_request(destroy[0].number)["base"]["ref"] == "master"


def test_modify_on_the_issue_or_the_pull_request_is_one_change_at_a_time(
    tmp_path: Path, gate: PolicyGate
) -> None:
    """/modify (engine.commands) as /extend: the one who asked, on their issue, or a writer on the
    request's pull request; one change on dbvend/<env>/<id>.modify-1, found again by a repeated
    comment, and another modification refused while it is open."""
    with GitHubServer(tmp_path / "gh") as github:
        services = github_services(tmp_path, github)
        with TestClient(create_app(services)) as client:
            issue, pull, _ = open_request(services, client, github, gate)
            services.backend.merge(pull)
            assert deliver(client, "pull_request", pull_closed(github, pull, merged=True)).json()
            github.set_permission("alice", "read")
            github.set_permission("writer", "write")
            resize = "/modify size=medium storage_gb=40"
            opened = deliver(
                client, "issue_comment", comment_on(github, issue, "alice", resize, on_pull=False)
            )
            assert opened.json()["detail"] == "modification opened", opened.json()
            again = deliver(
                client, "issue_comment", comment_on(github, issue, "alice", resize, on_pull=False)
            )
            assert again.json()["change"] == opened.json()["change"]
            other = deliver(client, "issue_comment", comment_on(github, pull, "writer", "/modify size=large"))
            assert other.json()["detail"] == "refused" and "already open" in other.json()["reasons"][0]
            stranger = deliver(client, "issue_comment", comment_on(github, pull, "mallory", resize))
            assert stranger.json()["detail"] == "refused"
            modifications = [p for p in github.open_pulls() if ".modify-" in p.head_ref]
            assert [p.head_ref for p in modifications] == ["dbvend/dev/orders.modify-1"]
            assert modifications[0].number == opened.json()["change"]
            claim = json.loads(
                github.read_file("dbvend/dev/orders.modify-1", "terraform/dev/orders/request.json") or "{}"
            )
            assert (claim["instance_class"], claim["storage_gb"], claim["modifications"]) == (
                "db.t3.small",
                40,
                1,
            )
            assert "pull request #" in github.comment_bodies(issue)[-1]
