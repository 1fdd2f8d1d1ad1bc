"""The web application: the API's routers, the GitHub webhook and the portal joined on one
FastAPI app around the services the entry point built (engine.services)."""

from __future__ import annotations

import logging
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

from engine import api, portal
from engine.api import openapi
from engine.api.deps import MAX_BODY
from engine.api.middleware import AccessLog, LimitBody
from engine.errors import DbvendError
from engine.logs import request_id_var
from engine.services import Services
from engine.web import audit_refusal

log = logging.getLogger("dbvend.api")
_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="dbvend",
        summary="Self-service databases through GitOps",
        version="0.1.0",
        generate_unique_id_function=lambda route: route.name,  # operation ids: the routes' names
    )
    app.state.services = services
    for router in api.ROUTERS:
        app.include_router(router)
    portal.install(app)
    openapi.install(app)

    @app.exception_handler(DbvendError)
    async def dbvend_error(request: Request, exc: DbvendError) -> JSONResponse:
        """Every refusal and failure, one schema: {"detail", "errors": [{field, rule}]}."""
        if not exc.audited:
            await audit_refusal(request, exc.http_status, str(exc))
        if exc.http_status >= 500 and exc.http_status != 503:
            log.error("internal error: %s", exc, extra={"error": type(exc).__name__})
            body = {"detail": f"internal error; the server's log has it under request {request_id_var.get()}"}
            return JSONResponse(body, status_code=exc.http_status)
        return JSONResponse(exc.answer(), status_code=exc.http_status, headers=dict(exc.headers))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        said = "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
        await audit_refusal(request, 422, f"invalid request: {said}")
        if portal.is_page(request):
            return portal.invalid_page(exc)
        errors = [
            {
                "field": ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0]),
                "rule": str(error["msg"]),
            }
            for error in exc.errors()
        ]
        return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        """Starlette's answers (404, 405); a 405's Allow names every method of the path, not only
        those of the first route that matched it."""
        await audit_refusal(request, exc.status_code, str(exc.detail))
        if exc.status_code == 405:
            allow = ", ".join(sorted(allowed_methods(request)))
            exc = HTTPException(405, exc.detail, headers={**(exc.headers or {}), "Allow": allow})
        return await http_exception_handler(request, exc)

    app.add_middleware(LimitBody, limit=MAX_BODY, per_path={"/github/webhook": api.MAX_WEBHOOK_BODY})
    app.add_middleware(AccessLog)
    return app


def allowed_methods(request: Request) -> set[str]:
    """The methods some route takes on the request's path, asked of the router itself."""
    scope = {key: value for key, value in request.scope.items() if key != "fastapi"}  # FastAPI's own
    return {
        method
        for method in _METHODS
        if any(
            route.matches(scope | {"method": method})[0] == Match.FULL for route in request.app.router.routes
        )
    }
