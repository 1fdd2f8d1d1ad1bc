"""POST /github/webhook: signatures on the raw body, redeliveries, unknown events, the issue form."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.app import create_app
from engine.checkov.gate import PolicyGate
from engine.forms import render_issue_body
from engine.queue.local import LocalQueue
from engine.queue.worker import Worker
from engine.services import Services, build_services
from engine.settings import Settings
from engine.signing import signature_matches
from tests.support import github_payloads as payloads
from tests.support.deliveries import SECRET, deliver, issue_payload, sign
from tests.support.repositories import repo_snapshot


class RecordedReplies:
    def __init__(self) -> None:
        self.comments: dict[int, str] = {}
        self.calls = 0

    def reply(self, issue_number: int, marker: str, body: str) -> None:
        assert body.startswith(marker)
        self.calls += 1
        self.comments[issue_number] = body


@pytest.fixture
def services(tmp_path: Path) -> Services:
    settings = Settings(
        data=tmp_path / "data", api_keys="k", github_webhook_secret=SECRET, github_repository="acme/infra"
    )
    built, _ = build_services(settings)
    built.replies = RecordedReplies()
    return built


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as test_client:
        yield test_client


def test_github_documented_signature_example() -> None:
    """The example from GitHub's 'Validating webhook deliveries' page."""
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature_matches(SECRET, b"Hello, World!", header)
    assert not signature_matches(SECRET, b"Hello, World?", header)
    assert not signature_matches(SECRET, b"Hello, World!", header.replace("sha256=", "sha1="))
    assert not signature_matches(SECRET, b"Hello, World!", None)


FORM = {
    "database_name": "orders",
    "database_engine": "postgres",
    "environment": "dev",
    "size": None,
    "ttl": "3d",
    "owner": None,
    "team": "Payments",
    "reason": "Line one.\n\n### Not a heading of the form\nLine two.",
}


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=", "sha256=" + "0" * 64, "sha1=abc", sign(b"other body"), sign(b"{}", "wrong secret")],
)
def test_a_wrong_or_missing_signature_is_401_and_nothing_happens(
    client: TestClient, services: Services, signature: str | None
) -> None:
    before = repo_snapshot(services.backend)  # type: ignore[arg-type]
    answer = deliver(client, "issues", issue_payload("opened", render_issue_body(FORM)), signature=signature)
    assert answer.status_code == 401 and answer.json() == {"detail": "the signature does not match"}
    assert services.ledger.count() == 0 and services.replies.calls == 0  # type: ignore[union-attr]
    assert repo_snapshot(services.backend) == before  # type: ignore[arg-type]


def test_ping_and_unknown_events(client: TestClient) -> None:
    assert deliver(client, "ping", payloads.ping(hook_id=5)).json() == {"detail": "pong", "hook_id": 5}
    unknown = deliver(client, "star", {"action": "created"}, validate=False)
    assert unknown.status_code == 204 and unknown.content == b""


def test_an_issue_form_becomes_a_request_and_a_replayed_delivery_does_nothing(
    client: TestClient, services: Services, gate: PolicyGate
) -> None:
    delivery = str(uuid.uuid4())
    answer = deliver(client, "issues", issue_payload("opened", render_issue_body(FORM)), delivery=delivery)
    assert answer.status_code == 200 and answer.json()["detail"] == "accepted"
    request_id = answer.json()["request_id"]
    record = services.ledger.get(request_id)
    assert record is not None and record.channel == "issue" and record.requester == "github:alice"
    assert record.payload["reason"] == "Line one. ### Not a heading of the form Line two."
    replies: RecordedReplies = services.replies  # type: ignore[assignment]
    assert request_id in replies.comments[12] and "Request accepted" in replies.comments[12]
    again = deliver(client, "issues", issue_payload("opened", render_issue_body(FORM)), delivery=delivery)
    assert again.status_code == 200 and "seen before" in again.json()["detail"]
    assert services.ledger.count() == 1 and replies.calls == 1
    worker = Worker(services.ledger, LocalQueue(services.ledger), services.backend, gate, None)
    worker.replies = replies
    message = LocalQueue(services.ledger).receive()
    assert message is not None and message.payload()["origin"] == {"repository": "acme/infra", "issue": 12}
    worker.handle(message)
    assert "pull request [#1](/v1/changes/1) is open" in replies.comments[12] and replies.calls == 2


def test_form_errors_are_replied_and_an_edit_fixes_them_in_the_same_comment(
    client: TestClient, services: Services
) -> None:
    broken = render_issue_body({**FORM, "environment": None, "database_name": "no way"})
    first = deliver(client, "issues", issue_payload("opened", broken))
    assert first.json()["detail"] == "form incomplete" and services.ledger.count() == 0
    replies: RecordedReplies = services.replies  # type: ignore[assignment]
    assert "**Environment**: is required" in replies.comments[12]
    invalid = deliver(
        client, "issues", issue_payload("edited", render_issue_body({**FORM, "database_name": "no way"}))
    )
    assert invalid.json()["detail"] == "invalid request" and "**Database name**" in replies.comments[12]
    fixed = deliver(client, "issues", issue_payload("edited", render_issue_body(FORM)))
    assert fixed.json()["detail"] == "accepted" and services.ledger.count() == 1
    assert "Request accepted" in replies.comments[12] and replies.calls == 3
    changed = deliver(client, "issues", issue_payload("edited", render_issue_body({**FORM, "ttl": "5d"})))
    assert changed.json()["detail"] == "edited after acceptance" and services.ledger.count() == 1


def test_issues_without_the_label_and_pull_requests_are_ignored(
    client: TestClient, services: Services
) -> None:
    assert deliver(
        client, "issues", issue_payload("opened", render_issue_body(FORM), labels=("bug",))
    ).json() == {"detail": "not a database request"}
    closed = deliver(client, "issues", issue_payload("closed", render_issue_body(FORM)))
    assert closed.json() == {"detail": "issues.closed: nothing to do"}
    assert services.ledger.count() == 0


def test_malformed_deliveries(client: TestClient) -> None:
    body = b"not json"
    headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": sign(body)}
    assert client.post("/github/webhook", content=body, headers=headers).status_code == 400
    no_event = {"X-GitHub-Delivery": "d-2", "X-Hub-Signature-256": sign(b"{}")}
    assert client.post("/github/webhook", content=b"{}", headers=no_event).status_code == 400


def test_merge_runs_and_checks_reach_the_ledger_and_the_issue(
    client: TestClient, services: Services, gate: PolicyGate
) -> None:
    accepted = deliver(client, "issues", issue_payload("opened", render_issue_body(FORM))).json()
    request_id = accepted["request_id"]
    worker = Worker(services.ledger, LocalQueue(services.ledger), services.backend, gate, None)
    worker.replies = services.replies
    assert worker.run_once()
    replies: RecordedReplies = services.replies  # type: ignore[assignment]
    opened = services.ledger.get(request_id)
    assert opened is not None and opened.change_head
    marker = f"<!-- dbvend:request-id={request_id} -->"
    merged_pull = payloads.pull_request(
        "closed", 1, "dbvend/dev/orders", merged=True, head_sha=opened.change_head, body=f"x\n{marker}\n"
    )
    delivery = str(uuid.uuid4())
    merged = deliver(client, "pull_request", merged_pull, delivery)
    assert merged.json() == {"detail": "merged", "request_id": request_id}
    assert "Pull request #1 was merged" in replies.comments[12]
    replay = deliver(client, "pull_request", merged_pull, delivery)
    assert "seen before" in replay.json()["detail"]
    head = opened.change_head
    suite = payloads.check_suite("completed", "dbvend/dev/orders", head, "success", pull_numbers=(1,))
    assert deliver(client, "check_suite", suite).json()["requests"] == [request_id]
    # A run counts only when it answers a dispatch the App recorded (engine.webhooks.comments).
    run = payloads.workflow_run("completed", "dbvend apply #1", "success", run_id=7)
    assert deliver(client, "workflow_run", run).json()["detail"] == "not a dbvend run"
    services.ledger.record_dispatch(1, "apply", "main", payloads.HEAD_SHA)
    assert deliver(client, "workflow_run", run).json()["conclusion"] == "success"
    assert "`/apply` on pull request #1: **success**" in replies.comments[12]
    record = services.ledger.get(request_id)
    assert record is not None and record.status == "applied"
    assert [e.status for e in record.history] == [
        "accepted",
        "processing",
        "change_open",
        "merged",
        "merged",
        "applied",
    ]
    assert record.history[4].detail == f"GitHub Actions success on {head}"
    another = payloads.workflow_run("completed", "dbvend apply #1", "success", run_id=8)
    assert deliver(client, "workflow_run", another).json()["detail"] == "not a dbvend run"
    other = payloads.workflow_run("completed", "CI", "failure", name="CI")
    assert deliver(client, "workflow_run", other).json()["detail"] == "not a dbvend run"


def test_a_title_prefix_from_dbvend_yaml_marks_requests_too(client: TestClient, services: Services) -> None:
    import subprocess

    repo = services.backend.path  # type: ignore[attr-defined]
    catalog = (repo / "dbvend.yaml").read_text()
    (repo / "dbvend.yaml").write_text(
        catalog.replace("issue_title_prefix: null", 'issue_title_prefix: "[database]"')
    )
    subprocess.run(["git", "-C", str(repo), "commit", "-qam", "title prefix"], check=True)
    answer = deliver(client, "issues", issue_payload("opened", render_issue_body(FORM), labels=()))
    assert answer.json()["detail"] == "accepted"
