"""The audit trail (issue 23) on a real app: rows appended in the ledger, read through GET /v1/audit
(filters, cursor paging, 422s naming the field), the portal's /audit page, `dbvend audit export`,
and the table refusing UPDATE and DELETE itself, in SQLite and in PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from engine.app import create_app
from engine.audit import AuditEvent, parse_audit_query
from engine.services import Services
from engine.store.ledger import Ledger
from engine.store.schema import audit_events
from tests.integration.test_cli import dbvend
from tests.support import app
from tests.support.app import KEY

services = app.services
browser = app.browser

# 30 events over three databases, three actors, four actions and two outcomes.
ACTORS = ("github:alice", "key:ci-bot", "dbvend")
DATABASES = (("dev", "orders"), ("dev", "billing"), ("prod", "orders"))
ACTIONS = ("request", "change_open", "merge", "extend")


def event(n: int) -> AuditEvent:
    environment, identifier = DATABASES[n % 3]
    return AuditEvent(
        actor=ACTORS[n % len(ACTORS) if n % 5 else 0],
        door="api" if n % 2 else "portal",
        action=ACTIONS[n % 4],
        outcome="refused" if n % 7 == 0 else "ok",
        environment=environment,
        identifier=identifier,
        request_id=f"r-{n}",
        detail=f"event {n}",
    )


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as test_client:
        yield test_client


@pytest.fixture
def recorded(services: Services) -> list[dict[str, Any]]:
    """30 events in the ledger, as GET /v1/audit answers them, oldest first."""
    with services.ledger.transaction() as connection:
        for n in range(30):
            services.ledger.audit(event(n), connection)
    rows, _ = services.ledger.audit_page(parse_audit_query(), 1000, None)
    return mine(row.as_json() for row in reversed(rows))


def mine(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events these tests wrote (request ids r-<n>), not what the doors record of the calls."""
    return [item for item in items if (item["request_id"] or "").startswith("r-")]


def every_page(client: TestClient, query: str = "", limit: int = 7) -> list[dict[str, Any]]:
    """Every item of a listing, following next_cursor; each page at most `limit` items, each item
    once, newest first."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        suffix = f"&cursor={cursor}" if cursor else ""
        answer = client.get(f"/v1/audit?limit={limit}{query}{suffix}", headers=KEY)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert set(page) == {"items", "next_cursor"} and len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            ids = [item["id"] for item in items]
            assert ids == sorted(set(ids), reverse=True)
            return items
        assert len(page["items"]) == limit
    raise AssertionError("the pages did not end")


# -- the API --------------------------------------------------------------------------------


def test_paging_covers_every_row_once_newest_first(
    client: TestClient, recorded: list[dict[str, Any]]
) -> None:
    items = every_page(client)
    assert mine(items) == list(reversed(recorded)) and len(recorded) == 30
    assert set(items[0]) == {
        "id", "at", "actor", "door", "action", "outcome", "environment", "identifier", "request_id", "detail",
    }  # fmt: skip
    assert [item["at"] for item in items] == sorted((item["at"] for item in items), reverse=True)
    first = client.get("/v1/audit", headers=KEY).json()
    assert mine(first["items"]) == list(reversed(recorded))  # the default limit: 50
    exact = client.get("/v1/audit?database=dev/orders&limit=10", headers=KEY).json()
    assert len(exact["items"]) == 10 and exact["next_cursor"] is None  # no empty last page


@pytest.mark.parametrize(
    ("query", "wanted"),
    [
        ("&database=dev/orders", lambda row: (row["environment"], row["identifier"]) == ("dev", "orders")),
        ("&database=prod/ORDERS", lambda row: (row["environment"], row["identifier"]) == ("prod", "orders")),
        ("&actor=key:ci-bot", lambda row: row["actor"] == "key:ci-bot"),
        ("&action=merge", lambda row: row["action"] == "merge"),
        ("&outcome=refused", lambda row: row["outcome"] == "refused"),
        ("&database=dev/billing&actor=key:ci-bot&outcome=ok", lambda row: row["identifier"] == "billing"
         and row["actor"] == "key:ci-bot" and row["outcome"] == "ok"),
    ],
)  # fmt: skip
def test_each_filter(client: TestClient, recorded: list[dict[str, Any]], query: str, wanted: Any) -> None:
    expected = [row for row in reversed(recorded) if wanted(row)]
    assert expected and len(expected) < len(recorded)
    found = every_page(client, query, limit=2)
    assert mine(found) == expected and all(wanted(row) for row in found)


def test_since_is_inclusive_and_until_exclusive(client: TestClient, recorded: list[dict[str, Any]]) -> None:
    tenth, twentieth = recorded[10]["at"], recorded[20]["at"]
    window = every_page(client, f"&since={tenth}&until={twentieth}", limit=4)
    assert [item["id"] for item in mine(window)] == [row["id"] for row in reversed(recorded[10:20])]
    since = every_page(client, f"&since={twentieth}")
    assert [item["id"] for item in mine(since)] == [row["id"] for row in reversed(recorded[20:])]
    assert all(item["at"] >= twentieth for item in since)
    # The same moment in another zone, without fractions of a second the ledger writes
    shifted = twentieth[:19] + "+00:00"
    until = every_page(client, f"&until={shifted.replace('+', '%2B')}")
    assert mine(until) == [row for row in reversed(recorded) if row["at"] < twentieth[:19]]
    assert all(item["at"] < twentieth[:19] for item in until)
    assert every_page(client, f"&since={twentieth}&until={tenth}") == []  # no error: nothing


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "since"),
        ("since=2026-05-01T00:00:00", "since"),  # no zone
        ("until=2026-13-01T00:00:00Z", "until"),
        ("database=orders", "database"),
        ("database=dev/orders/x", "database"),
        ("database=", "database"),
        ("actor=al%20ice", "actor"),
        ("action=drop", "action"),
        ("outcome=maybe", "outcome"),
        ("cursor=abc", "cursor"),
        ("cursor=-5", "cursor"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
    ],
)
def test_bad_filters_are_422_naming_the_field(client: TestClient, query: str, field: str) -> None:
    answer = client.get(f"/v1/audit?{query}", headers=KEY)
    assert answer.status_code == 422, answer.text
    assert [error["field"] for error in answer.json()["errors"]] == [field]


def test_every_bad_filter_is_named_at_once(client: TestClient) -> None:
    answer = client.get("/v1/audit?since=x&until=y&database=dev/o/x&action=w&actor=%C3%A9", headers=KEY)
    assert answer.status_code == 422
    assert {error["field"] for error in answer.json()["errors"]} == {
        "since",
        "until",
        "database",
        "action",
        "actor",
    }


def test_the_trail_needs_a_key(client: TestClient, recorded: list[dict[str, Any]]) -> None:
    assert client.get("/v1/audit").status_code == 401
    assert client.get("/v1/audit", headers={"x-api-key": "nope"}).status_code == 403


# -- writing --------------------------------------------------------------------------------


def test_long_text_is_cut_not_refused_and_unknown_values_are_bugs(services: Services) -> None:
    ledger = services.ledger
    ledger.audit(AuditEvent("github:" + "a" * 300, "api", "request", detail="d" * 5000 + "\x00"))
    row = ledger.audit_page(parse_audit_query(), 1, None)[0][0]  # the newest
    assert len(row.actor) == 200 and row.actor.endswith("\u2026")
    assert row.detail is not None and len(row.detail) == 2000 and "\x00" not in row.detail
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", row.at)
    for wrong in (
        AuditEvent("dbvend", "api", "drop_table"),
        AuditEvent("dbvend", "api", "request", "maybe"),
        AuditEvent("dbvend", "fax", "request"),
    ):
        with pytest.raises(ValueError, match="unknown audit value"):
            ledger.audit(wrong)


def test_an_event_written_in_a_transaction_goes_with_it(services: Services) -> None:
    ledger = services.ledger
    with pytest.raises(RuntimeError), ledger.transaction() as connection:
        ledger.audit(AuditEvent("dbvend", "api", "request", detail="rolled back"), connection)
        raise RuntimeError("the caller's work failed")
    assert all(row.detail != "rolled back" for row in ledger.audit_rows(parse_audit_query()))


# -- the portal -----------------------------------------------------------------------------


def test_the_portal_page_lists_filters_and_pages(browser: TestClient, recorded: list[dict[str, Any]]) -> None:
    home = browser.get("/fleet")
    assert '<a href="/audit">Audit</a>' in home.text
    whole = browser.get("/audit")
    assert whole.status_code == 200
    ids = {row["id"] for row in recorded}
    shown = [int(n) for n in re.findall(r'<tr data-event="(\d+)">', whole.text)]
    assert [n for n in shown if n in ids] == [row["id"] for row in reversed(recorded)]
    assert 'href="/databases/dev/orders"' in whole.text and 'href="/requests/r-29"' in whole.text
    filtered = browser.get("/audit?database=dev/orders&actor=github:alice&outcome=")
    rows = [int(n) for n in re.findall(r'<tr data-event="(\d+)">', filtered.text)]
    assert rows == [
        row["id"]
        for row in reversed(recorded)
        if row["identifier"] == "orders" and row["environment"] == "dev" and row["actor"] == "github:alice"
    ]
    assert 'value="dev/orders"' in filtered.text


def test_the_portal_pages_older_with_the_filters_kept(
    browser: TestClient, services: Services, recorded: list[dict[str, Any]]
) -> None:
    with services.ledger.transaction() as connection:
        for n in range(60):
            services.ledger.audit(AuditEvent("github:bob", "portal", "view", detail=f"look {n}"), connection)
    first = browser.get("/audit?actor=github:bob")
    assert len(re.findall(r"<tr data-event=", first.text)) == 50
    older = re.search(r'<a href="([^"]+)" rel="next">Older</a>', first.text)
    assert older is not None
    link = older.group(1).replace("&amp;", "&")
    assert link.startswith("/audit?actor=github%3Abob&cursor=")
    second = browser.get(link)
    assert len(re.findall(r"<tr data-event=", second.text)) == 10 and "Older" not in second.text
    assert "look 0" in second.text and '<a href="/audit?actor=github%3Abob">Newest</a>' in second.text


def test_the_portal_shows_bad_filters_next_to_their_fields(browser: TestClient) -> None:
    answer = browser.get("/audit?since=yesterday&database=orders&cursor=x")
    assert answer.status_code == 422
    assert 'id="error-since"' in answer.text and 'id="error-database"' in answer.text
    assert 'value="yesterday"' in answer.text and "cursor: must be a next_cursor" in answer.text


def test_the_portal_page_escapes_what_was_recorded(browser: TestClient, services: Services) -> None:
    services.ledger.audit(
        AuditEvent(
            "github:<b>mallory</b>", "portal", "request", "refused", detail="<script>alert(1)</script>\u202e"
        )
    )
    page = browser.get("/audit")
    assert "<script>alert(1)</script>" not in page.text and "<b>mallory</b>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\ufffd" in page.text
    assert "github:&lt;b&gt;mallory&lt;/b&gt;" in page.text


def test_the_portal_page_needs_a_session(services: Services) -> None:
    with TestClient(create_app(services), follow_redirects=False) as anonymous:
        assert anonymous.get("/audit").headers["location"].startswith("/signin?next=/audit")


# -- the export -----------------------------------------------------------------------------


def test_export_writes_json_lines_oldest_first(tmp_path: Path, services: Services) -> None:
    recorded = []
    with services.ledger.transaction() as connection:
        for n in range(2500):  # more than one chunk
            services.ledger.audit(event(n), connection)
    recorded = [row.as_json() for row in services.ledger.audit_rows(parse_audit_query(), chunk=700)]
    assert [row["id"] for row in recorded] == sorted(row["id"] for row in recorded) and len(recorded) == 2500
    data = str(services.settings.data)
    done = dbvend(tmp_path, "audit", "export", "--since", "2000-01-01T00:00:00Z", DBVEND_DATA=data)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == recorded
    since = recorded[2000]["at"]
    some = dbvend(
        tmp_path, "audit", "export", "--since", since, "--database", "dev/billing", "--actor", "key:ci-bot",
        DBVEND_DATA=data,
    )  # fmt: skip
    assert some.returncode == 0, some.stderr
    assert [json.loads(line) for line in some.stdout.splitlines()] == [
        row for row in recorded[2000:] if row["identifier"] == "billing" and row["actor"] == "key:ci-bot"
    ]
    until = dbvend(
        tmp_path, "audit", "export", "--since", "2000-01-01T00:00Z", "--until", since, DBVEND_DATA=data
    )
    assert len(until.stdout.splitlines()) == 2000


def test_export_refuses_bad_options_and_a_missing_ledger(tmp_path: Path, services: Services) -> None:
    data = str(services.settings.data)
    bad = dbvend(tmp_path, "audit", "export", "--since", "last week", "--database", "x", DBVEND_DATA=data)
    assert bad.returncode == 2 and "since" in bad.stderr and "database" in bad.stderr
    assert dbvend(tmp_path, "audit", "export", DBVEND_DATA=data).returncode == 2  # --since is required
    none = dbvend(
        tmp_path, "audit", "export", "--since", "2026-01-01T00:00:00Z", DBVEND_DATA=str(tmp_path / "x")
    )
    assert none.returncode == 1 and "no ledger" in none.stderr


# -- append-only, in both databases ---------------------------------------------------------


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_database_refuses_to_change_the_trail(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        if dialect == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    ledger = Ledger.connect(url)
    try:
        for n in range(12):
            ledger.audit(event(n))
        statements = [
            audit_events.update().values(detail="rewritten"),
            audit_events.update().where(audit_events.c.id == 1).values(outcome="ok"),
            audit_events.delete(),
            audit_events.delete().where(audit_events.c.id == 1),
        ]
        if dialect == "postgresql":
            statements.append(sa.text("TRUNCATE audit_events"))
        for statement in statements:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), ledger.engine.begin() as connection:
                connection.execute(statement)
        rows, _ = ledger.audit_page(parse_audit_query(), 50, None)
        assert [row.detail for row in reversed(rows)] == [f"event {n}" for n in range(12)]
        # Reading works alike in both: filters and pages
        page, cursor = ledger.audit_page(parse_audit_query(database="dev/orders"), 2, None)
        assert [row.request_id for row in page] == ["r-9", "r-6"] and cursor == page[-1].id
        rest, end = ledger.audit_page(parse_audit_query(database="dev/orders"), 5, cursor)
        assert [row.request_id for row in rest] == ["r-3", "r-0"] and end is None
        since = parse_audit_query(since=rows[3].at, actor="dbvend")
        assert [row.request_id for row in ledger.audit_page(since, 50, None)[0]] == ["r-11", "r-8"]
        assert [row.id for row in ledger.audit_rows(parse_audit_query(), chunk=5)] == sorted(
            r.id for r in rows
        )
    finally:
        ledger.engine.dispose()
