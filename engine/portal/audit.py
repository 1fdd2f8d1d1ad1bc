"""The portal's audit page: the trail, newest first, filtered as GET /v1/audit filters it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Final, TypeVar
from urllib.parse import urlencode

from fastapi import Query
from fastapi.responses import Response

from engine.audit import ACTIONS, OUTCOMES, decode_cursor, encode_cursor, parse_audit_query
from engine.errors import InvalidRequest, NotAllowed
from engine.guard import enforce
from engine.portal.pages import PortalError, page, router
from engine.portal.signin import VisitorDep
from engine.web import ServicesDep

T = TypeVar("T")
PAGE_ROWS: Final = 50
FILTERS: Final = ("database", "actor", "since", "until", "action", "outcome")
# Longer than any valid value: a wrong one is shown next to its field, not as "no such page".
Typed = Annotated[str | None, Query(max_length=300)]


@router.get("/audit")
def audit_trail_page(
    services: ServicesDep,
    me: VisitorDep,
    database: Typed = None,
    actor: Typed = None,
    since: Typed = None,
    until: Typed = None,
    action: Typed = None,
    outcome: Typed = None,
    cursor: Typed = None,
) -> Response:
    """Who did what, through which door, to which database: a page at a time, "Older" for the next."""
    try:
        enforce(services.access_rules(), me.actor, "audit", "", ledger=services.ledger)
    except NotAllowed as exc:
        raise PortalError(403, str(exc), audited=exc.audited) from None
    raw = dict(zip(FILTERS, (database, actor, since, until, action, outcome), strict=True))
    values = {name: value.strip() for name, value in raw.items() if value and value.strip()}
    context: dict[str, Any] = {"me": me, "values": values, "actions": ACTIONS, "outcomes": OUTCOMES}
    errors: dict[str, list[str]] = {}
    query = _checked(errors, lambda: parse_audit_query(**values))
    before = _checked(errors, lambda: decode_cursor(cursor.strip() if cursor and cursor.strip() else None))
    if errors or query is None:
        return page("audit.html", 422, **context, rows=[], errors=errors, older=None, newest=None)
    rows, next_before = services.ledger.audit_page(query, PAGE_ROWS, before)
    older = None if next_before is None else _link({**values, "cursor": encode_cursor(next_before)})
    newest = _link(values) if before is not None else None
    return page("audit.html", 200, **context, rows=rows, errors={}, older=older, newest=newest)


def _checked(errors: dict[str, list[str]], read: Callable[[], T]) -> T | None:
    """What `read` reads, or None with its refusals added to `errors` by field."""
    try:
        return read()
    except InvalidRequest as refused:
        for error in refused.errors:
            errors.setdefault(error.field, []).append(error.rule)
        return None


def _link(params: dict[str, str]) -> str:
    return "/audit?" + urlencode(params) if params else "/audit"
