"""`dbvend drift`'s decisions (engine/drift.py, pure): which issue to open, update or close for which root
(tests/integration/test_drift.py runs the command against the fake GitHub and real terraform)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from engine.drift import ISSUE_BODY_LIMIT, DriftIssue, decide, drift_roots, exit_code, issue_body, marker
from engine.plan_report import RootReport
from engine.summary import PlanSummary, ResourceChange
from tests.support.plans import plan

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
ORDERS, BILLING = "terraform/dev/orders", "terraform/dev/billing"


def drifted(directory: str, name: str = "update_class_storage") -> RootReport:
    return RootReport(directory, plan(name))


def opened_issue(directory: str, summary: PlanSummary, number: int = 7, at: datetime = NOW) -> DriftIssue:
    return DriftIssue(number, issue_body(directory, summary, at))


# -- the decisions -------------------------------------------------------------------------------------


def test_drift_without_an_issue_opens_one() -> None:
    (action,) = decide([drifted(ORDERS)], [], NOW)
    assert (action.kind, action.issue, action.title) == ("open", None, "Drift: terraform/dev/orders")
    body = action.body
    assert (
        body.startswith(marker(ORDERS) + "\n")
        and marker(ORDERS) == "<!-- dbvend:drift:terraform/dev/orders -->"
    )
    assert "0 to add, 2 to change, 0 to destroy, 0 to replace" in body
    assert "**update** aws\\_db\\_instance.this: " in body  # markdown escaped, like the plan summary
    assert "instance\\_class: db.t4g.medium → db.r6g.large" in body
    assert "aws\\_cloudwatch\\_metric\\_alarm.free\\_storage" in body
    assert "2026-11-23 09:30 UTC" in body
    assert f"dbvend ci apply --base HEAD --directory {ORDERS}" in body and "request.json" in body
    assert "N3w-Pa55word" not in body and "CC-9902" not in body  # sensitive values never shown
    assert exit_code([action]) == 2


def test_the_same_drift_later_leaves_the_issue_alone() -> None:
    issue = opened_issue(ORDERS, plan("update_class_storage"))
    (action,) = decide([drifted(ORDERS)], [issue], NOW + timedelta(days=3))
    assert (action.kind, action.issue) == ("leave", 7)
    assert action.body == issue.body  # "first detected" is kept from the issue, not made anew


def test_different_drift_updates_the_body_and_keeps_when_it_was_first_seen() -> None:
    issue = opened_issue(ORDERS, plan("update_class_storage"))
    later = NOW + timedelta(days=1)
    (action,) = decide([drifted(ORDERS, "replace_cluster")], [issue], later)
    assert (action.kind, action.issue) == ("update", 7)
    assert "**replace** aws\\_rds\\_cluster.this" in action.body and "instance\\_class" not in action.body
    assert "First detected**: 2026-11-23 09:30 UTC" in action.body
    assert (
        decide([drifted(ORDERS, "replace_cluster")], [replace(issue, body=action.body)], later)[0].kind
        == "leave"
    )


def test_an_issue_edited_by_hand_is_written_again() -> None:
    issue = opened_issue(ORDERS, plan("update_class_storage"))
    edited = replace(issue, body=issue.body + "\nI looked at it. -- ops\n")
    (action,) = decide([drifted(ORDERS)], [edited], NOW)
    assert action.kind == "update" and action.body == issue.body


def test_no_drift_closes_the_issue_with_a_comment_and_otherwise_does_nothing() -> None:
    issue = opened_issue(ORDERS, plan("update_class_storage"))
    (close,) = decide([RootReport(ORDERS, plan("noop"))], [issue], NOW)
    assert (close.kind, close.issue) == ("close", 7)
    assert "No drift any more" in close.comment and ORDERS in close.comment
    (clean,) = decide([RootReport(ORDERS, plan("noop"))], [], NOW)
    assert (clean.kind, clean.issue) == ("clean", None)
    assert exit_code([close, clean]) == 0


def test_a_minor_upgrade_by_aws_is_no_drift() -> None:
    # AWS installed 17.6 over the root's 17.4 (auto_minor_version_upgrade): the refreshed state and the
    # plan show the minor (hashicorp/terraform-provider-aws internal/service/rds,
    # compareActualEngineVersion), which nobody asked to undo. No issue, and an open one is closed.
    minor = RootReport(ORDERS, plan("minor_upgrade_by_aws"))
    (clean,) = decide([minor], [], NOW)
    assert (clean.kind, clean.detail) == ("clean", "no drift")
    (close,) = decide([minor], [opened_issue(ORDERS, plan("update_class_storage"))], NOW)
    assert (close.kind, close.issue) == ("close", 7)
    assert exit_code([clean, close]) == 0


def test_a_major_upgrade_not_applied_yet_is_drift() -> None:
    # A new major in the claim (16.8 -> 17) is a change someone asked for (RDS needs
    # allow_major_version_upgrade for it, aws_db_instance docs): the issue names it, flagged.
    (action,) = decide([RootReport(ORDERS, plan("major_upgrade_requested"))], [], NOW)
    assert (action.kind, action.detail) == ("open", "0 to add, 1 to change, 0 to destroy, 0 to replace")
    assert "- ⚠️ **update** aws\\_db\\_instance.this: " in action.body
    assert "engine\\_version: 16.8 → 17" in action.body
    assert exit_code([action]) == 2


@pytest.mark.parametrize(
    "report",
    [
        RootReport(ORDERS, None, error="terraform plan failed in terraform/dev/orders: Error: timeout"),
        RootReport(ORDERS, None, locked_by="state lock 1f2e held by ci@runner, since 2026-11-23, for apply"),
    ],
    ids=["failed", "locked"],
)
def test_a_plan_that_failed_or_met_a_lock_never_opens_or_closes(report: RootReport) -> None:
    (without,) = decide([report], [], NOW)
    assert (without.kind, without.issue, without.body, without.comment) == ("error", None, "", "")
    (with_issue,) = decide([report], [opened_issue(ORDERS, plan("update_class_storage"))], NOW)
    assert (with_issue.kind, with_issue.issue, with_issue.comment) == ("error", 7, "")
    assert exit_code([with_issue, *decide([drifted(BILLING)], [], NOW)]) == 1  # an error outranks drift


def test_issues_of_gone_roots_and_duplicates_are_closed_skipped_roots_left() -> None:
    summary = plan("update_class_storage")
    issues = [
        opened_issue(ORDERS, summary, number=3),
        opened_issue(ORDERS, summary, number=9),  # a second issue for the same database
        opened_issue("terraform/dev/gone", summary, number=4),
        opened_issue("terraform/prod/leaving", summary, number=5),
        DriftIssue(6, "someone else's issue with the label, no marker"),
    ]
    actions = decide([drifted(ORDERS)], issues, NOW, skipped=["terraform/prod/leaving"])
    found = [(a.directory, a.kind, a.issue) for a in actions]
    assert found == [
        (ORDERS, "leave", 3),
        ("terraform/prod/leaving", "skipped", 5),
        ("terraform/dev/gone", "close", 4),
        (ORDERS, "close", 9),
    ]
    assert "no longer in the repository" in actions[2].comment and "Duplicate of #3" in actions[3].comment


def test_the_body_stays_under_githubs_limit() -> None:
    many = tuple(
        ResourceChange(
            f"module.shard[{n}].aws_db_instance.{'x' * 60}", "aws_db_instance", ("delete",), "delete"
        )
        for n in range(2000)
    )
    summary = PlanSummary(delete=2000, changes=many, drift=many[:500])
    body = issue_body(ORDERS, summary, NOW)
    assert len(body) <= ISSUE_BODY_LIMIT
    listed = body.count("**destroy** module.shard")
    assert 500 < listed < 2500
    assert re.search(r"… and \d+ more, not listed", body) and body.rstrip().endswith("no drift.")
    assert body.startswith(marker(ORDERS))
    small = issue_body(ORDERS, summary, NOW, limit=5000)
    assert len(small) <= 5000 and "**destroy**" in small and small.count("more, not listed") == 2
    assert issue_body(ORDERS, plan("update_class_storage"), NOW).count("not listed") == 0


def test_roots_being_destroyed_are_skipped() -> None:
    claims = {
        BILLING: json.dumps({"request_id": "r1", "destroy_requested_at": None}),
        ORDERS: json.dumps({"request_id": "r2"}),
        "terraform/prod/leaving": json.dumps({"destroy_requested_at": "2026-11-22T10:00:00Z"}),
        "terraform/dev/broken": "{not json",
    }
    assert drift_roots(claims) == (
        [BILLING, "terraform/dev/broken", ORDERS],
        ["terraform/prod/leaving"],
    )


def test_a_drift_is_one_occurrence_until_it_changes_or_its_issue_is_new() -> None:
    from engine.drift import occurrence

    root = "terraform/dev/orders"
    (first,) = decide([drifted(root)], [], NOW)
    (later,) = decide([drifted(root)], [], NOW + timedelta(hours=24))
    assert occurrence(first, tracked=False) == occurrence(later, tracked=False), "the same differences"
    (other,) = decide([drifted(root, "replace_cluster")], [], NOW + timedelta(hours=24))
    assert occurrence(other, tracked=False) != occurrence(first, tracked=False)
    summary = drifted(root).summary
    assert summary is not None
    (kept,) = decide([drifted(root, "replace_cluster")], [opened_issue(root, summary)], NOW)
    assert kept.kind == "update" and occurrence(kept, tracked=True) == occurrence(first, tracked=True)
    (reopened,) = decide([drifted(root)], [], NOW + timedelta(days=3))
    assert occurrence(reopened, tracked=True) != occurrence(first, tracked=True), "a new issue, a new drift"
