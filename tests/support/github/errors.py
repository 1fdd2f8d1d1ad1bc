"""Errors answered in GitHub's shapes: REST's {"message", "documentation_url", "status"[, "errors"]}
and GraphQL's 200 with a FORBIDDEN error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse, Response

DOCS_URL = "https://docs.github.com/rest"
NOT_FOUND = "Not Found"
REOPEN_MERGED = "Cannot reopen a merged pull request"


class GitHubError(Exception):
    """An HTTP error answered in GitHub's shape: {"message", "documentation_url", "status"[, "errors"]}."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        documentation_url: str = DOCS_URL,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = dict(headers or {})
        self.documentation_url = documentation_url

    def response(self) -> Response:
        body: dict[str, Any] = {"message": self.message, "documentation_url": self.documentation_url}
        if self.errors is not None:
            body["errors"] = self.errors
        body["status"] = str(self.status)
        return JSONResponse(body, status_code=self.status, headers=self.headers)


class GraphQLForbidden(GitHubError):
    """A GraphQL operation the token may not do: GitHub answers 200, data null, a FORBIDDEN error."""

    def response(self) -> Response:
        error = {"type": "FORBIDDEN", "path": [], "locations": [], "message": self.message}
        return JSONResponse({"data": None, "errors": [error]})


def not_found() -> GitHubError:
    return GitHubError(404, NOT_FOUND)


def validation_failed(resource: str, **error: Any) -> GitHubError:
    return GitHubError(422, "Validation Failed", [{"resource": resource, **error}])
