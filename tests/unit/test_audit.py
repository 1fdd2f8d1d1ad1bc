"""The audit trail's pure parts (engine.audit): filters read from text, times as the ledger writes
them, the cursor, a row as JSON."""

from __future__ import annotations

import re

import pytest

from engine.audit import (
    ACTOR_PATTERN,
    CURSOR_PATTERN,
    DATABASE_PATTERN,
    AuditEvent,
    AuditQuery,
    AuditRow,
    at_text,
    decode_cursor,
    encode_cursor,
    parse_audit_query,
)
from engine.errors import InvalidRequest
from engine.identity import person


def refused_fields(**raw: str) -> list[str]:
    with pytest.raises(InvalidRequest) as refused:
        parse_audit_query(**raw)
    assert refused.value.http_status == 422 and refused.value.exit_code == 2
    return [error.field for error in refused.value.errors]


def test_no_filter_is_every_row() -> None:
    assert parse_audit_query() == AuditQuery()
    assert parse_audit_query("", "", "", "", "", "") == AuditQuery()  # an empty form field: any
    assert AuditQuery().as_params() == {} and AuditQuery().database is None


def test_every_filter_read() -> None:
    query = parse_audit_query(
        database="dev/Orders-2",
        actor="github:alice",
        since="2026-05-01T10:00:00+02:00",
        until="2026-05-02T00:00:00.5Z",
        action="merge",
        outcome="refused",
    )
    assert query == AuditQuery(
        "dev",
        "orders-2",
        "github:alice",
        "2026-05-01T08:00:00.000000Z",
        "2026-05-02T00:00:00.500000Z",
        "merge",
        "refused",
    )
    assert query.database == "dev/orders-2"
    assert parse_audit_query(**query.as_params()) == query  # a link to the next page keeps them


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("2026-05-01T09:30:00Z", "2026-05-01T09:30:00.000000Z"),
        ("2026-05-01t09:30:00z", "2026-05-01T09:30:00.000000Z"),  # RFC 3339 allows lower case
        ("2026-05-01T09:30:00.123456789-05:30", "2026-05-01T15:00:00.123456Z"),
        ("2026-05-01 09:30+00:00", "2026-05-01T09:30:00.000000Z"),
        ("20260501T093000Z", "2026-05-01T09:30:00.000000Z"),
        ("0001-01-01T00:00:00+23:59", "0001-01-01T00:00:00.000000Z"),  # before year 1: the start
        ("9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59.999999Z"),  # past year 9999: the end
    ],
)
def test_times_become_the_ledgers_text(text: str, at: str) -> None:
    assert at_text(text) == at


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2026-05-01",
        "2026-05-01T09:30:00",
        "2026-05-01T12:99:00Z",
        "2026-02-30T00:00:00Z",
        "",
        "Z",
    ],
)
def test_what_is_no_time_with_a_zone(text: str) -> None:
    assert at_text(text) is None


def test_the_ledgers_times_sort_as_their_moments() -> None:
    texts = ["2026-05-01T09:30:00+01:00", "2026-05-01T09:00:00Z", "2026-05-01T08:59:59.999999Z"]
    converted = [at_text(text) or "" for text in texts]
    assert sorted(converted) == [converted[0], converted[2], converted[1]]  # 08:30, 08:59:59.9, 09:00


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        ({"since": "last week"}, ["since"]),
        ({"until": "2026-05-01T00:00:00"}, ["until"]),
        ({"database": "orders"}, ["database"]),
        ({"database": "dev/orders/1"}, ["database"]),
        ({"database": "Dev/orders"}, ["database"]),
        ({"database": "dev/" + "o" * 64}, ["database"]),
        ({"database": "dev/orders\n"}, ["database"]),
        ({"actor": "al ice"}, ["actor"]),
        ({"actor": "a" * 201}, ["actor"]),
        ({"action": "drop"}, ["action"]),
        ({"outcome": "maybe"}, ["outcome"]),
        (
            {"database": "x", "since": "y", "until": "z", "action": "w"},
            ["database", "since", "until", "action"],
        ),
    ],
)
def test_refusals_name_each_field(raw: dict[str, str], fields: list[str]) -> None:
    assert refused_fields(**raw) == fields


def test_the_rules_say_what_the_patterns_say() -> None:
    """The OpenAPI document states the patterns; the parser refuses nothing they allow."""
    for database in ("a/B", "dev-2/" + "x" * 63, "e" * 20 + "/n"):
        assert re.fullmatch(DATABASE_PATTERN, database)
        assert parse_audit_query(database=database).identifier == database.partition("/")[2].lower()
    for actor in ("github:alice", "key:ci.bot_1", "dbvend", "2001:db8::1", "!" * 200):
        assert re.fullmatch(ACTOR_PATTERN, actor) and parse_audit_query(actor=actor).actor == actor
    for cursor in ("0", "1", "9" * 18):
        assert re.fullmatch(CURSOR_PATTERN, cursor) and decode_cursor(cursor) == int(cursor)


def test_a_time_range_that_matches_nothing_is_no_error() -> None:
    query = parse_audit_query(since="2026-06-01T00:00:00Z", until="2026-05-01T00:00:00Z")
    assert query.since is not None and query.until is not None and query.since > query.until


def test_the_cursor_goes_back_to_its_row() -> None:
    assert decode_cursor(None) is None
    for before in (1, 42, 10**17):
        assert decode_cursor(encode_cursor(before)) == before
    for wrong in ("", "abc", "-5", "1.5", "1" * 19, " 7", "٣"):
        with pytest.raises(InvalidRequest) as refused:
            decode_cursor(wrong)
        assert [error.field for error in refused.value.errors] == ["cursor"]


def test_a_row_as_json_and_an_event_by_an_actor() -> None:
    row = AuditRow(
        7,
        "2026-05-01T09:30:00.000000Z",
        "github:alice",
        "portal",
        "extend",
        "ok",
        "dev",
        "orders",
        "r1",
        None,
    )
    assert row.as_json() == {
        "id": 7,
        "at": "2026-05-01T09:30:00.000000Z",
        "actor": "github:alice",
        "door": "portal",
        "action": "extend",
        "outcome": "ok",
        "environment": "dev",
        "identifier": "orders",
        "request_id": "r1",
        "detail": None,
    }
    assert row.database == "dev/orders"
    assert AuditEvent.by(person("alice", "portal"), "extend", environment="dev") == AuditEvent(
        "github:alice", "portal", "extend", "ok", "dev"
    )
