"""The access rules through every door (issue 23): the same person (a GitHub user) gets the same answer
for the same database from the portal (signed in with GitHub), the issue form (issues.opened) and
comments (/extend, /modify on the request's issue and pull request), and an API key the same from
the API and the portal; allowed or refused, and refused with engine.access.decide's own reason.

One world for the module, in GitHub mode against the stand-in (tests/support/github_server.py),
with dbvend.yaml's `access:` set: alice (team payments) asked for dev/orders for her team with the
issue form, and it is merged. Every attempt is made once, while the world is built (so any test,
on any xdist worker, sees them all); each allowed one's change is closed again, so the next finds
the database free. The tests compare what each door said with the rules' decision.
"""

from __future__ import annotations

import html
import importlib.resources
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from engine.access import AccessRules, Decision, Holder, decide
from engine.app import create_app
from engine.audit import parse_audit_query
from engine.checkov.gate import PolicyGate
from engine.forms import render_issue_body
from engine.guard import holder_of
from engine.identity import Actor, api_key, person
from engine.lifecycle import current_claim
from engine.queue.local import LocalQueue
from engine.queue.worker import Worker
from engine.services import Services, build_services
from engine.settings import Settings
from tests.support import github_payloads as payloads
from tests.support.app import form_token, sign_in_as
from tests.support.deliveries import SECRET, deliver
from tests.support.github_clients import OWNER, REPO, client
from tests.support.github_server import GitHubServer

ACCESS: Final = """
access:
  request:
    prod: [team:platform]
  extend: [owner, admins]
  modify: [owner, team, admins]
  destroy: [owner, admins]
"""
LABEL: Final = "database-request"
DATABASE: Final = ("dev", "orders")
DATABASE_PAGE: Final = "/databases/dev/orders"
# Who is who on GitHub: teams of acme and permission on acme/infra.
PEOPLE: Final = {
    "alice": (("payments",), "read"),  # asked for dev/orders, for her team payments
    "bob": (("platform",), "read"),
    "carol": ((), "write"),  # an admin by dbvend's default access.admins (permission:write)
    "dave": (("payments",), "read"),  # alice's team
}
KEY_ROLES: Final = {"ci": "requester", "root": "admin"}
ACTIONS: Final = ("request", "extend", "modify", "destroy")
# What the database page's buttons and the API send for each action on dev/orders.
FIELDS: Final = {
    "extend": {"ttl": "3d"},
    "modify": {"storage_gb": "30"},
    "destroy": {"reason": "not needed any more"},
}
COMMANDS: Final = {"extend": "/extend 3d", "modify": "/modify storage_gb=30"}
COMMENT_ON: Final = {"extend": "issue", "modify": "pull request"}  # both places a command works
EVERYONE: Final = (*PEOPLE, *KEY_ROLES)
MODIFIERS: Final = ("bob", "dave", "ci")  # who tries a modification (see doors())


@dataclass(frozen=True)
class Said:
    """A door's answer: allowed, or refused with the reason as it showed it (markup taken off)."""

    allowed: bool
    reason: str | None = None


@dataclass
class World:
    github: GitHubServer
    services: Services
    http: TestClient  # no session: GitHub's deliveries, the API
    portal: dict[str, TestClient]  # a browser signed in per person and per key
    keys: dict[str, str]  # key name -> the key
    issue: int  # alice's request's issue
    pull: int  # and its pull request, merged
    # (who, action) -> door -> what it said
    said: dict[tuple[str, str], dict[str, Said]] = field(default_factory=dict)

    @cached_property
    def rules(self) -> AccessRules:
        return self.services.backend.catalog().access

    @cached_property
    def holder(self) -> Holder:
        """dev/orders as the rules see it: its requester (ledger), owner and team (claim on main;
        every attempt's change is closed unmerged, so it stays alice's)."""
        claim, _ = current_claim(self.services.backend, *DATABASE)
        return holder_of(self.services.ledger.of_database(*DATABASE), claim)


def catalog_with_access() -> str:
    """The packaged dbvend.yaml with ACCESS added."""
    packaged = importlib.resources.files("engine.data").joinpath("dbvend.yaml").read_text(encoding="utf-8")
    return packaged + ACCESS


def actor_of(who: str, door: str) -> Actor:
    """`who` as GitHub (people) or DBVEND_API_KEYS (keys) knows them."""
    if who in KEY_ROLES:
        return api_key(who, KEY_ROLES[who], door)
    teams, permission = PEOPLE[who]
    return person(who, door, teams, permission)


def expected(world: World, who: str, action: str) -> Decision:
    environment = "prod" if action == "request" else DATABASE[0]
    holder = None if action == "request" else world.holder
    return decide(world.rules, actor_of(who, "portal"), action, environment, holder)


# -- reading what a door showed -------------------------------------------------------------------


def markdown_text(text: str) -> str:
    """Text engine.description.md_escape escaped, as a reader of the comment sees it."""
    return re.sub(r"\\(.)", r"\1", text)


def only(items: list[str], where: str) -> str:
    assert len(items) == 1, (where, items)
    return items[0]


def error_page_message(page: str) -> str:
    """error.html's sentence (a PortalError)."""
    return only([html.unescape(m) for m in re.findall(r'<p role="alert">(.*?)</p>', page, re.S)], page)


def request_form_errors(page: str) -> list[str]:
    """The request form's summary of what was not accepted."""
    summary = re.search(r'id="error-summary">(.*?)</div>', page, re.S)
    assert summary is not None, page
    return [html.unescape(item.strip()) for item in re.findall(r"<li>(.*?)</li>", summary.group(1), re.S)]


def offered_environments(page: str) -> list[str]:
    select = re.search(r'<select id="f-environment".*?</select>', page, re.S)
    assert select is not None, page
    return [value for value in re.findall(r'<option value="([^"]*)"', select.group(0)) if value]


def not_yours(page: str) -> list[str]:
    """The database page's "Not yours to change": the rules' reasons for each button left out."""
    section = re.search(r'id="not-yours-title">.*?</section>', page, re.S)
    items = re.findall(r"<li>(.*?)</li>", section.group(0)) if section is not None else []
    return [html.unescape(item) for item in items]


# -- the world --------------------------------------------------------------------------------------


def sign_in_with_github(app: FastAPI, github: GitHubServer, login: str) -> TestClient:
    """A browser of `login`, signed in to the portal through GitHub's OAuth web flow (the stand-in's)."""
    github.sign_in_as(login)
    browser = TestClient(app, follow_redirects=False)
    start = browser.get("/auth/github", params={"next": "/fleet"})
    assert start.status_code == 302, start.text
    with httpx.Client(timeout=10) as elsewhere:  # GitHub's authorize page: another site's cookies
        authorized = elsewhere.get(start.headers["location"])
    assert authorized.status_code == 302, authorized.text
    back = browser.get(authorized.headers["location"])
    assert back.status_code == 200 and f"signed in with GitHub as <strong>{login}</strong>" in back.text
    return browser


def sign_in_with_key(app: FastAPI, key: str) -> TestClient:
    browser = TestClient(app, follow_redirects=False)
    assert sign_in_as(browser, key).status_code == 303
    return browser


def close_changes(world: World) -> None:
    """Close every open pull request (an allowed attempt's), and tell dbvend as GitHub does."""
    with client(world.github) as gh:
        for pull in list(world.github.open_pulls()):
            gh.rest.pulls.update(OWNER, REPO, pull.number, state="closed")
            now = world.github.pull_request(pull.number)
            closed = payloads.pull_request(
                "closed", pull.number, now["head"]["ref"], body=now["body"], title=now["title"]
            )
            assert delivered(world.http, "pull_request", closed).status_code == 200


def delivered(http: TestClient, event: str, payload: dict[str, Any]) -> httpx.Response:
    """A signed delivery. githubkit's models are not asked (importing them takes seconds):
    tests/unit/test_github_payloads.py checks the builders against them."""
    answer: httpx.Response = deliver(http, event, payload, validate=False)
    return answer


def build_world(root: Path, github: GitHubServer, gate: PolicyGate) -> World:
    for login, (teams, permission) in PEOPLE.items():
        github.set_permission(login, permission)
        for team in teams:
            github.add_team_member(team, login)
    keys = {name: secrets.token_urlsafe(32) for name in KEY_ROLES}
    settings = Settings(
        data=root / "data",
        api_keys=",".join(f"{name}:{role}:{keys[name]}" for name, role in KEY_ROLES.items()),
        rate_limit=10_000,
        gitops="github",
        github_api_url=github.url,
        github_web_url=github.url,
        github_token="ghs_test",
        github_repository=f"{OWNER}/{REPO}",
        github_webhook_secret=SECRET,
        github_client_id=github.oauth.client_id,
        github_client_secret=github.oauth.client_secret,
        # GitHub's pace of writes (80 a minute) would make the attempts wait: test_github_backend has it
        github_writes_per_minute=10_000,
        github_writes_per_hour=10_000,
    )
    services, _ = build_services(settings)
    app = create_app(services)
    http = TestClient(app, follow_redirects=False)
    issue, pull = request_orders(github, services, http, gate)
    portal = {login: sign_in_with_github(app, github, login) for login in PEOPLE}
    portal |= {name: sign_in_with_key(app, key) for name, key in keys.items()}
    return World(github, services, http, portal, keys, issue, pull)


def request_orders(
    github: GitHubServer, services: Services, http: TestClient, gate: PolicyGate
) -> tuple[int, int]:
    """alice asks for dev/orders for her team payments with the issue form, the worker opens its pull
    request and it is merged: her issue and the pull request."""
    fields = {"database_name": "orders", "database_engine": "postgres", "environment": "dev"}
    body = render_issue_body({**fields, "team": "payments", "ttl": "1d"})  # 1 day: `/extend 3d` moves it
    number = github.create_issue("[database] orders", body, user="alice", labels=(LABEL,))
    answer = delivered(http, "issues", payloads.issues("opened", number, "[database] orders", body)).json()
    assert answer["detail"] == "accepted", answer
    worker = Worker(services.ledger, LocalQueue(services.ledger), services.backend, gate, None)
    worker.replies = services.replies
    assert worker.run_once()
    record = services.ledger.get(answer["request_id"])
    assert record is not None and record.change_id is not None
    services.backend.merge(record.change_id)
    merged = github.pull_request(record.change_id)
    closed = payloads.pull_request(
        "closed",
        record.change_id,
        merged["head"]["ref"],
        merged=True,
        body=merged["body"],
        title=merged["title"],
    )
    assert delivered(http, "pull_request", closed).json()["detail"] == "merged"
    return number, record.change_id


# -- the attempts, one function per door ------------------------------------------------------------


def by_issue_form(world: World, who: str, action: str) -> Said:
    """`who` asks for a database in prod with the issue form (issues.opened)."""
    assert action == "request"
    name = f"{who}_issue"
    body = render_issue_body({"database_name": name, "database_engine": "postgres", "environment": "prod"})
    title = f"[database] {name}"
    number = world.github.create_issue(title, body, user=who, labels=(LABEL,))
    answer = delivered(
        world.http, "issues", payloads.issues("opened", number, title, body, sender=who)
    ).json()
    if answer["detail"] == "accepted":
        return Said(True)
    assert answer["detail"] == "not allowed", answer
    reply = world.github.comment_bodies(number)[-1]
    found = re.search(r"\*\*dbvend could not take this request:\*\* (.*)\.\n", reply)
    assert found is not None, reply
    return Said(False, markdown_text(found.group(1)))


def by_comment(world: World, who: str, action: str) -> Said:
    """`who` comments the action's command on the request's issue (/extend) or pull request (/modify)."""
    on_pull = COMMENT_ON[action] == "pull request"
    number, text = (world.pull if on_pull else world.issue), COMMANDS[action]
    made = world.github.add_comment(number, who, text)
    delivery = payloads.issue_comment(
        "created", number, text, who, made["id"], on_pull_request=on_pull, issue_author="alice"
    )
    answer = delivered(world.http, "issue_comment", delivery).json()
    if answer["detail"] in ("extension opened", "modification opened"):
        close_changes(world)
        return Said(True)
    assert answer["detail"] == "refused", answer
    posted = world.github.comment_bodies(number)[-1]
    found = re.fullmatch(rf"`/{action}` for `terraform/dev/orders` was not done: (.*)", posted, re.S)
    assert found is not None, posted
    shown = markdown_text(found.group(1))
    assert answer["reasons"] == [shown]  # what the comment says is what the door decided
    return Said(False, shown)


def by_portal(world: World, who: str, action: str) -> Said:
    """The request form (for prod) or the database page's button, posted whether the page offers
    it or not (a forged form)."""
    browser = world.portal[who]
    if action == "request":
        fields = {"database_name": f"{who}_portal", "database_engine": "postgres", "environment": "prod"}
        answer = browser.post("/request", data={**fields, "csrf": form_token(browser)})
        if answer.status_code == 303:
            return Said(True)
        assert answer.status_code == 403, answer.text
        return Said(False, only(request_form_errors(answer.text), answer.text))
    answer = browser.post(f"{DATABASE_PAGE}/{action}", data={**FIELDS[action], "csrf": form_token(browser)})
    if answer.status_code == 303:
        close_changes(world)
        return Said(True)
    assert answer.status_code == 403, answer.text
    return Said(False, error_page_message(answer.text))


def by_api(world: World, who: str, action: str) -> Said:
    """POST /v1/databases (for prod), PATCH /v1/databases/dev/orders, POST .../destroy."""
    headers, path = {"x-api-key": world.keys[who]}, f"/v1/databases/{'/'.join(DATABASE)}"
    if action == "request":
        body: dict[str, Any] = {"database_name": f"{who}_api", "database_engine": "postgres"}
        answer = world.http.post("/v1/databases", json={**body, "environment": "prod"}, headers=headers)
    elif action == "destroy":
        answer = world.http.post(f"{path}/destroy", json=FIELDS[action], headers=headers)
    else:
        body = {k: int(v) if v.isdigit() else v for k, v in FIELDS[action].items()}
        answer = world.http.patch(path, json=body, headers=headers)
    if answer.status_code in (200, 202):
        close_changes(world)
        return Said(True)
    assert answer.status_code == 403, answer.text
    detail: str = answer.json()["detail"]
    return Said(False, detail)


def doors(who: str, action: str) -> dict[str, Callable[[World, str, str], Said]]:
    """The doors `who` tries `action` through: a person the issue form (request) or a comment
    (extend, modify) and the portal; a key the API and the portal. An allowed modification runs
    checkov (seconds): only MODIFIERS try one, the others' are asked of the rules by the database
    page (test_the_portal_offers_only_what_the_rules_allow)."""
    if action == "modify" and who not in MODIFIERS:
        return {}
    if who in KEY_ROLES:
        return {"api": by_api, "portal": by_portal}
    if action == "request":
        return {"issue": by_issue_form, "portal": by_portal}
    if action in COMMANDS:
        return {f"comment on the {COMMENT_ON[action]}": by_comment, "portal": by_portal}
    return {"portal": by_portal}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, gate: PolicyGate) -> Iterator[World]:
    root = tmp_path_factory.mktemp("access-doors")
    with GitHubServer(root / "github", files={"dbvend.yaml": catalog_with_access()}) as github:
        built = build_world(root, github, gate)
        for who in EVERYONE:
            for action in ACTIONS:
                for door, attempt in doors(who, action).items():
                    built.said.setdefault((who, action), {})[door] = attempt(built, who, action)
        yield built


# -- the tests ----------------------------------------------------------------------------------------

# The scenario, as the rules above should decide it (a check on the world: a test that passes only
# because dbvend.yaml's access section went unread would fail here).
ALLOWED: Final = {
    "request": {"bob", "carol", "root"},  # prod: team platform and admins (carol by permission:write)
    "extend": {"alice", "carol", "root"},  # its owner and admins
    "modify": {"alice", "carol", "dave", "root"},  # its owner, its team (payments: dave) and admins
    "destroy": {"alice", "carol", "root"},
}
# The database page's section of each button, by its heading's id.
SECTIONS: Final = {"extend": "extend-title", "modify": "change-title", "destroy": "destroy-title"}
AUDIT_DOOR: Final = {"comment on the issue": "comment", "comment on the pull request": "comment"}


@pytest.mark.parametrize(
    ("who", "action"), [(who, action) for action in ACTIONS for who in EVERYONE if doors(who, action)]
)
def test_every_door_gives_the_rules_answer(world: World, who: str, action: str) -> None:
    decision = expected(world, who, action)
    assert decision.allowed == (who in ALLOWED[action]), decision
    if not decision.allowed:
        assert decision.reason.startswith(f"{actor_of(who, 'portal').label} may not ")
    said = world.said.get((who, action), {})
    assert set(said) == set(doors(who, action))
    wanted = Said(True) if decision.allowed else Said(False, decision.reason)
    assert said == dict.fromkeys(said, wanted)


@pytest.mark.parametrize("who", EVERYONE)
def test_the_portal_offers_only_what_the_rules_allow(world: World, who: str) -> None:
    browser = world.portal[who]
    rules, actor = world.rules, actor_of(who, "portal")
    environments = sorted(world.services.backend.catalog().environments)
    offered = offered_environments(browser.get("/request").text)
    assert offered == [name for name in environments if decide(rules, actor, "request", name).allowed]
    assert ("prod" in offered) == (who in ALLOWED["request"])

    page = browser.get(DATABASE_PAGE)
    assert page.status_code == 200, page.text
    refused = []
    for action, title in SECTIONS.items():
        decision = expected(world, who, action)
        assert (f'id="{title}"' in page.text) == decision.allowed, (action, decision)
        assert (f'action="/databases/dev/orders/{action}"' in page.text) == decision.allowed
        refused += [] if decision.allowed else [decision.reason]
    assert not_yours(page.text) == refused


def test_the_refusals_say_who_may_in_the_rules_words(world: World) -> None:
    """A few of the answers above in full, as a person reads them wherever they asked."""
    said = world.said
    assert said[("alice", "request")]["issue"].reason == (
        "@alice may not request a database in prod: dbvend.yaml's access.request.prod allows team"
        " platform and admins; it may request in every environment but prod"
    )
    assert said[("bob", "extend")]["portal"].reason == (
        "@bob may not extend dev/orders: dbvend.yaml's access.extend allows its owner and admins"
    )
    assert said[("bob", "modify")]["comment on the pull request"].reason == (
        "@bob may not modify dev/orders: dbvend.yaml's access.modify allows its owner, its team"
        " (payments) and admins"
    )
    assert said[("ci", "extend")]["api"].reason == (
        "key:ci may not extend dev/orders: dbvend.yaml's access.extend allows its owner and admins"
    )
    # alice's by the ledger's requester (she left the form's Owner empty), payments' by its claim
    assert world.holder == Holder("github:alice", None, "payments", "orders")


def test_every_refusal_is_in_the_audit_trail_once(world: World) -> None:
    rows, _ = world.services.ledger.audit_page(parse_audit_query(outcome="refused"), 200, None)
    recorded = Counter(
        (row.actor, row.door, row.action, row.environment, row.detail)
        for row in rows
        if row.action in ACTIONS
    )
    wanted: Counter[tuple[str, str, str, str | None, str | None]] = Counter()
    for (who, action), answers in world.said.items():
        environment = "prod" if action == "request" else DATABASE[0]
        for door, said in answers.items():
            if not said.allowed:
                name = actor_of(who, door).name
                wanted[(name, AUDIT_DOOR.get(door, door), action, environment, said.reason)] += 1
    assert wanted and recorded == wanted
