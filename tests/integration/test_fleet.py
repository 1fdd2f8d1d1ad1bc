"""The fleet paged through the claims index (issue 24): every database once, soonest expiry first;
totals of all the filters keep, computed in the database; filters; access.fleet own; bad cursors.
The index is filled directly (tests.support.fleet_index) and the reconcile pass kept out."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import engine.claim_index
from engine.access import AccessRules
from engine.app import create_app
from engine.claim import parse_claim
from engine.intake import record_and_queue
from engine.services import Services, build_services
from engine.settings import Settings
from engine.store.claim_queries import FleetCursor, FleetQuery, encode_cursor
from engine.store.records import NewRequest
from tests.support.app import sign_in_as
from tests.support.fleet_index import index_claims, render_claims

ADMIN = {"x-api-key": "k-admin"}
ALICE = {"x-api-key": "k-alice"}
SIZE = 260
ALICES = ("terraform/dev/db00003", "terraform/prod/db00005", "terraform/staging/db00250")


@dataclasses.dataclass(frozen=True)
class Fleet:
    services: Services
    claims: dict[str, Any]  # root -> the claim, parsed


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fleet:
    settings = Settings(data=tmp_path / "data", api_keys="k-admin, alice:requester:k-alice", rate_limit=10**6)
    services, _ = build_services(settings)
    # The index is what these tests set: main's (empty) tree must not reconcile it away.
    monkeypatch.setattr(engine.claim_index, "reconcile_index", lambda ledger, backend: None)
    texts = render_claims(SIZE)
    index_claims(services.ledger, texts)
    for n, root in enumerate(ALICES):  # alice's requests hold these names: merged, then applied
        _, environment, identifier = root.split("/")
        new = NewRequest(f"req-alice-{n}", "api", "key:alice", {}, environment, identifier, identifier)
        record_and_queue(services.ledger, new)
        assert services.ledger.transition(new.id, "change_open")
        assert services.ledger.transition(new.id, "merged")
    assert services.ledger.transition("req-alice-2", "applied")
    return Fleet(services, {root: parse_claim(text) for root, text in texts.items()})


def own_fleet(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    """dbvend.yaml's access.fleet: own."""
    backend = fleet.services.backend
    catalog = dataclasses.replace(backend.catalog(), access=AccessRules(fleet="own"))
    monkeypatch.setattr(backend, "catalog", lambda *args, **kwargs: catalog)


@pytest.fixture
def api(fleet: Fleet) -> Iterator[TestClient]:
    with TestClient(create_app(fleet.services)) as client:
        yield client


def expected(fleet: Fleet, query: FleetQuery | None = None) -> list[str]:
    """The roots the query keeps, soonest expiry first, those without one last, then by root."""
    query = query or FleetQuery()
    kept = [root for root, claim in fleet.claims.items() if keeps(query, root, claim)]
    return sorted(
        kept, key=lambda r: (fleet.claims[r].expires_at is None, fleet.claims[r].expires_at or "", r)
    )


def keeps(query: FleetQuery, root: str, claim: Any) -> bool:
    status = {ALICES[2]: "applied"}.get(root, "merged")
    request = claim.request
    return all(
        wanted is None or wanted.casefold() == (value or "").casefold()
        for wanted, value in (
            (query.environment, claim.environment),
            (query.engine, request.database_engine),
            (query.owner, request.owner),
            (query.team, request.team),
            (query.status, status),
        )
    )


QUERIES = [
    FleetQuery(),
    FleetQuery(environment="dev"),
    FleetQuery(team="SHOP"),
    FleetQuery(owner="Owner1", engine="mysql"),
    FleetQuery(status="applied"),
    FleetQuery(status="merged", environment="prod"),
    FleetQuery(environment="nowhere"),
]


@pytest.mark.parametrize("query", QUERIES, ids=str)
def test_pages_cover_every_database_once_in_expiry_order(fleet: Fleet, query: FleetQuery) -> None:
    ledger, seen, after = fleet.services.ledger, list[str](), None
    while True:
        listing = ledger.fleet_listing(query, 37, after)
        assert len(listing.rows) <= 37
        seen += [row.root for row in listing.rows]
        if listing.next is None:
            break
        assert len(listing.rows) == 37
        after = listing.next
    assert seen == expected(fleet, query)
    assert ledger.fleet_count(query) == len(seen)


@pytest.mark.parametrize("query", QUERIES, ids=str)
def test_totals_are_sums_over_every_database_kept(fleet: Fleet, query: FleetQuery) -> None:
    ledger = fleet.services.ledger
    cost = {row.root: row.monthly_usd or 0.0 for row in ledger.fleet_page(FleetQuery(), SIZE + 1)}
    roots = expected(fleet, query)
    totals = ledger.fleet_totals(query)
    for groups, name_of in (
        (totals.by_environment, lambda claim: claim.environment),
        (totals.by_team, lambda claim: claim.request.team or "(none)"),
    ):
        want: dict[str, tuple[int, float]] = {}
        for root in roots:
            count, spent = want.get(name_of(fleet.claims[root]), (0, 0.0))
            want[name_of(fleet.claims[root])] = (count + 1, spent + cost[root])
        assert {g.name: (g.databases, g.monthly_usd) for g in groups} == {
            name: (count, round(spent, 2)) for name, (count, spent) in want.items()
        }
        assert [g.monthly_usd for g in groups] == sorted((g.monthly_usd for g in groups), reverse=True)
    assert totals.databases == len(roots)


def test_the_status_comes_from_the_request_holding_the_name(fleet: Fleet) -> None:
    rows = {row.root: row for row in fleet.services.ledger.fleet_page(FleetQuery(), SIZE + 1)}
    assert (rows[ALICES[0]].status, rows[ALICES[0]].request_id) == ("merged", "req-alice-0")
    assert (rows[ALICES[2]].status, rows[ALICES[2]].requested_by) == ("applied", "key:alice")
    assert rows["terraform/dev/db00000"].request_id is None  # on main, asked for elsewhere


def test_the_api_pages_the_fleet_with_totals(fleet: Fleet, api: TestClient) -> None:
    items, cursor = [], None
    while True:
        answer = api.get(
            "/v1/fleet", params={"limit": 100} | ({"cursor": cursor} if cursor else {}), headers=ADMIN
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [f"terraform/{i['environment']}/{i['identifier']}" for i in items] == expected(fleet)
    assert set(items[0]) == {"environment", "identifier", "engine", "owner", "team", "expires_at"} | {
        "monthly_usd",
        "status",
        "request_id",
    }
    assert sum(t["databases"] for t in body["totals"]["by_environment"]) == SIZE
    assert sum(t["databases"] for t in body["totals"]["by_team"]) == SIZE
    dev = api.get("/v1/fleet", params={"environment": "dev", "team": "shop"}, headers=ADMIN).json()
    assert [i["identifier"] for i in dev["items"]] == [
        r.rsplit("/", 1)[1] for r in expected(fleet, FleetQuery(environment="dev", team="shop"))
    ]
    assert [t["name"] for t in dev["totals"]["by_environment"]] == ["dev"]


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense",
        "bm9uc2Vuc2U=",  # nonsense
        "WzEsICJ0ZXJyYWZvcm0vZGV2L3giXQ==",  # [1, "terraform/dev/x"]
        "W251bGwsICIuLi9ldGMveCJd",  # [null, "../etc/x"]
        encode_cursor(FleetCursor("2026-11-01T00:00:00Z", "terraform/dev/x")) + "!",
    ],
)
def test_a_bad_cursor_is_422(api: TestClient, cursor: str) -> None:
    answer = api.get("/v1/fleet", params={"cursor": cursor}, headers=ADMIN)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["cursor"]


def test_own_fleet_shows_and_counts_only_ones_own(
    fleet: Fleet, api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    own_fleet(fleet, monkeypatch)
    fleet.services._rules = None  # read dbvend.yaml again
    mine = [r for r in expected(fleet) if r in ALICES]
    body = api.get("/v1/fleet", params={"limit": 2}, headers=ALICE).json()
    assert [f"terraform/{i['environment']}/{i['identifier']}" for i in body["items"]] == mine[:2]
    rest = api.get("/v1/fleet", params={"cursor": body["next_cursor"]}, headers=ALICE).json()
    assert [f"terraform/{i['environment']}/{i['identifier']}" for i in rest["items"]] == mine[2:]
    assert rest["next_cursor"] is None
    assert sum(t["databases"] for t in rest["totals"]["by_environment"]) == 3
    admin = api.get("/v1/fleet", headers=ADMIN).json()
    assert sum(t["databases"] for t in admin["totals"]["by_environment"]) == SIZE
    with TestClient(create_app(fleet.services), follow_redirects=False) as browser:
        assert sign_in_as(browser, "k-alice").status_code == 303
        page = browser.get("/fleet").text
    assert shown(page) == [r.removeprefix("terraform/") for r in mine]
    assert "3 databases" in page


def shown(page: str) -> list[str]:
    return re.findall(r'<tr data-database="([^"]+)">', page)


def test_the_portal_pages_the_fleet_keeping_its_filters(fleet: Fleet) -> None:
    with TestClient(create_app(fleet.services), follow_redirects=False) as browser:
        assert sign_in_as(browser, "k-admin").status_code == 303
        seen: list[str] = []
        page = browser.get("/fleet").text
        assert f"{SIZE} databases" in page and "First page" not in page
        while (link := re.search(r'<a href="(/fleet\?[^"]+)">Next 100</a>', page)) is not None:
            assert len(shown(page)) == 100
            seen += shown(page)
            page = browser.get(link.group(1).replace("&amp;", "&")).text
            assert "First page" in page
        seen += shown(page)
        assert seen == [r.removeprefix("terraform/") for r in expected(fleet)]
        shop = browser.get("/fleet", params={"team": "shop", "environment": "dev"}).text
        assert shown(shop) == [
            r.removeprefix("terraform/") for r in expected(fleet, FleetQuery(environment="dev", team="shop"))
        ]
        assert "Next 100" not in shop
        applied = browser.get("/fleet", params={"status": "applied"}).text
        assert shown(applied) == ["staging/db00250"] and "1 database," in applied
        few = expected(fleet, FleetQuery(engine="mysql"))
        assert len(few) > 100
        mysql = browser.get("/fleet", params={"engine": "mysql"}).text
        link = re.search(r'<a href="(/fleet\?[^"]+)">Next 100</a>', mysql)
        assert link is not None and "engine=mysql" in link.group(1)
        assert browser.get("/fleet", params={"after": "garbage"}).status_code == 422
        assert browser.get("/fleet", params={"status": "failed", "after": "x"}).status_code == 422


def test_requests_not_on_main_are_pending_under_the_page(fleet: Fleet) -> None:
    ledger = fleet.services.ledger
    asked = {"database_name": "fresh", "database_engine": "postgres", "environment": "dev", "team": "shop"}
    record_and_queue(ledger, NewRequest("req-fresh", "api", "key:bob", asked, "dev", "fresh", "fresh", "bob"))
    with TestClient(create_app(fleet.services), follow_redirects=False) as browser:
        assert sign_in_as(browser, "k-admin").status_code == 303
        page = browser.get("/fleet", params={"team": "shop"}).text
        main, pending = page.split('id="pending"')
        assert "dev/fresh" not in main and shown(pending) == ["dev/fresh"]
        assert f"{len(expected(fleet, FleetQuery(team='shop')))} databases" in main  # not counted
        assert 'id="pending"' not in browser.get("/fleet", params={"team": "data"}).text
        assert ledger.transition("req-fresh", "failed", "broken")
        failed = browser.get("/fleet", params={"status": "failed"}).text
        assert shown(failed) == ["dev/fresh"] and 'id="pending"' not in failed
