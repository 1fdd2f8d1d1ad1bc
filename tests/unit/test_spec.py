"""engine/spec.py's pure rules, one behaviour per test; the catalog's (parse_catalog, the limits it sets
on a request) are in test_catalog.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engine.errors import InvalidRequest
from engine.spec import (
    AURORA_IDENTIFIER_MAX,
    ENGINES,
    database_name_errors,
    derive_identifier,
    format_ttl,
    identifier_errors,
    parse_request,
    parse_ttl,
)

BASE: dict[str, Any] = {"database_name": "orders", "database_engine": "postgres", "environment": "dev"}


# -- TTL ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1h", timedelta(hours=1)),
        ("12h", timedelta(hours=12)),
        ("1d", timedelta(days=1)),
        ("7d", timedelta(days=7)),
        ("30d", timedelta(days=30)),
        ("99999h", timedelta(hours=99999)),
        ("99999d", timedelta(days=99999)),
        ("none", None),
    ],
)
def test_parse_ttl_reads_hours_days_and_none(text: str, value: timedelta | None) -> None:
    assert parse_ttl(text) == value


@pytest.mark.parametrize("text", ["1h", "23h", "25h", "1d", "7d", "30d", "99999h", "99999d", "none"])
def test_format_ttl_is_the_inverse_of_parse_ttl(text: str) -> None:
    assert format_ttl(parse_ttl(text)) == text


@pytest.mark.parametrize(("text", "normal"), [("24h", "1d"), ("48h", "2d"), ("720h", "30d")])
def test_format_ttl_uses_the_largest_whole_unit(text: str, normal: str) -> None:
    assert format_ttl(parse_ttl(text)) == normal
    assert parse_ttl(normal) == parse_ttl(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0h",
        "0d",
        "07d",
        "7",
        "d",
        "7 d",
        " 7d",
        "7d ",
        "7d\n",
        "7D",
        "7H",
        "1w",
        "1m",
        "1.5d",
        "-1d",
        "+1d",
        "123456d",
        "forever",
        "None",
        "NONE",
        "null",
        "\uff17d",  # fullwidth 7
        "\u0667d",  # Arabic-Indic 7
        "${var.ttl}",
    ],
)
def test_parse_ttl_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="not a TTL"):
        parse_ttl(text)


# -- identifiers and database names -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "identifier"),
    [
        ("My_DB__x_", "my-db-x"),
        ("orders", "orders"),
        ("Orders_2024", "orders-2024"),
        ("a___b", "a-b"),
        ("ORDERS_", "orders"),
    ],
)
def test_derive_identifier(name: str, identifier: str) -> None:
    assert derive_identifier(name) == identifier
    assert identifier_errors(identifier, "postgres") == []


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("identifier", ["a", "orders", "orders-2024", "a-b-c", "Orders"])
def test_identifier_errors_accepts_valid_identifiers(identifier: str, engine: str) -> None:
    assert identifier_errors(identifier, engine) == []


@pytest.mark.parametrize(
    ("engine", "longest"),
    [
        ("postgres", 63),
        ("mysql", 63),
        ("aurora-postgresql", AURORA_IDENTIFIER_MAX),
        ("aurora-mysql", AURORA_IDENTIFIER_MAX),
        (None, 63),
    ],
)
def test_identifier_length_limit_per_engine(engine: str | None, longest: int) -> None:
    assert identifier_errors("a" * longest, engine) == []
    (rule,) = identifier_errors("a" * (longest + 1), engine)
    assert f"at most {longest} characters" in rule
    assert ("Aurora" in rule) == (engine is not None and engine.startswith("aurora"))


def test_aurora_identifier_leaves_room_for_reader_instance_names() -> None:
    assert AURORA_IDENTIFIER_MAX == 53
    assert len("a" * AURORA_IDENTIFIER_MAX + "-reader-15") == 63


@pytest.mark.parametrize(
    ("identifier", "words"),
    [
        ("", "empty"),
        ("1orders", "start with a letter"),
        ("-orders", "start with a letter"),
        ("_orders", "start with a letter"),
        ("ord_ers", "ASCII letters, digits and hyphens"),
        ("ord.ers", "ASCII letters, digits and hyphens"),
        ("ord ers", "ASCII letters, digits and hyphens"),
        ("orders\n", "ASCII letters, digits and hyphens"),
        ("\u043erders", "ASCII"),  # Cyrillic o
        ("orders\uff11", "ASCII"),  # fullwidth 1
        ("orders-", "end with a hyphen"),
        ("ord--ers", "two consecutive hyphens"),
    ],
)
def test_identifier_errors_name_the_broken_rule(identifier: str, words: str) -> None:
    rules = identifier_errors(identifier, "postgres")
    assert len(rules) == 1
    assert words in rules[0]


def test_identifier_errors_lists_every_rule_broken() -> None:
    rules = identifier_errors("a--" + "b" * 70 + "-", "postgres")
    assert len(rules) == 3
    assert any("at most 63" in r for r in rules)
    assert any("consecutive" in r for r in rules)
    assert any("end with a hyphen" in r for r in rules)


@pytest.mark.parametrize(
    ("engine", "longest"),
    [("postgres", 63), ("aurora-postgresql", 63), ("mysql", 64), ("aurora-mysql", 64)],
)
def test_database_name_length_limit_per_engine(engine: str, longest: int) -> None:
    assert database_name_errors("a" * longest, engine) == []
    (rule,) = database_name_errors("a" * (longest + 1), engine)
    assert f"at most {longest} characters for {engine}" in rule


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "name",
    [
        "postgres",
        "template0",
        "template1",
        "rdsadmin",
        "mysql",
        "sys",
        "information_schema",
        "performance_schema",
        "POSTGRES",
        "Template1",
        "MySQL",
    ],
)
def test_database_name_errors_refuses_reserved_names_in_any_case(name: str, engine: str) -> None:
    (rule,) = database_name_errors(name, engine)
    assert "reserved" in rule
    assert repr(name.lower()) in rule


@pytest.mark.parametrize(
    "name",
    [
        "",
        "1orders",
        "_orders",
        "ord-ers",
        "ord ers",
        "orders\n",
        "\u043erders",
        "\u03bfrders",
        "ord\u200bers",
    ],
)
def test_database_name_errors_refuses_bad_characters(name: str) -> None:
    assert len(database_name_errors(name, "postgres")) == 1


@pytest.mark.parametrize("name", ["orders", "Orders", "orders_2024", "o", "orders_"])
def test_database_name_errors_accepts_valid_names(name: str) -> None:
    for engine in ENGINES:
        assert database_name_errors(name, engine) == []


# -- InvalidRequest: every field named, every rule together --------------------------------

NON_STRING_KEY: dict[Any, Any] = {**BASE, 7: "seven"}
BAD_REQUESTS = [
    pytest.param({**BASE, "database_name": "1x\n"}, id="name-newline"),
    pytest.param({**BASE, "database_name": "x" * 64}, id="name-too-long"),
    pytest.param({**BASE, "identifier": "a\x00b"}, id="identifier-nul"),
    pytest.param({**BASE, "environment": "dev\r\n"}, id="environment-crlf"),
    pytest.param({**BASE, "ttl": "7d\x1b[31m"}, id="ttl-ansi-escape"),
    pytest.param({**BASE, "ttl": "x" * 40}, id="ttl-long"),
    pytest.param({**BASE, "size": "\u2028"}, id="size-line-separator"),
    pytest.param({**BASE, "owner": "a\tb"}, id="owner-tab"),
    pytest.param({**BASE, "team": "\x7f"}, id="team-del"),
    pytest.param({**BASE, "reason": "\x00" * 600}, id="reason-nuls"),
    pytest.param({**BASE, "storage_gb": 10**9}, id="storage-huge"),
    pytest.param({**BASE, "storage_gb": 10**5000}, id="storage-more-digits-than-int-str-allows"),
    pytest.param({**BASE, "storage_gb": -(10**5000)}, id="storage-hugely-negative"),
    pytest.param({**BASE, "database_engine": "aurora-mysql", "max_acu": 10**5000}, id="acu-huge-int"),
    pytest.param({**BASE, "storage_gb": float("nan")}, id="storage-nan"),
    pytest.param(
        {**BASE, "database_engine": "aurora-mysql", "min_acu": float("nan"), "max_acu": float("inf")},
        id="acu-nan-inf",
    ),
    pytest.param({**BASE, "database_engine": "aurora-mysql", "readers": [1]}, id="readers-list"),
    pytest.param({**BASE, "\x00\n": 1}, id="unknown-field-control-characters"),
    pytest.param({**BASE, "p" * 500: 1}, id="unknown-field-long"),
    pytest.param(NON_STRING_KEY, id="unknown-field-not-a-string"),
    pytest.param({"database_name": None, "database_engine": None, "environment": None}, id="all-none"),
]


@pytest.mark.parametrize("raw", BAD_REQUESTS)
def test_every_error_names_its_field_and_is_printable(raw: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_request(raw)
    error = refused.value
    assert error.errors
    assert str(error).isprintable()
    assert len(str(error)) < 2000
    for item in error.errors:
        assert item.field
        assert item.field.isprintable()
        assert len(item.field) <= 80
        assert str(item) == f"{item.field}: {item.rule}"
        assert str(item) in str(error)
        assert item.rule.isprintable()
    assert error.exit_code == 2


def test_name_length_rule_with_an_unknown_engine_does_not_say_none() -> None:
    """With the engine refused, the length rule still reads as English, not 'for None'."""
    with pytest.raises(InvalidRequest) as refused:
        parse_request({**BASE, "database_engine": "oracle", "database_name": "x" * 64})
    (rule,) = [e.rule for e in refused.value.errors if e.field == "database_name"]
    assert "at most 63 characters" in rule
    assert "None" not in rule


def test_all_broken_rules_are_reported_together() -> None:
    raw = {
        "database_name": "1orders",
        "database_engine": "postgres",
        "environment": "DEV",
        "identifier": "ord--ers-",
        "engine_version": "${x}",
        "size": "huge",
        "ttl": "forever",
        "owner": "Alice Smith",
        "team": "<b>",
        "reason": "`id`",
        "storage_gb": 19,
        "readers": 1,
        "proxy": True,
        "min_acu": 1,
        "max_acu": 2,
        "colour": "blue",
    }
    with pytest.raises(InvalidRequest) as refused:
        parse_request(raw)
    assert refused.value.fields == {
        "database_name",
        "environment",
        "identifier",
        "engine_version",
        "size",
        "ttl",
        "owner",
        "team",
        "reason",
        "storage_gb",
        "readers",
        "proxy",
        "min_acu",
        "max_acu",
        "colour",
    }
    identifier_rules = [e.rule for e in refused.value.errors if e.field == "identifier"]
    assert len(identifier_rules) == 2


@pytest.mark.parametrize(
    "reason",
    [
        "Ticket OPS-1234: load test for Q3",
        "für Müllers Team \u2013 Lasttest",
        "日本のチーム向け",
        "v2 migration (phase 1), see OPS-9",
    ],
)
def test_visible_text_in_any_script_is_a_valid_reason(reason: str) -> None:
    assert parse_request({**BASE, "reason": reason}).reason == reason
