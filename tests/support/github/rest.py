"""What REST handlers share: the request as they see it, routers of decorated handlers, pagination."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse, Response

from tests.support.github.errors import validation_failed
from tests.support.github.state import GitHubState

REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
NUMBER = r"(?P<number>\d+)"


@dataclass(frozen=True)
class Call:
    """What a handler needs from a request."""

    method: str
    path: str
    params: dict[str, str]
    query: Mapping[str, str]
    body: Any

    def number(self, name: str = "number") -> int:
        """A numeric path parameter: an issue's or pull request's number, or a resource's id."""
        return int(self.params[name])

    @property
    def fields(self) -> dict[str, Any]:
        """The JSON object sent, or {} when the body is anything else."""
        return self.body if isinstance(self.body, dict) else {}


Handler = Callable[[GitHubState, Call], Response]


class Router:
    """Handlers by method and path pattern; `Router(a, b)` joins routers, in order.

    A handler's function name is its key in tests/support/github_permissions.py."""

    def __init__(self, *joined: Router) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            route for router in joined for route in router.routes
        ]

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append((method, re.compile(pattern), handler))
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        """The handler for a request and the path's parameters, or None."""
        for route_method, pattern, handler in self.routes:
            found = pattern.fullmatch(path)
            if found is not None and route_method == method:
                return handler, {key: value for key, value in found.groupdict().items() if value is not None}
        return None


def page_of(github: GitHubState, call: Call, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """One page of items (per_page default 30, max 100) and GitHub's Link header."""
    try:
        per_page = min(max(int(call.query.get("per_page", 30)), 1), 100)
        page = max(int(call.query.get("page", 1)), 1)
    except ValueError as error:
        raise validation_failed("Pagination", field="page", code="invalid") from error
    last = max((len(items) + per_page - 1) // per_page, 1)
    links = []

    def link(number: int, rel: str) -> str:
        query = urlencode({**dict(call.query), "per_page": per_page, "page": number})
        return f'<{github.url.rstrip("/")}{call.path}?{query}>; rel="{rel}"'

    if page > 1:
        links += [link(page - 1, "prev"), link(1, "first")]
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    return items[(page - 1) * per_page : page * per_page], ({"Link": ", ".join(links)} if links else {})


def paged(github: GitHubState, call: Call, items: list[Any]) -> Response:
    """A list answer: one page of items, with GitHub's Link header."""
    page, headers = page_of(github, call, items)
    return JSONResponse(page, headers=headers)
