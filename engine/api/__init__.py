"""The FastAPI app: one router per resource, joined here, with the services built once."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from engine.api import changes, databases, health, provision, requests, webhook
from engine.api.auth import KeyStore, RateLimiter
from engine.api.deps import MAX_BODY, ApiError, Services
from engine.api.middleware import AccessLog, LimitBody
from engine.gitops.local import LocalRepository
from engine.ledger import Ledger
from engine.settings import Settings


def build_services(settings: Settings, keys: KeyStore | None = None) -> tuple[Services, str | None]:
    """The ledger, the GitOps backend, the keys; also a newly generated key (shown once) or None."""
    new_key = None
    if keys is None:
        if settings.api_key_list:
            keys = KeyStore.from_keys(settings.api_key_list)
        else:
            keys, new_key = KeyStore.load_or_generate(settings.data)
    settings.data.mkdir(parents=True, exist_ok=True)
    services = Services(
        settings=settings,
        ledger=Ledger.connect(settings.ledger_url),
        backend=LocalRepository.open_or_create(settings.repo_path),
        keys=keys,
        limiter=RateLimiter(settings.rate_limit),
    )
    return services, new_key


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="dbvend",
        summary="Self-service databases through GitOps",
        version="0.1.0",
    )
    app.state.services = services
    for module in (provision, databases, requests, changes, health, webhook):
        app.include_router(module.router)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0]),
                "rule": str(error["msg"]),
            }
            for error in exc.errors()
        ]
        return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)

    app.add_middleware(LimitBody, limit=MAX_BODY, per_path={"/github/webhook": webhook.MAX_WEBHOOK_BODY})
    app.add_middleware(AccessLog)
    return app
