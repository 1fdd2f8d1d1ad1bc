"""Hostile and malformed requests through the real pipeline: each refused by field, nothing written."""

from __future__ import annotations

from typing import Any

import pytest

from engine.checkov.gate import PolicyGate
from engine.errors import InvalidRequest
from engine.gitops.local import LocalRepository
from engine.pipeline import process_request
from tests.support.claims import ACCEPTED_AT
from tests.support.repositories import repo_snapshot

BASE: dict[str, Any] = {"database_name": "orders", "database_engine": "postgres", "environment": "dev"}
AURORA: dict[str, Any] = {**BASE, "database_engine": "aurora-postgresql"}

# Template syntax that must never reach a .tf file unescaped.
INJECTIONS = {
    "dollar-brace": "${",
    "percent-brace": "%{",
    "var-reference": "${var.x}",
    "directive": "%{ if true }x%{ endif }",
    "escaped-dollar": "$${x}",
    "heredoc": "<<EOF\nx\nEOF",
}
STRING_FIELDS = (
    "database_name",
    "identifier",
    "engine_version",
    "owner",
    "team",
    "reason",
    "environment",
    "ttl",
    "size",
)


def bad(case_id: str, field: str, changes: dict[Any, Any], base: dict[str, Any] = BASE) -> Any:
    """One hostile variation of a valid request and the field its refusal must name."""
    return pytest.param({**base, **changes}, field, id=case_id)


INJECTION_CASES = [
    bad(f"{field}-{name}", field, {field: text})
    for field in STRING_FIELDS
    for name, text in INJECTIONS.items()
] + [
    bad("name-with-trailing-injection", "database_name", {"database_name": "orders${var.x}"}),
    bad("identifier-with-trailing-heredoc", "identifier", {"identifier": "orders-<<EOF"}),
    bad("version-with-trailing-injection", "engine_version", {"engine_version": "17.4${x}"}),
    bad("ttl-with-trailing-injection", "ttl", {"ttl": "7d${x}"}),
    bad("engine-injection", "database_engine", {"database_engine": "${var.x}"}),
]

CHARACTER_CASES = [
    bad("name-double-quote", "database_name", {"database_name": 'ord"ers'}),
    bad("name-single-quote", "database_name", {"database_name": "ord'ers"}),
    bad("name-backslash", "database_name", {"database_name": "ord\\ers"}),
    bad("name-newline", "database_name", {"database_name": "orders\n"}),
    bad("name-carriage-return", "database_name", {"database_name": "orders\r"}),
    bad("name-tab", "database_name", {"database_name": "ord\ters"}),
    bad("name-nul", "database_name", {"database_name": "ord\x00ers"}),
    bad("name-escape-char", "database_name", {"database_name": "ord\x1b[0mers"}),
    bad("name-line-separator", "database_name", {"database_name": "orders\u2028"}),
    bad("identifier-double-quote", "identifier", {"identifier": 'a"b'}),
    bad("identifier-backslash", "identifier", {"identifier": "a\\b"}),
    bad("identifier-newline", "identifier", {"identifier": "orders\n"}),
    bad("identifier-nul", "identifier", {"identifier": "orders\x00"}),
    bad("owner-double-quote", "owner", {"owner": 'al"ice'}),
    bad("owner-single-quote", "owner", {"owner": "al'ice"}),
    bad("owner-newline", "owner", {"owner": "alice\nbob"}),
    bad("owner-carriage-return", "owner", {"owner": "alice\r"}),
    bad("owner-line-separator", "owner", {"owner": "alice\u2028"}),
    bad("team-double-quote", "team", {"team": 'data"team'}),
    bad("team-backslash", "team", {"team": "data\\team"}),
    bad("team-tab", "team", {"team": "data\tteam"}),
    bad("team-del", "team", {"team": "data\x7fteam"}),
    bad("team-line-separator", "team", {"team": "data\u2028team"}),
    bad("team-trailing-space", "team", {"team": "data "}),
    bad("team-65-characters", "team", {"team": "t" * 65}),
    bad("reason-double-quote", "reason", {"reason": 'say "hi"'}),
    bad("reason-backslash", "reason", {"reason": "a\\b"}),
    bad("reason-newline", "reason", {"reason": "line one\nline two"}),
    bad("reason-carriage-return", "reason", {"reason": "a\rb"}),
    bad("reason-tab", "reason", {"reason": "a\tb"}),
    bad("reason-nul", "reason", {"reason": "a\x00b"}),
    bad("reason-escape-char", "reason", {"reason": "a\x1b[31mb"}),
    bad("reason-next-line-c1", "reason", {"reason": "a\x85b"}),
    bad("reason-line-separator", "reason", {"reason": "a\u2028b"}),
    bad("reason-paragraph-separator", "reason", {"reason": "a\u2029b"}),
    bad("version-double-quote", "engine_version", {"engine_version": '17.4"'}),
    bad("version-newline", "engine_version", {"engine_version": "17.4\n"}),
    bad("version-trailing-space", "engine_version", {"engine_version": "17.4 "}),
]

NAME_CASES = [
    bad("name-64-postgres", "database_name", {"database_name": "a" * 64}),
    bad("name-65-mysql", "database_name", {"database_name": "a" * 65, "database_engine": "mysql"}),
    bad(
        "name-65-aurora-mysql",
        "database_name",
        {"database_name": "a" * 65, "database_engine": "aurora-mysql"},
    ),
    bad("identifier-64", "identifier", {"identifier": "a" * 64}),
    bad("identifier-54-aurora-postgresql", "identifier", {"identifier": "a" * 54}, AURORA),
    bad(
        "identifier-54-aurora-mysql",
        "identifier",
        {"identifier": "a" * 54, "database_engine": "aurora-mysql"},
    ),
    bad("derived-identifier-54-aurora", "identifier", {"database_name": "a" * 54}, AURORA),
    bad("name-empty", "database_name", {"database_name": ""}),
    bad("identifier-empty", "identifier", {"identifier": ""}),
    bad("version-empty", "engine_version", {"engine_version": ""}),
    bad("owner-empty", "owner", {"owner": ""}),
    bad("team-empty", "team", {"team": ""}),
    bad("environment-empty", "environment", {"environment": ""}),
    bad("engine-empty", "database_engine", {"database_engine": ""}),
    bad("ttl-empty", "ttl", {"ttl": ""}),
    bad("size-empty", "size", {"size": ""}),
    bad("name-leading-digit", "database_name", {"database_name": "1orders"}),
    bad("name-leading-underscore", "database_name", {"database_name": "_orders"}),
    bad("name-leading-hyphen", "database_name", {"database_name": "-orders"}),
    bad("name-hyphen", "database_name", {"database_name": "ord-ers"}),
    bad("name-space", "database_name", {"database_name": "ord ers"}),
    bad("name-sql", "database_name", {"database_name": "orders;DROP TABLE x"}),
    bad("identifier-leading-digit", "identifier", {"identifier": "1orders"}),
    bad("identifier-leading-underscore", "identifier", {"identifier": "_orders"}),
    bad("identifier-leading-hyphen", "identifier", {"identifier": "-orders"}),
    bad("identifier-trailing-hyphen", "identifier", {"identifier": "orders-"}),
    bad("identifier-double-hyphen", "identifier", {"identifier": "ord--ers"}),
    bad("identifier-underscore", "identifier", {"identifier": "ord_ers"}),
    bad("identifier-path-traversal", "identifier", {"identifier": "../../main"}),
    bad("identifier-slash", "identifier", {"identifier": "dev/orders"}),
]

LOOKALIKE_CASES = [
    bad("name-cyrillic-o", "database_name", {"database_name": "\u043erders"}),
    bad("identifier-cyrillic-o", "identifier", {"identifier": "\u043erders"}),
    bad("name-fullwidth-digit", "database_name", {"database_name": "orders\uff11"}),
    bad("identifier-fullwidth-digit", "identifier", {"identifier": "orders\uff11"}),
    bad("name-greek-omicron", "database_name", {"database_name": "\u03bfrders"}),
    bad("name-greek-letters", "database_name", {"database_name": "\u03b1\u03b2\u03b3"}),
    bad("name-zero-width-space", "database_name", {"database_name": "ord\u200bers"}),
    bad("name-combining-acute", "database_name", {"database_name": "orde\u0301rs"}),
    bad("name-kelvin-sign", "database_name", {"database_name": "\u212aorders"}),
    bad("team-non-breaking-space", "team", {"team": "data\u00a0team"}),
    bad("owner-rtl-override", "owner", {"owner": "alice\u202eecila"}),
    bad("owner-fullwidth-at", "owner", {"owner": "alice\uff20example.com"}),
    bad("ttl-fullwidth-digit", "ttl", {"ttl": "\uff17d"}),
    bad("ttl-arabic-indic-digit", "ttl", {"ttl": "\u0667d"}),
    bad("environment-cyrillic-e", "environment", {"environment": "d\u0435v"}),
    bad("engine-cyrillic-o", "database_engine", {"database_engine": "p\u043estgres"}),
    bad("version-fullwidth-digits", "engine_version", {"engine_version": "\uff11\uff17.4"}),
    # Invisible characters hide what a reason says: bidi overrides, zero-width, BOM.
    bad("reason-rtl-override", "reason", {"reason": "see invoice \u202efdp.exe"}),
    bad("reason-zero-width-space", "reason", {"reason": "pay\u200bment"}),
    bad("reason-byte-order-mark", "reason", {"reason": "\ufeffreason"}),
]

RESERVED_CASES = [
    bad(f"reserved-{name}-{engine}", "database_name", {"database_name": name, "database_engine": engine})
    for name, engine in [
        ("postgres", "postgres"),
        ("template0", "postgres"),
        ("template1", "aurora-postgresql"),
        ("rdsadmin", "postgres"),
        ("mysql", "mysql"),
        ("sys", "mysql"),
        ("information_schema", "aurora-mysql"),
        ("performance_schema", "mysql"),
        ("POSTGRES", "postgres"),
        ("Template1", "postgres"),
        ("MySQL", "mysql"),
    ]
]

TYPE_CASES = [
    bad("name-int", "database_name", {"database_name": 123}),
    bad("name-list", "database_name", {"database_name": ["orders"]}),
    bad("name-dict", "database_name", {"database_name": {"name": "orders"}}),
    bad("name-none", "database_name", {"database_name": None}),
    bad("name-bool", "database_name", {"database_name": True}),
    bad("name-bytes", "database_name", {"database_name": b"orders"}),
    bad("engine-none", "database_engine", {"database_engine": None}),
    bad("engine-int", "database_engine", {"database_engine": 5}),
    bad("environment-none", "environment", {"environment": None}),
    bad("environment-list", "environment", {"environment": ["dev"]}),
    bad("identifier-int", "identifier", {"identifier": 7}),
    bad("identifier-bool", "identifier", {"identifier": False}),
    bad("version-float", "engine_version", {"engine_version": 17.4}),
    bad("owner-list", "owner", {"owner": ["alice"]}),
    bad("team-dict", "team", {"team": {"a": 1}}),
    bad("reason-int", "reason", {"reason": 42}),
    bad("ttl-int", "ttl", {"ttl": 7}),
    bad("size-int", "size", {"size": 1}),
    bad("storage-string", "storage_gb", {"storage_gb": "20"}),
    bad("storage-float", "storage_gb", {"storage_gb": 20.5}),
    bad("storage-whole-float", "storage_gb", {"storage_gb": 20.0}),
    bad("storage-bool", "storage_gb", {"storage_gb": True}),
    bad("storage-nan", "storage_gb", {"storage_gb": float("nan")}),
    bad("readers-string", "readers", {"readers": "1"}, AURORA),
    bad("readers-float", "readers", {"readers": 1.0}, AURORA),
    bad("readers-bool", "readers", {"readers": True}, AURORA),
    bad("proxy-string", "proxy", {"proxy": "true"}, AURORA),
    bad("proxy-int", "proxy", {"proxy": 1}, AURORA),
    bad("min-acu-nan", "min_acu", {"min_acu": float("nan")}, AURORA),
    bad("min-acu-infinity", "min_acu", {"min_acu": float("inf")}, AURORA),
    bad("min-acu-minus-infinity", "min_acu", {"min_acu": float("-inf")}, AURORA),
    bad("max-acu-nan", "max_acu", {"max_acu": float("nan")}, AURORA),
    bad("max-acu-infinity", "max_acu", {"max_acu": float("inf")}, AURORA),
    bad("min-acu-string", "min_acu", {"min_acu": "1"}, AURORA),
    bad("min-acu-bool", "min_acu", {"min_acu": True}, AURORA),
]

CHOICE_CASES = [
    bad("engine-oracle", "database_engine", {"database_engine": "oracle"}),
    bad("engine-capitalised", "database_engine", {"database_engine": "Postgres"}),
    bad("engine-trailing-space", "database_engine", {"database_engine": "postgres "}),
    bad("engine-aurora-bare", "database_engine", {"database_engine": "aurora"}),
    bad("environment-qa", "environment", {"environment": "qa"}),
    bad("environment-upper-case", "environment", {"environment": "DEV"}),
    bad("environment-trailing-newline", "environment", {"environment": "dev\n"}),
    bad("environment-path-traversal", "environment", {"environment": "../prod"}),
    bad("size-tiny", "size", {"size": "tiny"}),
    bad("size-capitalised", "size", {"size": "Small"}),
    bad("size-xlarge", "size", {"size": "xlarge"}),
    bad("size-leading-space", "size", {"size": " small"}),
    bad("version-not-in-catalog", "engine_version", {"engine_version": "99.0"}),
    bad("version-of-another-engine", "engine_version", {"engine_version": "16.6"}),
    bad("version-injection", "engine_version", {"engine_version": '17.4" }\nresource "x" "y" {'}),
]

FIELD_CASES = [
    bad("unknown-field-class", "__class__", {"__class__": "DatabaseRequest"}),
    bad("unknown-field-injection", "${x}", {"${x}": "y"}),
    bad("unknown-field-password", "master_password", {"master_password": "hunter2"}),
    bad("unknown-field-typo", "databse_name", {"databse_name": "orders"}),
    bad("readers-on-postgres", "readers", {"readers": 1}),
    bad("proxy-on-mysql", "proxy", {"proxy": True, "database_engine": "mysql"}),
    bad("min-acu-on-postgres", "min_acu", {"min_acu": 1}),
    bad("max-acu-on-mysql", "max_acu", {"max_acu": 2, "database_engine": "mysql"}),
    bad("storage-on-aurora-postgresql", "storage_gb", {"storage_gb": 50}, AURORA),
    bad("storage-on-aurora-mysql", "storage_gb", {"storage_gb": 50, "database_engine": "aurora-mysql"}),
]

RANGE_CASES = [
    bad("storage-0", "storage_gb", {"storage_gb": 0}),
    bad("storage-19", "storage_gb", {"storage_gb": 19}),
    bad("storage-minus-1", "storage_gb", {"storage_gb": -1}),
    bad("storage-10-to-the-9", "storage_gb", {"storage_gb": 10**9}),
    bad("storage-above-dev-max", "storage_gb", {"storage_gb": 101}),
    bad("readers-minus-1", "readers", {"readers": -1}, AURORA),
    bad("readers-16", "readers", {"readers": 16}, AURORA),
    bad("readers-above-dev-max", "readers", {"readers": 2}, AURORA),
    bad("min-acu-negative", "min_acu", {"min_acu": -0.5}, AURORA),
    bad("min-acu-0.3", "min_acu", {"min_acu": 0.3}, AURORA),
    bad("min-acu-300", "min_acu", {"min_acu": 300}, AURORA),
    bad("min-acu-not-half-step", "min_acu", {"min_acu": 0.75}, AURORA),
    bad("max-acu-above-dev-max", "max_acu", {"max_acu": 8}, AURORA),
    bad("min-acu-above-max-acu", "min_acu", {"min_acu": 4, "max_acu": 2}, AURORA),
    # AWS refuses a maximum of 0.5 ACU (prod: also below its default min_acu of 1).
    bad(
        "max-acu-below-prod-default-min",
        "max_acu",
        {"max_acu": 0.5, "environment": "prod"},
        AURORA,
    ),
]

TTL_CASES = [
    bad(f"ttl-{case_id}", "ttl", {"ttl": text})
    for case_id, text in [
        ("0h", "0h"),
        ("space", "7 d"),
        ("weeks", "1w"),
        ("negative", "-1d"),
        ("forever", "forever"),
        ("none-in-dev", "none"),
        ("31d-over-dev-max", "31d"),
        ("721h-over-dev-max", "721h"),
        ("upper-case-unit", "7D"),
        ("fraction", "1.5d"),
        ("leading-zero", "07d"),
        ("too-many-digits", "123456d"),
    ]
]

TEXT_CASES = [
    bad("owner-with-spaces", "owner", {"owner": "Alice Smith"}),
    bad("owner-script-tag", "owner", {"owner": "<script>alert(1)</script>"}),
    bad("owner-shell", "owner", {"owner": "alice;rm -rf /"}),
    bad("owner-leading-hyphen", "owner", {"owner": "-alice"}),
    bad("owner-101-characters", "owner", {"owner": "a" * 101}),
    bad("team-script-tag", "team", {"team": "<script>"}),
    bad("reason-501-characters", "reason", {"reason": "a" * 501}),
    bad("reason-dollar-brace-in-sentence", "reason", {"reason": "cost ${5}"}),
    bad("reason-angle-bracket", "reason", {"reason": "see <b>this</b>"}),
    bad("reason-backtick", "reason", {"reason": "run `id`"}),
    bad("reason-pipe", "reason", {"reason": "a | b"}),
    bad("reason-percent", "reason", {"reason": "100% needed"}),
    bad("reason-braces", "reason", {"reason": "a {b}"}),
]

HOSTILE_REQUESTS = [
    *INJECTION_CASES,
    *CHARACTER_CASES,
    *NAME_CASES,
    *LOOKALIKE_CASES,
    *RESERVED_CASES,
    *TYPE_CASES,
    *CHOICE_CASES,
    *FIELD_CASES,
    *RANGE_CASES,
    *TTL_CASES,
    *TEXT_CASES,
]


def test_the_table_is_large_and_its_ids_unique() -> None:
    ids = [case.id for case in HOSTILE_REQUESTS]
    assert len(ids) >= 70
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("raw", "field"), HOSTILE_REQUESTS)
def test_hostile_request_is_refused_by_field_and_writes_nothing(
    raw: dict[Any, Any], field: str, repo: LocalRepository, gate: PolicyGate
) -> None:
    before = repo_snapshot(repo)
    with pytest.raises(InvalidRequest) as refused:
        process_request(raw, repo, gate, request_id="req-hostile", accepted_at=ACCEPTED_AT, terraform=None)
    assert field in refused.value.fields, str(refused.value)
    assert str(refused.value).isprintable()
    assert repo_snapshot(repo) == before


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param([BASE], id="list"),
        pytest.param("orders", id="string"),
        pytest.param(None, id="none"),
        pytest.param(42, id="int"),
        pytest.param(list(BASE.items()), id="list-of-pairs"),
    ],
)
def test_a_request_that_is_not_a_mapping_is_refused(
    raw: Any, repo: LocalRepository, gate: PolicyGate
) -> None:
    before = repo_snapshot(repo)
    with pytest.raises(InvalidRequest) as refused:
        process_request(raw, repo, gate, request_id="req-hostile", accepted_at=ACCEPTED_AT, terraform=None)
    assert refused.value.fields == {"request"}
    assert repo_snapshot(repo) == before


VALID_REQUESTS = [
    BASE,
    {
        "database_name": "reports",
        "database_engine": "aurora-postgresql",
        "environment": "dev",
        "readers": 1,
        "proxy": True,
        "min_acu": 0.5,
        "max_acu": 4,
    },
    {
        "database_name": "m" * 64,
        "identifier": "m" * 63,
        "database_engine": "mysql",
        "environment": "dev",
    },
    {
        "database_name": "finance",
        "database_engine": "postgres",
        "environment": "dev",
        "reason": "Q3 report, for finance (EU) - urgent!",
        "owner": "alice.smith+db@example.com",
        "team": "Data Platform",
        "ttl": "30d",
        "storage_gb": 100,
        "engine_version": "16",
        "size": "large",
    },
    {"database_name": "Ledger_2024", "database_engine": "aurora-mysql", "environment": "prod", "ttl": "none"},
]


def test_valid_requests_are_accepted_by_the_same_pipeline(repo: LocalRepository, gate: PolicyGate) -> None:
    """The control: validation refuses what is hostile, not everything."""
    for number, raw in enumerate(VALID_REQUESTS):
        before = repo_snapshot(repo)
        outcome = process_request(raw, repo, gate, request_id=f"req-valid-{number}", terraform=None)
        assert outcome.change is not None
        assert outcome.change.status == "open"
        assert repo_snapshot(repo) != before
    assert len(repo.changes("open")) == len(VALID_REQUESTS)
