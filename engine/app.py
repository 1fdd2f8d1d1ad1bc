"""The web application: the API's routers, the GitHub webhook and the portal joined on one
FastAPI app around the services the entry point built (engine.services)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from engine import api, portal
from engine.api.deps import MAX_BODY
from engine.api.middleware import AccessLog, LimitBody
from engine.errors import DbvendError
from engine.logs import request_id_var
from engine.services import Services

log = logging.getLogger("dbvend.api")


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="dbvend",
        summary="Self-service databases through GitOps",
        version="0.1.0",
    )
    app.state.services = services
    for router in api.ROUTERS:
        app.include_router(router)
    portal.install(app)

    @app.exception_handler(DbvendError)
    async def dbvend_error(_request: Request, exc: DbvendError) -> JSONResponse:
        """Every refusal and failure, one schema: {"detail", "errors": [{field, rule}]}."""
        if exc.http_status >= 500 and exc.http_status != 503:
            log.error("internal error: %s", exc, extra={"error": type(exc).__name__})
            body = {"detail": f"internal error; the server's log has it under request {request_id_var.get()}"}
            return JSONResponse(body, status_code=exc.http_status)
        return JSONResponse(exc.answer(), status_code=exc.http_status, headers=dict(exc.headers))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
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

    app.add_middleware(LimitBody, limit=MAX_BODY, per_path={"/github/webhook": api.MAX_WEBHOOK_BODY})
    app.add_middleware(AccessLog)
    return app
