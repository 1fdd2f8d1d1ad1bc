"""The web portal in-process: sign-in, forms and their guards, the request's status, the fleet, a
database's page with its Extend and destroy buttons (each a change, as through the API)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.app import create_app
from engine.checkov.gate import PolicyGate
from engine.claim import parse_claim
from engine.intake import record_and_queue
from engine.keys import hash_key
from engine.portal.session import COOKIE
from engine.services import Services
from engine.store.records import NewRequest
from engine.store.schema import requests
from tests.support import app, connections
from tests.support.app import KEY, ORDERS, drain, form_token, sign_in_as, submit
from tests.support.fleet_index import fill_index

# The portal's services and a browser signed in on them, shared with test_stuck_requests.py.
services = app.services
browser = app.browser


def merged_orders(browser: TestClient, services: Services, gate: PolicyGate) -> str:
    answer = submit(browser, ORDERS)
    request_id = answer.headers["location"].rsplit("/", 1)[1]  # type: ignore[attr-defined]
    drain(services, gate)
    change_id = services.ledger.get(request_id).change_id  # type: ignore[union-attr]
    assert browser.post(f"/v1/changes/{change_id}/merge", headers=KEY).status_code == 200
    return request_id


# -- signing in ------------------------------------------------------------------------------


def test_pages_need_a_session_and_send_you_back_after_signing_in(services: Services) -> None:
    with TestClient(create_app(services), follow_redirects=False) as client:
        assert client.get("/fleet").headers["location"] == "/signin?next=/fleet"
        assert client.get("/databases/dev/orders").headers["location"] == "/signin?next=/databases/dev/orders"
        wrong = sign_in_as(client, "k-three", "/request")
        assert wrong.status_code == 401 and "That API key is not valid." in wrong.text
        assert COOKIE not in client.cookies
        right = sign_in_as(client, "k-two", "/request")
        assert right.status_code == 303 and right.headers["location"] == "/request"
        cookie = right.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "k-two" not in cookie
        assert client.get("/request").status_code == 200


def test_signing_in_needs_the_sign_in_pages_own_token(services: Services) -> None:
    """Another site could post its own key to /signin (login CSRF): the form's token must match a
    cookie only this site's pages set, which a cross-site post does not carry."""
    with TestClient(create_app(services), follow_redirects=False) as client:
        bare = client.post("/signin", data={"api_key": "k-one"})
        assert bare.status_code == 403 and "came from another site" in bare.text
        token = re.search(r'name="signin_token" value="([^"]+)"', bare.text)
        assert token is not None  # the refusal is a fresh form, its token set as a cookie
    with TestClient(create_app(services), follow_redirects=False) as elsewhere:  # no cookie
        forged = elsewhere.post("/signin", data={"api_key": "k-one", "signin_token": token.group(1)})
        assert forged.status_code == 403 and COOKIE not in elsewhere.cookies
        elsewhere.cookies.set("dbvend_signin", token.group(1), path="/signin")
        other = ("y" if token.group(1)[0] == "x" else "x") + token.group(1)[1:]  # never the same token
        answer = elsewhere.post("/signin", data={"api_key": "k-one", "signin_token": other})
        assert answer.status_code == 403
        assert sign_in_as(elsewhere, "k-one").status_code == 303


@pytest.mark.parametrize(
    "next_path", ["//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)", ""]
)
def test_signing_in_never_sends_you_off_the_site(services: Services, next_path: str) -> None:
    with TestClient(create_app(services), follow_redirects=False) as client:
        answer = sign_in_as(client, "k-one", next_path)
        assert answer.headers["location"] == "/fleet"


def test_a_forged_or_expired_session_is_no_session(services: Services, browser: TestClient) -> None:
    token = browser.cookies[COOKIE]
    key_id, expires, signature = token.split(".")
    for forged in (f"{key_id}.{int(expires) + 999}.{signature}", f"{key_id}.1.{signature}", "x", "a.b.c"):
        browser.cookies.set(COOKIE, forged)
        assert browser.get("/fleet").status_code == 303
    browser.cookies.set(COOKIE, token)
    assert browser.get("/fleet").status_code == 200


def test_signing_out_needs_the_form_token_and_ends_the_session(browser: TestClient) -> None:
    assert browser.post("/signout", data={"csrf": "0" * 32}).status_code == 403
    answer = browser.post("/signout", data={"csrf": form_token(browser, "/fleet")})
    assert answer.status_code == 303 and answer.headers["location"] == "/signin"
    assert browser.get("/fleet").status_code == 303


def test_every_page_forbids_inline_script_and_framing(browser: TestClient) -> None:
    for path in ("/signin", "/request", "/fleet", "/static/portal.css", "/static/portal.js"):
        answer = browser.get(path)
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, path
        assert "frame-ancestors 'none'" in policy and answer.headers["x-content-type-options"] == "nosniff"
    assert browser.get("/static/../pyproject.toml").status_code == 404
    assert browser.get("/static/pages.py").status_code == 404


# -- asking for a database ---------------------------------------------------------------


def test_an_invalid_request_shows_the_apis_own_rule_next_to_each_field(
    browser: TestClient, services: Services
) -> None:
    bad = {"database_name": "9lives", "database_engine": "postgres", "environment": "dev", "ttl": "forever"}
    api = browser.post("/v1/databases", headers=KEY, json=bad).json()["errors"]
    page = submit(browser, bad)
    assert page.status_code == 422  # type: ignore[attr-defined]
    html = page.text  # type: ignore[attr-defined]
    for error in api:
        shown = re.search(rf'<p class="field-error" id="error-{error["field"]}">([^<]*)</p>', html)
        assert shown is not None and shown.group(1) == error["rule"].replace("'", "&#39;")
        assert re.search(rf'name="{error["field"]}"[^>]*aria-invalid="true"', html)
    assert 'value="9lives"' in html and "The request was not accepted" in html
    assert services.ledger.count() == 0


def test_numbers_in_the_form_are_numbers_for_the_api(browser: TestClient, services: Services) -> None:
    aurora = {"database_name": "ledger", "database_engine": "aurora-postgresql", "environment": "dev"}
    page = submit(browser, {**aurora, "readers": "two", "min_acu": "0.5", "max_acu": "4"})
    assert page.status_code == 422  # type: ignore[attr-defined]
    assert 'id="error-readers">must be a whole number' in page.text  # type: ignore[attr-defined]
    assert "error-min_acu" not in page.text  # type: ignore[attr-defined]
    proxy = submit(browser, {**aurora, "proxy": "on"})  # a ticked box is true: dev has no subnets for it
    assert 'id="error-proxy">needs, for dev in dbvend.yaml: network.db_subnet_group' in proxy.text  # type: ignore[attr-defined]
    accepted = submit(browser, {**aurora, "readers": "1", "min_acu": "0.5", "max_acu": "4"})
    assert accepted.status_code == 303  # type: ignore[attr-defined]
    record = services.ledger.list_requests()[0]
    assert record.payload == {**aurora, "readers": 1, "min_acu": 0.5, "max_acu": 4.0}
    assert record.channel == "portal"  # the API's door, recorded as the portal's


def test_restore_from_in_the_form_is_written_as_on_the_command_line(
    browser: TestClient, services: Services, gate: PolicyGate
) -> None:
    orders = {"database_name": "orders", "database_engine": "postgres", "environment": "dev"}
    copy = {**orders, "identifier": "orders-copy"}
    page = submit(browser, {**copy, "restore_from": "dev/orders:final"})
    assert page.status_code == 422  # type: ignore[attr-defined]
    html = page.text  # type: ignore[attr-defined]
    assert 'id="error-restore_from">database: no database dev/orders on main' in html
    assert re.search(r'name="restore_from"[^>]*aria-invalid="true"', html) and "<details open>" in html
    merged_orders(browser, services, gate)
    accepted = submit(browser, {**copy, "restore_from": "dev/orders@latest"})
    assert accepted.status_code == 303  # type: ignore[attr-defined]
    (record,) = [r for r in services.ledger.list_requests() if r.identifier == "orders-copy"]
    assert record.payload["restore_from"] == {"database": "dev/orders", "point_in_time": "latest"}


def test_a_form_posted_twice_is_one_request(browser: TestClient, services: Services) -> None:
    page = browser.get("/request").text
    fields = dict(re.findall(r'name="(csrf|idempotency_key)" value="([^"]+)"', page))
    first = browser.post("/request", data={**fields, **ORDERS})
    again = browser.post("/request", data={**fields, **ORDERS})
    assert first.headers["location"] == again.headers["location"]
    assert services.ledger.count() == 1
    other = submit(browser, ORDERS)  # a new form: the name is taken now
    assert other.status_code == 409 and "already requested" in other.text  # type: ignore[attr-defined]


def test_forms_need_the_sessions_token(browser: TestClient, services: Services) -> None:
    assert browser.post("/request", data=ORDERS).status_code == 403
    assert browser.post("/request", data={**ORDERS, "csrf": "f" * 32}).status_code == 403
    as_json = browser.post("/request", json={**ORDERS, "csrf": form_token(browser)})
    assert as_json.status_code == 415
    assert services.ledger.count() == 0


def test_the_status_page_follows_the_request_to_its_change(
    browser: TestClient, services: Services, gate: PolicyGate
) -> None:
    answer = submit(browser, ORDERS)
    location = answer.headers["location"]  # type: ignore[attr-defined]
    waiting = browser.get(location).text
    assert 'data-status="accepted"' in waiting and 'data-step="accepted" data-state="current"' in waiting
    assert 'data-live="' + location + '/live"' in waiting
    drain(services, gate)
    live = browser.get(location + "/live").text
    assert 'data-status="change_open"' in live and 'data-final="no"' in live
    assert 'data-step="accepted" data-state="done"' in live
    assert 'data-step="change_open" data-state="current"' in live
    assert re.search(r'<a href="/databases/dev/orders#change">Change #1</a>', live)
    assert browser.get("/requests/no-such-request").status_code == 404


# -- the fleet -------------------------------------------------------------------------------


def test_the_fleet_lists_soonest_expiry_first_with_costs_totals_and_a_chart(
    browser: TestClient, services: Services, gate: PolicyGate
) -> None:
    submit(browser, {**ORDERS, "ttl": "5d"})
    submit(browser, {**ORDERS, "database_name": "carts", "ttl": "1d", "team": "shop", "owner": "bob"})
    submit(browser, {**ORDERS, "database_name": "audit", "environment": "prod", "ttl": "", "team": "shop"})
    drain(services, gate)
    waiting = browser.get("/fleet").text  # not merged yet: under "Pending requests", not counted
    assert re.findall(r'<tr data-database="([^"]+)">', waiting.split('id="pending"')[1]) == [
        "dev/carts",
        "dev/orders",
        "prod/audit",
    ]
    assert "No database matches." in waiting.split('id="pending"')[0]
    for record in services.ledger.list_requests():
        assert browser.post(f"/v1/changes/{record.change_id}/merge", headers=KEY).status_code == 200
    fill_index(services.ledger, services.backend)
    html = browser.get("/fleet").text
    assert 'id="pending"' not in html
    order = re.findall(r'<tr data-database="([^"]+)">', html)
    assert order == ["dev/carts", "dev/orders", "prod/audit"]  # 1 day, 5 days, none
    assert '<svg role="img"' in html and "Databases and cost per environment" in html
    assert re.search(r"<th scope=\"row\">dev</th><td class=\"num\">2</td>", html)
    assert re.search(r"<th scope=\"row\">shop</th><td class=\"num\">2</td>", html)
    only_prod = browser.get("/fleet", params={"environment": "prod"}).text
    assert re.findall(r'<tr data-database="([^"]+)">', only_prod) == ["prod/audit"]
    bob = browser.get("/fleet", params={"owner": "BOB", "engine": "postgres"}).text
    assert re.findall(r'<tr data-database="([^"]+)">', bob) == ["dev/carts"]
    assert browser.get("/fleet", params={"status": "nonsense"}).status_code == 422


# -- one database ----------------------------------------------------------------------------


def test_extend_and_destroy_from_the_database_page_are_changes(
    browser: TestClient, services: Services, gate: PolicyGate
) -> None:
    merged_orders(browser, services, gate)
    page = browser.get("/databases/dev/orders").text
    expiry = re.search(r'<dd id="expires-at"><time datetime="([^"]+)">', page)
    assert expiry is not None and "No plan reported yet" in page
    token = form_token(browser, "/databases/dev/orders")
    too_long = browser.post("/databases/dev/orders/extend", data={"csrf": token, "ttl": "999d"})
    assert too_long.status_code == 422 and 'id="error-ttl"' in too_long.text
    assert 'name="ttl" value="999d"' in too_long.text
    extended = browser.post("/databases/dev/orders/extend", data={"csrf": token, "ttl": "5d"})
    assert extended.status_code == 303  # back to the page: a reload posts nothing again
    assert re.fullmatch(r"/databases/dev/orders\?done=extend-\d+", extended.headers["location"])
    shown = browser.get(extended.headers["location"]).text
    said = re.search(r'role="status">Extension to (\S+) proposed in change #(\d+)', shown)
    assert said is not None
    change = services.backend.change(int(said.group(2)))
    claim = parse_claim(services.backend.read_file(change.commit, "terraform/dev/orders/request.json") or "")
    assert claim.expires_at == said.group(1) and claim.extensions == 1
    again = browser.post("/databases/dev/orders/extend", data={"csrf": token, "ttl": "6d"})
    assert again.status_code == 409  # one extension at a time, named next to the field
    assert re.search(
        rf'id="error-ttl">an extension of dev/orders is already open in change #{change.id}', again.text
    )
    # the sentence comes from the change: an address naming another change shows nothing
    for forged in ("extend-999", f"destroy-{change.id}", "extend-1"):
        assert 'role="status"' not in browser.get(f"/databases/dev/orders?done={forged}").text
    assert browser.get("/databases/dev/orders?done=<b>").status_code == 404
    refused = browser.post("/databases/dev/orders/destroy", data={"csrf": token, "reason": "<b>done</b>"})
    assert refused.status_code == 422 and "&lt;b&gt;done&lt;/b&gt;" in refused.text
    destroyed = browser.post("/databases/dev/orders/destroy", data={"csrf": token, "reason": "demo is over"})
    shown = browser.get(destroyed.headers["location"]).text
    found = re.search(r'role="status">Destruction proposed in change #(\d+)', shown)
    assert found is not None
    destroy_change = services.backend.change(int(found.group(1)))
    assert destroy_change.branch == "dbvend/dev/orders.destroy-0"
    assert services.ledger.holding()[0].status == "destroy_open"
    assert browser.get("/databases/dev/nothing").status_code == 404


def test_the_database_page_says_how_to_connect_once_applied(browser: TestClient, services: Services) -> None:
    """The Connect section: the recorded details and commands, escaped; a row that is not connection
    details (edited by hand in the ledger) shows nothing of itself."""
    ledger = services.ledger
    new = NewRequest("req-connect", "api", "k-one", ORDERS, "dev", "orders", "orders")
    record_and_queue(ledger, new)
    assert "appear here once the database is applied" in browser.get("/databases/dev/orders").text
    ledger.record_connection("req-connect", connections.AURORA_MYSQL)
    page = browser.get("/databases/dev/orders").text
    assert f"<dt>Reader host</dt><dd><code>{connections.AURORA_MYSQL['reader_host']}</code></dd>" in page
    assert "export MYSQL_PWD=$(aws rds generate-db-auth-token" in page and "--enable-cleartext-plugin" in page
    assert "mysql://dbadmin:${PASSWORD}@ledger.cluster-" in page and "AWSAuthenticationPlugin" in page
    hostile = {**connections.AURORA_MYSQL, "host": "<script>alert(1)</script>"}
    with ledger.transaction() as connection:
        connection.execute(requests.update().values(connection=json.dumps(hostile)))
    page = browser.get("/databases/dev/orders").text
    assert "<script>alert" not in page and "appear here once the database is applied" in page


def test_destroy_through_the_api_is_the_same_change(
    browser: TestClient, services: Services, gate: PolicyGate
) -> None:
    merged_orders(browser, services, gate)
    refused = browser.post("/v1/databases/dev/orders/destroy", headers=KEY, json={"why": "x"})
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} == {"why", "reason"}
    answer = browser.post("/v1/databases/dev/orders/destroy", headers=KEY, json={"reason": "not needed"})
    assert answer.status_code == 202
    again = browser.post("/v1/databases/dev/orders/destroy", headers=KEY, json={"reason": "not needed"})
    assert again.json()["change"] == answer.json()["change"]
    change = services.backend.change(answer.json()["change"]["id"])
    claim = json.loads(services.backend.read_file(change.commit, "terraform/dev/orders/request.json") or "")
    assert claim["destroy_reason"] == f"asked by key:{hash_key('k-one')[:12]}: not needed"  # unnamed: hash
    services.backend.close(change.id)  # type: ignore[attr-defined]
    anew = browser.post("/v1/databases/dev/orders/destroy", headers=KEY, json={"reason": "not needed"})
    assert anew.json()["change"]["id"] != change.id and anew.json()["change"]["status"] == "open"
    missing = browser.post("/v1/databases/dev/none/destroy", headers=KEY, json={"reason": "x"})
    assert missing.status_code == 404


def test_the_portal_in_github_mode(tmp_path: Path, gate: PolicyGate) -> None:
    """The same pages against the fake GitHub: the change is a pull request (linked), the fleet
    reads the claims index (reconciled from the tree's ids, never every file), Extend opens a pull request."""
    from tests.support.github_clients import github_services
    from tests.support.github_server import GitHubServer

    with GitHubServer(tmp_path / "github") as github:
        services = github_services(tmp_path, github)
        with TestClient(create_app(services), follow_redirects=False) as client:
            assert sign_in_as(client, "k").status_code == 303
            location = submit(client, ORDERS).headers["location"]  # type: ignore[attr-defined]
            drain(services, gate)
            record = services.ledger.list_requests()[0]
            assert record.change_link == f"https://github.com/acme/infra/pull/{record.change_id}"  # html_url
            status = client.get(location).text
            assert f'<a href="{record.change_link}">Change #{record.change_id}</a>' in status
            merged = client.post(f"/v1/changes/{record.change_id}/merge", headers={"x-api-key": "k"})
            assert merged.status_code == 200
            before = len(github.requests)
            fleet = client.get("/fleet").text
            calls = [r for r in github.requests[before:] if r.path.endswith("/graphql")]
            assert not [r for r in calls if "DbvendClaims" in str(r.body)]  # the index, never every file
            row = re.search(r'<tr data-database="dev/orders">(.*?)</tr>', fleet, re.S)
            assert row is not None and "merged" in row.group(1) and "$" in row.group(1)
            before = len(github.requests)
            assert 'data-database="dev/orders"' in client.get("/fleet").text
            assert github.requests[before:] == []  # once indexed, a fleet page asks GitHub nothing
            token = form_token(client, "/databases/dev/orders")
            extended = client.post("/databases/dev/orders/extend", data={"csrf": token, "ttl": "5d"})
            shown = client.get(extended.headers["location"]).text
            said = re.search(r'role="status">Extension to \S+ proposed in change #(\d+)', shown)
            assert said is not None
            assert services.backend.change(int(said.group(1))).branch == "dbvend/dev/orders.extend-1"
