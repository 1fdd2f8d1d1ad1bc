"""What every portal page shares: the router, templates, headers, error pages, forms, static files."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response

from engine.portal import views
from engine.web import audit_refusal

PORTAL_TAG: Final = "portal"
FORM_TYPE: Final = "application/x-www-form-urlencoded"
MAX_FIELDS: Final = 40
# Everything from this server, nothing inline, no frames: an injected tag could not run a script.
# (X-Content-Type-Options: nosniff comes with every answer, from engine.api.middleware.)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
STATIC: Final = {"portal.css": "text/css; charset=utf-8", "portal.js": "text/javascript; charset=utf-8"}


# The portal's one router: signin, requests and databases add their pages to it, this module its
# static files. Tagged as pages (is_page) and left out of the API's OpenAPI.
router = APIRouter(include_in_schema=False, tags=[PORTAL_TAG])


class PortalError(Exception):
    """A page that cannot be shown: its status and a sentence for the person."""

    def __init__(
        self, status: int, message: str, headers: Mapping[str, str] | None = None, audited: bool = False
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, dict(headers or {})
        self.audited = audited  # the refusal is in the audit trail already


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("engine.portal").joinpath("templates"))),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=views.visible,
    )
    env.filters["money"] = views.money
    env.globals["status_words"] = views.STATUS_WORDS
    return env


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates().get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def is_page(request: Request) -> bool:
    """The request was routed to one of the portal's pages (not the API, which answers JSON)."""
    return PORTAL_TAG in getattr(request.scope.get("route"), "tags", ())


def invalid_page(exc: RequestValidationError) -> Response:
    """A page's address with a part no page has (a path or query parameter out of its rules)."""
    where = ", ".join(".".join(str(part) for part in error["loc"]) for error in exc.errors())
    return page("error.html", 404, message=f"There is no such page ({where}).", me=None)


async def portal_error(request: Request, exc: PortalError) -> Response:
    """The error page; a refusal in the audit trail (engine.web.audit_refusal), once."""
    if not exc.audited:
        await audit_refusal(request, exc.status, exc.message)
    response = page("error.html", exc.status, message=exc.message, me=None)
    response.headers.update(exc.headers)
    return response


async def form_fields(request: Request) -> dict[str, str]:
    """A posted form's fields: URL-encoded UTF-8 only, each field once (size: the middleware)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise PortalError(415, "This page takes a form posted by a browser.")
    try:
        pairs = parse_qsl(
            (await request.body()).decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        raise PortalError(400, "The form could not be read.") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise PortalError(400, "The form sent a field twice.")
        fields[name] = value
    return fields


FormDep = Annotated[dict[str, str], Depends(form_fields)]


# -- static files ---------------------------------------------------------------------------


@cache
def _static(name: str) -> bytes:
    return resources.files("engine.portal").joinpath("static", name).read_bytes()


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """The portal's own CSS and JavaScript (no CDN): a fixed list, nothing else on disk."""
    if name not in STATIC:
        raise PortalError(404, "No such file.")
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=300", "ETag": _etag(name)}
    return Response(_static(name), media_type=STATIC[name], headers=headers)


@cache
def _etag(name: str) -> str:
    return '"' + hashlib.sha256(_static(name)).hexdigest()[:16] + '"'
