"""engine.modify: each modifiable field accepted, rendered and described; each refusal names its field."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.catalog import Catalog
from engine.claim import Claim, extended
from engine.description import describe_modification, md_escape
from engine.errors import InvalidRequest
from engine.hcl import CheckResult, hcl_unquote, parse_hcl, resources_of
from engine.modify import MODIFIABLE, Modification, behaviour_table, modify_claim
from engine.policy import PolicyDecision
from engine.render import render_claim
from engine.summary import summarize_plan
from tests.support.claims import claim_for
from tests.support.paths import PLANS

INSTANCE = {"owner": "alice", "storage_gb": 40}
AURORA = {"owner": "alice", "min_acu": 0.5, "max_acu": 2}


def instance(catalog: Catalog, engine: str = "postgres", **opts: Any) -> Claim:
    return claim_for(catalog, engine, "dev", {**INSTANCE, "engine_version": "16", **opts})


def aurora(catalog: Catalog, **opts: Any) -> Claim:
    return claim_for(catalog, "aurora-postgresql", "staging", {**AURORA, "engine_version": "16", **opts})


def resources(claim: Claim) -> dict[tuple[str, str], dict[str, Any]]:
    parsed = parse_hcl(render_claim(claim).files["main.tf"])
    return {key: hcl_unquote(body) for key, body in resources_of(parsed).items()}


def database(claim: Claim) -> dict[str, Any]:
    found = resources(claim)
    return found[("aws_rds_cluster", "this")] if claim.is_aurora else found[("aws_db_instance", "this")]


def described(before: Claim, modification: Modification) -> str:
    checks = [CheckResult("hcl-parse", "pass", "python-hcl2 parsed main.tf")]
    return describe_modification(before, modification, "@alice", checks, PolicyDecision("pass"))


REBOOT = "with a reboot, during the maintenance window"
# field, value, the claim's kind, what the rendered database then holds, the impact the description says
ACCEPTED: list[tuple[str, Any, str, tuple[str, Any], str]] = [
    ("size", "large", "instance", ("instance_class", "db.t3.medium"), REBOOT),
    ("storage_gb", 100, "instance", ("allocated_storage", 100), "in place, during the maintenance window"),
    ("engine_version", "17", "instance", ("engine_version", "17"), REBOOT),
    ("owner", "bob", "instance", ("tags", "bob"), "in place, when applied"),
    ("team", "Data", "instance", ("tags", "Data"), "in place, when applied"),
    ("min_acu", 1, "aurora", ("serverlessv2_scaling_configuration", 1), "in place, when applied"),
    ("max_acu", 8, "aurora", ("serverlessv2_scaling_configuration", 8), "in place, when applied"),
    ("readers", 2, "aurora", ("readers", 2), "new resources, when applied"),
    ("proxy", True, "aurora", ("proxy", True), "new resources, when applied"),
    ("engine_version", "17", "aurora", ("engine_version", "17"), REBOOT),
    ("owner", "bob", "aurora", ("tags", "bob"), "in place, when applied"),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value", "kind", "rendered", "impact"), ACCEPTED)
def test_each_field_is_accepted_rendered_and_described(
    catalog: Catalog, field: str, value: Any, kind: str, rendered: tuple[str, Any], impact: str
) -> None:
    before = instance(catalog) if kind == "instance" else aurora(catalog)
    done = modify_claim(before, {field: value}, catalog)
    after = done.claim
    assert (after.request_id, after.accepted_at, after.expires_at) == (
        before.request_id,
        before.accepted_at,
        before.expires_at,
    )
    assert after.modifications == 1 and getattr(after.request, field) == value
    (effect,) = done.effects
    assert (effect.field, effect.impact) == (field, impact)
    body, (name, wanted) = database(after), rendered
    if name == "tags":
        assert body["tags"][field] == wanted
    elif name == "serverlessv2_scaling_configuration":
        scaling = body[name][0] if isinstance(body[name], list) else body[name]
        assert scaling[field.replace("acu", "capacity")] == wanted
    elif name == "readers":
        readers = [
            key for key in resources(after) if key[0] == "aws_rds_cluster_instance" and "reader" in key[1]
        ]
        assert len(readers) == wanted
    elif name == "proxy":
        assert ("aws_db_proxy", "this") in resources(after)
    else:
        assert body[name] == wanted
    # a major upgrade, and only that, allows one
    assert body["allow_major_version_upgrade"] is (field == "engine_version")
    text = described(before, done)
    assert f"| {field} | " in text and md_escape(effect.behaviour.what) in text and impact in text
    assert "CI's plan on this change confirms it" in text
    assert ("`allow_major_version_upgrade = true`" in text) is (field == "engine_version")


def test_a_resize_moves_what_the_class_decides_and_nothing_else(catalog: Catalog) -> None:
    before = instance(catalog, size="small")
    after = modify_claim(before, {"size": "large", "storage_gb": 60}, catalog).claim
    assert (after.instance_class, after.storage_gb, after.max_allocated_storage) == ("db.t3.medium", 60, 120)
    assert after.alarm_connections > before.alarm_connections  # a share of the larger class's max
    unchanged = ("tags", "parameters", "backup_retention_days", "engine_version", "ttl", "extensions")
    assert all(getattr(after, name) == getattr(before, name) for name in unchanged)


def test_an_extended_database_keeps_its_expiry_and_extensions(catalog: Catalog) -> None:
    before = extended(instance(catalog), datetime(2026, 12, 1, tzinfo=UTC))
    after = modify_claim(before, {"owner": "bob"}, catalog).claim
    assert (after.expires_at, after.extensions, after.tags["expires-at"]) == (
        before.expires_at,
        1,
        before.tags["expires-at"],
    )
    assert after.tags["owner"] == "bob" and after.request.ttl == before.request.ttl


def test_the_next_modification_counts_on_and_sets_the_major_upgrade_back(catalog: Catalog) -> None:
    first = modify_claim(instance(catalog), {"engine_version": "17"}, catalog).claim
    second = modify_claim(first, {"owner": "bob"}, catalog).claim
    assert (first.allow_major_version_upgrade, second.allow_major_version_upgrade) == (True, False)
    assert second.modifications == 2


def test_readers_down_and_proxy_off_say_resources_go(catalog: Catalog) -> None:
    before = aurora(catalog, readers=2, proxy=True)
    done = modify_claim(before, {"readers": 1, "proxy": False}, catalog)
    assert [(e.field, e.behaviour.impact) for e in done.effects] == [
        ("readers", "removed resources"),
        ("proxy", "removed resources"),
    ]
    assert ("aws_db_proxy", "this") not in resources(done.claim)


# fields, the claim's kind, the field refused, a part of the rule
REFUSED: list[tuple[dict[str, Any], str, str, str]] = [
    ({"storage_gb": 30}, "instance", "storage_gb", "can only grow"),
    ({"storage_gb": 43}, "instance", "storage_gb", "at least 10% (at least 44 GB)"),
    ({"storage_gb": 500}, "instance", "storage_gb", "between 20 and 100 in dev"),
    ({"engine_version": "15"}, "instance", "engine_version", "must be one of 17, 16"),
    ({"database_engine": "mysql"}, "instance", "database_engine", "another database"),
    ({"database_name": "other"}, "instance", "database_name", "another database"),
    ({"identifier": "other"}, "instance", "identifier", "another database"),
    ({"environment": "prod"}, "instance", "environment", "another database"),
    ({"ttl": "3d"}, "instance", "ttl", "an extension is a change of its own"),
    ({"reason": "x"}, "instance", "reason", "is not a field of a modification"),
    ({"color": "red"}, "instance", "color", "is not a field of a modification"),
    ({"size": None}, "instance", "size", "null changes nothing"),
    ({"size": "huge"}, "instance", "size", "must be one of small, medium, large"),
    ({"min_acu": 1}, "instance", "min_acu", "applies to Aurora engines only"),
    ({"readers": 1}, "instance", "readers", "applies to Aurora engines only"),
    ({"proxy": True}, "instance", "proxy", "applies to Aurora engines only"),
    ({"size": "large"}, "aurora", "size", "does not apply to aurora-postgresql"),
    ({"storage_gb": 100}, "aurora", "storage_gb", "does not apply to aurora-postgresql"),
    ({"readers": 3}, "aurora", "readers", "at most 2 in staging"),
    ({"max_acu": 32}, "aurora", "max_acu", "at most 16 ACU in staging"),
    ({"min_acu": 4}, "aurora", "min_acu", "must not exceed max_acu"),
    ({"owner": "bad owner!"}, "instance", "owner", "must be a login or e-mail"),
    ({"size": "small"}, "instance", "size", "nothing to change"),
    ({"owner": "alice"}, "instance", "owner", "nothing to change"),
    ({}, "instance", "fields", "say what to change"),
]


@pytest.mark.parametrize(("fields", "kind", "field", "rule"), REFUSED)
def test_each_refusal_names_its_field(
    catalog: Catalog, fields: dict[str, Any], kind: str, field: str, rule: str
) -> None:
    before = instance(catalog) if kind == "instance" else aurora(catalog)
    with pytest.raises(InvalidRequest) as refused:
        modify_claim(before, fields, catalog)
    assert field in refused.value.fields
    assert any(rule in error.rule for error in refused.value.errors if error.field == field), refused.value


def test_a_major_downgrade_is_refused(catalog: Catalog) -> None:
    on_17 = claim_for(catalog, "postgres", "dev", {"engine_version": "17"})
    with pytest.raises(InvalidRequest) as refused:
        modify_claim(on_17, {"engine_version": "16"}, catalog)
    assert (
        refused.value.errors[0].field == "engine_version"
        and "never downgrades" in refused.value.errors[0].rule
    )


def test_a_database_being_destroyed_is_not_changed(catalog: Catalog) -> None:
    doomed = replace(instance(catalog), destroy_requested_at="2026-12-01T00:00:00Z")
    with pytest.raises(InvalidRequest) as refused:
        modify_claim(doomed, {"size": "large"}, catalog)
    assert refused.value.fields == {"size"} and "being destroyed" in str(refused.value)


def test_every_modifiable_field_has_a_documented_behaviour() -> None:
    table = behaviour_table()
    covered = {field for field, _ in table}
    assert covered == set(MODIFIABLE) - {"max_acu"}  # max_acu shares min_acu's row: one capacity range
    for behaviour in table.values():
        assert behaviour.source.startswith(("RDS user guide", "Aurora user guide")), behaviour
        assert behaviour.impact in ("in place", "with a reboot", "new resources", "removed resources")


def test_a_resizes_plan_is_the_update_in_place_its_description_promises(catalog: Catalog) -> None:
    """CI's plan confirms the table: a class and storage change plans as one update in place of the
    instance (a recorded plan of exactly that change), never a replacement."""
    summary = summarize_plan(json.loads((PLANS / "update_class_storage.json").read_text("utf-8")))
    (instance,) = [c for c in summary.changes if c.address == "aws_db_instance.this"]
    assert instance.kind == "update" and {"instance_class", "allocated_storage"} <= set(instance.attributes)
    before = claim_for(catalog, "postgres", "dev", {})
    done = modify_claim(before, {"size": "large", "storage_gb": 50}, catalog)
    assert {e.field for e in done.effects} == {"size", "storage_gb"} and before.storage_gb == 20
    assert all(e.behaviour.impact != "replacement" for e in done.effects)


def test_a_major_upgrades_plan_is_an_update_that_allows_it(catalog: Catalog) -> None:
    """A recorded plan of 16 -> 17: an update in place of the instance, allow_major_version_upgrade
    false -> true, as modify_claim renders it for that change."""
    summary = summarize_plan(json.loads((PLANS / "major_upgrade_requested.json").read_text("utf-8")))
    (instance,) = summary.changes
    assert (instance.address, instance.kind) == ("aws_db_instance.this", "update")
    diffs = {diff.name: (diff.before, diff.after) for diff in instance.diffs}
    assert diffs["allow_major_version_upgrade"] == ("false", "true")
    on_16 = claim_for(catalog, "postgres", "dev", {"engine_version": "16"})
    upgraded = modify_claim(on_16, {"engine_version": "17"}, catalog)
    assert database(upgraded.claim)["allow_major_version_upgrade"] is True
    assert database(on_16)["allow_major_version_upgrade"] is False
