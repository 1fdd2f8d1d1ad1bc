"""Malformed and hostile HTTP requests against a real `dbvend serve`: each refused exactly, nothing written.

One server for the module. Most calls go through httpx; the ones httpx would normalise (lying or
conflicting Content-Length, chunked bodies, invalid UTF-8, no Content-Type, raw bytes in headers,
literal dot segments, CR/LF in the path) are written to a socket byte for byte.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from engine.api.deps import KEY_REFUSED
from engine.store.ledger import Ledger
from tests.support.hostile_http import (
    CASES,
    DATABASES,
    INVISIBLE,
    PARSER_REFUSAL,
    VALID,
    Answer,
    Case,
    send_raw,
)
from tests.support.ledgers import refusals
from tests.support.server import API_KEY, ServeProcess

# ---- sending --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    served = ServeProcess(tmp_path_factory.mktemp("hostile") / "data").start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def client(server: ServeProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


@pytest.fixture(scope="module")
def ledger(server: ServeProcess) -> Iterator[Ledger]:
    opened = Ledger.connect(f"sqlite:///{server.data_dir}/ledger.sqlite3")
    yield opened
    opened.engine.dispose()


def send(case: Case, server: ServeProcess, client: httpx.Client) -> Answer:
    if case.raw is not None:
        return send_raw(server.port, case.raw)
    answer = client.request(case.method, case.path, content=case.body, headers=case.headers)
    return Answer(answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.content)


def assert_nothing_written(server: ServeProcess, client: httpx.Client, ledger: Ledger) -> None:
    assert client.get("/healthz").status_code == 200
    assert ledger.count() == 0


@pytest.mark.parametrize("case", CASES)
def test_hostile_request_is_refused(
    case: Case, server: ServeProcess, client: httpx.Client, ledger: Ledger
) -> None:
    before = refusals(ledger)
    answer = send(case, server, client)
    assert answer.status == case.status, answer.body[:500]
    # every refusal the app makes is in the audit trail, once; uvicorn's parser refuses before it
    assert refusals(ledger) - before == (0 if case.parser else 1)
    assert "set-cookie" not in answer.headers and "x-injected" not in answer.headers
    if case.parser:
        # uvicorn's own fixed answer: nothing of the request is echoed.
        assert answer.body == PARSER_REFUSAL
    else:
        assert answer.headers.get("content-type") == "application/json"
        text = answer.body.decode("utf-8")
        assert not any(char in text for char in INVISIBLE)
        body = json.loads(text)
        assert isinstance(body, dict) and isinstance(body.get("detail"), str)
        if case.status in (401, 403):
            assert body == {"detail": KEY_REFUSED}
        if case.status in (400, 422):
            fields = [error["field"] for error in body["errors"]]
            assert case.field in fields, body
    assert_nothing_written(server, client, ledger)


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 60


def test_nothing_was_written(server: ServeProcess, client: httpx.Client, ledger: Ledger) -> None:
    assert_nothing_written(server, client, ledger)
    listing = client.get(DATABASES, headers={"x-api-key": API_KEY})
    assert listing.status_code == 200 and listing.json() == {"items": [], "next_cursor": None}
    repo = server.data_dir / "repo"
    branches = subprocess.run(
        ["git", "-C", str(repo), "for-each-ref", "--format=%(refname)", "refs/heads"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert branches == ["refs/heads/main"]
    assert list((repo / ".git" / "dbvend" / "changes").glob("*")) == []


def test_a_valid_request_is_still_accepted_last(
    server: ServeProcess, client: httpx.Client, ledger: Ledger
) -> None:
    body = {**VALID, "database_name": "survivor"}
    answer = client.post(DATABASES, headers={"x-api-key": API_KEY}, json=body)
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == f"/v1/requests/{answer.json()['request_id']}"
    assert ledger.count() == 1
