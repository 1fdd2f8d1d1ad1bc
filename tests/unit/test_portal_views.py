"""The portal's pure parts: form fields to the API's body, status steps, fleet rows, totals, chart,
and the session tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.access import Holder
from engine.catalog import default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.claim import claim_from_raw
from engine.keys import KeyStore
from engine.portal import views
from engine.portal.session import LIFETIME, form_token, form_token_ok, session_key, sign_in
from engine.store.claim_queries import FleetQuery, GroupTotal, IndexedRow
from engine.store.records import Event, RequestRecord

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def record(identifier: str, status: str = "change_open", **payload: object) -> RequestRecord:
    return RequestRecord(
        id=f"id-{identifier}",
        channel="api",
        requester="key-x",
        payload={"database_name": identifier, "database_engine": "postgres", "environment": "dev", **payload},
        environment=str(payload.get("environment", "dev")),
        identifier=identifier,
        database_name=identifier,
        owner=None,
        status=status,
        change_id=None,
        change_link=None,
        errors=[],
        created_at="2026-11-23T10:00:00.000000Z",
        updated_at="2026-11-23T10:00:00.000000Z",
    )


def claim(identifier: str, ttl: str, environment: str = "dev", team: str = "data") -> object:
    raw = {
        "database_name": identifier,
        "database_engine": "postgres",
        "environment": environment,
        "ttl": ttl,
        "team": team,
    }
    return claim_from_raw(raw, parse_catalog(default_catalog_text()), f"id-{identifier}", NOW)


def test_form_fields_become_the_apis_body() -> None:
    form = {
        "database_name": " orders ",
        "ttl": "",
        "storage_gb": "50",
        "readers": "two",
        "min_acu": "0.5",
        "max_acu": "1e3",
        "proxy": "on",
        "nonsense": " x ",
    }
    assert views.request_from_form(form) == {
        "database_name": "orders",
        "storage_gb": 50,
        "readers": "two",  # stays text: the API's rule names it
        "min_acu": 0.5,
        "max_acu": "1e3",
        "proxy": True,
        "nonsense": " x ",  # not a field: passed on as sent, and refused by name
    }


@pytest.mark.parametrize(
    ("status", "states"),
    [
        ("accepted", ["current", "todo", "todo", "todo"]),
        ("processing", ["current", "todo", "todo", "todo"]),
        ("change_open", ["done", "current", "todo", "todo"]),
        ("planned", ["done", "done", "current", "todo"]),
        ("applied", ["done", "done", "done", "done"]),
        ("merged", ["done", "done", "done", "done"]),
        ("failed", ["current", "todo", "todo", "todo"]),
    ],
)
def test_status_steps(status: str, states: list[str]) -> None:
    assert [step.state for step in views.steps(status)] == states


def test_fleet_rows_join_ledger_and_claims_soonest_first() -> None:
    claims = {
        "terraform/dev/late": claim("late", "5d"),
        "terraform/dev/soon": claim("soon", "1h"),
        "terraform/prod/forever": claim("forever", "none", "prod", "shop"),
    }
    records = [record("late"), record("soon", "merged"), record("waiting", "accepted")]
    rows = views.fleet_rows(records, claims, NOW, views.FleetFilter())  # type: ignore[arg-type]
    assert [row.key for row in rows] == ["dev/soon", "dev/late", "dev/waiting", "prod/forever"]
    assert [row.left for row in rows] == ["1h 0m", "5d 0h", "none", "none"]
    assert rows[3].status == "merged" and rows[3].request_id is None  # on main, not in this ledger
    assert rows[2].monthly_usd is None and rows[0].monthly_usd is not None
    shop = views.FleetFilter(team="SHOP")
    assert [r.key for r in views.fleet_rows(records, claims, NOW, shop)] == ["prod/forever"]  # type: ignore[arg-type]


def test_the_pager_keeps_the_filter_and_index_rows_become_fleet_rows() -> None:
    wanted = views.FleetFilter(environment="dev", team="a b&c")
    assert wanted.link() == "/fleet?environment=dev&team=a+b%26c"
    assert wanted.link("Wy4uLl0=") == "/fleet?environment=dev&team=a+b%26c&after=Wy4uLl0%3D"
    assert wanted.query == FleetQuery(environment="dev", team="a b&c")
    indexed = IndexedRow(
        "terraform/dev/a",
        "dev",
        "a",
        "postgres",
        "bob",
        "",
        "2026-11-25T15:30:00Z",
        12.5,
        "merged",
        None,
        None,
    )
    row = views.indexed_row(indexed, NOW)
    assert (row.key, row.left, row.monthly_usd, row.status) == ("dev/a", "2d 3h", 12.5, "merged")
    assert indexed.holder == Holder(None, "bob", None, "a")
    totals = views.as_totals([GroupTotal("dev", 2, 30.0)])
    assert totals == [views.Total("dev", 2, 30.0)]


def test_totals_and_chart_scale_each_series_to_its_largest() -> None:
    rows = [
        views.FleetRow("dev", "a", "postgres", "", "data", "merged", 10.0, None, "none", None),
        views.FleetRow("dev", "b", "postgres", "", "", "merged", 20.0, None, "none", None),
        views.FleetRow("prod", "c", "mysql", "", "data", "merged", 90.0, None, "none", None),
    ]
    per_env = views.totals(rows, "environment")
    assert per_env == [views.Total("prod", 1, 90.0), views.Total("dev", 2, 30.0)]
    assert views.totals(rows, "team") == [views.Total("data", 2, 100.0), views.Total("(none)", 1, 20.0)]
    bars = views.chart(per_env)
    assert [(b.count_width, b.cost_width) for b in bars] == [(120, 240), (240, 80)]
    assert [b.y for b in bars] == [0, views.CHART_ROW]
    assert views.chart([]) == []


def test_time_left_and_money() -> None:
    assert views.time_left(None, NOW) == "none"
    assert views.time_left("2026-11-23T11:00:00Z", NOW) == "expired"
    assert views.time_left("2026-11-25T15:30:00Z", NOW) == "2d 3h"
    assert views.money(1234.5) == "$1,234.50" and views.money(None) == "—"


def test_latest_plan_is_the_last_plan_reported() -> None:
    history = [
        Event("change_open", "t1", "change #1"),
        Event("planned", "t2", "/plan success: https://x"),
        Event("planned", "t3", "checks success on abc"),
        Event("planned", "t4", "dbvend ci plan: 1 to add"),
        Event("merged", "t5", "change #1 merged"),
    ]
    assert views.latest_plan(history) == history[3]
    assert views.latest_plan(history[:1]) is None


def test_session_tokens() -> None:
    keys = KeyStore.from_keys(["right-key", "other-key"])
    token = sign_in(keys, "right-key", 1000.0)
    assert token is not None and "right-key" not in token
    key_id = keys.identify("right-key")
    assert session_key(keys, token, 1000.0) == key_id
    assert session_key(keys, token, 1000.0 + LIFETIME) is None  # expired
    assert sign_in(keys, "wrong-key", 1000.0) is None
    assert session_key(KeyStore.from_keys(["other-key"]), token, 1000.0) is None  # key removed
    name, expires, signature = token.split(".")
    assert session_key(keys, f"{name}.{int(expires) + 1}.{signature}", 1000.0) is None
    assert session_key(keys, None, 1000.0) is None and session_key(keys, "x" * 500, 1000.0) is None
    assert form_token_ok(token, form_token(token)) and not form_token_ok(token, None)
    assert not form_token_ok(token, form_token(token + "x"))
    # what a client may send: never an exception (each was a 500 once)
    assert session_key(keys, f"{name}.\u00b2.{signature}", 1000.0) is None  # "²".isdigit()
    assert session_key(keys, f"{name}.{expires}.\u00e9", 1000.0) is None
    assert session_key(keys, f"{name}.{expires}.\ud800", 1000.0) is None
    assert not form_token_ok(token, "\u00e9" * 32) and not form_token_ok(token, "\ud800")


def test_invisible_characters_are_shown_not_hidden() -> None:
    assert views.visible("orders\u202e") == "orders\ufffd"
    assert views.visible("a\u200bb\x00c\r\nd\te") == "a\ufffdb\ufffdc\ufffd\nd\te"
    assert views.visible("café ✓") == "café ✓" and views.visible(3) == 3
    from markupsafe import Markup

    assert views.visible(Markup("<p>\n</p>")) == Markup("<p>\n</p>")
