"""Restores (issue 22): restore_from's forms, the rules against the source, the claim and its checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from engine.catalog import Catalog
from engine.claim import claim_from_raw, parse_claim
from engine.errors import InvalidRequest
from engine.hcl import check_claim, parse_hcl
from engine.render import render_claim
from engine.restore import RestoreSource, source_of_request
from engine.spec import parse_request
from tests.support.claims import ACCEPTED_AT, claim_for, tampered

BASE = {
    "database_name": "orders",
    "database_engine": "postgres",
    "environment": "dev",
    "identifier": "orders-copy",
}
SOURCE = RestoreSource(
    database="prod/orders",
    engine="postgres",
    engine_version="17",
    database_name="orders",
    storage_gb=100,
    backup_retention_days=14,
    live=True,
    final_snapshot="orders-final-3f2b8c1e",
)


def refusals(
    raw: dict[str, object], catalog: Catalog, source: RestoreSource | None = SOURCE
) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as caught:
        claim_from_raw({**BASE, **raw}, catalog, "req-1", ACCEPTED_AT, source)
    return {error.field: error.rule for error in caught.value.errors}


@pytest.mark.parametrize(
    ("restore_from", "field", "rule"),
    [
        ("dev/orders", "restore_from", "must be an object"),
        ({"database": "dev/orders"}, "restore_from", "needs a snapshot"),
        ({"database": "dev/orders", "snapshot": "s1", "point_in_time": "latest"}, "restore_from", "not both"),
        ({"database": "orders", "snapshot": "s1"}, "restore_from.database", "<environment>/<identifier>"),
        ({"database": "Dev/orders", "snapshot": "s1"}, "restore_from.database", "<environment>/<identifier>"),
        ({"database": "dev/or--ders", "snapshot": "s1"}, "restore_from.database", "two consecutive hyphens"),
        ({"database": "dev/orders", "snapshot": "1snap"}, "restore_from.snapshot", "starting with a letter"),
        ({"database": "dev/orders", "snapshot": "snap-"}, "restore_from.snapshot", "end with one"),
        ({"database": "dev/orders", "snapshot": "a" * 256}, "restore_from.snapshot", "1-255"),
        (
            {"database": "dev/orders", "snapshot": "rds:orders-2026"},
            "restore_from.snapshot",
            "letters, digits",
        ),
        (
            {"database": "dev/orders", "point_in_time": "2026-11-23 06:00"},
            "restore_from.point_in_time",
            "UTC",
        ),
        (
            {"database": "dev/orders", "point_in_time": "2026-11-23T06:00:00+01:00"},
            "restore_from.point_in_time",
            "UTC",
        ),
        (
            {"database": "dev/orders", "point_in_time": "2026-02-30T06:00:00Z"},
            "restore_from.point_in_time",
            "UTC",
        ),
        (
            {"database": "dev/orders", "snapshot": "s1", "clone": True},
            "restore_from.clone",
            "not a known field",
        ),
        ({"database": "dev/orders", "snapshot": 7}, "restore_from.snapshot", "must be a string"),
    ],
)
def test_restore_from_is_strict_and_errors_name_the_field(
    restore_from: object, field: str, rule: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_request({**BASE, "restore_from": restore_from})
    found = {error.field: error.rule for error in caught.value.errors}
    assert field in found and rule in found[field], found


def test_restore_from_forms_that_parse() -> None:
    for restore in (
        {"database": "prod/orders", "snapshot": "final"},
        {"database": "prod/orders", "snapshot": "orders-final-3f2b8c1e"},
        {"database": "prod/orders", "point_in_time": "2026-11-23T06:00:00Z"},
        {"database": "prod/orders", "point_in_time": "latest"},
    ):
        request = parse_request({**BASE, "restore_from": restore})
        assert request.restore_from is not None and request.restore_from.as_dict() == restore
        assert request.as_dict()["restore_from"] == restore
        assert (request.restore_from.environment, request.restore_from.identifier) == ("prod", "orders")


def test_a_point_in_time_in_the_future_is_refused(catalog: Catalog) -> None:
    later = (ACCEPTED_AT + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    restore = {"database": "prod/orders", "point_in_time": later}
    for source in (SOURCE, None):  # with the source known or not
        assert (
            "in the future"
            in refusals({"restore_from": restore}, catalog, source)["restore_from.point_in_time"]
        )


def test_a_point_in_time_older_than_the_sources_backups_is_refused(catalog: Catalog) -> None:
    older = (ACCEPTED_AT - timedelta(days=15)).isoformat().replace("+00:00", "Z")
    found = refusals({"restore_from": {"database": "prod/orders", "point_in_time": older}}, catalog)
    assert "older than the backups of prod/orders reach (14 days" in found["restore_from.point_in_time"]
    within = (ACCEPTED_AT - timedelta(days=13)).isoformat().replace("+00:00", "Z")
    claim = claim_from_raw(
        {**BASE, "restore_from": {"database": "prod/orders", "point_in_time": within}},
        catalog,
        "req-1",
        ACCEPTED_AT,
        SOURCE,
    )
    assert claim.restore_time == within and not claim.restore_latest
    none_kept = replace(SOURCE, backup_retention_days=0)
    latest = {"restore_from": {"database": "prod/orders", "point_in_time": "latest"}}
    assert "keeps none" in refusals(latest, catalog, none_kept)["restore_from.point_in_time"]


def test_an_engine_or_major_version_other_than_the_sources_is_refused(catalog: Catalog) -> None:
    snapshot = {"database": "prod/orders", "snapshot": "orders-final-3f2b8c1e"}
    found = refusals({"database_engine": "mysql", "restore_from": snapshot}, catalog)
    assert found["database_engine"].startswith("must be postgres, the engine of prod/orders")
    found = refusals({"engine_version": "16", "restore_from": snapshot}, catalog)
    assert "must be of major version 17, as prod/orders is" in found["engine_version"]
    aurora = replace(SOURCE, engine="aurora-postgresql")
    assert "aurora-postgresql" in refusals({"restore_from": snapshot}, catalog, aurora)["database_engine"]


def test_the_restored_database_keeps_the_sources_name_engine_version_and_storage(catalog: Catalog) -> None:
    snapshot = {"database": "prod/orders", "snapshot": "orders-final-3f2b8c1e"}
    found = refusals({"database_name": "orders_copy", "restore_from": snapshot}, catalog)
    assert (
        found["database_name"] == "must be orders: the restored database keeps the name it has in prod/orders"
    )
    assert (
        "RDS cannot shrink" in refusals({"storage_gb": 50, "restore_from": snapshot}, catalog)["storage_gb"]
    )
    claim = claim_from_raw({**BASE, "restore_from": snapshot}, catalog, "req-1", ACCEPTED_AT, SOURCE)
    assert (claim.engine_version, claim.storage_gb) == ("17", 100)  # the source's, not the catalog's
    assert (claim.restore_source_identifier, claim.restore_snapshot) == ("orders", "orders-final-3f2b8c1e")


def test_final_is_refused_unresolved_and_when_the_ledger_kept_none(catalog: Catalog) -> None:
    final = {"restore_from": {"database": "prod/orders", "snapshot": "final"}}
    assert "looked up in dbvend's ledger" in refusals(final, catalog, None)["restore_from.snapshot"]
    kept_none = replace(SOURCE, final_snapshot=None)
    assert (
        "holds no final snapshot of prod/orders"
        in refusals(final, catalog, kept_none)["restore_from.snapshot"]
    )


def test_a_destroyed_source_restores_from_a_snapshot_only(catalog: Catalog) -> None:
    payload = {"database_name": "orders", "database_engine": "postgres", "environment": "prod"}
    gone = source_of_request("prod/orders", payload, "orders-final-3f2b8c1e")
    assert (gone.live, gone.engine_version, gone.storage_gb) == (False, None, None)
    latest = {"restore_from": {"database": "prod/orders", "point_in_time": "latest"}}
    assert (
        "was destroyed: restore its final snapshot"
        in refusals(latest, catalog, gone)["restore_from.point_in_time"]
    )
    snapshot = {"database": "prod/orders", "snapshot": "orders-final-3f2b8c1e"}
    claim = claim_from_raw({**BASE, "restore_from": snapshot}, catalog, "req-1", ACCEPTED_AT, gone)
    assert claim.engine_version == "17" and claim.restored  # the catalog's default: the request left it


def test_request_json_of_a_restore_round_trips_and_others_have_no_restore_keys(catalog: Catalog) -> None:
    restored = claim_for(
        catalog, "aurora-mysql", "dev", {"restore_from": {"database": "dev/a", "point_in_time": "latest"}}
    )
    assert restored.restore_latest and restored.restore_time is None and restored.restore_snapshot is None
    assert parse_claim(restored.to_json()) == restored
    plain = claim_for(catalog, "postgres", "dev", {})
    assert "restore" not in plain.to_json() and not plain.restored


@pytest.mark.parametrize(
    ("engine", "restore", "old", "new"),
    [
        (
            "postgres",
            {"database": "prod/orders", "snapshot": "orders-final-3f2b8c1e"},
            'snapshot_identifier = "orders-final-3f2b8c1e"',
            'snapshot_identifier = "orders-final-00000000"',
        ),
        (
            "mysql",
            {"database": "prod/orders", "point_in_time": "2026-11-23T06:00:00Z"},
            'restore_time                  = "2026-11-23T06:00:00Z"',
            'restore_time                  = "2026-11-20T06:00:00Z"',
        ),
        (
            "aurora-postgresql",
            {"database": "prod/orders", "point_in_time": "latest"},
            'restore_type               = "full-copy"',
            'restore_type               = "copy-on-write"',
        ),
        (
            "aurora-mysql",
            {"database": "prod/orders", "snapshot": "orders-final-3f2b8c1e"},
            "  database_name                       = null",
            '  database_name                       = "other"',
        ),
    ],
)
def test_the_claim_check_catches_a_hand_edit_of_the_restore(
    catalog: Catalog, engine: str, restore: dict[str, str], old: str, new: str
) -> None:
    claim = claim_for(catalog, engine, "prod", {"restore_from": restore})
    rendered = render_claim(claim)
    assert check_claim(parse_hcl(rendered.files["main.tf"]), claim) == []
    assert check_claim(parse_hcl(tampered(rendered, old, new)), claim) != []


def test_a_restore_block_the_claim_does_not_have_is_caught(catalog: Catalog) -> None:
    claim = claim_for(catalog, "postgres", "dev", {})
    logs = '  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]'
    text = tampered(render_claim(claim), logs, f'{logs}\n  snapshot_identifier = "theirs"')
    assert any("snapshot_identifier" in p for p in check_claim(parse_hcl(text), claim))
