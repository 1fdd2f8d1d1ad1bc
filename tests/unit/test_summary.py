"""The plan summary: recorded plan JSON to counts and flags, the markdown report, and comment splitting."""

from __future__ import annotations

import copy
import json
import random
import re
from dataclasses import dataclass, replace
from typing import Any

import pytest

from engine.ci import policy_line
from engine.comment_parts import CONTINUED, GITHUB_COMMENT_LIMIT, comment_parts, find_marker, split_comment
from engine.policy import PolicyDecision, PolicyFinding
from engine.summary import (
    SENSITIVE,
    UNKNOWN,
    PlanSummary,
    RootReport,
    render_report,
    summarize_plan,
)
from tests.support.paths import PLANS

MARKER = "dbvend:plan"
# Values that are in the recorded plans (Terraform's JSON carries secrets in clear) and must never be shown.
SECRETS = ("Pa55word-do-not-leak", "CC-4471-confidential", "CC-9902-confidential")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PLANS / f"{name}.json").read_text())
    return data


def counts(summary: PlanSummary) -> dict[str, int]:
    keys = ("create", "update", "delete", "replace", "read", "no_op", "forget")
    return {key: getattr(summary, key) for key in keys}


def by_address(summary: PlanSummary) -> dict[str, tuple[str, bool]]:
    return {change.address: (change.kind, change.important) for change in summary.changes}


# --- summarize_plan on recorded plans --------------------------------------------------------------------


def test_create_of_a_new_database_root() -> None:
    summary = summarize_plan(load("create_root"))
    assert counts(summary) == dict(create=3, update=0, delete=0, replace=0, read=1, no_op=0, forget=0)
    assert by_address(summary) == {
        "aws_db_instance.this": ("create", False),
        "aws_cloudwatch_metric_alarm.cpu": ("create", False),
        "aws_cloudwatch_metric_alarm.free_storage": ("create", False),
        "data.aws_secretsmanager_secret.master": ("read", False),
    }
    assert not summary.is_empty
    assert summary.important == ()
    assert all(change.attributes == () for change in summary.changes)  # attributes are for updates only
    read = summary.changes[-1]
    assert (read.type, read.actions, read.action_reason) == (
        "aws_secretsmanager_secret",
        ("read",),
        "read_because_config_unknown",
    )


def test_update_of_instance_class_and_storage_hides_secrets() -> None:
    summary = summarize_plan(load("update_class_storage"))
    assert counts(summary) == dict(create=0, update=2, delete=0, replace=0, read=0, no_op=1, forget=0)
    assert by_address(summary) == {
        "aws_db_instance.this": ("update", True),
        "aws_cloudwatch_metric_alarm.free_storage": ("update", False),
    }
    instance = summary.changes[0]
    assert instance.attributes == ("allocated_storage", "instance_class", "password", "tags", "tags_all")
    diffs = {diff.name: (diff.before, diff.after) for diff in instance.diffs}
    assert diffs["instance_class"] == ("db.t4g.medium", "db.r6g.large")
    assert diffs["allocated_storage"] == ("20", "50")
    assert diffs["password"] == (SENSITIVE, SENSITIVE)  # by name, and marked sensitive
    assert diffs["tags"] == (SENSITIVE, SENSITIVE)  # marked sensitive only (a sensitive variable in a tag)
    assert summary.changes[1].attributes == ("threshold",)
    assert summary.important == (instance,)


def test_replace_of_an_aurora_cluster() -> None:
    summary = summarize_plan(load("replace_cluster"))
    assert counts(summary) == dict(create=0, update=0, delete=0, replace=3, read=0, no_op=1, forget=0)
    assert by_address(summary) == {
        "aws_rds_cluster.this": ("replace", True),
        "aws_rds_cluster_instance.this[0]": ("replace", True),
        "aws_cloudwatch_metric_alarm.cluster_cpu": ("replace", False),
    }
    cluster, instance, alarm = summary.changes
    assert cluster.actions == ("delete", "create")
    assert alarm.actions == ("create", "delete")
    assert cluster.action_reason == "replace_because_cannot_update"
    forcing = {diff.name for diff in cluster.diffs if diff.forces_replacement}
    assert forcing == {"storage_encrypted"}
    assert "storage_encrypted" in cluster.attributes
    assert "alarm_name" in alarm.attributes
    assert {d.name: d.after for d in instance.diffs}["cluster_identifier"] == UNKNOWN


def test_delete_of_a_database_root() -> None:
    summary = summarize_plan(load("delete_root"))
    assert counts(summary) == dict(create=0, update=0, delete=3, replace=0, read=0, no_op=0, forget=0)
    assert by_address(summary) == {
        "aws_db_instance.this": ("delete", True),
        "aws_db_proxy.this": ("delete", True),
        "aws_cloudwatch_metric_alarm.cpu": ("delete", False),
    }
    assert {c.action_reason for c in summary.changes} == {"delete_because_no_resource_config"}


def test_no_op_plan_is_empty() -> None:
    summary = summarize_plan(load("noop"))
    assert counts(summary) == dict(create=0, update=0, delete=0, replace=0, read=0, no_op=3, forget=0)
    assert summary.is_empty
    assert summary.changes == () and summary.drift == ()


def test_values_known_after_apply_and_drift() -> None:
    summary = summarize_plan(load("unknown_values"))
    assert counts(summary) == dict(create=0, update=1, delete=0, replace=1, read=0, no_op=0, forget=0)
    assert by_address(summary) == {
        "aws_db_parameter_group.this": ("replace", False),  # not a database, touches nothing important
        "aws_db_instance.this": ("update", True),  # engine_version
    }
    instance = summary.changes[1]
    diffs = {diff.name: (diff.before, diff.after) for diff in instance.diffs}
    assert diffs == {
        "allow_major_version_upgrade": ("false", "true"),
        "engine_version": ("15.7", "16.4"),
        "parameter_group_name": ("orders-20240611093100000000000001", UNKNOWN),
    }
    (drift,) = summary.drift
    assert (drift.address, drift.kind, drift.attributes) == (
        "aws_db_instance.this",
        "update",
        ("backup_retention_period",),
    )


def test_plan_without_resource_changes_is_empty() -> None:
    summary = summarize_plan({"format_version": "1.2", "planned_values": {}})
    assert summary == PlanSummary()
    assert summary.is_empty


def change(
    actions: Any,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    rtype: str = "aws_rds_cluster",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "address": f"{rtype}.this",
        "mode": "managed",
        "type": rtype,
        "name": "this",
        "change": {"actions": actions, "before": before, "after": after, "after_unknown": {}, **extra},
    }


def plan_of(*changes: dict[str, Any]) -> dict[str, Any]:
    return {"format_version": "1.2", "resource_changes": list(changes)}


@pytest.mark.parametrize(
    ("attribute", "before", "after", "important"),
    [
        ("serverlessv2_scaling_configuration", [{"max_capacity": 4}], [{"max_capacity": 16}], True),
        ("deletion_protection", True, False, True),
        ("skip_final_snapshot", False, True, True),
        ("max_allocated_storage", 100, 200, True),
        ("backup_window", "03:00-04:00", "04:00-05:00", False),
        ("tags", {"team": "a"}, {"team": "b"}, False),
    ],
)
def test_update_is_important_when_it_touches_an_important_attribute(
    attribute: str, before: Any, after: Any, important: bool
) -> None:
    summary = summarize_plan(plan_of(change(["update"], {attribute: before}, {attribute: after})))
    assert summary.changes[0].attributes == (attribute,)
    assert summary.changes[0].important is important


@pytest.mark.parametrize(
    ("rtype", "important"),
    [
        ("aws_db_instance", True),
        ("aws_rds_cluster", True),
        ("aws_rds_cluster_instance", True),
        ("aws_db_proxy", True),
        ("aws_db_subnet_group", False),
        ("aws_cloudwatch_metric_alarm", False),
    ],
)
def test_delete_is_important_for_databases_only(rtype: str, important: bool) -> None:
    summary = summarize_plan(plan_of(change(["delete"], {"id": "x"}, None, rtype)))
    assert summary.changes[0].important is important


def test_forget_from_a_removed_block() -> None:
    forgotten = change(["forget"], {"id": "orders"}, None, "aws_db_instance")
    replaced = change(["create", "forget"], {"id": "a"}, {"id": "b"}, "aws_db_proxy")
    summary = summarize_plan(plan_of(forgotten, replaced))
    assert (summary.forget, summary.replace) == (1, 1)
    assert [c.kind for c in summary.changes] == ["forget", "replace"]
    assert not summary.is_empty


def test_unchanged_attributes_are_not_listed_and_secret_names_are_hidden() -> None:
    before = {"db_name": "orders", "master_password": "s3cr3t-one", "auth_token": "t0k-one", "port": 5432}
    after = {"db_name": "orders", "master_password": "s3cr3t-two", "auth_token": "t0k-two", "port": 5433}
    (only,) = summarize_plan(plan_of(change(["update"], before, after))).changes
    assert only.attributes == ("auth_token", "master_password", "port")
    shown = {d.name: (d.before, d.after) for d in only.diffs}
    assert shown["master_password"] == shown["auth_token"] == (SENSITIVE, SENSITIVE)
    assert shown["port"] == ("5432", "5433")


def test_nested_secret_keys_and_whole_sensitive_objects_are_hidden() -> None:
    before = {"auth": [{"secret_arn": "arn:old-secret-value"}], "engine": "postgres"}
    after = {"auth": [{"secret_arn": "arn:new-secret-value"}], "engine": "aurora-postgresql"}
    plan = plan_of(
        change(["update"], before, after, "aws_db_proxy", before_sensitive=True, after_sensitive={})
    )
    shown = {d.name: (d.before, d.after) for d in summarize_plan(plan).changes[0].diffs}
    assert shown["auth"] == (SENSITIVE, SENSITIVE)
    assert shown["engine"] == (SENSITIVE, "aurora-postgresql")  # before_sensitive: true hides all before


@pytest.mark.parametrize(
    ("plan", "problem"),
    [
        ([], "JSON object, not list"),
        ({}, "format_version is missing"),
        ({"format_version": "2.0"}, "format_version '2.0'"),
        ({"format_version": 1.2}, "format_version 1.2"),
        ({"format_version": "1.0", "values": {"root_module": {}}}, "state, not a plan"),
        ({"format_version": "1.2", "resource_changes": {}}, "resource_changes must be a list"),
        ({"format_version": "1.2", "resource_drift": "none"}, "resource_drift must be a list"),
        ({"format_version": "1.2", "resource_changes": ["x"]}, r"resource_changes\[0\] must be an object"),
        (plan_of({"type": "aws_db_instance", "change": {}}), r"resource_changes\[0\]: address"),
        (plan_of({"address": "aws_db_instance.a", "type": "aws_db_instance"}), "change must be an object"),
        (plan_of(change("create", None, {})), r"\(aws_rds_cluster.this\): change.actions 'create'"),
        (plan_of(change(["update", "create"], {}, {})), r"change.actions \['update', 'create'\]"),
        (plan_of(change(["explode"], {}, {})), r"change.actions \['explode'\]"),
        (plan_of(change([], {}, {})), r"change.actions \[\]"),
        (plan_of(change([{"create": 1}], {}, {})), "change.actions"),
    ],
)
def test_what_is_not_a_plan_raises_naming_the_problem(plan: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        summarize_plan(plan)


def test_the_second_bad_entry_is_named_by_its_index() -> None:
    good = change(["no-op"], {}, {})
    with pytest.raises(ValueError, match=r"resource_changes\[1\] \(aws_rds_cluster.this\)"):
        summarize_plan(plan_of(good, change(["delete", "delete"], {}, None)))


# --- engine versions that AWS moves by itself ------------------------------------------------------------


def test_a_minor_upgrade_by_aws_is_no_change_and_no_drift() -> None:
    # AWS upgraded 17.4 to 17.6 (auto_minor_version_upgrade) in a root written with the full version. The
    # refresh sets engine_version to 17.6, "17.4" being no prefix of it (hashicorp/terraform-provider-aws
    # internal/service/rds, compareActualEngineVersion), so the recording shows the minor twice.
    recorded = load("minor_upgrade_by_aws")
    (drifted,) = recorded["resource_drift"]
    assert [drifted["change"][side]["engine_version"] for side in ("before", "after")] == ["17.4", "17.6"]
    planned = recorded["resource_changes"][0]["change"]
    assert [planned[side]["engine_version"] for side in ("before", "after")] == ["17.6", "17.4"]
    summary = summarize_plan(recorded)
    assert counts(summary) == dict(create=0, update=0, delete=0, replace=0, read=0, no_op=3, forget=0)
    assert summary.is_empty
    assert summary.changes == () and summary.drift == ()
    text = render_report([RootReport("terraform/dev/orders", summary)])
    assert "No changes." in text
    assert "engine\\_version" not in text and "<details>" not in text


def test_a_major_upgrade_someone_asked_for_stays_important() -> None:
    # The claim asks for PostgreSQL 17 over 16.8: a major the provider never keeps as a prefix (16.8 is no
    # prefix of 17; compareActualEngineVersion), and RDS needs allow_major_version_upgrade for it
    # (aws_db_instance docs). A reviewed change: shown, and flagged.
    summary = summarize_plan(load("major_upgrade_requested"))
    assert counts(summary) == dict(create=0, update=1, delete=0, replace=0, read=0, no_op=2, forget=0)
    (instance,) = summary.changes
    assert (instance.address, instance.kind, instance.important) == ("aws_db_instance.this", "update", True)
    assert {diff.name: (diff.before, diff.after) for diff in instance.diffs} == {
        "allow_major_version_upgrade": ("false", "true"),
        "engine_version": ("16.8", "17"),
    }
    assert summary.important == (instance,) and summary.drift == ()
    text = render_report([RootReport("terraform/dev/orders", summary)])
    assert "0 to add, 1 to change, 0 to destroy, 0 to replace" in text
    assert "- ⚠️ **update** aws\\_db\\_instance.this: engine\\_version: 16.8 → 17" in text


@pytest.mark.parametrize(
    ("rtype", "before", "after", "attributes"),
    [
        # The minor is left out; what else changes stays, important or not.
        (
            "aws_db_instance",
            {"engine": "postgres", "engine_version": "17.6", "instance_class": "db.t3.small"},
            {"engine": "postgres", "engine_version": "17.4", "instance_class": "db.t3.medium"},
            ("instance_class",),
        ),
        # A cluster given the prefix "8.0" (terraform-aws-rds-aurora examples/mysql): only the computed
        # engine_version_actual moves, from one Aurora MySQL 3 release to the next.
        (
            "aws_rds_cluster",
            {
                "engine": "aurora-mysql",
                "engine_version": "8.0",
                "engine_version_actual": "8.0.mysql_aurora.3.08.1",
                "tags": {"a": "1"},
            },
            {
                "engine": "aurora-mysql",
                "engine_version": "8.0",
                "engine_version_actual": "8.0.mysql_aurora.3.10.0",
                "tags": {"a": "2"},
            },
            ("tags",),
        ),
        # A major is asked for: kept, with the actual version that moves with it.
        (
            "aws_rds_cluster_instance",
            {"engine": "aurora-postgresql", "engine_version": "16.8", "engine_version_actual": "16.8"},
            {"engine": "aurora-postgresql", "engine_version": "17.4", "engine_version_actual": "17.4"},
            ("engine_version", "engine_version_actual"),
        ),
        # An engine dbvend does not know: better shown than hidden.
        (
            "aws_db_instance",
            {"engine": "sqlserver-ex", "engine_version": "15.00.4198.2.v1"},
            {"engine": "sqlserver-ex", "engine_version": "15.00.4236.7.v1"},
            ("engine_version",),
        ),
        # Not a resource AWS upgrades in dbvend's roots: shown as it is.
        (
            "aws_db_proxy",
            {"engine": "postgres", "engine_version": "17.4"},
            {"engine": "postgres", "engine_version": "17.6"},
            ("engine_version",),
        ),
    ],
    ids=["with-another-change", "aurora-actual", "major", "unknown-engine", "other-type"],
)
def test_only_a_minor_engine_version_change_is_left_out(
    rtype: str, before: dict[str, Any], after: dict[str, Any], attributes: tuple[str, ...]
) -> None:
    # Why a minor is left out: engine/summary.py, _AUTO_UPGRADED_TYPES (compareActualEngineVersion).
    (update,) = summarize_plan(plan_of(change(["update"], before, after, rtype))).changes
    assert update.attributes == attributes


def test_an_engine_version_known_only_after_apply_is_shown() -> None:
    # Terraform's JSON leaves an unknown value out of `after` and marks it in after_unknown
    # (internals/json-format): no version to compare, so the change is shown.
    before = {"engine": "postgres", "engine_version": "17.4"}
    planned = change(["update"], before, {"engine": "postgres"}, "aws_db_instance")
    planned["change"]["after_unknown"] = {"engine_version": True}
    (update,) = summarize_plan(plan_of(planned)).changes
    assert [(d.name, d.before, d.after) for d in update.diffs] == [("engine_version", "17.4", UNKNOWN)]


# --- render_report ---------------------------------------------------------------------------------------

FIXTURES = ("create_root", "update_class_storage", "replace_cluster", "delete_root", "noop", "unknown_values")


def reports_of_every_fixture() -> list[RootReport]:
    return [
        RootReport(f"terraform/prod/{name}", summarize_plan(load(name)), monthly_cost=12.5 * i, policy="pass")
        for i, name in enumerate(FIXTURES, start=1)
    ]


def test_render_report_counts_and_sections() -> None:
    text = render_report(reports_of_every_fixture())
    first_line_after_title = text.split("\n")[2]
    assert first_line_after_title.startswith(
        "**6 databases**: 3 to add, 3 to change, 3 to destroy, 4 to replace"
    )
    assert "⚠️ 6 important" in first_line_after_title
    assert "≈ $262.50/month" in first_line_after_title
    for name in FIXTURES:
        assert f"### terraform/prod/{name.replace('_', chr(92) + '_')}" in text
    section = text.split("### terraform/prod/update\\_class\\_storage")[1].split("### ")[0]
    assert "0 to add, 2 to change, 0 to destroy, 0 to replace" in section
    assert "Estimated cost: ≈ $25.00/month" in section
    assert "Policy: ✅ pass" in section
    assert "<details><summary>All 2 resource changes</summary>" in section
    important = section.index("- ⚠️ **update** aws\\_db\\_instance.this")
    assert important < section.index("<details>")  # important changes come first
    assert "instance\\_class: db.t4g.medium → db.r6g.large" in section
    rows = [line for line in section.split("\n") if line.startswith("| ")]
    assert rows[1].startswith("| ⚠️ aws\\_db\\_instance.this | update |")
    assert rows[2].startswith("| aws\\_cloudwatch\\_metric\\_alarm.free\\_storage | update | threshold")
    noop = text.split("### terraform/prod/noop")[1].split("### ")[0]
    assert "No changes." in noop and "<details>" not in noop


def test_render_report_never_shows_a_secret() -> None:
    text = render_report(reports_of_every_fixture())
    assert "password: changed (sensitive)" in text
    for secret in SECRETS:
        assert secret not in text
    assert "hunter" not in text.lower()


def test_render_report_flags_replacements_with_their_reason() -> None:
    text = render_report([RootReport("terraform/prod/ledger", summarize_plan(load("replace_cluster")))])
    assert (
        "- ⚠️ **replace** aws\\_rds\\_cluster.this (cannot be updated in place): "
        "storage\\_encrypted: false → true (forces replacement)"
    ) in text
    assert "- ⚠️ **replace** aws\\_rds\\_cluster\\_instance.this\\[0\\]" in text
    assert "⚠️ **replace** aws\\_cloudwatch" not in text


def test_render_report_error_lock_and_policy() -> None:
    error = "Error: Unsupported argument\n  on main.tf line 12:\n`````\n```\n</details>\nEnd."
    text = render_report(
        [
            RootReport(
                "terraform/dev/broken",
                error=error,
                policy="fail: CKV_DBV_4, CKV_AWS_16",
                locked_by="alice, since 2026-11-23 09:00 UTC",
            )
        ]
    )
    assert "🔒 State locked (alice, since 2026-11-23 09:00 UTC)." in text
    assert "Policy: ❌ fail: CKV\\_DBV\\_4, CKV\\_AWS\\_16" in text
    assert f"``````text\n{error}\n``````" in text  # a fence longer than the error's longest backtick run
    assert "❌ 1 failed · 🔒 1 locked" in text
    assert balanced(text)


def test_failed_policy_checks_are_listed_with_their_name_and_resource_ten_at_most() -> None:
    failures = tuple(
        PolicyFinding(f"CKV_DBV_{i}", f"Check {i}", None, f"aws_db_instance.db{i}", "/main.tf", (1, 2), None)
        for i in range(1, 13)
    )
    report = RootReport("terraform/prod/orders", policy="fail: many", policy_failures=failures)
    text = render_report([report])
    assert "- ❌ CKV\\_DBV\\_1 Check 1 (resource aws\\_db\\_instance.db1)" in text
    assert "CKV\\_DBV\\_10 Check 10" in text and "CKV\\_DBV\\_11" not in text
    assert "- and 2 more failed checks" in text
    assert "more failed check\n" in render_report([replace(report, policy_failures=failures[:11])])


def test_counts_are_singular_for_one_and_agree_with_the_count_line() -> None:
    created = summarize_plan(load("create_root"))  # 3 creates and 1 data source read
    text = render_report([RootReport("terraform/dev/orders", created)])
    assert "3 to add, 0 to change" in text
    assert "<details><summary>All 3 resource changes (and 1 data source read)</summary>" in text
    one = summarize_plan(plan_of(change(["create"], None, {"engine": "postgres"}, "aws_db_instance")))
    text = render_report([RootReport("terraform/dev/orders", one)])
    assert "**1 database**: 1 to add" in text and "<details><summary>1 resource change</summary>" in text
    assert policy_line(PolicyDecision("warn", warnings=failures_of(1))) == "warn: 1 warning"
    assert policy_line(PolicyDecision("warn", warnings=failures_of(2))) == "warn: 2 warnings"


def failures_of(count: int) -> tuple[PolicyFinding, ...]:
    return tuple(PolicyFinding(f"CKV_{i}", "name", None, "r", "/main.tf", (1, 1), None) for i in range(count))


def test_a_map_shows_its_changed_keys_and_hides_only_secret_values() -> None:
    before = {"tags": {"team": "a", "api_token": "t0k-one", "keep": "x", "cost": "CC-1-secret", "gone": "g"}}
    after = {"tags": {"team": "b", "api_token": "t0k-two", "keep": "x", "cost": "CC-2-secret", "new": "n"}}
    mask = {"tags": {"cost": True}}  # a sensitive variable in one tag
    plan = plan_of(change(["update"], before, after, before_sensitive=mask, after_sensitive=mask))
    text = render_report([RootReport("terraform/dev/orders", summarize_plan(plan))])
    assert "tags.team: a → b" in text
    assert "tags.api\\_token: changed (sensitive)" in text and "t0k" not in text
    assert "tags.cost: changed (sensitive)" in text and "CC-" not in text
    assert "tags.gone: g → (absent)" in text and "tags.new: (absent) → n" in text
    assert "tags.keep" not in text
    whole = {"tags": True}
    hidden = change(["update"], before, after, before_sensitive=whole, after_sensitive=whole)
    text = render_report([RootReport("terraform/dev/orders", summarize_plan(plan_of(hidden)))])
    assert "tags: changed (sensitive)" in text and "team" not in text  # sensitive whole: no key shown


def test_drift_is_marked_important_in_the_plan_comment_as_in_the_drift_issue() -> None:
    text = render_report([RootReport("terraform/prod/billing", summarize_plan(load("unknown_values")))])
    drift = text.split("changed outside Terraform since the last apply</summary>")[1]
    assert "- ⚠️ **update** aws\\_db\\_instance.this: backup\\_retention\\_period: 7 → 1" in drift


def test_render_report_escapes_plan_text() -> None:
    hostile = "<img src=x onerror=alert(1)>"
    plan = plan_of(
        {
            "address": 'aws_db_instance.this["a|b](http://evil)"]',
            "mode": "managed",
            "type": "aws_db_instance",
            "name": "this",
            "change": {
                "actions": ["update"],
                "before": {"instance_class": "db.t4g.micro"},
                "after": {"instance_class": f"</details>{hostile}|`x`"},
                "after_unknown": {},
            },
        }
    )
    text = render_report([RootReport("terraform/prod/<b>x</b>", summarize_plan(plan))], title="plan *x*")
    assert hostile not in text and "<b>" not in text and "</details><img" not in text
    assert "## plan \\*x\\*" in text
    assert '\\["a\\|b\\](http://evil)"\\]' in text
    assert balanced(text)
    row = next(line for line in text.split("\n") if line.startswith("| ⚠️"))
    assert row.count(" | ") == 2  # no cell broken by a pipe from the plan


def test_render_report_of_nothing() -> None:
    assert render_report([]) == "## dbvend plan\n\nNo Terraform root changed.\n"


# --- an independent reader of fences, <details> and tables, as GitHub renders them -------------------------

FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
TABLE_ROW = re.compile(r"^ {0,3}\|")
TABLE_DELIMITER = re.compile(r"^ {0,3}\|( *:?-+:? *\|)+ *:?-*:? *$")


@dataclass
class Open:
    kind: str  # "fence", "details" or "table"
    line: str  # fence: the opening line; details: the opening tag; table: header and delimiter rows
    summary: str | None = None


def read_lines(stack: list[Open], text: str) -> list[Open]:
    """The blocks open after text, every piece between newlines read as a line (as GitHub shows a part)."""
    stack = [Open(o.kind, o.line, o.summary) for o in stack]
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # after the last newline: no line
    while lines:
        line = lines.pop(0)
        top = stack[-1] if stack else None
        if top is not None and top.kind == "table":
            if TABLE_ROW.match(line):
                continue
            stack.pop()
            top = stack[-1] if stack else None
        if top is not None and top.kind == "fence":
            run = FENCE.match(top.line)
            assert run is not None
            fence = run.group(2)
            stripped = line.strip(" ")
            indent = len(line) - len(line.lstrip(" "))
            if indent <= 3 and len(stripped) >= len(fence) and set(stripped) == {fence[0]}:
                stack.pop()
            continue
        opener = FENCE.match(line)
        if opener and not (opener.group(2)[0] == "`" and "`" in opener.group(3)):
            stack.append(Open("fence", line))
            continue
        if TABLE_ROW.match(line) and lines and TABLE_DELIMITER.match(lines[0]):
            stack.append(Open("table", f"{line}\n{lines.pop(0)}"))
            continue
        for tag in re.finditer(r"<details[^>]*>|</details>|<summary>(.*?)</summary>", line):
            if tag.group(0).startswith("<details"):
                stack.append(Open("details", tag.group(0)))
            elif tag.group(0) == "</details>":
                assert stack and stack[-1].kind == "details", "a </details> closes nothing"
                stack.pop()
            elif stack and stack[-1].kind == "details" and stack[-1].summary is None:
                stack[-1].summary = tag.group(1)
    return stack


def balanced(text: str) -> bool:
    """Nothing left open at the end of text but a table (which needs nothing to end it there)."""
    return all(block.kind == "table" for block in read_lines([], text))


def expected_reopen(stack: list[Open]) -> str:
    reopen = ""
    for block in stack:
        if block.kind in ("fence", "table"):
            reopen += block.line + "\n"
        else:
            reopen += f"{block.line}<summary>{block.summary or 'Details'} (continued)</summary>\n\n"
    return reopen


def expected_close(stack: list[Open], content: str) -> str:
    close = "" if content.endswith("\n") else "\n"
    for block in reversed(stack):
        run = FENCE.match(block.line)
        close += "\n" if block.kind == "table" else (run.group(2) if run else "</details>") + "\n"
    return close + "\n" + CONTINUED


def check_split(body: str, limit: int, marker: str = MARKER) -> list[str]:
    """Every guarantee of split_comment, checked against the independent reader above."""
    texts = split_comment(body, marker, limit)
    parts = comment_parts(body, marker, limit)
    assert texts == [part.text for part in parts]
    assert "".join(part.content for part in parts) == body  # the round trip
    total = len(texts)
    stack: list[Open] = []
    position = 0
    for index, (text, part) in enumerate(zip(texts, parts, strict=True), start=1):
        assert len(text) <= limit, f"part {index}/{total} has {len(text)} characters"
        assert find_marker(text, marker) == (index, total)
        header = f"<!-- {marker} part {index}/{total} -->\n"
        reopen = expected_reopen(stack)
        content = body[position : position + len(part.content)]
        position += len(content)
        stack = read_lines(stack, content) if content else stack
        close = expected_close(stack, content) if index < total else ""
        assert text == header + reopen + content + close
        assert balanced(text), f"part {index}/{total} leaves a block open"
    return texts


# --- split_comment on chosen bodies ----------------------------------------------------------------------


def test_a_short_body_is_one_part_with_its_marker() -> None:
    assert split_comment("hello\n", MARKER) == [f"<!-- {MARKER} part 1/1 -->\nhello\n"]
    assert split_comment("", MARKER) == [f"<!-- {MARKER} part 1/1 -->\n"]


def test_an_open_fence_is_closed_and_reopened_with_its_info_string() -> None:
    body = "intro\n````json title=plan.json\n" + "".join(f'{{"line": {i}, "x": "```"}}\n' for i in range(40))
    body += "````\noutro\n"
    texts = check_split(body, 300)
    assert len(texts) > 2
    assert texts[0].endswith("\n````\n\n" + CONTINUED)
    assert texts[1].startswith(f"<!-- {MARKER} part 2/{len(texts)} -->\n````json title=plan.json\n{{")


def test_nested_details_and_fence_are_reopened_in_order() -> None:
    inner = "~~~hcl\n" + "".join(f'resource "aws_db_instance" "db{i}" {{}}\n' for i in range(30)) + "~~~\n"
    body = (
        "<details open><summary>Outer</summary>\n\n<details>\n<summary>Inner **b**</summary>\n\n"
        + inner
        + "\n</details>\n\n</details>\nafter\n"
    )
    texts = check_split(body, 400)
    second = texts[1].split("\n", 1)[1]
    assert second.startswith(
        "<details open><summary>Outer (continued)</summary>\n\n"
        "<details><summary>Inner **b** (continued)</summary>\n\n~~~hcl\n"
    )


@pytest.mark.parametrize(
    "long_line",
    [
        json.dumps({"resource_changes": [{"address": f"aws_db_instance.db{i}"} for i in range(400)]}),
        " " * 20_000,  # no cut leaves a rest that starts safely: the longest plain cut is taken
    ],
)
def test_a_line_longer_than_a_part_is_cut(long_line: str) -> None:
    body = "```json\n" + long_line + "\n```\n"
    texts = check_split(body, 1000)
    assert len(texts) > len(long_line) // 1000
    assert all(t.split("\n")[1] == "```json" for t in texts[1:])
    assert all(len(t) >= 990 for t in texts[:-1])  # parts are filled, not cut short


def test_lines_that_fit_in_a_part_are_never_cut() -> None:
    rng = random.Random(7)
    body = "".join("w" * rng.randint(300, 600) + "\n" for _ in range(100))
    parts = comment_parts(body, MARKER, 1000)
    assert len(parts) > 40
    assert all(part.content.endswith("\n") for part in parts)


def test_a_fence_line_longer_than_a_part_cannot_be_split() -> None:
    with pytest.raises(ValueError, match="5001-character line: every cut leaves a fence or a tag"):
        split_comment("~" * 5000 + "\n", MARKER, 1000)


@pytest.mark.parametrize("limit", range(150, 171))
def test_a_cut_line_does_not_start_the_next_part_with_a_fence(limit: int) -> None:
    body = "intro\n" + "abcd~~~" * 100 + "\noutro\n"  # a plain line: no fence is open anywhere
    parts = comment_parts(body, MARKER, limit)
    assert len(parts) > 3
    assert all(part.reopen == "" for part in parts)
    assert all(part.close in ("", "\n\n" + CONTINUED, "\n" + CONTINUED) for part in parts)
    assert not any(part.content.startswith("~") for part in parts)


TABLE_HEADER = "| resource | action |\n|---|---|\n"


def table_body(rows: int) -> str:
    rows_text = "".join(f"| aws\\_db\\_instance.db{i} | update |\n" for i in range(rows))
    summary = f"<details><summary>All {rows} resource changes</summary>"
    return f"intro\n\n{summary}\n\n{TABLE_HEADER}{rows_text}\n</details>\n"


def test_a_table_cut_in_two_repeats_its_header_in_the_next_part() -> None:
    texts = check_split(table_body(60), 600)
    assert len(texts) > 2
    reopened = "<details><summary>All 60 resource changes (continued)</summary>\n\n" + TABLE_HEADER + "| aws"
    assert all(text.split("\n", 1)[1].startswith(reopened) for text in texts[1:])
    # A blank line ends the table before </details>: without it GitHub reads </details> as a row.
    assert all(text.endswith(" | update |\n\n</details>\n\n" + CONTINUED) for text in texts[:-1])


def last_content_line(text: str) -> str:
    """The last line of a part before what closes it: its own last line of the body."""
    lines = text.removesuffix(CONTINUED).rstrip("\n").split("\n")
    while lines and lines[-1] in ("", "</details>", "```"):
        lines.pop()
    return lines[-1]


@pytest.mark.parametrize("limit", range(240, 460, 3))
def test_no_part_ends_with_a_table_header_or_an_empty_details(limit: int) -> None:
    body = "".join(f"line {i} of the intro\n" for i in range(8)) + table_body(12)
    body += "\n```text\nafter\n```\n"
    texts = check_split(body, limit)
    assert len(texts) > 1
    for text in texts[:-1]:
        last = last_content_line(text)
        assert not TABLE_DELIMITER.match(last) and not last.startswith(("<details", "```text")), (limit, text)
        assert text.count("|---|---|") <= text.count(" | update |"), "a table with a header holds rows"


def test_a_part_that_holds_only_openings_is_not_emptied() -> None:
    """When a whole part is openings (here: a <details> and a table header before a row that needs a
    part of its own), it keeps them: leaving them for the next part would make no progress."""
    long_row = "| " + "x" * 900 + " | update |\n"
    body = "<details><summary>All</summary>\n\n" + TABLE_HEADER + long_row + "\n</details>\n"
    texts = check_split(body, 400)
    assert len(texts) > 2


def test_a_backtick_fence_with_a_backtick_in_its_info_is_not_a_fence() -> None:
    body = "``` not `a fence\n" + "text line\n" * 100
    texts = check_split(body, 200)
    assert all("```\n\n" + CONTINUED not in t for t in texts)


def test_the_marker_width_grows_with_the_number_of_parts() -> None:
    texts = check_split("".join(f"line {i:04d}\n" for i in range(3000)), 200)
    assert len(texts) > 100
    assert find_marker(texts[99], MARKER) == (100, len(texts))


def test_limits_too_small_and_bad_markers_raise() -> None:
    with pytest.raises(ValueError, match="limit too small"):
        split_comment("x" * 100, "m", limit=40)
    with pytest.raises(ValueError, match="HTML comment"):
        split_comment("x", "a --> b")
    with pytest.raises(ValueError, match="HTML comment"):
        split_comment("x", "")


def test_find_marker() -> None:
    assert find_marker(f"<!-- {MARKER} part 2/5 -->\nbody", MARKER) == (2, 5)
    assert find_marker(f"<!-- {MARKER} part 1/1 -->", MARKER) == (1, 1)
    assert find_marker(f"<!-- {MARKER} part 1/1 -->\r\nbody", MARKER) == (1, 1)
    assert find_marker(f"<!-- {MARKER} part 6/5 -->\n", MARKER) is None
    assert find_marker(f"<!-- {MARKER} part 0/5 -->\n", MARKER) is None
    assert find_marker(f"<!-- {MARKER}x part 1/2 -->\n", MARKER) is None
    assert find_marker(f"<!-- {MARKER} part 1/2 --> trailing\n", MARKER) is None
    assert find_marker(f"text\n<!-- {MARKER} part 1/2 -->\n", MARKER) is None
    assert find_marker("<!-- a.b part 1/2 -->\n", "a.b") == (1, 2)
    assert find_marker("<!-- axb part 1/2 -->\n", "a.b") is None


# --- split_comment on generated bodies -------------------------------------------------------------------

WORDS = [
    "orders",
    "db.t4g.medium",
    "`inline`",
    "a<b",
    "~x",
    "**bold**",
    "x```y",
    "|",
    "⚠️",
    "é",
    "#1",
    "[l](u)",
]
INFO_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 -_{}.="
LONG_CHARS = 'abcdefghij klmnop 0123456789{}[]:,"`<>~'


@dataclass(frozen=True)
class Shape:
    depth: int  # how deep <details> nest
    info: int  # the longest info string
    summary: int  # the longest summary
    long: int  # the longest long line


SHAPES = {200: Shape(1, 16, 12, 700), 500: Shape(3, 30, 20, 2500), 1000: Shape(4, 40, 30, 5000)}


def random_body(rng: random.Random, shape: Shape, blocks: int = 12) -> str:
    lines: list[str] = []

    def words(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    def fence() -> None:
        char = rng.choice("`~")
        size = rng.randint(3, 6)
        info = "".join(rng.choice(INFO_CHARS) for _ in range(rng.randint(0, shape.info))).strip()
        if char == "~" and info and rng.random() < 0.3:
            info = info[:-1] + "`"
        indent = " " * rng.choice([0, 0, 0, 1, 3])
        lines.append(f"{indent}{char * size}{info}")
        for _ in range(rng.randint(0, 12)):
            lines.append(
                rng.choice(
                    [
                        json.dumps({"address": words(2), "n": rng.randint(0, 10**6)}),
                        char * (size - 1),  # too short to close
                        ("~" if char == "`" else "`") * 8,  # the other fence character
                        char * (size + 1) + " not a close",
                        "</details>",
                        "<details><summary>not a tag in code</summary>",
                        "".join(rng.choice(LONG_CHARS) for _ in range(rng.randint(100, shape.long))),
                        "",
                    ]
                )
            )
        lines.append(indent + char * (size + rng.randint(0, 2)))

    def details(depth: int) -> None:
        summary = words(3)[: shape.summary].strip() or "s"
        style = rng.randrange(3)
        if style == 0:
            lines.append(f"<details><summary>{summary}</summary>")
        elif style == 1:
            lines.append(f"<details open><summary>{summary}</summary>")
        else:
            lines.extend(["<details>", f"<summary>{summary}</summary>"])
        lines.append("")
        block(depth + 1, rng.randint(1, 5))
        lines.extend(["", "</details>"])

    def table() -> None:
        columns = rng.randint(1, max(1, shape.summary // 10))  # a header small enough to repeat in a part
        lines.extend(["", "| " + " | ".join(words(1) for _ in range(columns)) + " |", "|" + "---|" * columns])
        for _ in range(rng.randint(0, 15)):
            cells = [words(rng.randint(1, 6)) for _ in range(columns)]
            if rng.random() < 0.1:
                cells[0] = "".join(rng.choice(LONG_CHARS) for _ in range(rng.randint(100, shape.long)))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")

    def block(depth: int, count: int) -> None:
        for _ in range(count):
            pick = rng.random()
            if pick < 0.35:
                lines.append(words(rng.randint(1, 15)))
            elif pick < 0.55:
                fence()
            elif pick < 0.75 and depth < shape.depth:
                details(depth)
            elif pick < 0.85:
                lines.append(
                    "z" + "".join(rng.choice(LONG_CHARS) for _ in range(rng.randint(150, shape.long)))
                )
            elif pick < 0.92:
                table()
            else:
                lines.append(rng.choice(["", "### heading", "| a | b |", "- item", "> quote"]))

    block(0, blocks)
    body = "\n".join(lines)
    return body + "\n" if rng.random() < 0.8 else body


@pytest.mark.parametrize("limit", sorted(SHAPES))
@pytest.mark.parametrize("seed", range(40))
def test_split_comment_on_generated_bodies(limit: int, seed: int) -> None:
    rng = random.Random(f"{limit}-{seed}")
    body = random_body(rng, SHAPES[limit])
    assert balanced(body)  # the generator's own promise, so that every part can be balanced
    texts = check_split(body, limit)
    assert len(texts) > 1


def test_split_comment_on_a_300_kb_body_at_githubs_limit() -> None:
    rng = random.Random(300)
    shape = Shape(depth=5, info=60, summary=60, long=5000)
    huge = json.dumps([{"address": f"aws_db_instance.db{i}", "after": {"port": 5432}} for i in range(1600)])
    assert len(huge) > GITHUB_COMMENT_LIMIT  # one line longer than a whole comment, inside a fence
    opening = ["<details><summary>Plan JSON</summary>", "", "```json title=plan.json"]
    body = "\n".join([*opening, huge, "```", "", "</details>", ""])
    while len(body) < 300_000:
        body += random_body(rng, shape, blocks=30) + "\n"
    texts = check_split(body, GITHUB_COMMENT_LIMIT)
    assert len(texts) >= 5
    reopened = opening[0].replace("</summary>", " (continued)</summary>")
    assert texts[1].split("\n")[1:4] == [reopened, *opening[1:]]


def test_a_report_of_300_databases_splits_into_valid_comments() -> None:
    summaries = {name: summarize_plan(load(name)) for name in FIXTURES}
    reports = []
    for i in range(300):
        name = FIXTURES[i % len(FIXTURES)]
        summary: PlanSummary | None = copy.deepcopy(summaries[name])
        error = None
        if i % 17 == 0:
            summary = None
            error = f"Error: creating RDS DB Instance (db{i}): InvalidParameterCombination\n```\n</details>\n"
        reports.append(
            RootReport(
                f"terraform/{('prod', 'staging', 'dev')[i % 3]}/db{i:03d}",
                summary,
                error=error,
                monthly_cost=None if i % 5 == 0 else 10.0 + i,
                policy=("pass", "warn: 2 warnings", "fail: CKV_DBV_4, CKV_AWS_16")[i % 3],
                locked_by=f"runner-{i}, since 2026-11-23 09:{i % 60:02d} UTC" if i % 23 == 0 else None,
            )
        )
    body = render_report(reports)
    assert len(body) > 2 * GITHUB_COMMENT_LIMIT
    assert balanced(body)
    texts = check_split(body, GITHUB_COMMENT_LIMIT)
    joined = "".join(texts)
    for i in range(300):
        assert f"db{i:03d}" in joined
    for secret in SECRETS:
        assert secret not in joined
