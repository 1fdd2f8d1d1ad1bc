"""engine.summary: recorded and hand-made plan JSON to counts, flags, drift and what stays hidden."""

from __future__ import annotations

from typing import Any

import pytest

from engine.plan_report import RootReport, render_report
from engine.summary import SENSITIVE, UNKNOWN, PlanSummary, summarize_plan
from tests.support.plans import change, load, plan_of


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
