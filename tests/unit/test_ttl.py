"""engine.ttl: expiry and reminders from the claims, with the clock given (tests/integration/test_ttl.py
reads the claims from a real git repository)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from engine.ttl import DEFAULT_REMINDERS, Due, Lease, describe_left, due, lease_of, reminder_key

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def lease(name: str, expires_in: timedelta | None) -> Lease:
    expires = None if expires_in is None else NOW + expires_in
    return Lease(
        f"terraform/dev/{name}", "dev", name, f"req-{name}", "alice", NOW - timedelta(days=3), expires
    )


def test_expired_and_reminders_each_once() -> None:
    leases = [
        lease("gone", -timedelta(minutes=1)),
        lease("at-now", timedelta(0)),
        lease("soon", timedelta(hours=1)),
        lease("tomorrow", timedelta(hours=30)),
        lease("later", timedelta(days=5)),
        lease("forever", None),
    ]
    found = due(leases, NOW)
    assert [x.identifier for x in found.expired] == ["gone", "at-now"]
    reminders = {r.lease.identifier: r for r in found.reminders}
    assert set(reminders) == {"soon", "tomorrow"}
    assert reminders["tomorrow"].window == timedelta(hours=48)
    soon = reminders["soon"]  # a late sweep: both windows due, one reminder for the closer one
    assert soon.window == timedelta(hours=2) and set(soon.covers) == set(DEFAULT_REMINDERS)
    told = {key for r in found.reminders for key in r.keys}
    again = due(leases, NOW, told=told)
    assert again.reminders == () and [x.identifier for x in again.expired] == ["gone", "at-now"]
    later = due(leases, NOW + timedelta(hours=29), told=told)
    assert [r.lease.identifier for r in later.reminders] == ["tomorrow"]
    assert later.reminders[0].window == timedelta(hours=2)
    expiry = int((NOW + timedelta(hours=30)).timestamp())
    assert reminder_key(leases[3], timedelta(hours=2)) == f"ttl-reminder:req-tomorrow:{expiry}:7200s"
    # an extension moves the expiry: its reminders are owed again
    moved = replace(leases[3], expires_at=NOW + timedelta(hours=40))
    assert [r.window for r in due([moved], NOW + timedelta(hours=39), told=told).reminders] == [
        timedelta(hours=2)
    ]
    # a database whose destroy change is merged is neither expired again nor reminded
    assert due([replace(leases[0], destroying=True)], NOW) == Due((), ())


def test_describe_left() -> None:
    assert describe_left(timedelta(days=2, hours=3, minutes=5)) == "2d 3h"
    assert describe_left(timedelta(hours=5, minutes=10)) == "5h 10m"
    assert describe_left(timedelta(minutes=12, seconds=40)) == "12m"


@pytest.mark.parametrize(
    "text",
    ["not json", "{}", '{"request": {}, "request_id": "r", "accepted_at": "x"}', '{"request": []}'],
)
def test_an_unreadable_claim_names_its_directory(text: str) -> None:
    with pytest.raises(ValueError, match=r"terraform/dev/x/request\.json: cannot read its time-to-live"):
        lease_of("terraform/dev/x", text)


def test_times_without_a_zone_are_refused() -> None:
    claim = {"request": {"environment": "dev"}, "request_id": "r", "accepted_at": "2026-11-23T10:00:00"}
    with pytest.raises(ValueError, match="no time zone"):
        lease_of("terraform/dev/x", json.dumps(claim))


def test_extensions_stay_within_the_maximum_from_creation_and_are_counted() -> None:
    from engine.catalog import TtlPolicy
    from engine.errors import InvalidRequest
    from engine.ttl import extend

    policy = TtlPolicy(default=timedelta(days=7), max=timedelta(days=30), max_extensions=2)
    orders = Lease("terraform/dev/orders", "dev", "orders", "req-1", "alice", NOW, NOW + timedelta(days=7))
    later = NOW + timedelta(days=6)
    assert extend(orders, timedelta(days=3), later, policy, 0) == later + timedelta(days=3)
    assert extend(orders, timedelta(days=24), later, policy, 1) == NOW + timedelta(days=30)  # exactly the cap
    with pytest.raises(InvalidRequest, match="at most 30d from its request: until 2026-12-23T12:00:00Z"):
        extend(orders, timedelta(days=25), later, policy, 1)
    with pytest.raises(InvalidRequest, match="allows 2 extensions; all are used"):
        extend(orders, timedelta(days=3), later, policy, 2)
    with pytest.raises(InvalidRequest, match="would not extend"):
        extend(orders, timedelta(hours=1), NOW, policy, 0)
    with pytest.raises(InvalidRequest, match="longer than zero"):
        extend(orders, timedelta(0), later, policy, 0)
    forever = Lease("terraform/prod/core", "prod", "core", "req-2", None, NOW, None)
    with pytest.raises(InvalidRequest, match="no time-to-live to extend"):
        extend(forever, timedelta(days=1), later, TtlPolicy(None, None), 0)
    unlimited = TtlPolicy(default=timedelta(days=7), max=None)
    assert extend(orders, timedelta(days=400), later, unlimited, 50) == later + timedelta(days=400)


def test_a_destroy_protected_environment_has_no_time_to_live() -> None:
    from engine.catalog import default_catalog_text
    from engine.catalog_reader import parse_catalog
    from engine.claim import claim_from_raw
    from engine.errors import CatalogError, InvalidRequest

    catalog = parse_catalog(default_catalog_text())
    assert (
        catalog.environments["prod"].destroy_protected and not catalog.environments["dev"].destroy_protected
    )
    raw = {"database_name": "core", "database_engine": "postgres", "environment": "prod"}
    assert claim_from_raw(raw, catalog, "r-1", NOW).expires_at is None
    assert claim_from_raw({**raw, "ttl": "none"}, catalog, "r-2", NOW).expires_at is None
    with pytest.raises(InvalidRequest, match="ttl: must be none: prod is destroy-protected"):
        claim_from_raw({**raw, "ttl": "3d"}, catalog, "r-3", NOW)
    text = default_catalog_text().replace(
        "ttl: {default: 7d, max: 30d}", "destroy_protected: true\n    ttl: {default: 7d, max: 30d}"
    )
    with pytest.raises(CatalogError, match=r"environments\.dev\.ttl: must be \{default: none, max: none\}"):
        parse_catalog(text)


def test_environments_may_forbid_none_and_auto_destroy_never_in_production() -> None:
    from engine.catalog import default_catalog_text
    from engine.catalog_reader import parse_catalog
    from engine.claim import claim_from_raw
    from engine.errors import CatalogError, InvalidRequest

    strict = default_catalog_text().replace(
        "ttl: {default: 14d, max: 90d}", "ttl: {default: 14d, max: none, allow_none: false}"
    )
    catalog = parse_catalog(strict)
    raw = {"database_name": "core", "database_engine": "postgres", "environment": "staging"}
    with pytest.raises(InvalidRequest, match="ttl: must be a time-to-live in staging"):
        claim_from_raw({**raw, "ttl": "none"}, catalog, "r-1", NOW)
    assert claim_from_raw({**raw, "ttl": "400d"}, catalog, "r-2", NOW).ttl == "400d"  # no max
    loose = parse_catalog(strict.replace(", allow_none: false", ""))
    assert claim_from_raw({**raw, "ttl": "none"}, loose, "r-3", NOW).expires_at is None
    with pytest.raises(CatalogError, match=r"staging\.ttl\.default: must be a TTL where allow_none"):
        parse_catalog(strict.replace("default: 14d", "default: none"))
    auto = default_catalog_text().replace(
        "ttl: {default: 7d, max: 30d}", "ttl: {default: 7d, max: 30d, auto_destroy: true}"
    )
    assert parse_catalog(auto).environments["dev"].ttl.auto_destroy
    production = auto.replace("  dev:\n", "  dev:\n    production: true\n")
    with pytest.raises(CatalogError, match="never destroyed without an approval"):
        parse_catalog(production)


@pytest.mark.parametrize(("environment", "kept"), [("staging", True), ("dev", False)])
def test_a_lease_names_the_final_snapshot_its_destroy_keeps(environment: str, kept: bool) -> None:
    from engine.catalog import default_catalog_text
    from engine.catalog_reader import parse_catalog
    from engine.claim import claim_from_raw
    from engine.render import final_snapshot_identifier, render_main_tf

    raw = {"database_name": "orders", "database_engine": "postgres", "environment": environment}
    claim = claim_from_raw(raw, parse_catalog(default_catalog_text()), "3F2B8C1E-aa", NOW)
    found = lease_of(claim.root, claim.to_json())
    assert found.final_snapshot == ("orders-final-3f2b8c1e" if kept else None)
    # the name the ledger records is the one main.tf gives AWS
    assert (
        f'final_snapshot_identifier           = "{final_snapshot_identifier(claim)}"' in render_main_tf(claim)
    ) is kept
