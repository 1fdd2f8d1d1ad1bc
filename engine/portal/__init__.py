"""The web portal: server-rendered pages under / on the API's own app, signed in with GitHub or an API key."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI

from engine.portal import audit, databases, oauth, requests, signin
from engine.portal.pages import PortalError, invalid_page, is_page, portal_error, router
from engine.portal.signin import SignInNeeded, sign_in_needed

__all__ = ["install", "invalid_page", "is_page"]

PAGE_MODULES: Final = (signin, oauth, requests, databases, audit)
"""The modules whose pages are on engine.portal.pages.router (importing them adds them)."""


def install(app: FastAPI) -> None:
    """Add the portal's pages and its two answers that are pages rather than JSON."""
    app.include_router(router)
    app.add_exception_handler(SignInNeeded, sign_in_needed)  # type: ignore[arg-type]
    app.add_exception_handler(PortalError, portal_error)  # type: ignore[arg-type]
