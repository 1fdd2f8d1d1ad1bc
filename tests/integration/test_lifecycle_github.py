"""A database's whole life in GitHub mode, against tests/support/github_server.py (real git behind it), the
sweep's clock driven with --now: issue -> pull request -> merge -> reminder comment -> `/extend` on
the issue -> extension pull request -> merge -> reminder -> expiry -> destroy pull request -> merge.
Each step happens exactly once, however often the sweep runs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from engine.app import create_app
from engine.checkov.gate import PolicyGate
from engine.cli import main
from engine.forms import render_issue_body
from engine.queue.local import LocalQueue
from engine.queue.worker import Worker
from engine.ttl import parse_time
from tests.support import github_payloads as payloads
from tests.support.deliveries import deliver, issue_payload
from tests.support.github_clients import github_services
from tests.support.github_server import GitHubServer


@pytest.fixture
def github(tmp_path: Path) -> Iterator[GitHubServer]:
    with GitHubServer(tmp_path) as server:
        yield server


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_github_mode_the_whole_life_of_a_database_each_step_once(
    tmp_path: Path, github: GitHubServer, gate: PolicyGate
) -> None:
    services = github_services(tmp_path, github)
    ledger = services.ledger
    env = {
        "DBVEND_DATA": str(tmp_path / "data"),
        "DBVEND_GITOPS": "github",
        "DBVEND_GITHUB_API_URL": github.url,
        "DBVEND_GITHUB_TOKEN": "ghs_test",
        "DBVEND_GITHUB_REPOSITORY": "acme/infra",
    }

    def sweep(moment: datetime) -> str:
        args = ["ttl", "sweep", "--now", at(moment), "--repo", str(github.git_dir), "--ref", "main"]
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 0, result.output
        return result.output

    def claim_on_main() -> dict[str, Any]:
        text = github.read_file("main", "terraform/dev/orders/request.json")
        assert text is not None
        found: dict[str, Any] = json.loads(text)
        return found

    def app_comments(number: int, pattern: str) -> list[str]:
        return [b for b in github.comment_bodies(number) if re.search(pattern, b)]

    form = {"database_name": "orders", "database_engine": "postgres", "environment": "dev", "owner": "alice"}
    body = render_issue_body(form)
    issue = github.create_issue("[database] orders", body, user="alice")
    github.set_permission("alice", "read")  # she asked for it: that is enough to extend it
    github.set_permission("mallory", "read")
    with TestClient(create_app(services)) as client:

        def merged(number: int) -> None:
            services.backend.merge(number)
            pull = github.pull_request(number)
            delivery = payloads.pull_request(
                "closed", number, pull["head"]["ref"], merged=True, body=pull["body"], title=pull["title"]
            )
            assert deliver(client, "pull_request", delivery).status_code == 200

        def comment_on_issue(login: str, text: str) -> dict[str, Any]:
            made = github.add_comment(issue, login, text)
            delivery = payloads.issue_comment(
                "created", issue, text, login, made["id"], on_pull_request=False, issue_author="alice"
            )
            answer: dict[str, Any] = deliver(client, "issue_comment", delivery).json()
            return answer

        # the request: one pull request, merged
        request_id = deliver(client, "issues", issue_payload("opened", body, number=issue)).json()[
            "request_id"
        ]
        worker = Worker(ledger, LocalQueue(ledger), services.backend, gate, None)
        worker.replies = services.replies
        assert worker.run_once()
        record = ledger.get(request_id)
        assert record is not None and record.change_id is not None
        request_pull = record.change_id
        merged(request_pull)
        assert ledger.get(request_id).status == "merged"  # type: ignore[union-attr]
        first = parse_time(claim_on_main()["expires_at"])

        # the 48h reminder: one comment on the request's issue, whatever the number of sweeps
        assert "via issue #" in sweep(first - timedelta(hours=47))
        sweep(first - timedelta(hours=46))
        assert len(app_comments(issue, r"dbvend:ttl-reminder:")) == 1
        assert "/extend 3d" in app_comments(issue, r"dbvend:ttl-reminder:")[0]

        # /extend on the issue: by someone else refused, by the one who asked an extension PR
        refused = comment_on_issue("mallory", "/extend 10d")
        assert refused["detail"] == "refused"
        extended = comment_on_issue("alice", "/extend 10d")
        assert extended["detail"] == "extension opened", extended
        extension_pull = extended["change"]
        pull = github.pull_request(extension_pull)
        assert pull["head"]["ref"] == "dbvend/dev/orders.extend-1" and pull["state"] == "open"
        assert any(
            f"pull request #{extension_pull} moves the expiry" in b for b in github.comment_bodies(issue)
        )
        assert claim_on_main()["expires_at"] == at(first)  # not before the merge
        merged(extension_pull)
        second = parse_time(claim_on_main()["expires_at"])
        assert claim_on_main()["extensions"] == 1
        assert timedelta(days=9) < second - datetime.now(UTC) <= timedelta(days=10)

        # /extend on the request's (merged) pull request: readers refused there too
        made = github.add_comment(request_pull, "mallory", "/extend 1d")
        delivery = payloads.issue_comment("created", request_pull, "/extend 1d", "mallory", made["id"])
        assert deliver(client, "issue_comment", delivery).json()["detail"] == "refused"

        # the new expiry's reminder, once; then expiry: one destroy pull request, one comment
        assert "via issue #" in sweep(second - timedelta(hours=47))
        sweep(second - timedelta(hours=46))
        assert len(app_comments(issue, r"dbvend:ttl-reminder:")) == 2
        gone = sweep(second + timedelta(minutes=1))
        destroy_pull = int(re.search(r"destroy change #(\d+) is open", gone).group(1))  # type: ignore[union-attr]
        assert github.pull_request(destroy_pull)["head"]["ref"] == "dbvend/dev/orders.destroy-1"
        assert "destroy change #" in sweep(second + timedelta(hours=2))
        assert len(github.open_pulls()) == 1
        assert len(app_comments(issue, r"dbvend:ttl-expired:")) == 1
        assert ledger.get(request_id).status == "destroy_open"  # type: ignore[union-attr]
        merged(destroy_pull)
        later = sweep(second + timedelta(hours=3))
        assert "being destroyed" in later and "destroy change" not in later

    # exactly three pull requests: the request, its extension, its destruction
    dbvend_branches = sorted(
        github.pull_request(n)["head"]["ref"] for n in (request_pull, extension_pull, destroy_pull)
    )
    assert dbvend_branches == [
        "dbvend/dev/orders",
        "dbvend/dev/orders.destroy-1",
        "dbvend/dev/orders.extend-1",
    ]
    assert len(github.open_pulls()) == 0
    assert claim_on_main()["destroy_requested_at"] == at(second + timedelta(minutes=1))
    assert len(app_comments(issue, r"dbvend:ttl-reminder:")) == 2
    assert len(app_comments(issue, r"dbvend:ttl-expired:")) == 1
    history = ledger.get(request_id).history  # type: ignore[union-attr]
    opened = [e for e in history if e.detail and e.detail.startswith(f"destroy change #{destroy_pull}: ")]
    assert [e.status for e in opened] == ["destroy_open"]
    assert sum(1 for e in history if e.detail and e.detail.startswith("extension to")) == 1
