"""tests/support/github_payloads.py: every payload validates with githubkit's webhook models (GitHub's
schema), and the values a test passes in land where dbvend's handlers read them."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
from githubkit import webhooks
from pydantic import ValidationError

from tests.support import github_payloads as gh

PR_BRANCH = "dbvend/dev/orders"
SHA = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"

Build = Callable[[], dict[str, Any]]

CASES: list[tuple[str, str, Build]] = [
    ("ping", "default", lambda: gh.ping()),
    ("ping", "hook 77", lambda: gh.ping(hook_id=77, full_name="other/place")),
    ("issues", "opened", lambda: gh.issues("opened", 12, "[dbvend] orders", "### Engine\n\npostgres")),
    ("issues", "opened, empty body", lambda: gh.issues("opened", 12, "[dbvend] orders", None)),
    ("issues", "edited", lambda: gh.issues("edited", 12, "t", "new", previous_body="old")),
    ("issues", "edited title", lambda: gh.issues("edited", 12, "t", "b", previous_title="old title")),
    ("issues", "edited, no change given", lambda: gh.issues("edited", 12, "t", "b")),
    ("issues", "closed", lambda: gh.issues("closed", 12, "t", "b")),
    ("issues", "reopened", lambda: gh.issues("reopened", 12, "t", "b")),
    ("issues", "labeled", lambda: gh.issues("labeled", 12, "t", "b", labels=("database-request", "x"))),
    ("issues", "opened, no labels", lambda: gh.issues("opened", 12, "t", "b", labels=())),
    ("issues", "edited while closed", lambda: gh.issues("edited", 12, "t", "b", state="closed")),
    ("issue_comment", "created on PR", lambda: gh.issue_comment("created", 5, "/plan", "bob")),
    (
        "issue_comment",
        "created on issue",
        lambda: gh.issue_comment("created", 5, "hi", "bob", on_pull_request=False),
    ),
    (
        "issue_comment",
        "created by bot",
        lambda: gh.issue_comment("created", 5, "ok", "dbvend[bot]", commenter_type="Bot"),
    ),
    (
        "issue_comment",
        "edited",
        lambda: gh.issue_comment("edited", 5, "/apply", "bob", previous_body="/plan"),
    ),
    ("issue_comment", "deleted", lambda: gh.issue_comment("deleted", 5, "/plan", "bob")),
    ("pull_request", "opened", lambda: gh.pull_request("opened", 5, PR_BRANCH)),
    ("pull_request", "reopened", lambda: gh.pull_request("reopened", 5, PR_BRANCH)),
    ("pull_request", "synchronize", lambda: gh.pull_request("synchronize", 5, PR_BRANCH, head_sha=SHA)),
    ("pull_request", "closed", lambda: gh.pull_request("closed", 5, PR_BRANCH)),
    ("pull_request", "closed merged", lambda: gh.pull_request("closed", 5, PR_BRANCH, merged=True)),
    ("pull_request", "labeled PR", lambda: gh.pull_request("opened", 5, PR_BRANCH, labels=("dbvend",))),
    ("workflow_run", "requested", lambda: gh.workflow_run("requested", "dbvend plan #5", None)),
    ("workflow_run", "in_progress", lambda: gh.workflow_run("in_progress", "dbvend plan #5", None)),
    ("workflow_run", "completed", lambda: gh.workflow_run("completed", "dbvend apply #5", "success")),
    ("workflow_run", "completed failure", lambda: gh.workflow_run("completed", "dbvend plan #5", "failure")),
    (
        "workflow_run",
        "completed with PR",
        lambda: gh.workflow_run("completed", "x", "cancelled", head_branch=PR_BRANCH, pull_numbers=(5,)),
    ),
    ("check_suite", "requested", lambda: gh.check_suite("requested", PR_BRANCH, SHA, None, (5,))),
    ("check_suite", "rerequested", lambda: gh.check_suite("rerequested", PR_BRANCH, SHA, None, (5,))),
    ("check_suite", "completed", lambda: gh.check_suite("completed", PR_BRANCH, SHA, "success", (5, 6))),
    ("check_suite", "completed no PR", lambda: gh.check_suite("completed", "main", SHA, "failure")),
    (
        "check_suite",
        "other app",
        lambda: gh.check_suite("completed", PR_BRANCH, SHA, "neutral", app_name="Lint"),
    ),
]


@pytest.mark.parametrize(
    ("event", "build"), [(e, b) for e, _, b in CASES], ids=[f"{e}:{i}" for e, i, _ in CASES]
)
def test_payload_validates_with_githubs_schema(event: str, build: Build) -> None:
    payload = build()
    parsed = webhooks.parse_obj(event, payload)
    if "action" in payload:
        assert getattr(parsed, "action") == payload["action"]  # noqa: B009 (ping has no action)


@pytest.mark.parametrize(
    ("event", "payload", "path"),
    [
        ("issues", gh.issues("opened", 1, "t", "b"), ("issue", "number")),
        ("issues", gh.issues("opened", 1, "t", "b"), ("repository", "owner")),
        ("issue_comment", gh.issue_comment("created", 1, "b", "bob"), ("comment", "reactions")),
        ("pull_request", gh.pull_request("closed", 1, PR_BRANCH), ("pull_request", "head", "sha")),
        ("workflow_run", gh.workflow_run("completed", "t", "success"), ("workflow_run", "head_commit")),
        ("check_suite", gh.check_suite("completed", "b", SHA, "success"), ("check_suite", "app", "node_id")),
        ("ping", gh.ping(), ("hook", "events")),
    ],
)
def test_the_schema_is_strict_enough_to_catch_a_missing_field(
    event: str, payload: dict[str, Any], path: tuple[str, ...]
) -> None:
    broken = copy.deepcopy(payload)
    parent = broken
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    with pytest.raises(ValidationError):
        webhooks.parse_obj(event, broken)


def test_the_schema_catches_a_wrongly_typed_field() -> None:
    payload = gh.issues("opened", 1, "t", "b")
    payload["issue"]["number"] = "twelve"
    with pytest.raises(ValidationError):
        webhooks.parse_obj("issues", payload)


def test_envelope_of_an_app_delivery() -> None:
    for event, _, build in CASES:
        payload = build()
        assert payload["sender"]["login"]
        repo = payload["repository"]
        assert repo["private"] is True and repo["visibility"] == "private"
        assert repo["default_branch"] == "main"
        if event != "ping":
            assert payload["installation"] == gh.installation(42)
            assert payload["organization"]["login"] == repo["owner"]["login"]


def test_urls_derive_from_the_repository_full_name() -> None:
    repo = gh.repository("acme/infra")
    api, web = "https://api.github.com/repos/acme/infra", "https://github.com/acme/infra"
    assert repo["url"] == api and repo["html_url"] == web and repo["name"] == "infra"
    assert repo["clone_url"] == f"{web}.git" and repo["ssh_url"] == "git@github.com:acme/infra.git"
    for key, value in repo.items():
        if key.endswith("_url") and key not in {"html_url", "clone_url", "svn_url", "git_url", "ssh_url"}:
            assert value is None or value.startswith(api), key
    assert repo["issues_url"] == f"{api}/issues{{/number}}"
    assert repo["owner"]["type"] == "Organization" and repo["owner"]["login"] == "acme"
    pull = gh.pull_request("opened", 3, PR_BRANCH, full_name="acme/infra")["pull_request"]
    assert pull["url"] == f"{api}/pulls/3" and pull["html_url"] == f"{web}/pull/3"
    assert pull["_links"]["statuses"]["href"] == f"{api}/statuses/{gh.HEAD_SHA}"


def test_accounts_have_stable_ids_and_githubs_node_ids() -> None:
    assert gh.user("alice") == gh.user("alice")
    assert gh.user("alice")["id"] != gh.user("bob")["id"]
    assert gh.organization("acme")["id"] == gh.user("acme", "Organization")["id"]
    # GitHub's own example values: Codertocat (21031067) and installation 1.
    assert gh.node_id("User", 21031067) == "MDQ6VXNlcjIxMDMxMDY3"
    assert gh.installation(1) == {"id": 1, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="}
    bot = gh.user("dbvend[bot]", "Bot")
    assert bot["url"] == "https://api.github.com/users/dbvend%5Bbot%5D"
    assert bot["html_url"] == "https://github.com/apps/dbvend"


def test_timestamps_are_fixed_iso_8601_utc() -> None:
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)
        elif key.endswith("_at") or key in {"timestamp", "due_on"}:
            assert value is None or stamp.match(value), (key, value)

    for _, _, build in CASES:
        walk(build())
        assert build() == build()


def test_issues_carries_what_dbvend_reads() -> None:
    payload = gh.issues("opened", 12, "[dbvend] orders", "the form", labels=("database-request", "dev"))
    issue = payload["issue"]
    assert (issue["number"], issue["title"], issue["body"]) == (12, "[dbvend] orders", "the form")
    assert [label["name"] for label in issue["labels"]] == ["database-request", "dev"]
    assert issue["state"] == "open" and "pull_request" not in issue
    assert payload["sender"]["login"] == "alice" and payload["repository"]["full_name"] == "acme/infra"


def test_issues_actions() -> None:
    edited = gh.issues("edited", 1, "t", "new", previous_body="old")
    assert edited["changes"] == {"body": {"from": "old"}}
    closed = gh.issues("closed", 1, "t", "b")["issue"]
    assert closed["state"] == "closed" and closed["closed_at"] and closed["state_reason"] == "completed"
    assert gh.issues("reopened", 1, "t", "b")["issue"]["state_reason"] == "reopened"
    labeled = gh.issues("labeled", 1, "t", "b", labels=("a", "database-request"))
    assert labeled["label"]["name"] == "database-request"
    assert gh.issues("opened", 1, "t", "b", state="closed")["issue"]["state"] == "closed"
    with pytest.raises(ValueError):
        gh.issues("labeled", 1, "t", "b", labels=())


def test_issue_comment_carries_what_dbvend_reads() -> None:
    payload = gh.issue_comment("created", 5, "/plan", "bob", comment_id=901)
    comment, issue = payload["comment"], payload["issue"]
    assert (comment["body"], comment["id"]) == ("/plan", 901)
    assert (comment["user"]["login"], comment["user"]["type"]) == ("bob", "User")
    assert issue["number"] == 5 and issue["pull_request"]["url"].endswith("/pulls/5")
    assert comment["html_url"] == "https://github.com/acme/infra/pull/5#issuecomment-901"
    on_issue = gh.issue_comment("created", 5, "hi", "bob", on_pull_request=False)
    assert "pull_request" not in on_issue["issue"]
    bot = gh.issue_comment("created", 5, "done", "dbvend[bot]", commenter_type="Bot")["comment"]
    assert bot["user"]["type"] == "Bot" and bot["performed_via_github_app"]["slug"] == "dbvend"


def test_pull_request_carries_what_dbvend_reads() -> None:
    merged = gh.pull_request("closed", 5, PR_BRANCH, merged=True)
    pull = merged["pull_request"]
    assert merged["number"] == pull["number"] == 5
    assert pull["head"]["ref"] == PR_BRANCH and pull["base"]["ref"] == "main"
    assert pull["merged"] is True and pull["merged_at"] and pull["state"] == "closed"
    closed = gh.pull_request("closed", 5, PR_BRANCH)["pull_request"]
    assert closed["merged"] is False and closed["merged_at"] is None and closed["state"] == "closed"
    opened = gh.pull_request("opened", 5, PR_BRANCH, merged=True)["pull_request"]
    assert opened["state"] == "open" and opened["merged"] is False
    sync = gh.pull_request("synchronize", 5, PR_BRANCH, head_sha=SHA)
    assert sync["after"] == SHA == sync["pull_request"]["head"]["sha"]


def test_workflow_run_carries_what_dbvend_reads() -> None:
    payload = gh.workflow_run("completed", "dbvend apply #5", "success", run_id=321)
    run = payload["workflow_run"]
    assert (run["display_title"], run["conclusion"], run["status"]) == (
        "dbvend apply #5",
        "success",
        "completed",
    )
    assert run["html_url"] == "https://github.com/acme/infra/actions/runs/321"
    assert payload["workflow"]["id"] == run["workflow_id"] and payload["workflow"]["name"] == "dbvend"
    assert gh.workflow_run("requested", "t", None)["workflow_run"]["status"] == "queued"


def test_check_suite_carries_what_dbvend_reads() -> None:
    suite = gh.check_suite("completed", PR_BRANCH, SHA, "failure", pull_numbers=(5, 6))["check_suite"]
    assert (suite["head_branch"], suite["head_sha"], suite["conclusion"]) == (PR_BRANCH, SHA, "failure")
    assert suite["app"]["name"] == "GitHub Actions" and suite["app"]["slug"] == "github-actions"
    assert [pull["number"] for pull in suite["pull_requests"]] == [5, 6]
    assert suite["pull_requests"][0]["head"] == {
        "ref": PR_BRANCH,
        "sha": SHA,
        "repo": {
            "id": gh.repository()["id"],
            "url": "https://api.github.com/repos/acme/infra",
            "name": "infra",
        },
    }
    other = gh.check_suite("requested", PR_BRANCH, SHA, None, app_name="Lint")["check_suite"]
    assert other["app"]["name"] == "Lint" and other["status"] == "queued" and other["pull_requests"] == []


def test_ping_carries_the_hook_id() -> None:
    payload = gh.ping(hook_id=77)
    assert payload["hook_id"] == payload["hook"]["id"] == 77
    assert payload["hook"]["url"] == "https://api.github.com/repos/acme/infra/hooks/77"
    assert payload["zen"]
