"""The portal's pages against the API's hostile-input corpus: escaped, nothing executed, nothing written.

The cases are tests/support/hostile_http.py's tables, imported and turned into what a browser sends, against
one real `dbvend serve` for the module, signed in once with httpx.

1. The request form: every case whose JSON body is an object becomes form fields (its Idempotency-Key
   header the hidden idempotency_key field) posted to /request. The answer must be the API's verdict on
   the body the form becomes (engine.portal.views.request_from_form): the case's own status when that
   is the same JSON, else what the engine's parser says (a form is text: storage_gb "20" is a number
   there, so the form may accept what typed JSON was refused for). A refusal marks every field the API
   names, with the API's own sentence (asked of POST /v1/databases, which writes nothing when it refuses).
2. Stored values: hostile strings written straight into the server's ledger (values the doors refuse can
   only get there this way), then shown by the fleet, a request's status page and its live fragment, and
   a database page's history.
3. Paths and queries (PATHS, QUERIES mapped onto the pages), session cookies and sign-in's `next`:
   never a 500, never a redirect off the site.
4. Form defects (token missing or wrong, a field twice, bytes that are not UTF-8, other content types):
   refused before anything is written.

Every HTML answer must carry a CSP with script-src 'self' and no 'unsafe-inline', and hold only
(tag, attribute names) pairs that the same page shows for harmless values: the plain page and its
refusals of harmless values in each field (an error in a select adds aria-invalid to it, one in "More
options" opens the details), so no element or attribute came from input. Also: no on* attribute, no
script but /static/portal.js, no javascript: (or any other non-http) URL in href/src/action, and no hostile
string holding < > " ' & in the body as it was sent (test_the_checks_catch_what_they_look_for shows
each of these checks failing on a page made to break it).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from engine.claim import claim_from_raw
from engine.errors import Conflict, InvalidRequest
from engine.gitops.local import LocalRepository
from engine.intake import record_and_queue
from engine.portal import views
from engine.spec import reason_errors
from engine.store.ledger import Ledger
from engine.store.records import NewRequest
from engine.store.schema import request_events
from tests.support.hostile_http import (
    CASES,
    CHARACTERS,
    DATABASES,
    EXTENSIONS,
    INJECTION,
    INVISIBLE,
    JSON_HEADERS,
    LENGTHS_AND_RESERVED,
    LOOKALIKES,
    PATHS,
    PROVISION,
    QUERIES,
    UNKNOWN_FIELDS,
    VALID,
    Case,
    raw_request,
    send_raw,
)
from tests.support.ledgers import refusals
from tests.support.server import API_KEY, ServeProcess

FORM = "application/x-www-form-urlencoded"
SPECIAL = frozenset("<>\"'&")  # a string holding one of these must never be in a page as sent
VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "xlink:href", "data-live", "poster"})
SCRIPT = "/static/portal.js"
OFF_SITE = "https://evil.example/"


# ---- reading a page -----------------------------------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(child if isinstance(child, str) else child.text() for child in self.children)

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.walk()

    def find(self, tag: str) -> list[Node]:
        return [node for node in self.walk() if node.tag == tag]


class _Builder(HTMLParser):
    """A small tree, every text run, and the (tag, attribute names) pairs the page holds."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.shape: set[tuple[str, frozenset[str]]] = set()
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = self._add(tag, attrs)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._add(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)
        self.texts.append(data)

    def handle_comment(self, data: str) -> None:
        self.shape.add(("#comment", frozenset()))

    def handle_decl(self, decl: str) -> None:
        self.shape.add(("#" + decl.lower(), frozenset()))

    def handle_pi(self, data: str) -> None:
        self.shape.add(("#pi", frozenset()))

    def unknown_decl(self, data: str) -> None:
        self.shape.add(("#unknown-declaration", frozenset()))

    def _add(self, tag: str, attrs: list[tuple[str, str | None]]) -> Node:
        node = Node(tag, dict(attrs))
        self.shape.add((tag, frozenset(name for name, _ in attrs)))
        self.stack[-1].children.append(node)
        return node


@dataclass
class Page:
    status: int
    html: str
    root: Node
    shape: frozenset[tuple[str, frozenset[str]]]
    texts: list[str]

    def by_id(self, wanted: str) -> Node | None:
        return next((node for node in self.root.walk() if node.attrs.get("id") == wanted), None)

    def shows(self, text: str) -> bool:
        """The text is on the page as a reader sees it (in a text run, or an attribute's value):
        itself, with invisible and control characters shown as U+FFFD (views.visible)."""
        text = str(views.visible(text))
        values = (v for node in self.root.walk() for v in node.attrs.values() if v is not None)
        return any(text in run for run in self.texts) or any(text in value for value in values)


def read(answer: httpx.Response) -> Page:
    builder = _Builder()
    builder.feed(answer.text)
    builder.close()
    return Page(answer.status_code, answer.text, builder.root, frozenset(builder.shape), builder.texts)


Shape = frozenset[tuple[str, frozenset[str]]]


def shape_of(*answers: httpx.Response) -> Shape:
    return frozenset().union(*(read(answer).shape for answer in answers))


def assert_on_site(location: str, base: str) -> None:
    """A Location a browser resolves to this site: it drops tab/CR/LF, trims C0 and spaces, and reads
    a backslash as a slash, so only a path with one leading slash and no backslash is safe."""
    cleaned = re.sub(r"[\t\n\r]", "", location).strip("".join(map(chr, range(0x21))))
    assert cleaned.startswith("/") and not cleaned.startswith("//") and "\\" not in cleaned, location
    resolved, here = urlsplit(urljoin(base + "/", cleaned)), urlsplit(base)
    assert (resolved.scheme, resolved.netloc) == (here.scheme, here.netloc), location


def assert_safe(answer: httpx.Response, allowed: Shape, hostile: Iterable[str] = ()) -> Page | None:
    """The checks every answer gets; the page, when the answer is HTML (None for JSON)."""
    assert answer.status_code < 500, answer.text[:500]
    assert "x-injected" not in answer.headers
    media = answer.headers.get("content-type", "")
    if not media.startswith("text/html"):
        assert media == "application/json", media
        json.loads(answer.text)  # JSON, not a page: nothing of it is rendered as HTML
        return None
    policy = answer.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy, policy
    assert "'unsafe-eval'" not in policy, policy
    page = read(answer)
    new = page.shape - allowed
    assert not new, f"elements or attributes that came from input: {sorted(new, key=str)}"
    scripts = page.root.find("script")
    assert len(scripts) <= 1, scripts
    for node in page.root.walk():
        assert not [name for name in node.attrs if name.startswith("on")], node.attrs
        if node.tag == "script":
            assert node.attrs.get("src") == SCRIPT and not node.text().strip(), node.attrs
        for name, value in node.attrs.items():
            if name in URL_ATTRIBUTES and value:
                cleaned = re.sub(r"[\t\n\r]", "", value).strip("".join(map(chr, range(0x21)))).lower()
                # A javascript: URL is one whose scheme it is: "/databases/javascript:x" is a path here.
                assert urlsplit(cleaned).scheme in ("", "http", "https"), (name, value)
    for text in hostile:
        if SPECIAL & set(text):
            assert text not in answer.text, f"{text!r} is in the page unescaped"
    hidden = [char for char in INVISIBLE if char in answer.text]
    assert not hidden, f"invisible characters shown raw: {hidden}"  # they would hide or reorder text
    return page


GOOD_PAGE = """<!doctype html><html><head><script src="/static/portal.js" defer></script></head>
<body><main id="main"><p class="x">{}</p><a href="/fleet">Fleet</a></main></body></html>"""
CSP = "default-src 'none'; script-src 'self'"
BROKEN_PAGES = {
    "new-element": (GOOD_PAGE.format("<img src=x onerror=alert(1)>"), CSP, ()),
    "new-attribute": (GOOD_PAGE.replace('class="x"', 'class="x" autofocus'), CSP, ()),
    "event-handler": (GOOD_PAGE.replace('class="x"', 'class="x" onclick="alert(1)"'), CSP, ()),
    "inline-script": (GOOD_PAGE.format("<script>alert(1)</script>"), CSP, ()),
    "javascript-href": (GOOD_PAGE.replace('href="/fleet"', 'href=" java\tscript:alert(1)"'), CSP, ()),
    "no-csp": (GOOD_PAGE.format(""), "", ()),
    "unsafe-inline": (GOOD_PAGE.format(""), CSP + " 'unsafe-inline'", ()),
    "raw-hostile-text": (GOOD_PAGE.format("a & b"), CSP, ("a & b",)),
}


def html_answer(html: str, policy: str) -> httpx.Response:
    headers = {"content-type": "text/html; charset=utf-8"}
    if policy:
        headers["content-security-policy"] = policy
    return httpx.Response(200, headers=headers, text=html)


@pytest.mark.parametrize("name", list(BROKEN_PAGES))
def test_the_checks_catch_what_they_look_for(name: str) -> None:
    """assert_safe itself: a good page passes, each kind of breakage fails."""
    good = html_answer(GOOD_PAGE.format("&lt;img src=x onerror=alert(1)&gt; a &amp; b"), CSP)
    allowed = read(good).shape
    assert_safe(good, allowed, ["<img src=x onerror=alert(1)>", "a & b"])
    html, policy, hostile = BROKEN_PAGES[name]
    with pytest.raises(AssertionError):
        assert_safe(html_answer(html, policy), allowed, hostile)


# ---- the server ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    process = ServeProcess(tmp_path_factory.mktemp("portal-hostile") / "data").start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def api(served: ServeProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=10, headers={"x-api-key": API_KEY}) as http:
        yield http


@pytest.fixture(scope="module")
def browser(served: ServeProcess) -> Iterator[httpx.Client]:
    """A signed-in person: the session cookie from POST /signin, kept by the client."""
    with httpx.Client(base_url=served.url, timeout=10) as http:
        answer = sign_in(http)
        assert answer.status_code == 303 and answer.headers["location"] == "/fleet", answer.text
        assert http.cookies.get("dbvend_session")
        yield http


def signin_token(http: httpx.Client, shown: httpx.Response | None = None) -> str:
    """The sign-in form's own token (its cookie is then in the client), as a browser gets it."""
    text = (shown or http.get("/signin")).text
    found = re.search(r'name="signin_token" value="([A-Za-z0-9_-]+)"', text)
    assert found is not None
    return found.group(1)


def sign_in(http: httpx.Client, key: str = API_KEY, next_path: str | None = None) -> httpx.Response:
    fields = {"api_key": key, "signin_token": signin_token(http)}
    return http.post("/signin", data=fields | ({"next": next_path} if next_path is not None else {}))


def form_token(http: httpx.Client) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', http.get("/request").text)
    assert found is not None
    return found.group(1)


@pytest.fixture(scope="module")
def csrf(browser: httpx.Client) -> str:
    return form_token(browser)


@pytest.fixture(scope="module")
def ledger(served: ServeProcess) -> Iterator[Ledger]:
    opened = Ledger.connect(f"sqlite:///{served.data_dir}/ledger.sqlite3")
    yield opened
    opened.engine.dispose()


@pytest.fixture(scope="module")
def repo(served: ServeProcess) -> LocalRepository:
    """The server's GitOps repository, read (catalog, conflicts) the way the server reads it."""
    return LocalRepository(served.data_dir / "repo")


def post_form(
    http: httpx.Client, path: str, pairs: Sequence[tuple[str, str]] | Mapping[str, str]
) -> httpx.Response:
    items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
    return http.post(path, content=urlencode(items).encode("ascii"), headers={"content-type": FORM})


def settled(ledger: Ledger) -> None:
    """Wait until the server's worker has nothing in hand (it moves requests it accepted)."""
    deadline = time.monotonic() + 20
    while ledger.list_requests(status="accepted") or ledger.list_requests(status="processing"):
        assert time.monotonic() < deadline, "the worker did not settle"
        time.sleep(0.05)


def snapshot(served: ServeProcess, ledger: Ledger) -> tuple[Any, ...]:
    """Requests, their events, git refs and change records: equal before and after = nothing written."""
    settled(ledger)
    with ledger.reading() as conn:
        events = conn.execute(sa.select(sa.func.count()).select_from(request_events)).scalar_one()
    git = served.data_dir / "repo"
    refs = subprocess.run(
        ["git", "-C", str(git), "for-each-ref"], capture_output=True, text=True, check=True
    ).stdout
    changes = sorted(p.name for p in (git / ".git" / "dbvend" / "changes").iterdir())
    return ledger.count(), events, refs, changes


# ---- 1. the request form ------------------------------------------------------------------------

VALID_FORM = {name: str(value) for name, value in VALID.items()}
# A harmless refusal in each field (and of an unknown field, and of the hidden idempotency key): with the
# plain page, every (tag, attributes) pair the request page may show.
HARMLESS_REFUSALS: dict[str, dict[str, str]] = {
    "database_name": {"database_name": "1orders"},
    "database_engine": {"database_engine": "oracle"},
    "environment": {"environment": "qa"},
    "size": {"size": "xxl"},
    "ttl": {"ttl": "forever"},
    "owner": {"owner": "o" * 101},
    "team": {"team": "t" * 65},
    "reason": {"reason": "r" * 501},
    "identifier": {"identifier": "a" * 64},
    "engine_version": {"engine_version": "1" * 41},
    "storage_gb": {"storage_gb": "abc"},
    "readers": {"readers": "1"},
    "min_acu": {"database_engine": "aurora-postgresql", "min_acu": "abc"},
    "max_acu": {"database_engine": "aurora-postgresql", "max_acu": "abc"},
    "proxy": {"proxy": "on"},
    "unknown-field": {"password": "x"},
    "Idempotency-Key": {"idempotency_key": "a b"},
}


class Digits(str):
    """A JSON number as written: Python's int() refuses more than 4300 digits, a form field does not."""


def _number(text: str) -> int | Digits:
    return int(text) if len(text) <= 4000 else Digits(text)


def form_value(name: str, value: Any) -> str | None:
    """A JSON value as a browser's form field: text; null a blank; the proxy checkbox on or absent."""
    if name == "proxy" and isinstance(value, bool):
        return "on" if value else None
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else str(value)
    # A lone surrogate cannot be sent as UTF-8: a browser sends U+FFFD (raw bytes are case 4's).
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


@dataclass(frozen=True)
class FormCase:
    case: Case
    fields: tuple[tuple[str, str], ...]  # without the csrf token
    same: bool  # the form becomes the body the API judged, with the same Idempotency-Key


def case_of(param: Any) -> Case:
    """The Case inside one of test_api_hostile's pytest.param rows."""
    case = param.values[0]
    assert isinstance(case, Case)
    return case


def body_of(param: Any) -> Any:
    return json.loads(case_of(param).body or b"null")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def form_case(case: Case) -> FormCase | None:
    """The case as a browser's form, when the form can carry it: a JSON object, sent with the API's
    usual headers (the Idempotency-Key aside, which is the form's hidden field); None otherwise."""
    if case.method != "POST" or case.path not in (PROVISION, DATABASES) or case.body is None:
        return None
    headers = dict(case.headers)
    key = headers.pop("idempotency-key", None)
    if headers != JSON_HEADERS:
        return None  # a key or content-type case: nothing a form has
    try:
        body = json.loads(case.body, parse_int=_number, parse_float=Digits, parse_constant=Digits)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    pairs = [(name, value) for name, raw in body.items() if (value := form_value(name, raw)) is not None]
    if key is not None:
        pairs.append(("idempotency_key", key))
    try:
        typed = json.loads(case.body)
        becomes = views.request_from_form({n: v for n, v in pairs if n != "idempotency_key"})
        same_body = _canonical(becomes) == _canonical(typed)
    except (ValueError, RecursionError):
        same_body = False
    # A blank hidden field is no key at all, where the API refuses an empty header; and a 400 is the
    # API's word on the JSON text (a key twice, a BOM), which a form does not have, not on the body.
    return FormCase(case, tuple(pairs), same_body and key != "" and case.status != 400)


FORM_CASES = [
    pytest.param(found, id=param.id) for param in CASES if (found := form_case(case_of(param))) is not None
]


def worker_idle(ledger: Ledger, timeout: float = 30.0) -> None:
    """Wait until the server's worker holds no request in hand (none accepted or processing)."""
    deadline = time.monotonic() + timeout
    while any(ledger.list_requests(status=s, limit=1) for s in ("accepted", "processing")):
        assert time.monotonic() < deadline, "the server's worker did not settle its queue"
        time.sleep(0.05)


def expected_outcome(form: FormCase, repo: LocalRepository, ledger: Ledger) -> int:
    """413 (as big as the API's), 422, or for a valid body 303 when its database is free, else 409."""
    if form.case.status == 413:
        return 413
    fields = dict(form.fields)
    raw = views.request_from_form({n: v for n, v in fields.items() if n != "idempotency_key"})
    worker_idle(ledger)  # else the server's worker may release a name between this and the post
    try:
        claim = claim_from_raw(raw, repo.catalog(), "portal-hostile-oracle", datetime.now(UTC))
    except InvalidRequest:
        verdict = 422
    else:
        verdict = 303
        if ledger.holder(claim.environment, claim.identifier) is not None:
            verdict = 409
        try:
            repo.check_absent(claim)
        except Conflict:
            verdict = 409
    if fields.get("idempotency_key"):
        verdict = 422  # every Idempotency-Key in the tables is malformed
    if form.same:
        assert verdict == form.case.status, "the engine's parser and the API's table disagree"
    return verdict


def _moving(text: str) -> str:
    """A sentence without the holder's status, which the worker moves while the test reads it."""
    return re.sub(r", [a-z_]+\)$", ")", text)


def assert_marked(page: Page, errors: list[dict[str, str]]) -> None:
    """Each field the API named is marked: a form field's control has aria-invalid="true" and is
    described by error-<field>, which holds the API's sentences; another field (unknown, the
    Idempotency-Key, a conflict's "") is named with its sentence in the summary (role=alert)."""
    summary = page.by_id("error-summary")
    assert summary is not None and summary.attrs.get("role") == "alert"
    items = [_moving(item.text().strip()) for item in summary.find("li")]
    rules: dict[str, list[str]] = {}
    for error in errors:
        rules.setdefault(error["field"], []).append(error["rule"])
    for name, said in rules.items():
        if name in views.FORM_FIELDS:
            controls = [
                node
                for node in page.root.walk()
                if node.tag in ("input", "select", "textarea") and node.attrs.get("name") == name
            ]
            assert len(controls) == 1, name
            assert controls[0].attrs.get("aria-invalid") == "true", controls[0].attrs
            assert f"error-{name}" in (controls[0].attrs.get("aria-describedby") or "").split()
            message = page.by_id(f"error-{name}")
            assert message is not None and message.text() == "; ".join(said), name
        else:
            for rule in map(_moving, said):
                assert any(name in item and rule in item for item in items), (name, rule, items)


@pytest.fixture(scope="module")
def request_shapes(browser: httpx.Client, csrf: str) -> Shape:
    answers = [browser.get("/request")]
    for name, change in HARMLESS_REFUSALS.items():
        answer = post_form(browser, "/request", {"csrf": csrf, **VALID_FORM, **change})
        assert answer.status_code == 422, (name, answer.text)
        answers.append(answer)
    return shape_of(*answers)


@pytest.mark.parametrize("form", FORM_CASES)
def test_request_form_answers_as_the_api(
    form: FormCase,
    browser: httpx.Client,
    api: httpx.Client,
    csrf: str,
    repo: LocalRepository,
    ledger: Ledger,
    request_shapes: Shape,
    status_shapes: Shape,
) -> None:
    expected = expected_outcome(form, repo, ledger)
    answer = post_form(browser, "/request", [("csrf", csrf), *form.fields])
    assert answer.status_code == expected, answer.text[:1000]
    assert "set-cookie" not in answer.headers
    if expected == 413:
        assert answer.headers["content-type"] == "application/json"
        return
    if expected == 303:
        assert re.fullmatch(r"/requests/[0-9a-f-]{36}", answer.headers["location"]), answer.headers
        assert_safe(browser.get(answer.headers["location"]), status_shapes)
        return
    sent = [text for pair in form.fields for text in pair]
    page = assert_safe(answer, request_shapes, sent)
    assert page is not None
    fields = dict(form.fields)
    key = fields.pop("idempotency_key", None)
    raw = views.request_from_form(fields)
    # The API with the same body: a refusal, so nothing is written; its errors are what the page shows.
    said = api.post(DATABASES, json=raw, headers={"Idempotency-Key": key} if key else {})
    assert said.status_code == expected, said.text
    errors = said.json().get("errors") or [{"field": "", "rule": said.json()["detail"]}]
    if form.same:
        assert form.case.field in [error["field"] for error in errors]
    assert_marked(page, errors)
    for name, value in form.fields:  # what was typed is kept, escaped
        if name in views.TEXT_FIELDS and name not in ("database_engine", "environment", "size"):
            assert page.shows(value), (name, value)


def test_the_form_cases_cover_the_tables() -> None:
    ids = {param.id for param in FORM_CASES}
    assert len(FORM_CASES) >= 100
    for table in (INJECTION, CHARACTERS, LOOKALIKES, LENGTHS_AND_RESERVED, UNKNOWN_FIELDS):
        assert {param.id for param in table} <= ids


# ---- 2. stored hostile values -------------------------------------------------------------------

EXTRA_STORED = [
    pytest.param('"><img src=x onerror=alert(1)>', id="attribute-breakout"),
    pytest.param("'><svg onload=alert(1)>", id="single-quote-breakout"),
    pytest.param("</textarea><script>alert(1)</script>", id="textarea-breakout"),
    pytest.param("javascript:alert(1)", id="javascript-url"),
    pytest.param("&lt;b&gt;bold&lt;/b&gt;", id="already-escaped"),
    pytest.param("<!-- x -->", id="html-comment"),
    pytest.param("{{ 7*7 }}{% raw %}${7*7}#{7*7}", id="template-syntaxes"),
]


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False  # a lone surrogate: no database column holds it
    return 0 < len(text) <= 64 and bool(text.strip())  # 64: the fleet's filter takes that much


def stored_strings() -> list[Any]:
    """The hostile values of INJECTION, CHARACTERS and LOOKALIKES, and UNKNOWN_FIELDS' hostile names."""
    found: dict[str, str] = {}
    for param in [*INJECTION, *CHARACTERS, *LOOKALIKES]:
        body = body_of(param)
        for name, value in body.items():
            if isinstance(value, str) and value != VALID.get(name) and _storable(value):
                found.setdefault(value, param.id)
    for param in UNKNOWN_FIELDS:
        for name in body_of(param):
            if name not in VALID and _storable(name):
                found.setdefault(name, param.id)
    params = [pytest.param(text, id=case_id) for text, case_id in found.items()]
    return params + [param for param in EXTRA_STORED if param.values[0] not in found]


STORED = stored_strings()
TWIN = "twin"  # the harmless value every stored page is compared with


@dataclass(frozen=True)
class Stored:
    opened: str  # a request with its change open: on the fleet, history with notes
    failed: str  # a failed request: errors shown


def store(ledger: Ledger, text: str, number: int) -> Stored:
    """Two requests with `text` everywhere a page shows a ledger value (kept off the worker's queue).
    The twin's body is a valid request, so that its fleet row has a claim (an expiry, a cost) too."""
    payload: dict[str, Any] = {**VALID, "database_name": text, "owner": text, "team": text, "reason": text}
    if text != TWIN:
        payload |= {"database_engine": text, "environment": text, text: text}

    def accept() -> str:
        new = NewRequest(str(uuid.uuid4()), "api", text, payload, text, text, text, owner=text)
        record, _ = record_and_queue(ledger, new, outbox=True)
        return record.id

    failed = accept()
    assert ledger.transition(failed, "failed", text, errors=[{"field": text, "rule": text}, text])
    opened = accept()
    link = text if text.startswith("javascript") else f"https://git.example/pull/{number}?q={text}"
    assert ledger.transition(opened, "change_open", text, change_id=900_000 + number, change_link=link)
    ledger.note(opened, text)
    ledger.note(opened, f"/plan {text}")
    return Stored(opened, failed)


@pytest.fixture(scope="module")
def stored(ledger: Ledger) -> dict[str, Stored]:
    texts = [TWIN, *(param.values[0] for param in STORED)]
    return {text: store(ledger, text, number) for number, text in enumerate(texts)}


def stored_pages(http: httpx.Client, text: str, records: Stored) -> dict[str, httpx.Response]:
    return {
        "fleet": http.get("/fleet", params={"owner": text}),
        "fleet-failed": http.get("/fleet", params={"status": "failed", "owner": text}),
        "status-open": http.get(f"/requests/{records.opened}"),
        "live-open": http.get(f"/requests/{records.opened}/live"),
        "status-failed": http.get(f"/requests/{records.failed}"),
        "live-failed": http.get(f"/requests/{records.failed}/live"),
    }


@pytest.fixture(scope="module")
def twin_shapes(browser: httpx.Client, stored: dict[str, Stored]) -> dict[str, Shape]:
    shapes = {name: shape_of(answer) for name, answer in stored_pages(browser, TWIN, stored[TWIN]).items()}
    for name, shape in shapes.items():
        assert ("a", frozenset({"href"})) in shape or name.startswith("live"), name  # a real render
    return shapes


@pytest.fixture(scope="module")
def status_shapes(twin_shapes: dict[str, Shape]) -> Shape:
    return twin_shapes["status-open"] | twin_shapes["status-failed"]


@pytest.fixture(scope="module")
def fleet_shapes(browser: httpx.Client, twin_shapes: dict[str, Shape]) -> Shape:
    nobody = browser.get("/fleet", params={"owner": "nobody-at-all"})
    assert nobody.status_code == 200
    return twin_shapes["fleet"] | twin_shapes["fleet-failed"] | shape_of(nobody)


@pytest.fixture(scope="module")
def error_shapes(browser: httpx.Client) -> Shape:
    absent = browser.get("/requests/00000000-0000-4000-8000-000000000000")
    bogus = browser.get("/fleet", params={"status": "bogus"})
    assert (absent.status_code, bogus.status_code) == (404, 422)
    return shape_of(absent, bogus)


@pytest.mark.parametrize("text", STORED)
def test_stored_value_is_shown_escaped(
    text: str, browser: httpx.Client, stored: dict[str, Stored], twin_shapes: dict[str, Shape]
) -> None:
    for name, answer in stored_pages(browser, text, stored[text]).items():
        assert answer.status_code == 200, (name, answer.text[:500])
        page = assert_safe(answer, twin_shapes[name], [text])
        assert page is not None
        assert page.shows(text), f"{name}: {text!r} is not shown as it is"
        if name.startswith("fleet"):
            rows = [row.attrs.get("data-database") for row in page.root.find("tr")]
            seen = views.visible(text)
            assert f"{seen}/{seen}" in rows, (name, rows)
        if "{{" in text:  # shown literally, never evaluated
            assert not any(run.strip() == "49" for run in page.texts), name


def test_fleet_with_every_stored_value(
    browser: httpx.Client, stored: dict[str, Stored], fleet_shapes: Shape
) -> None:
    texts = [param.values[0] for param in STORED]
    for query in ({}, {"status": "failed"}, {"status": "change_open"}):
        answer = browser.get("/fleet", params=query)
        assert answer.status_code == 200
        page = assert_safe(answer, fleet_shapes, texts)
        assert page is not None
        for text in texts:
            assert page.shows(text), (query, text)


# A database on main (created through the API, then merged) for the database page and its forms.
DATABASE_NAMES = ("keeper", "storied", "extendok", "destroyok")


@pytest.fixture(scope="module")
def databases(api: httpx.Client) -> dict[str, str]:
    """name -> its request id, each merged on main with harmless values."""
    ids = {}
    for name in DATABASE_NAMES:
        answer = api.post(DATABASES, json={**VALID, "database_name": name, "owner": "alice", "team": "data"})
        assert answer.status_code == 202, answer.text
        ids[name] = answer.json()["request_id"]
    for name, request_id in ids.items():
        deadline = time.monotonic() + 30
        while (record := api.get(f"/v1/requests/{request_id}").json())["status"] in (
            "accepted",
            "processing",
        ):
            assert time.monotonic() < deadline, f"{name} got no change"
            time.sleep(0.05)
        assert record["status"] == "change_open", record
        merged = api.post(f"/v1/changes/{record['change_id']}/merge")
        assert merged.status_code == 200, merged.text
    return ids


@pytest.fixture(scope="module")
def database_shapes(browser: httpx.Client, csrf: str, databases: dict[str, str], ledger: Ledger) -> Shape:
    """The database page with a history and a plan, and its two forms' refusals, all harmless."""
    ledger.note(databases["storied"], TWIN)
    ledger.note(databases["storied"], f"/plan {TWIN}")
    shown = browser.get("/databases/dev/storied")
    extend = post_form(browser, "/databases/dev/storied/extend", {"csrf": csrf, "ttl": "forever"})
    destroy = post_form(browser, "/databases/dev/storied/destroy", {"csrf": csrf, "reason": "r" * 501})
    assert (shown.status_code, extend.status_code, destroy.status_code) == (200, 422, 422)
    return shape_of(shown, extend, destroy)


def test_database_history_shows_stored_values_escaped(
    browser: httpx.Client, ledger: Ledger, databases: dict[str, str], database_shapes: Shape
) -> None:
    texts = [param.values[0] for param in STORED]
    for text in texts:
        ledger.note(databases["storied"], text)
    ledger.note(databases["storied"], "/plan " + texts[0])
    answer = browser.get("/databases/dev/storied")
    assert answer.status_code == 200
    page = assert_safe(answer, database_shapes, texts)
    assert page is not None
    for text in texts:
        assert page.shows(text), text


def extend_cases() -> list[Any]:
    """EXTENSIONS whose body the extend form can carry: its one field, ttl (a PATCH body with other
    fields has no form counterpart: the form reads ttl alone)."""
    found = []
    for param in EXTENSIONS:
        case, body = case_of(param), body_of(param)
        if isinstance(body, dict) and set(body) <= {"ttl"}:
            found.append(pytest.param(case, form_value("ttl", body.get("ttl")), id=param.id))
    return found


@pytest.mark.parametrize(("case", "ttl"), extend_cases())
def test_extend_form_refuses_like_the_api(
    case: Case,
    ttl: str,
    browser: httpx.Client,
    csrf: str,
    served: ServeProcess,
    ledger: Ledger,
    databases: dict[str, str],
    database_shapes: Shape,
    error_shapes: Shape,
) -> None:
    where = case.path.removeprefix(f"{DATABASES}/")
    if where == "dev/orders" and case.status != 404:
        where = "dev/keeper"  # a database that exists, so only the ttl is wrong
    before = snapshot(served, ledger)
    answer = post_form(browser, f"/databases/{where}/extend", {"csrf": csrf, "ttl": ttl})
    in_path = case.status == 422 and case.field in ("environment", "identifier")
    assert answer.status_code == (404 if in_path else case.status), answer.text[:500]
    page = assert_safe(answer, database_shapes | error_shapes, [ttl])
    if in_path:  # the path itself: no such page, naming the part (the API's 422 is JSON)
        assert page is not None and f"path.{case.field}" in answer.text
    elif case.status == 422:
        assert page is not None
        controls = [node for node in page.root.find("input") if node.attrs.get("name") == "ttl"]
        assert [node.attrs.get("aria-invalid") for node in controls] == ["true"]
        assert page.by_id("error-ttl") is not None and page.shows(ttl)
    assert snapshot(served, ledger) == before


REASON_CASES = [
    pytest.param(body_of(param)["reason"], id=param.id)
    for param in [*INJECTION, *CHARACTERS, *LOOKALIKES, *LENGTHS_AND_RESERVED]
    if case_of(param).field == "reason"
]


@pytest.mark.parametrize("reason", REASON_CASES)
def test_destroy_form_refuses_like_the_api(
    reason: str,
    browser: httpx.Client,
    api: httpx.Client,
    csrf: str,
    served: ServeProcess,
    ledger: Ledger,
    databases: dict[str, str],
    database_shapes: Shape,
) -> None:
    assert reason_errors(reason), "only a reason the rules refuse may be sent: another would destroy"
    before = snapshot(served, ledger)
    answer = post_form(browser, "/databases/dev/keeper/destroy", {"csrf": csrf, "reason": reason})
    assert answer.status_code == 422, answer.text[:500]
    page = assert_safe(answer, database_shapes, [reason])
    assert page is not None
    said = api.post(f"{DATABASES}/dev/keeper/destroy", json={"reason": reason})
    assert said.status_code == 422, said.text
    rules = [error["rule"] for error in said.json()["errors"] if error["field"] == "reason"]
    controls = [node for node in page.root.find("input") if node.attrs.get("name") == "reason"]
    assert [node.attrs.get("aria-invalid") for node in controls] == ["true"]
    message = page.by_id("error-reason")
    assert message is not None and message.text() == "; ".join(rules)
    assert page.shows(reason)
    assert snapshot(served, ledger) == before


# ---- 3. paths, queries and sign-in's next -------------------------------------------------------


def page_paths(api_path: str) -> list[tuple[str, str]]:
    """The portal's pages for an API path: /v1/databases/... -> /databases/..., /v1/requests/<id> ->
    /requests/<id> and its /live, /v1/databases?query -> /fleet?query; /v1/changes has no page."""
    if api_path.startswith(f"{DATABASES}?"):
        return [("", "/fleet" + api_path.removeprefix(DATABASES))]
    if api_path.startswith(f"{DATABASES}/"):
        return [("", "/databases/" + api_path.removeprefix(f"{DATABASES}/"))]
    if api_path.startswith("/v1/requests/"):
        rest = api_path.removeprefix("/v1/requests/")
        return [("", f"/requests/{rest}"), ("-live", f"/requests/{rest}/live")]
    return []


@dataclass(frozen=True)
class PathCase:
    path: str
    field: str | None = None  # what a 422 names, as the API's case says
    raw: bool = False  # written to the socket as is (httpx would normalise it)


def path_cases() -> list[Any]:
    found = []
    for param in [*PATHS, *QUERIES]:
        case = case_of(param)
        api_path = case.path
        if case.raw is not None:
            api_path = case.raw.split(b" ", 2)[1].decode("latin-1")
        for suffix, path in page_paths(api_path):
            found.append(pytest.param(PathCase(path, case.field, case.raw is not None), id=param.id + suffix))
    extra = {
        "requests-script-tag": "/requests/<script>alert(1)</script>",
        "requests-script-tag-live": "/requests/<script>/live",
        "requests-jinja": "/requests/{{ 7*7 }}",
        "database-img-tag": "/databases/dev/<img src=x onerror=alert(1)>",
        "database-environment-img-tag": "/databases/<img>/orders",
        "database-environment-javascript": "/databases/javascript:alert(1)/orders",
        "fleet-status-script-tag": "/fleet?status=<script>alert(1)</script>",
        "fleet-status-twice": "/fleet?status=failed&status=<script>",
        "fleet-owner-attribute-breakout": '/fleet?owner="><img src=x onerror=alert(1)>',
        "fleet-team-jinja": "/fleet?team={{ 7*7 }}",
        "fleet-environment-script-tag": '/fleet?environment="><script>alert(1)</script>',
        "fleet-engine-rtl-override": "/fleet?engine=post\u202egres",
        "fleet-owner-nul": "/fleet?owner=%00",
        "fleet-owner-crlf": "/fleet?owner=a%0d%0aX-Injected:%201",
        "static-script-tag": "/static/<script>",
        "static-traversal": "/static/..%2Fpages.py",
        "signin-next-script-tag": '/signin?next=/"><script>alert(1)</script>',
        "signin-next-javascript": "/signin?next=javascript:alert(1)",
    }
    return found + [pytest.param(PathCase(path), id=case_id) for case_id, path in extra.items()]


def page_shapes(path: str, status: int, shapes: Mapping[str, Shape]) -> Shape:
    """The known-good shapes of the page a path shows (its error page when refused)."""
    if status != 200:
        return shapes["error"]
    return shapes[path.split("/")[1].partition("?")[0]]


@pytest.fixture(scope="module")
def signin_shapes(served: ServeProcess) -> Shape:
    with httpx.Client(base_url=served.url, timeout=10) as http:
        plain = http.get("/signin")
        wrong = sign_in(http, "not-the-key", "/fleet")
    assert (plain.status_code, wrong.status_code) == (200, 401)
    return shape_of(plain, wrong)


def fetch(served: ServeProcess, case: PathCase, cookie: str | None) -> httpx.Response:
    if not case.raw:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            headers = {"cookie": f"dbvend_session={cookie}"} if cookie else {}
            return http.get(case.path, headers=headers)
    headers = [(b"Cookie", f"dbvend_session={cookie}".encode())] if cookie else []
    answer = send_raw(served.port, raw_request("GET", case.path, headers, key=None))
    request = httpx.Request("GET", served.url)
    return httpx.Response(answer.status, headers=answer.headers, content=answer.body, request=request)


@pytest.mark.parametrize("case", path_cases())
def test_hostile_path_or_query(
    case: PathCase,
    served: ServeProcess,
    browser: httpx.Client,
    fleet_shapes: Shape,
    error_shapes: Shape,
    signin_shapes: Shape,
    database_shapes: Shape,
    status_shapes: Shape,
) -> None:
    shapes = {
        "fleet": fleet_shapes,
        "error": error_shapes,
        "signin": signin_shapes,
        "databases": database_shapes,
        "requests": status_shapes,
    }
    hostile = [case.path, *(v for vs in parse_qs(urlsplit(case.path).query).values() for v in vs)]
    signed_in = fetch(served, case, browser.cookies["dbvend_session"])
    assert signed_in.status_code in (200, 404, 422), signed_in.text[:500]
    assert "dbvend_session" not in signed_in.headers.get(
        "set-cookie", ""
    )  # the sign-in page's own token may be set
    page = assert_safe(signed_in, page_shapes(case.path, signed_in.status_code, shapes), hostile)
    if signed_in.status_code == 422 and case.field is not None:
        if page is None:  # FastAPI's refusal of a path or query parameter, as the API's
            assert case.field in [error["field"] for error in signed_in.json()["errors"]]
        else:
            alert = [node.text() for node in page.root.walk() if node.attrs.get("role") == "alert"]
            assert any(case.field in text for text in alert), alert
    # Signed out: the sign-in page, back to a path on this site, or the same refusal.
    signed_out = fetch(served, case, None)
    assert signed_out.status_code in (200, 303, 404, 422), signed_out.text[:500]
    assert "dbvend_session" not in signed_out.headers.get("set-cookie", "")
    if signed_out.status_code != 303:
        assert_safe(signed_out, page_shapes(case.path, signed_out.status_code, shapes), hostile)
        return
    location = signed_out.headers["location"]
    assert location.startswith("/signin?next=/"), location
    assert_on_site(parse_qs(urlsplit(location).query)["next"][0], served.url)
    with httpx.Client(base_url=served.url, timeout=10) as http:
        shown = http.get(location)  # 422 (JSON) when the path is longer than `next` may be
    assert shown.status_code in (200, 422), shown.text[:300]
    page = assert_safe(shown, signin_shapes, hostile)
    if page is not None:
        hidden = [
            node.attrs.get("value") for node in page.root.find("input") if node.attrs.get("name") == "next"
        ]
        assert len(hidden) == 1 and hidden[0] is not None
        assert_on_site(hidden[0], served.url)


def session_cookies() -> list[Any]:
    """Session cookies as bytes on the wire; KEY, EXPIRY and SIGNATURE stand for the real token's parts."""
    cookies = {
        "empty": b"",
        "no-dots": b"x",
        "dots-only": b"..",
        "script-tag": b"<script>alert(1)</script>",
        "201-characters": b"k" * 201,
        "unknown-key": b"key-000000000000.EXPIRY.SIGNATURE",
        "expiry-not-digits": b"KEY.abc.SIGNATURE",
        "expiry-13-digits": b"KEY.9999999999999.SIGNATURE",
        "expired": b"KEY.1.SIGNATURE",
        "signature-wrong": b"KEY.EXPIRY.x",
        "signature-upper-case": b"KEY.EXPIRY.SIGNATURE-UPPER",
        "expiry-arabic-indic-digits-utf8": "KEY.\u0661\u0662.SIGNATURE".encode(),
        # Latin-1 bytes (a header is read as Latin-1): U+00B2 is a digit to str.isdigit() but not to int().
        "expiry-superscript-two": b"KEY.\xb2.SIGNATURE",
        # hmac.compare_digest refuses a str that is not ASCII (TypeError) where it should say "no".
        "signature-latin1-byte": b"KEY.EXPIRY.\xe9",
    }
    return [pytest.param(cookie, id=name) for name, cookie in cookies.items()]


@pytest.mark.parametrize("cookie", session_cookies())
def test_hostile_session_cookie_leads_to_signin(
    cookie: bytes, served: ServeProcess, browser: httpx.Client
) -> None:
    key, expiry, signature = browser.cookies["dbvend_session"].encode().split(b".")
    cookie = cookie.replace(b"SIGNATURE-UPPER", signature.upper()).replace(b"SIGNATURE", signature)
    cookie = cookie.replace(b"KEY", key).replace(b"EXPIRY", expiry)
    for path in ("/fleet", "/request"):
        answer = send_raw(
            served.port, raw_request("GET", path, [(b"Cookie", b"dbvend_session=" + cookie)], key=None)
        )
        assert (answer.status, answer.headers.get("location")) == (303, f"/signin?next={path}"), answer.body[
            :200
        ]


NEXT_VALUES = {
    "double-slash": "//evil.example",
    "triple-slash": "///evil.example",
    "slash-backslash": "/\\evil.example",
    "backslashes": "\\\\evil.example",
    "absolute-https": OFF_SITE,
    "scheme-relative-http": "http:evil.example",
    "javascript": "javascript:alert(1)",
    "javascript-upper-case": "JaVaScRiPt:alert(1)",
    "data-url": "data:text/html,<script>alert(1)</script>",
    "tab-between-slashes": "/\t/evil.example",
    "crlf-between-slashes": "/\r\n/evil.example",
    "leading-space": " //evil.example",
    "ideographic-space": "/\u3000/evil.example",
    "encoded-slashes": "/%2F%2Fevil.example",
    "encoded-backslash": "/%5Cevil.example",
    "dot-segment": "/.//evil.example",
    "at-sign": "/@evil.example",
    "nul": "/\x00/evil.example",
    "rtl-override": "/\u202e//evil.example",
    "attribute-breakout": '/fleet"><script>alert(1)</script>',
    "300-characters": "/" + "a" * 299,
    "empty": "",
}


@pytest.mark.parametrize("next_path", list(NEXT_VALUES.values()), ids=list(NEXT_VALUES))
def test_signin_never_leads_off_site(next_path: str, served: ServeProcess, signin_shapes: Shape) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as http:
        shown = http.get("/signin", params={"next": next_path})
        assert shown.status_code in (200, 422), shown.text[:300]  # 422: longer than 200 characters
        page = assert_safe(shown, signin_shapes, [next_path])
        if page is not None:
            hidden = [
                node.attrs.get("value")
                for node in page.root.find("input")
                if node.attrs.get("name") == "next"
            ]
            assert len(hidden) == 1 and hidden[0] is not None
            assert_on_site(hidden[0], served.url)
        refused = sign_in(http, "not-the-key", next_path)
        assert refused.status_code == 401 and "set-cookie" not in refused.headers
        assert_safe(refused, signin_shapes, [next_path])
        signed = sign_in(http, API_KEY, next_path)
        assert signed.status_code == 303 and http.cookies.get("dbvend_session")
        assert_on_site(signed.headers["location"], served.url)


# ---- 4. form defects: refused before anything is written ----------------------------------------

Pairs = list[tuple[str, str]]


def _form(pairs: Pairs) -> bytes:
    return urlencode(pairs).encode("ascii")


@dataclass(frozen=True)
class Defect:
    status: int
    body: Any  # (token, fields) -> bytes
    content_type: str | None = FORM
    needs_token: bool = True  # a defect of the csrf token (sign-in has none)


DEFECTS = {
    "csrf-missing": Defect(403, lambda t, f: _form(f)),
    "csrf-empty": Defect(403, lambda t, f: _form([("csrf", ""), *f])),
    "csrf-wrong": Defect(403, lambda t, f: _form([("csrf", "0" * 32), *f])),
    "csrf-upper-case": Defect(403, lambda t, f: _form([("csrf", t.upper() + "X"), *f])),
    "csrf-truncated": Defect(403, lambda t, f: _form([("csrf", t[:-1]), *f])),
    "csrf-trailing-space": Defect(403, lambda t, f: _form([("csrf", t + " "), *f])),
    "csrf-lone-surrogate": Defect(400, lambda t, f: _form(f) + b"&csrf=%ED%A0%80"),
    # Valid UTF-8, not ASCII: hmac.compare_digest raises TypeError for such a str instead of saying no.
    "csrf-not-ascii": Defect(403, lambda t, f: _form([("csrf", "\u00e9" * 32), *f])),
    "csrf-twice": Defect(400, lambda t, f: _form([("csrf", t), ("csrf", t), *f])),
    "field-twice": Defect(
        400, lambda t, f: _form([("csrf", t), *f, ("note", "a"), ("note", "b")]), needs_token=False
    ),
    "non-utf8-raw-byte": Defect(
        400, lambda t, f: _form([("csrf", t), *f]) + b"&note=\xff", needs_token=False
    ),
    "non-utf8-percent-escape": Defect(
        400, lambda t, f: _form([("csrf", t), *f]) + b"&note=%FF", needs_token=False
    ),
    "latin1-byte": Defect(400, lambda t, f: _form([("csrf", t), *f]) + b"&note=Jos\xe9", needs_token=False),
    "latin1-charset": Defect(
        400, lambda t, f: _form([("csrf", t), *f]) + b"&note=Jos\xe9", f"{FORM}; charset=iso-8859-1", False
    ),
    "overlong-slash": Defect(400, lambda t, f: _form([("csrf", t), *f]) + b"&note=%C0%AF", needs_token=False),
    "too-many-fields": Defect(
        400, lambda t, f: _form([("csrf", t), *f, *((f"n{i}", "x") for i in range(41))]), needs_token=False
    ),
    "json-content-type": Defect(
        415, lambda t, f: json.dumps({"csrf": t, **dict(f)}).encode(), "application/json", False
    ),
    "text-plain": Defect(415, lambda t, f: _form([("csrf", t), *f]), "text/plain", False),
    "multipart": Defect(
        415,
        lambda t, f: f'--x\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{t}\r\n--x--\r\n'.encode(),
        "multipart/form-data; boundary=x",
        False,
    ),
    "no-content-type": Defect(415, lambda t, f: _form([("csrf", t), *f]), None, False),
    "body-70-kib": Defect(
        413, lambda t, f: _form([("csrf", t), *f, ("note", "r" * 70 * 1024)]), needs_token=False
    ),
}
# Each form with fields that, with its token, would be written: only the defect stands in the way.
TARGETS: dict[str, tuple[str, Pairs]] = {
    "request": (
        "/request",
        [("database_name", "nowrite"), ("database_engine", "postgres"), ("environment", "dev")],
    ),
    "extend": ("/databases/dev/keeper/extend", [("ttl", "20d")]),
    "destroy": ("/databases/dev/keeper/destroy", [("reason", "no longer needed")]),
    "signout": ("/signout", []),
    "signin": ("/signin", [("api_key", API_KEY), ("next", "/fleet")]),
}
DEFECT_CASES = [
    pytest.param(target, defect, id=f"{target}-{name}")
    for target in TARGETS
    for name, defect in DEFECTS.items()
    if target != "signin" or not defect.needs_token
]


@pytest.mark.parametrize(("target", "defect"), DEFECT_CASES)
def test_defective_form_is_refused_and_nothing_written(
    target: str,
    defect: Defect,
    served: ServeProcess,
    browser: httpx.Client,
    csrf: str,
    ledger: Ledger,
    databases: dict[str, str],
    error_shapes: Shape,
) -> None:
    path, fields = TARGETS[target]
    headers = {"content-type": defect.content_type} if defect.content_type else {}
    before, refused = snapshot(served, ledger), refusals(ledger)
    answer = browser.post(path, content=defect.body(csrf, fields), headers=headers)
    assert answer.status_code == defect.status, answer.text[:500]
    assert refusals(ledger) == refused + 1, "each refusal is in the audit trail, once"
    assert "set-cookie" not in answer.headers  # not signed in, nor out
    if defect.status != 413:
        assert_safe(answer, error_shapes)
    assert snapshot(served, ledger) == before
    assert browser.get("/request").status_code == 200  # the session is still there


CONTROLS = {
    "request": (
        "/request",
        [("database_name", "control"), ("database_engine", "postgres"), ("environment", "dev")],
    ),
    "extend": ("/databases/dev/extendok/extend", [("ttl", "20d")]),
    "destroy": ("/databases/dev/destroyok/destroy", [("reason", "no longer needed")]),
}


@pytest.mark.parametrize("target", list(CONTROLS))
def test_the_same_form_with_its_token_is_written(
    target: str,
    served: ServeProcess,
    browser: httpx.Client,
    csrf: str,
    ledger: Ledger,
    databases: dict[str, str],
) -> None:
    """The control: without the defect, the same kind of form goes through (so the refusals above are
    the defects', not the body's)."""
    path, fields = CONTROLS[target]
    before = snapshot(served, ledger)
    answer = post_form(browser, path, [("csrf", csrf), *fields])
    assert answer.status_code == 303, answer.text[:500]
    if target != "request":  # back to the database page, which says what was proposed
        shown = browser.get(answer.headers["location"]).text
        assert 'role="status"' in shown and "proposed in change #" in shown
    assert snapshot(served, ledger) != before


def test_signout_with_its_token_signs_out(served: ServeProcess) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as http:
        assert sign_in(http).status_code == 303
        token = form_token(http)
        assert post_form(http, "/signout", {"csrf": "0" * 32}).status_code == 403
        answer = post_form(http, "/signout", {"csrf": token})
        assert answer.status_code == 303 and answer.headers["location"] == "/signin"
        assert (
            'dbvend_session=""' in answer.headers["set-cookie"] or "Max-Age=0" in answer.headers["set-cookie"]
        )
