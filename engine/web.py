"""What the API and the portal share: the services a request is served with, and the path
parameters that name a database or a request (both edges validate them the same way)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from engine.services import Services


def caller_name(request: Request) -> str:
    """How the audit trail names a caller it could not identify: by the address it came from."""
    return f"unknown:{request.client.host if request.client else 'unknown'}"[:200]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
Environment = Annotated[str, Path(max_length=20, pattern=r"^[a-z][a-z0-9-]*$")]
Identifier = Annotated[str, Path(max_length=63, pattern=r"^[A-Za-z][A-Za-z0-9-]*$")]
RequestId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")]
