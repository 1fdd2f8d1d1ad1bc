"""Golden files of every text dbvend posts: reports, command replies, issue replies, descriptions.

Each case builds one text the way dbvend builds it (the pure renderers, or the webhook handler,
worker or sweep with its GitHub calls recorded), normalises what changes from run to run
(request ids, times, commit shas, durations) and compares it with tests/data/comments/<case>.md.
DBVEND_UPDATE_GOLDEN=1 rewrites the files (as in tests/unit/test_render.py); read the diff before
committing it.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.catalog import Catalog, default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.ci import ApplyReport, count_line_of, policy_line, push_refusal, render_apply
from engine.claim import Claim, claim_from_raw, extended, marked_for_destroy
from engine.cli.ci import APPLY_MARKER, SUMMARY_MARKER
from engine.commands import (
    CheckResult,
    PullRequestFacts,
    Reply,
    Review,
    parse_comment,
)
from engine.connection import parse_connection
from engine.cost import estimate_monthly_cost
from engine.description import (
    claim_rows,
    describe_change,
    describe_destroy,
    describe_extension,
    describe_modification,
)
from engine.drift import DriftIssue, decide, marker
from engine.errors import CheckFailed, Conflict, DbvendError, FieldError, InvalidRequest, TerraformError
from engine.forms import render_issue_body
from engine.gitops import MARKER, PullHead, RepositoryIdentity
from engine.gitops.local import LocalRepository
from engine.hcl import run_checks
from engine.modify import modify_claim
from engine.pipeline import process_request
from engine.plan_report import RootReport, render_report
from engine.policy import PolicyDecision, PolicyFinding, ScanResult, Skipped
from engine.queue.local import LocalQueue
from engine.queue.replies import refusal_text
from engine.queue.stuck import StuckPass
from engine.queue.worker import Worker
from engine.render import render_claim
from engine.services import Services, build_services
from engine.settings import Settings
from engine.summary import summarize_plan
from engine.sweep import expire, remind
from engine.terraform import LockHeld
from engine.ttl import due, lease_of
from engine.webhooks import comments, issues, pulls
from engine.webhooks.context import WebhookContext
from tests.support import connections
from tests.support import github_payloads as payloads
from tests.support.paths import COMMENTS, PLANS

GOLDEN = COMMENTS
UPDATE_VARIABLE = "DBVEND_UPDATE_GOLDEN"  # the variable tests/unit/test_render.py reads too
FIXTURES = PLANS
REPOSITORY = "acme/infra"
REQUEST_ID = "3f2b8c1e-0000-4000-8000-000000000001"
HEAD = "9c3e5a7b1d2f4e6a8b0c2d4e6f8a0b1c3d5e7f9a"
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
ACCEPTED_AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
# Small enough that the split case stays readable; production splits at GITHUB_COMMENT_LIMIT.
SPLIT_LIMIT = 2_500


# -- normalising ---------------------------------------------------------------------------------

# Request ids (and terraform's lock ids) are UUIDs.
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
# Full and 12-character commit shas, standing alone: a short one needs a letter (AWS account ids stay)
# and may not be part of a host name or an id (RDS endpoints carry a 12-character hash).
_SHA = re.compile(r"(?<![\w.-])(?:[0-9a-f]{40}|(?=[0-9]*[a-f])[0-9a-f]{12})(?![\w-]|\.\w)")
# ISO 8601 (2026-11-25T08:00:00Z), dbvend's shown times (2026-11-25 08:00 UTC) and terraform's lock
# times (2026-11-25 07:58:12.345678 +0000 UTC); a date alone stays.
_TIME = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?: ?(?:Z|[+-]\d{2}:?\d{2}))?(?: UTC\b)?"
)
_EPOCH = re.compile(r"\b1[6-9]\d{8}\b")  # Unix seconds, 2020 to 2033, as comment markers carry them
# Measured durations ("after 60 s", "1.5s", "250ms"); a whole number glued to its unit (a reminder's
# window, 172800s) is a setting, not a measurement, and stays.
_DURATION = re.compile(r"\b\d+ s\b|\b\d+\.\d+ ?s\b|\b\d+(?:\.\d+)? ?ms\b")


def normalise(text: str) -> str:
    """The text with run-dependent values replaced by numbered placeholders (<uuid-1>, <time-1>,
    <epoch-1>, <sha-1>, <elapsed-1>): the same value gets the same placeholder, so a text that names one
    id twice still says so. (Not <duration>: the help text says `/extend <duration>` itself.)"""

    def numbered(kind: str, pattern: re.Pattern[str], text: str) -> str:
        seen: dict[str, str] = {}
        return pattern.sub(lambda m: seen.setdefault(m.group(0), f"<{kind}-{len(seen) + 1}>"), text)

    text = numbered("uuid", _UUID, text)
    text = numbered("time", _TIME, text)
    text = numbered("epoch", _EPOCH, text)
    text = numbered("sha", _SHA, text)
    return numbered("elapsed", _DURATION, text)


def test_normalise_replaces_ids_times_shas_and_durations_by_stable_placeholders() -> None:
    text = (
        "Request `3f2b8c1e-0000-4000-8000-000000000001` again 3f2b8c1e-0000-4000-8000-000000000001,"
        " other 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d; at 2026-11-25T08:00:00Z and 2026-11-25T08:00:00+00:00,"
        " 2026-11-25 08:00 UTC, 2026-12-01T08:00:00.123456Z, 2026-11-25 07:58:12.345678 +0000 UTC;"
        " <!-- dbvend:ttl-reminder:1796917544:172800s -->; commit 9c3e5a7b1d2f4e6a8b0c2d4e6f8a0b1c3d5e7f9a"
        " (9c3e5a7b1d2f), removed in 9c3e5a7b1d2f.; after 60 s, 1.5s, 250ms; account 123456789012,"
        " ledger.cluster-abcdef012345.eu-west-1.rds.amazonaws.com; 3d, 12h and 2026-10-31 stay."
    )
    assert normalise(text) == (
        "Request `<uuid-1>` again <uuid-1>, other <uuid-2>; at <time-1> and <time-2>,"
        " <time-3>, <time-4>, <time-5>;"
        " <!-- dbvend:ttl-reminder:<epoch-1>:172800s -->; commit <sha-1>"
        " (<sha-2>), removed in <sha-2>.; after <elapsed-1>, <elapsed-2>, <elapsed-3>; account 123456789012,"
        " ledger.cluster-abcdef012345.eu-west-1.rds.amazonaws.com; 3d, 12h and 2026-10-31 stay."
    )
    assert normalise(normalise(text)) == normalise(text), "normalising twice changes nothing"


# -- comparing -----------------------------------------------------------------------------------


def golden_difference(name: str, expected: str, actual: str) -> str | None:
    """None when equal, else a unified diff of the golden file against the text."""
    if expected == actual:
        return None
    diff = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        f"tests/data/comments/{name}.md",
        f"{name} (rendered now)",
    )
    return "".join(diff) + f"\n{name} differs from its golden file; {UPDATE_VARIABLE}=1 rewrites it"


def check_golden(name: str, text: str, folder: Path = GOLDEN, update: bool = False, source: str = "") -> None:
    """Compare with folder/<name>.md; write it instead when updating. A missing file fails."""
    path = folder / f"{name}.md"
    if update:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: create it with `{UPDATE_VARIABLE}=1 .venv/bin/python -m pytest"
            f" tests/integration/test_comment_golden.py -k {name}`, then read it as a reviewer would"
        )
    difference = golden_difference(name, path.read_text(encoding="utf-8"), text)
    if difference is not None:
        pytest.fail(difference + (f" (the text comes from {source})" if source else ""), pytrace=False)


# -- fakes at the edges --------------------------------------------------------------------------


class RecordedReplies:
    """Issue replies as GitHub would receive them: the body of the one comment per marker."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def reply(self, issue_number: int, marker: str, body: str) -> None:
        assert body.startswith(marker)
        self.bodies.append(body)


@dataclass
class RecordedPulls:
    """The pull-request calls of the comment commands: facts handed in, comments recorded."""

    facts_given: PullRequestFacts
    head: PullHead
    permissions: Mapping[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)

    def react(self, comment_id: int, content: str) -> None:
        pass

    def comment(self, number: int, body: str) -> None:
        self.comments.append(body)

    def facts(
        self, number: int, commenter: str, teams: Collection[str] = ()
    ) -> tuple[PullRequestFacts, PullHead]:
        return self.facts_given, self.head

    def permission(self, login: str) -> str:
        given = self.facts_given
        return self.permissions.get(login, given.permission if login == given.commenter else "read")

    def teams_of(self, login: str, teams: Collection[str]) -> frozenset[str]:
        return frozenset()

    def dispatch(self, workflow: str, ref: str, inputs: dict[str, str]) -> None:
        pass


class ScriptedGate:
    """The policy gate's two calls without checkov: every check known, the findings given."""

    def __init__(self, catalog: Catalog, findings: tuple[PolicyFinding, ...] = ()) -> None:
        self.checks = {check_id: check_id for check_id in catalog.policy.check_ids()}
        self.findings = findings

    def known(self) -> dict[str, str]:
        return self.checks

    def scan(self, root: Path, context: Mapping[str, Any] | None = None) -> ScanResult:
        return ScanResult(self.findings)


UNENCRYPTED = PolicyFinding(
    "CKV_AWS_16",
    "Ensure all data stored in the RDS is securely encrypted at rest",
    "HIGH",
    "aws_db_instance.this",
    "/main.tf",
    (12, 48),
    "https://docs.prismacloud.io/en/enterprise-edition/policy-reference/aws-policies/aws-general-policies/general-4",
)
NO_MULTI_AZ = PolicyFinding(
    "CKV_AWS_157", "Ensure that RDS instances have Multi-AZ enabled", None, "aws_db_instance.this",
    "/main.tf", (12, 48), None,
)  # fmt: skip


@dataclass
class World:
    """A dbvend with a local GitOps repository and a SQLite ledger, its GitHub calls recorded."""

    services: Services
    replies: RecordedReplies
    root: Path

    @property
    def repo(self) -> LocalRepository:
        assert isinstance(self.services.backend, LocalRepository)
        return self.services.backend

    def context(self, event: str) -> WebhookContext:
        identity = RepositoryIdentity(REPOSITORY, "main")
        return WebhookContext(self.services, f"delivery-{event}", event, identity)

    def gate(self, findings: tuple[PolicyFinding, ...] = ()) -> Any:
        """Stands in for the PolicyGate: only its known() and scan() are called (policy_decision)."""
        return ScriptedGate(self.repo.catalog(), findings)

    def worker(self, findings: tuple[PolicyFinding, ...] = ()) -> Worker:
        queue = LocalQueue(self.services.ledger)
        worker = Worker(self.services.ledger, queue, self.repo, self.gate(findings), None)
        worker.replies = self.replies
        return worker

    def set_catalog(self, old: str, new: str) -> None:
        path = self.repo.path / "dbvend.yaml"
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new), encoding="utf-8")
        git = ["git", "-C", str(self.repo.path), "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run([*git, "commit", "-qam", "catalog", "--no-verify", "--no-gpg-sign"], check=True)

    def database(self, name: str = "orders", **options: object) -> str:
        """A database on main (its change opened and merged): its request id."""
        raw = {"database_name": name, "database_engine": "postgres", "environment": "dev", **options}
        outcome = process_request(raw, self.repo, self.gate(), request_id=REQUEST_ID)
        assert outcome.change is not None
        self.repo.merge(outcome.change.id)
        return REQUEST_ID


def make_world(tmp_path: Path) -> World:
    settings = Settings(data=tmp_path / "data", api_keys="k", github_repository=REPOSITORY)
    services, _ = build_services(settings)
    replies = RecordedReplies()
    services.replies = replies
    return World(services, replies, tmp_path)


# -- inputs --------------------------------------------------------------------------------------


def plan(name: str) -> Any:
    path = FIXTURES / "plans" / name if (FIXTURES / "plans" / name).exists() else FIXTURES / name
    return summarize_plan(json.loads(path.read_text(encoding="utf-8")))


def catalog() -> Catalog:
    return parse_catalog(default_catalog_text())


def claim(environment: str = "dev", **options: object) -> Claim:
    raw = {"database_name": "orders", "database_engine": "postgres", "environment": environment, **options}
    return claim_from_raw(raw, catalog(), REQUEST_ID, ACCEPTED_AT)


FORM: dict[str, str | None] = {
    "database_name": "orders",
    "database_engine": "postgres",
    "environment": "dev",
    "size": None,
    "ttl": "3d",
    "owner": None,
    "team": "Payments",
    "reason": "Load tests for the Q3 checkout rewrite.",
}


def issue(world: World, action: str, form: Mapping[str, str | None], number: int = 12) -> dict[str, Any]:
    payload = payloads.issues(action, number, "[database] orders", render_issue_body(dict(form)))
    return issues.handle(payload, world.context("issues"))


def pull_head(
    branch: str = "dbvend/dev/orders", key: str = REQUEST_ID, repository: str = REPOSITORY
) -> PullHead:
    return PullHead(branch, HEAD, repository, f"description\n{MARKER.format(key)}\n")


APPROVED_GREEN = PullRequestFacts(
    commenter="bob",
    permission="write",
    author="dbvend[bot]",
    reviews=(Review("carol", "APPROVED", commit_id=HEAD),),
    checks=(CheckResult("dbvend plan", "completed", "success"),),
    mergeable=True,
    mergeable_state="clean",
    head_sha=HEAD,
)


def command_comment(
    world: World, body: str, facts: PullRequestFacts, head: PullHead | None = None, **permissions: str
) -> str:
    """What dbvend posts on the pull request after the comment `body` (the last comment)."""
    recorded = RecordedPulls(facts, head or pull_head(), permissions)
    world.services.pulls = recorded
    payload = payloads.issue_comment("created", 3, body, facts.commenter, issue_author=facts.author)
    comments.handle(payload, world.context("issue_comment"))
    assert recorded.comments, f"no comment posted for {body!r}"
    return recorded.comments[-1]


def reply_text(body: str) -> str:
    parsed = parse_comment(body)
    assert isinstance(parsed, Reply), parsed
    return parsed.text


# -- the cases -----------------------------------------------------------------------------------

Builder = Callable[[Path], "str | list[str]"]
CASES: dict[str, tuple[str, Builder]] = {}


def case(name: str, source: str) -> Callable[[Builder], Builder]:
    """Register a case: its golden file's name and the function that produces the text."""

    def register(build: Builder) -> Builder:
        assert name not in CASES, name
        CASES[name] = (source, build)
        return build

    return register


def plan_title() -> str:
    return f"dbvend plan ({HEAD[:12]})"  # as `dbvend ci plan` titles it


def posted(report: str, marker: str = SUMMARY_MARKER) -> str:
    """The report as `dbvend ci` posts it when it fits one comment: under its part marker."""
    from engine.comment_parts import split_comment

    (part,) = split_comment(report, marker)
    return part


@case("plan-create", "engine.plan_report.render_report")
def _(tmp: Path) -> str:
    report = RootReport("terraform/dev/orders", plan("create_root.json"), monthly_cost=31.42, policy="pass")
    return posted(render_report([report], plan_title()))


@case("plan-update-important", "engine.plan_report.render_report")
def _(tmp: Path) -> str:
    decision = PolicyDecision("warn", warnings=(NO_MULTI_AZ, UNENCRYPTED))
    report = RootReport(
        "terraform/staging/orders",
        plan("update_class_storage.json"),
        monthly_cost=184.6,
        policy=policy_line(decision),
    )
    return posted(render_report([report], plan_title()))


@case("plan-replace", "engine.plan_report.render_report")
def _(tmp: Path) -> str:
    report = RootReport(
        "terraform/staging/ledger", plan("replace_cluster.json"), monthly_cost=412.0, policy="pass"
    )
    return posted(render_report([report], plan_title()))


@case("plan-destroy", "engine.plan_report.render_report")
def _(tmp: Path) -> str:
    return posted(
        render_report(
            [RootReport("terraform/dev/orders", plan("delete_root.json"), policy="pass")], plan_title()
        )
    )


@case("plan-drift-and-unknowns", "engine.plan_report.render_report")
def _(tmp: Path) -> str:
    report = RootReport(
        "terraform/prod/billing", plan("unknown_values.json"), monthly_cost=1250.5, policy="pass"
    )
    return posted(render_report([report], plan_title()))


@case("plan-policy-failure", "engine.plan_report.render_report + engine.ci.policy_line")
def _(tmp: Path) -> str:
    decision = PolicyDecision("fail", failures=(UNENCRYPTED,), warnings=(NO_MULTI_AZ,))
    report = RootReport(
        "terraform/prod/payments",
        plan("plan_prod_bad.json"),
        monthly_cost=890.0,
        policy=policy_line(decision),
        policy_failures=decision.failures,  # as engine.ci.plan_roots reports them
    )
    good = RootReport(
        "terraform/prod/search", plan("plan_prod_good.json"), monthly_cost=455.25, policy="pass"
    )
    return posted(render_report([report, good], plan_title()))


@case("plan-no-changes", "engine.plan_report.render_report")
def _(tmp: Path) -> str:
    reports = [
        RootReport("terraform/dev/orders", plan("noop.json"), monthly_cost=31.42, policy="pass"),
        RootReport(
            "terraform/dev/search", plan("minor_upgrade_by_aws.json"), monthly_cost=62.84, policy="pass"
        ),
    ]
    return posted(render_report(reports, plan_title()))


@case("plan-failed-and-locked", "engine.plan_report.render_report")
def _(tmp: Path) -> str:
    error = TerraformError(
        "plan",
        Path("terraform/dev/orders"),
        "Error: Invalid value for variable\n\n  on main.tf line 12:\n"
        "  12:   instance_class = `db.t4g.nano`\n\n"
        "Allowed values are db.t4g.micro and larger.",
        1,
    )
    lock = LockHeld(
        "8d1e6f2a-3b4c-4d5e-8f6a-7b8c9d0e1f2a",
        operation="OperationTypeApply",
        who="runner@fv-az123-456",
        created="2026-11-25 07:58:12.345678 +0000 UTC",
    )
    reports = [
        RootReport("terraform/dev/orders", None, error=str(error), monthly_cost=31.42),
        RootReport("terraform/dev/search", None, monthly_cost=62.84, locked_by=lock.detail()),
        RootReport("terraform/dev/ledger", plan("create_root.json"), monthly_cost=31.42, policy="pass"),
    ]
    return posted(render_report(reports, plan_title()))


@case("plan-split", "engine.plan_report.render_report + engine.comment_parts.split_comment")
def _(tmp: Path) -> list[str]:
    from engine.comment_parts import split_comment

    reports = [
        RootReport(
            f"terraform/staging/ledger-{n}", plan("replace_cluster.json"), monthly_cost=412.0, policy="pass"
        )
        for n in range(1, 4)
    ]
    return split_comment(render_report(reports, plan_title()), SUMMARY_MARKER, limit=SPLIT_LIMIT)


@case("apply-success", "engine.ci.render_apply")
def _(tmp: Path) -> str:
    reports = [
        ApplyReport(
            "terraform/dev/orders",
            True,
            f"applied: {count_line_of(plan('create_root.json'))}",
            connection=parse_connection(connections.POSTGRES),
        ),
        ApplyReport("terraform/dev/search", True, "no changes", plan("noop.json")),
    ]
    return posted(render_apply(reports, "apply"), f"{APPLY_MARKER}:apply")


@case("apply-failure", "engine.ci.render_apply")
def _(tmp: Path) -> str:
    error = TerraformError(
        "apply",
        Path("terraform/staging/orders"),
        "aws_db_instance.this: Modifying... [id=db-ABCDEFGHIJKLMNOP]\n"
        "Error: modifying RDS DB Instance (orders): InvalidParameterCombination: Cannot upgrade postgres"
        " from 16.4 to 15.8\n  with aws_db_instance.this,\n  on main.tf line 12",
        1,
    )
    lock = LockHeld(
        "8d1e6f2a-3b4c-4d5e-8f6a-7b8c9d0e1f2a", who="alice@laptop", created="2026-11-25 07:58:12 UTC"
    )
    reports = [
        ApplyReport("terraform/staging/orders", False, str(error)),
        ApplyReport("terraform/staging/search", False, lock.describe()),
        ApplyReport(
            "terraform/staging/ledger", True, f"applied: {count_line_of(plan('update_class_storage.json'))}"
        ),
    ]
    return posted(render_apply(reports, "apply"), f"{APPLY_MARKER}:apply")


@case("destroy-success", "engine.ci.render_apply")
def _(tmp: Path) -> str:
    detail = f"destroyed: {count_line_of(plan('delete_root.json'))}; root removed in {HEAD[:12]}"
    return posted(
        render_apply([ApplyReport("terraform/dev/orders", True, detail, destroyed=True)], "destroy"),
        f"{APPLY_MARKER}:destroy",
    )


@case("destroy-root-not-removed", "engine.ci.render_apply + engine.ci.push_refusal")
def _(tmp: Path) -> str:
    refusal = push_refusal(
        "dbvend/dev/orders.destroy-0",
        "remote: Permission to acme/infra.git denied to github-actions[bot].\n"
        "fatal: unable to access 'https://github.com/acme/infra/': The requested URL returned error: 403",
    )
    detail = f"destroyed: {count_line_of(plan('delete_root.json'))}; the root was not removed: {refusal}"
    return posted(
        render_apply([ApplyReport("terraform/dev/orders", False, detail, destroyed=True)], "destroy"),
        f"{APPLY_MARKER}:destroy",
    )


# One comment each, answered by the grammar: name -> the comment.
COMMAND_REPLIES = {
    "command-help": "/help",
    "command-did-you-mean": "/aply",
    "command-lower-case": "/Apply",
    "command-unknown": "/deploy now",
    "command-arguments-refused": "/apply -target=aws_db_instance.this -chdir=/tmp",
}
for _name, _body in COMMAND_REPLIES.items():
    case(_name, "engine.commands.parse_comment")(lambda tmp, body=_body: reply_text(body))


@case("command-extend-usage", "engine.commands.parse_comment")
def _(tmp: Path) -> str:
    return "\n\n---\n\n".join(reply_text(body) for body in ("/extend", "/extend forever", "/extend none"))


@case("command-modify-usage", "engine.commands.parse_comment")
def _(tmp: Path) -> str:
    bodies = ("/modify", "/modify size", "/modify colour=red", "/modify size=medium size=large")
    return "\n\n---\n\n".join(reply_text(body) for body in bodies)


@case("comment-plan-started", "engine.webhooks.comments.handle")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    return command_comment(world, "/plan", APPROVED_GREEN)


@case("comment-apply-refused", "engine.webhooks.comments.handle (engine.commands.authorize)")
def _(tmp: Path) -> str:
    facts = PullRequestFacts(
        commenter="mallory",
        permission="read",
        author="dbvend[bot]",
        reviews=(
            Review("carol", "APPROVED", commit_id="0" * 40),
            Review("dave", "CHANGES_REQUESTED", commit_id=HEAD),
        ),
        checks=(
            CheckResult("dbvend plan", "completed", "failure"),
            CheckResult("lint", "in_progress"),
        ),
        mergeable=False,
        mergeable_state="dirty",
        draft=True,
        head_sha=HEAD,
    )
    return command_comment(make_world(tmp), "/apply", facts)


@case("comment-destroy-production-needs-approval", "engine.webhooks.comments.handle")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    world.set_catalog("    require_approval: true", "    require_approval: false")
    facts = PullRequestFacts(
        "bob", "admin", "dbvend[bot]", checks=APPROVED_GREEN.checks, mergeable=True, head_sha=HEAD
    )
    return command_comment(world, "/destroy", facts, pull_head("dbvend/prod/payments"))


@case("comment-extend-refused", "engine.webhooks.comments.handle")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    world.database(ttl="3d")
    facts = PullRequestFacts("mallory", "read", "dbvend[bot]")
    return command_comment(world, "/extend 3d", facts)


@case("comment-not-own-pull-request", "engine.webhooks.comments.handle")
def _(tmp: Path) -> str:
    head = pull_head(repository="mallory/infra")
    return command_comment(make_world(tmp), "/apply", APPROVED_GREEN, head)


@case("comment-extend-opened", "engine.webhooks.comments.handle (engine.lifecycle.extend_database)")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    world.database(ttl="3d")
    return command_comment(world, "/extend 7d", APPROVED_GREEN)


@case("comment-extend-not-done", "engine.webhooks.comments.handle (engine.lifecycle.extend_database)")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    world.database(ttl="3d")
    return command_comment(world, "/extend 90d", APPROVED_GREEN)


@case("comment-modify-opened", "engine.webhooks.comments.handle (engine.lifecycle.modify_database)")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    world.database(ttl="3d", engine_version="16")
    return command_comment(world, "/modify size=medium storage_gb=40 engine_version=17", APPROVED_GREEN)


@case("comment-modify-not-done", "engine.webhooks.comments.handle (engine.lifecycle.modify_database)")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    world.database(ttl="3d")
    return command_comment(world, "/modify storage_gb=10 min_acu=1", APPROVED_GREEN)


@case("issue-accepted", "engine.webhooks.issues.handle")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    assert issue(world, "opened", FORM)["detail"] == "accepted"
    return world.replies.bodies[-1]


@case("issue-form-errors", "engine.webhooks.issues.handle")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    broken = {**FORM, "environment": None, "database_engine": None, "ttl": "forever"}
    assert issue(world, "opened", broken)["detail"] == "form incomplete"
    return world.replies.bodies[-1]


@case("issue-invalid-request", "engine.webhooks.issues.handle")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    invalid = {**FORM, "database_name": "no way", "environment": "prod", "ttl": "3d"}
    assert issue(world, "opened", invalid)["detail"] == "invalid request"
    return world.replies.bodies[-1]


@case("issue-edited-after-acceptance", "engine.webhooks.issues.handle")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    issue(world, "opened", FORM)
    assert (
        issue(world, "edited", {**FORM, "ttl": "5d", "team": "Search"})["detail"] == "edited after acceptance"
    )
    return world.replies.bodies[-1]


@case("issue-not-allowed", "engine.webhooks.issues.handle")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    world.set_catalog("issue_requesters: anyone", "issue_requesters: triage")
    world.services.pulls = RecordedPulls(APPROVED_GREEN, pull_head(), {"alice": "read"})
    assert issue(world, "opened", FORM)["detail"] == "not allowed"
    return world.replies.bodies[-1]


@case("issue-conflict", "engine.webhooks.issues.handle")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    world.database()
    assert issue(world, "opened", FORM, number=13)["detail"] == "conflict"
    return world.replies.bodies[-1]


@case("issue-change-opened", "engine.queue.worker.Worker.handle (engine.queue.replies.tell_issue)")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    issue(world, "opened", FORM)
    assert world.worker().run_once()
    return world.replies.bodies[-1]


@case("issue-refused-by-policy", "engine.queue.worker.Worker.handle (engine.queue.replies.tell_issue)")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    issue(world, "opened", FORM)
    assert world.worker((UNENCRYPTED,)).run_once()
    return world.replies.bodies[-1]


@case("issue-request-failed", "engine.queue.stuck.StuckPass (engine.queue.replies.tell_issue)")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    issue(world, "opened", FORM)
    clock = [NOW.timestamp() + 10**8]  # long after the message was queued
    stuck = StuckPass(world.services.ledger, 600, clock=lambda: clock[0], replies=world.replies)
    assert stuck.run().resent
    clock[0] += 601
    assert stuck.run().failed
    return world.replies.bodies[-1]


@case("issue-pull-request-merged", "engine.webhooks.pulls.pull_request")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    merged_request(world)
    return world.replies.bodies[-1]


@case("issue-apply-run-failed", "engine.webhooks.pulls.workflow_run")
def _(tmp: Path) -> str:
    return failed_apply_reply(make_world(tmp))


def failed_apply_reply(world: World, html_url: str | None = None) -> str:
    """The issue's reply once the run answering `/apply` on pull request #1 failed (at html_url)."""
    return apply_run_reply(world, "failure", html_url)


def apply_run_reply(
    world: World, conclusion: str, html_url: str | None = None, connection: dict[str, Any] | None = None
) -> str:
    """The issue's reply once the run answering `/apply` on pull request #1 ended (at html_url), its
    `dbvend ci apply` having recorded `connection` in the ledger."""
    issue(world, "opened", FORM)
    world.worker().run_once()
    if connection is not None:
        record = world.services.ledger.by_issue(REPOSITORY, 12)
        assert record is not None
        world.services.ledger.record_connection(record.id, connection)
    world.services.ledger.record_dispatch(1, "apply", "main", payloads.HEAD_SHA)
    run = payloads.workflow_run("completed", "dbvend apply #1", conclusion, run_id=7)
    if html_url is not None:
        run["workflow_run"]["html_url"] = html_url
    assert pulls.workflow_run(run, world.context("workflow_run"))["detail"] == "recorded"
    return world.replies.bodies[-1]


@case("issue-apply-run-succeeded", "engine.webhooks.pulls.workflow_run")
def _(tmp: Path) -> str:
    """The run answering `/apply` succeeded, and its `dbvend ci apply` recorded how to connect."""
    return apply_run_reply(make_world(tmp), "success", connection=connections.AURORA_MYSQL)


@case("issue-apply-on-merge-failed", "engine.webhooks.pulls.workflow_run (push)")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    merged = merged_request(world)
    run = payloads.workflow_run(
        "completed", "Merge pull request #1", "failure", run_id=9, name="dbvend-main", event="push",
        head_sha=merged["pull_request"]["merge_commit_sha"],
    )  # fmt: skip
    assert pulls.workflow_run(run, world.context("workflow_run"))["detail"] == "recorded"
    return world.replies.bodies[-1]


def merged_request(world: World) -> dict[str, Any]:
    """An issue's request whose pull request #1 was merged: the merge's payload."""
    issue(world, "opened", FORM)
    world.worker().run_once()
    record = world.services.ledger.by_issue(REPOSITORY, 12)
    assert record is not None and record.change_head
    body = f"description\n{MARKER.format(record.id)}\n"
    merged = payloads.pull_request(
        "closed", 1, "dbvend/dev/orders", merged=True, head_sha=record.change_head, body=body
    )
    assert pulls.pull_request(merged, world.context("pull_request"))["detail"] == "merged"
    return merged


@case("drift-issue-body", "engine.drift.decide (issue_body)")
def _(tmp: Path) -> str:
    report = RootReport("terraform/prod/billing", plan("unknown_values.json"))
    (action,) = decide([report], [], NOW)
    assert action.kind == "open"
    return f"# {action.title}\n\n{action.body}"


@case("drift-issue-closed", "engine.drift.decide (close comments)")
def _(tmp: Path) -> str:
    found = [
        DriftIssue(40, marker("terraform/prod/billing")),
        DriftIssue(41, marker("terraform/prod/billing")),
        DriftIssue(42, marker("terraform/prod/retired")),
    ]
    actions = decide([RootReport("terraform/prod/billing", plan("noop.json"))], found, NOW)
    return "\n\n---\n\n".join(f"#{a.issue}: {a.comment}" for a in actions if a.kind == "close")


@case("description-request", "engine.description.describe_change")
def _(tmp: Path) -> str:
    request = claim(
        "staging", ttl="3d", owner="alice@example.com", team="Payments", reason="Q3 load tests (EU)"
    )
    checks = run_checks(render_claim(request), request, None)
    skipped = Skipped(NO_MULTI_AZ, "Multi-AZ doubles the cost of short-lived databases")
    decision = PolicyDecision(
        "warn",
        warnings=(UNENCRYPTED,),
        skipped=(skipped,),
        notes=("the skip of CKV_AWS_293 expired on 2026-10-31",),
    )
    return describe_change(request, estimate_monthly_cost(request), checks, decision)


@case("description-request-aurora", "engine.description.describe_change")
def _(tmp: Path) -> str:
    request = claim_from_raw(
        {
            "database_name": "ledger",
            "database_engine": "aurora-postgresql",
            "environment": "dev",
            "readers": 1,
        },
        catalog(),
        REQUEST_ID,
        ACCEPTED_AT,
    )
    checks = run_checks(render_claim(request), request, None)
    return describe_change(request, estimate_monthly_cost(request), checks, PolicyDecision("pass"))


@case("description-request-restore-snapshot", "engine.description.describe_change (restore_section)")
def _(tmp: Path) -> str:
    snapshot = {"database": "prod/orders", "snapshot": "orders-final-3f2b8c1e"}
    request = claim("dev", identifier="orders-copy", restore_from=snapshot)
    checks = run_checks(render_claim(request), request, None)
    return describe_change(request, estimate_monthly_cost(request), checks, PolicyDecision("pass"))


@case("description-request-restore-point-in-time", "engine.description.describe_change (restore_section)")
def _(tmp: Path) -> str:
    request = claim_from_raw(
        {
            "database_name": "ledger",
            "database_engine": "aurora-postgresql",
            "environment": "staging",
            "identifier": "ledger-before-migration",
            "restore_from": {"database": "staging/ledger", "point_in_time": "2026-11-23T06:00:00Z"},
        },
        catalog(),
        REQUEST_ID,
        ACCEPTED_AT,
    )
    checks = run_checks(render_claim(request), request, None)
    return describe_change(request, estimate_monthly_cost(request), checks, PolicyDecision("pass"))


@case("description-extension", "engine.description.describe_extension")
def _(tmp: Path) -> str:
    before = claim(ttl="3d")
    after = extended(before, NOW + timedelta(days=7))
    return describe_extension(before, after, "@alice", run_checks(render_claim(after), after, None))


@case("description-modification", "engine.description.describe_modification")
def _(tmp: Path) -> str:
    before = claim(ttl="3d", engine_version="16")
    done = modify_claim(before, {"size": "medium", "storage_gb": 40, "engine_version": "17"}, catalog())
    checks = run_checks(render_claim(done.claim), done.claim, None)
    return describe_modification(before, done, "@alice", checks, PolicyDecision("pass"))


@case("description-destroy", "engine.description.describe_destroy")
def _(tmp: Path) -> str:
    marked = marked_for_destroy(claim(ttl="3d"), NOW, "its time-to-live ran out at 2026-11-26T09:30:00Z")
    production = catalog().environments["dev"].production
    return describe_destroy(marked, "its time-to-live ran out at 2026-11-26T09:30:00Z", production)


@case("description-destroy-production", "engine.description.describe_destroy")
def _(tmp: Path) -> str:
    marked = marked_for_destroy(claim("prod"), NOW, "asked by @alice: the service was retired")
    production = catalog().environments["prod"].production
    return describe_destroy(marked, "asked by @alice: the service was retired", production)


@case("ttl-reminder", "engine.sweep.remind (reminder_text)")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    issue(world, "opened", FORM)
    world.worker().run_once()
    world.repo.merge(1)
    leases = [lease_of(path, text) for path, text in world.repo.claims().items()]
    expires = leases[0].expires_at
    assert expires is not None
    told = remind(
        due(leases, expires - timedelta(hours=30)),
        world.services.ledger,
        world.replies,
        expires - timedelta(hours=30),
    )
    assert told and told[0].where == "issue #12"
    return world.replies.bodies[-1]


@case("ttl-expired", "engine.sweep.expire")
def _(tmp: Path) -> str:
    world = make_world(tmp)
    issue(world, "opened", FORM)
    world.worker().run_once()
    world.repo.merge(1)
    leases = [lease_of(path, text) for path, text in world.repo.claims().items()]
    assert leases[0].expires_at is not None
    later = leases[0].expires_at + timedelta(minutes=5)
    done = expire(
        due(leases, later), world.repo.catalog(), world.repo, world.services.ledger, world.replies, later
    )
    assert done and done[0].action.startswith("destroy change #2")
    return world.replies.bodies[-1]


# -- the tests -----------------------------------------------------------------------------------


def rendered(name: str, tmp_path: Path) -> dict[str, str]:
    """The case's golden names and normalised texts: <case>, or <case>.part<i> for a split text."""
    _, build = CASES[name]
    made = build(tmp_path)
    texts = [made] if isinstance(made, str) else made
    names = [name] if isinstance(made, str) else [f"{name}.part{i}" for i in range(1, len(texts) + 1)]
    # A path of this machine in a text would be a leak: shown as <tmp>, never hidden.
    return {n: normalise(text.replace(str(tmp_path), "<tmp>")) for n, text in zip(names, texts, strict=True)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_comment_matches_its_golden_file(name: str, tmp_path: Path) -> None:
    update = bool(os.environ.get(UPDATE_VARIABLE))
    texts = rendered(name, tmp_path)
    for golden_name, text in texts.items():
        check_golden(golden_name, text, update=update, source=CASES[name][0])
    leftovers = {p.stem for p in GOLDEN.glob(f"{name}.part*.md")} - set(texts)
    if update:
        for stem in leftovers:
            (GOLDEN / f"{stem}.md").unlink()
    else:
        assert not leftovers, (
            f"golden parts no longer rendered: {sorted(leftovers)}; {UPDATE_VARIABLE}=1 removes them"
        )


def test_every_golden_file_belongs_to_a_case() -> None:
    stems = {p.stem.partition(".part")[0] for p in GOLDEN.glob("*.md") if p.name != "README.md"}
    assert stems <= set(CASES), f"golden files of no case: {sorted(stems - set(CASES))}"


def test_the_split_case_really_is_split() -> None:
    assert len(list(GOLDEN.glob("plan-split.part*.md"))) >= 2


def test_a_changed_character_is_reported_as_a_difference(tmp_path: Path) -> None:
    text = rendered("command-help", tmp_path)["command-help"]
    changed = text.replace("/apply", "/appIy", 1)
    difference = golden_difference("command-help", text, changed)
    assert difference is not None
    assert "-| `/apply` | apply the plan" in difference and "+| `/appIy` | apply the plan" in difference
    folder = tmp_path / "golden"
    check_golden("command-help", text, folder, update=True)
    with pytest.raises(pytest.fail.Exception, match="command-help differs from its golden file"):
        check_golden("command-help", changed, folder)


def test_a_different_input_fails_against_the_golden_file(tmp_path: Path) -> None:
    """The golden file of the reply to /aply does not match the reply to /destory: the comparison says so."""
    other = normalise(reply_text("/destory"))
    with pytest.raises(pytest.fail.Exception, match="command-did-you-mean differs"):
        check_golden("command-did-you-mean", other)


def test_a_missing_golden_file_fails_and_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=f"{UPDATE_VARIABLE}=1"):
        check_golden("no-such-case", "text", tmp_path)


# -- rules behind the texts ----------------------------------------------------------------------


def test_the_claim_table_keeps_one_row_order_whatever_was_asked() -> None:
    asked = claim("staging", ttl="3d", owner="alice@example.com", team="Payments", reason="Q3 load tests")
    keys_asked = [key for key, _ in claim_rows(asked)]
    keys_default = [key for key, _ in claim_rows(claim("staging"))]
    assert [key for key in keys_asked if key in keys_default] == keys_default
    asked_first = ("database_name", "database_engine", "environment", "identifier", "owner", "team", "reason")
    assert tuple(keys_asked[:7]) == asked_first
    assert keys_default[-1] == keys_asked[-1] == "request_id"


def test_a_run_link_is_left_out_unless_it_is_a_plain_https_address(tmp_path: Path) -> None:
    reply = failed_apply_reply(make_world(tmp_path), "https://github.com/x) [click](https://evil.example")
    assert "](" not in reply and "evil" not in reply


@pytest.mark.parametrize(
    ("refusal", "says"),
    [
        (CheckFailed(["provider-schema: no such argument"]), "tell the platform team"),
        (InvalidRequest([FieldError("ttl", "must be 30d or less")]), "**Time to live (TTL)**: must be 30d"),
        (Conflict("database dev/orders already exists on main"), "open a new issue with another name"),
    ],
)
def test_a_refused_request_is_told_why_once_and_what_to_do(refusal: DbvendError, says: str) -> None:
    text = refusal_text(refusal)
    assert text.count("refused") == 1 and says in text
