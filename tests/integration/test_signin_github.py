"""Signing in to the portal with GitHub (issue 23), through a real `dbvend serve` and the GitHub
stand-in's OAuth web flow: the state is signed, bound to the browser and used once; the person's
token and the App's client secret end up in no cookie, log line or ledger row."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from engine.app import create_app
from engine.portal.oauth_state import sign_state
from engine.portal.session import session_token
from engine.services import build_services
from engine.settings import Settings
from tests.support.github_server import GitHubServer
from tests.support.octokit import REST_OPENAPI, require_octokit
from tests.support.server import API_KEY, ServeProcess

LOGIN = "octo-alice"


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHubServer]:
    with GitHubServer(tmp_path_factory.mktemp("github")) as server:
        server.add_team_member("dba", LOGIN)
        server.add_team_member("platform", LOGIN, state="pending")  # not a member yet: left out
        server.set_permission(LOGIN, "maintain")
        server.oauth.other_teams[LOGIN] = [("another-org", "secret-team")]  # another organisation's
        yield server


def serve(github: GitHubServer, data: Path, **env: str) -> ServeProcess:
    settings = {
        "DBVEND_GITHUB_CLIENT_ID": github.oauth.client_id,
        "DBVEND_GITHUB_CLIENT_SECRET": github.oauth.client_secret,
        "DBVEND_GITHUB_WEB_URL": github.url,
        "DBVEND_GITHUB_API_URL": github.url,
        "DBVEND_GITHUB_REPOSITORY": f"{github.owner}/{github.repo}",
    }
    return ServeProcess(data, env={**settings, **env}).start()


@pytest.fixture(scope="module")
def served(github: GitHubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    process = serve(github, tmp_path_factory.mktemp("signin-github") / "data")
    github.oauth.callback_url = f"{process.url}/auth/github/callback"  # as registered in the App
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def browser(served: ServeProcess) -> Iterator[httpx.Client]:
    """A fresh browser: its own cookies, redirects followed by hand."""
    with httpx.Client(base_url=served.url, timeout=10) as http:
        yield http


@pytest.fixture
def signed_in(github: GitHubServer) -> Iterator[None]:
    github.sign_in_as(LOGIN, user_id=583231)
    yield
    github.oauth.declines = False


def leave_for_github(browser: httpx.Client, next_path: str | None = "/fleet") -> str:
    """GET /auth/github: the authorize URL it sends the browser to."""
    answer = browser.get("/auth/github", params={} if next_path is None else {"next": next_path})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def on_github(authorize: str) -> str:
    """GitHub's authorize page (the person is signed in there and presses Authorize): the
    callback URL it sends the browser back to. Another host: the dbvend cookies stay behind."""
    with httpx.Client(timeout=10) as elsewhere:
        answer = elsewhere.get(authorize)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def sign_in(browser: httpx.Client, next_path: str | None = "/fleet") -> httpx.Response:
    return browser.get(on_github(leave_for_github(browser, next_path)))


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def ledger_rows(served: ServeProcess, table: str) -> list[dict[str, Any]]:
    with sqlite3.connect(served.data_dir / "ledger.sqlite3") as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute(f"SELECT * FROM {table} ORDER BY rowid")]


def refusals(served: ServeProcess) -> list[dict[str, Any]]:
    return [row for row in ledger_rows(served, "audit_events") if row["outcome"] != "ok"]


def assert_refused(answer: httpx.Response, status: int, says: str, again: bool = True) -> None:
    """A refusal: the sign-in page with what happened and what to do, and no session."""
    assert answer.status_code == status, answer.text
    assert says in answer.text and 'role="alert"' in answer.text and "Sign in with GitHub" in answer.text
    assert not again or "Start again from the sign-in page." in answer.text
    assert "dbvend_session=" not in answer.headers.get("set-cookie", "")


# -- signing in -----------------------------------------------------------------------------------


def test_the_sign_in_page_offers_github_and_the_redirect_carries_a_signed_state(
    served: ServeProcess, browser: httpx.Client, github: GitHubServer
) -> None:
    page = browser.get("/signin", params={"next": "/request"})
    assert 'href="/auth/github?next=/request"' in page.text and "Sign in with GitHub" in page.text
    assert 'name="api_key"' in page.text  # API keys still sign in service accounts
    authorize = leave_for_github(browser, "/request")
    assert authorize.startswith(f"{github.url}login/oauth/authorize?")
    given = query(authorize)
    assert given["client_id"] == github.oauth.client_id
    assert given["redirect_uri"] == f"{served.url}/auth/github/callback"
    nonce, expires, signature = given["state"].split(".")
    assert len(nonce) == 32 and len(signature) == 64 and 0 < int(expires) - time.time() <= 600
    cookie = next(c for c in browser.cookies.jar if c.name == "dbvend_oauth")
    assert cookie.value == nonce and cookie.path == "/auth/github"
    assert "SameSite=lax" in browser.get("/auth/github").headers["set-cookie"]
    header = browser.get("/auth/github").headers["set-cookie"]
    assert "HttpOnly" in header and "Path=/auth/github" in header and "Max-Age=600" in header


def test_signing_in_starts_a_session_with_the_persons_identity(
    served: ServeProcess, browser: httpx.Client, github: GitHubServer, signed_in: None
) -> None:
    answer = sign_in(browser, "/request")
    assert answer.status_code == 200, answer.text
    # On to `next` from a page of this site: the Strict session cookie is not sent on a redirect
    # whose chain began on github.com.
    assert answer.headers["refresh"] == "0; url=/request"
    assert f"signed in with GitHub as <strong>{LOGIN}</strong>" in answer.text
    assert '<a href="/request">Continue</a>' in answer.text
    session = [h for h in answer.headers.get_list("set-cookie") if h.startswith("dbvend_session=")]
    assert len(session) == 1
    assert "HttpOnly" in session[0] and "SameSite=strict" in session[0] and "Path=/" in session[0]
    token = browser.cookies["dbvend_session"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # only a random token: nothing about the person
    assert browser.get("/fleet").status_code == 200
    (row,) = [row for row in ledger_rows(served, "portal_sessions") if row["login"] == LOGIN][-1:]
    assert (row["user_id"], json.loads(row["teams"]), row["permission"]) == (583231, ["dba"], "maintain")
    assert token not in json.dumps(ledger_rows(served, "portal_sessions"))  # only its hash is kept
    audit = [row for row in ledger_rows(served, "audit_events") if row["action"] == "signin"][-1]
    assert (audit["actor"], audit["door"], audit["outcome"]) == (f"github:{LOGIN}", "portal", "ok")


def test_signing_out_ends_the_persons_session_everywhere(
    served: ServeProcess, browser: httpx.Client, signed_in: None
) -> None:
    assert sign_in(browser).status_code == 200
    copied = browser.cookies["dbvend_session"]
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', browser.get("/fleet").text)
    assert csrf is not None
    assert browser.post("/signout", data={"csrf": csrf.group(1)}).status_code == 303
    with httpx.Client(base_url=served.url, timeout=10, cookies={"dbvend_session": copied}) as thief:
        assert thief.get("/fleet").headers["location"] == "/signin?next=/fleet"


@pytest.mark.parametrize("next_path", ["//evil.example", "https://evil.example", "/\\evil.example"])
def test_a_next_that_points_off_site_lands_on_the_fleet(
    next_path: str, browser: httpx.Client, signed_in: None
) -> None:
    answer = sign_in(browser, next_path)
    assert answer.status_code == 200 and answer.headers["refresh"] == "0; url=/fleet"


# -- refusals: a page saying what to do, an audit row, no call to GitHub ---------------------------


def test_a_forged_state_is_refused_without_asking_github(
    served: ServeProcess, browser: httpx.Client, github: GitHubServer, signed_in: None
) -> None:
    callback = on_github(leave_for_github(browser))
    given = query(callback)
    nonce, expires, signature = given["state"].split(".")
    forged = f"{nonce}.{expires}.{signature[:-1]}{'0' if signature[-1] != '0' else '1'}"
    before = github.count("POST", "/login/oauth/access_token")
    answer = browser.get("/auth/github/callback", params={"code": given["code"], "state": forged})
    assert_refused(answer, 403, "was not made here")
    longer = f"{nonce}.{int(expires) + 60}.{signature}"
    later = browser.get("/auth/github/callback", params={"code": given["code"], "state": longer})
    assert_refused(later, 403, "was not made here")  # the expiry is signed too
    assert github.count("POST", "/login/oauth/access_token") == before
    assert refusals(served)[-1]["detail"].startswith("This sign-in link was not made here.")


def test_a_replayed_state_is_refused(
    served: ServeProcess, browser: httpx.Client, github: GitHubServer, signed_in: None
) -> None:
    callback = on_github(leave_for_github(browser))
    oauth_cookie = browser.cookies["dbvend_oauth"]
    assert browser.get(callback).status_code == 200
    browser.cookies.set("dbvend_oauth", oauth_cookie, path="/auth/github")  # as a replaying browser keeps it
    before = github.count("POST", "/login/oauth/access_token")
    assert_refused(browser.get(callback), 403, "used already or has expired")
    assert github.count("POST", "/login/oauth/access_token") == before


def test_an_expired_state_is_refused(
    served: ServeProcess, browser: httpx.Client, github: GitHubServer
) -> None:
    nonce = "n" * 32
    expired = sign_state(github.oauth.client_secret, nonce, int(time.time()) - 1)
    browser.cookies.set("dbvend_oauth", nonce, path="/auth/github")
    answer = browser.get("/auth/github/callback", params={"code": "0123456789abcdef0123", "state": expired})
    assert_refused(answer, 403, "took longer than 10 minutes")


def test_a_state_needs_the_cookie_of_the_browser_that_started(
    served: ServeProcess, browser: httpx.Client, github: GitHubServer, signed_in: None
) -> None:
    callback = on_github(leave_for_github(browser))
    with httpx.Client(base_url=served.url, timeout=10) as other:  # no cookie: a link sent to someone
        assert_refused(other.get(callback), 403, "started in another browser")
        other.cookies.set("dbvend_oauth", "x" * 32, path="/auth/github")  # another browser's own start
        assert_refused(other.get(callback), 403, "started in another browser")
    assert browser.get(callback).status_code == 200  # the browser that started still can: not used up


@pytest.mark.parametrize("state", [None, "", "not-a-state", "a.b.c"])
def test_a_missing_or_malformed_state_is_a_bad_request(
    state: str | None, served: ServeProcess, browser: httpx.Client
) -> None:
    params = {"code": "0123456789abcdef0123"} | ({} if state is None else {"state": state})
    assert_refused(browser.get("/auth/github/callback", params=params), 400, "incomplete or damaged")


def test_a_person_outside_the_organisation_is_refused(
    served: ServeProcess, browser: httpx.Client, github: GitHubServer
) -> None:
    github.sign_in_as("outsider", membership=None)
    answer = sign_in(browser)
    assert_refused(answer, 403, "outsider is not a member of acme on GitHub", again=False)
    assert "ask an owner of acme to add you" in answer.text
    row = refusals(served)[-1]
    assert (row["actor"], row["action"], row["door"]) == ("github:outsider", "signin", "portal")
    github.sign_in_as("invited", membership="pending")  # invited, not yet joined
    assert_refused(sign_in(browser), 403, "invited is not a member of acme", again=False)


def test_a_person_who_declines_on_github_is_told_so(
    served: ServeProcess, browser: httpx.Client, github: GitHubServer, signed_in: None
) -> None:
    github.oauth.declines = True
    callback = on_github(leave_for_github(browser))
    assert query(callback)["error"] == "access_denied"
    assert_refused(browser.get(callback), 403, "You did not authorize dbvend on GitHub")
    assert refusals(served)[-1]["detail"].startswith("You did not authorize dbvend")


def test_a_bad_or_used_code_is_refused(served: ServeProcess, browser: httpx.Client, signed_in: None) -> None:
    callback = on_github(leave_for_github(browser))
    given = query(callback)
    answer = browser.get("/auth/github/callback", params={"code": "f" * 20, "state": given["state"]})
    assert_refused(answer, 403, "GitHub did not accept the sign-in code")


# -- secrets ---------------------------------------------------------------------------------------


def test_the_persons_token_and_the_client_secret_are_nowhere(
    served: ServeProcess, browser: httpx.Client, github: GitHubServer, signed_in: None
) -> None:
    set_cookies: list[str] = []
    before = len(github.oauth.user_tokens)
    authorize = leave_for_github(browser)
    answer = browser.get(on_github(authorize))
    assert answer.status_code == 200 and len(github.oauth.user_tokens) == before + 1
    set_cookies += answer.headers.get_list("set-cookie")
    assert [c for c in set_cookies if c.startswith("dbvend_session=")]
    served_paths = [call for call in github.requests if call.path.startswith("/user")]
    assert served_paths and all((call.authorization or "").startswith("Bearer ghu_") for call in served_paths)
    data = served.data_dir
    ledger_bytes = b"".join(path.read_bytes() for path in sorted(data.glob("ledger.sqlite3*")))
    with sqlite3.connect(data / "ledger.sqlite3") as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    rows = json.dumps([ledger_rows(served, table) for table in tables], default=str)
    log = served.log_text()
    assert "/auth/github/callback" in log  # the log is captured: its absence below means something
    for secret in github.oauth.secrets:
        assert secret not in "\n".join(set_cookies)
        assert secret not in log
        assert secret.encode() not in ledger_bytes
        assert secret not in rows
        assert secret not in answer.text


# -- the doors turned off -------------------------------------------------------------------------


def test_api_key_sign_in_can_be_turned_off(github: GitHubServer, tmp_path: Path) -> None:
    process = serve(github, tmp_path / "data", DBVEND_SIGNIN_API_KEY="false")
    try:
        with httpx.Client(base_url=process.url, timeout=10) as http:
            page = http.get("/signin")
            assert "Sign in with GitHub" in page.text and 'name="api_key"' not in page.text
            refused = http.post("/signin", data={"api_key": API_KEY, "next": "/fleet"})
            assert (
                refused.status_code == 403
                and "Signing in with an API key is turned off here." in refused.text
            )
            assert "dbvend_session" not in refused.headers.get("set-cookie", "")
    finally:
        process.stop()


def test_with_both_off_the_sign_in_page_says_sign_in_is_not_configured(tmp_path: Path) -> None:
    process = ServeProcess(tmp_path / "data", env={"DBVEND_SIGNIN_API_KEY": "false"}).start()
    try:
        with httpx.Client(base_url=process.url, timeout=10) as http:
            page = http.get("/signin")
            assert "Sign-in is not configured here" in page.text
            assert "Sign in with GitHub" not in page.text and 'name="api_key"' not in page.text
            assert http.get("/auth/github").status_code == 404
            assert http.get("/auth/github/callback", params={"code": "c", "state": "s"}).status_code == 404
    finally:
        process.stop()


# -- the stand-in answers in GitHub's documented shapes --------------------------------------------


def response_validator(path: str) -> Draft202012Validator:
    """A validator of the 200 answer of GET `path` in GitHub's OpenAPI description (3.0: `nullable`
    becomes a null alternative), its references resolved within the description."""
    require_octokit()
    document = _nullable(json.loads(REST_OPENAPI.read_text(encoding="utf-8")))
    schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": document["components"]})


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _nullable(value) for key, value in node.items() if key != "nullable"}
    return {"anyOf": [converted, {"type": "null"}]} if node.get("nullable") is True else converted


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/user", "/user"),
        ("/user/teams", "/user/teams"),
        ("/user/memberships/orgs/acme", "/user/memberships/orgs/{org}"),
        ("/repos/acme/infra", "/repos/{owner}/{repo}"),
    ],
)
def test_the_stand_in_answers_a_user_token_in_githubs_shapes(
    path: str, template: str, served: ServeProcess, github: GitHubServer, signed_in: None
) -> None:
    authorize = f"{github.url}login/oauth/authorize?client_id={github.oauth.client_id}&state=s"
    code = query(on_github(authorize))["code"]  # back to the registered callback URL
    with httpx.Client(base_url=github.url, timeout=10) as http:
        body = {
            "client_id": github.oauth.client_id,
            "client_secret": github.oauth.client_secret,
            "code": code,
        }
        token = http.post("/login/oauth/access_token", json=body).json()["access_token"]
        answer = http.get(path, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    errors = [error.message for error in response_validator(template).iter_errors(answer.json())]
    assert errors == []


def test_with_api_key_sign_in_off_an_api_key_session_ends(tmp_path: Path) -> None:
    built, _ = build_services(Settings(data=tmp_path / "data", api_keys="k-one", signin_api_key=False))
    (entry,) = built.keys.entries
    with TestClient(create_app(built), follow_redirects=False) as client:
        client.cookies.set("dbvend_session", session_token(entry, time.time()))
        assert client.get("/fleet").headers["location"] == "/signin?next=/fleet"
    built.settings.signin_api_key = True
    with TestClient(create_app(built), follow_redirects=False) as client:
        client.cookies.set("dbvend_session", session_token(entry, time.time()))
        assert client.get("/fleet").status_code == 200


def test_the_stand_in_keeps_user_tokens_to_the_persons_endpoints(
    served: ServeProcess, github: GitHubServer, signed_in: None
) -> None:
    authorize = f"{github.url}login/oauth/authorize?client_id={github.oauth.client_id}&state=s"
    code = query(on_github(authorize))["code"]
    with httpx.Client(base_url=github.url, timeout=10) as http:
        body = {
            "client_id": github.oauth.client_id,
            "client_secret": github.oauth.client_secret,
            "code": code,
        }
        token = http.post("/login/oauth/access_token", json=body).json()["access_token"]
        again = http.post("/login/oauth/access_token", json=body).json()  # a code counts once
        assert again["error"] == "bad_verification_code" and "access_token" not in again
        wrong = http.post("/login/oauth/access_token", json=body | {"client_secret": "x"}).json()
        assert wrong["error"] == "incorrect_client_credentials"
        person = {"Authorization": f"Bearer {token}"}
        assert http.get("/repos/acme/infra/pulls", headers=person).status_code == 403
        assert http.get("/user", headers={"Authorization": "Bearer ghs_installation"}).status_code == 403
        assert http.get("/user/memberships/orgs/another-org", headers=person).status_code == 404
        github.set_permission(LOGIN, "none")
        try:
            assert http.get("/repos/acme/infra", headers=person).status_code == 404
        finally:
            github.set_permission(LOGIN, "maintain")
