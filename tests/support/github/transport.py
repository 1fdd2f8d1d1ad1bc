"""The stand-in's HTTP side: a uvicorn server on a free loopback port in a thread, the request log,
injected faults (502, 403 + Retry-After, 429, ...), authentication, routing, and git over smart HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support import github_git_http
from tests.support.github import auth
from tests.support.github.errors import GitHubError, not_found
from tests.support.github.rest import Call, Router
from tests.support.github.state import GitHubState

HOST = "127.0.0.1"
SECONDARY_RATE_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
DEFAULT_FAULT_MESSAGES = {
    403: SECONDARY_RATE_LIMIT,
    429: SECONDARY_RATE_LIMIT,
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
}


@dataclass
class Fault:
    """An injected failure: the next `remaining` requests matching method and path get this answer."""

    method: str
    path: re.Pattern[str]
    status: int
    remaining: int
    headers: dict[str, str]
    body: Any

    def matches(self, method: str, path: str) -> bool:
        return self.remaining > 0 and self.method in ("*", method) and bool(self.path.fullmatch(path))

    def response(self) -> Response:
        self.remaining -= 1
        if self.status == 204:
            return Response(status_code=204, headers=self.headers)
        if isinstance(self.body, str | bytes):
            return Response(self.body, status_code=self.status, headers=self.headers)
        if self.body is None:
            message = DEFAULT_FAULT_MESSAGES.get(self.status) or HTTPStatus(self.status).phrase
            return GitHubError(self.status, message, headers=self.headers).response()
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: for asserting what the client sent."""

    method: str
    path: str
    query: str
    body: Any
    authorization: str | None


class _PromptServer(uvicorn.Server):
    """uvicorn polls should_exit every 0.1 s; this one wakes as soon as exit() is called."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        ticks = 0
        while not self.should_exit:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            ticks += 1
            if await self.on_tick(ticks):
                break

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown sleeps a fixed 0.1 s; every handler here finishes in one step, so poll."""
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        deadline = time.monotonic() + 2
        while (self.server_state.connections or self.server_state.tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.002)

    def exit(self) -> None:
        self.should_exit = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)


class Transport(GitHubState):
    """GitHub's state served over HTTP from a thread, answered by the handlers `router` holds.

    Every request is recorded in `calls` and `requests`; faults apply before authentication and
    routing, GraphQL included."""

    def __init__(self, router: Router, root: Path, **state: Any) -> None:
        super().__init__(root, **state)
        self.router = router
        self.calls: list[tuple[str, str]] = []
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[tuple[str, str]] = []  # requests no route answered (404)
        self.server_errors: list[str] = []  # tracebacks of handler crashes (answered 500)
        self.faults: list[Fault] = []
        self.git_requests: list[tuple[str, str, int]] = []  # (service, token's kind, status) per git request
        self._server: _PromptServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Self:
        if self._server is not None:
            raise RuntimeError("GitHubServer.start(): already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        self.base_url = f"http://{HOST}:{sock.getsockname()[1]}/"
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = _PromptServer(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-github", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the fake GitHub server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving; idempotent. The bare repository stays for inspection."""
        if self._server is not None:
            self._server.exit()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # -- faults and the request log -----------------------------------------------------------

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Fault:
        """Answer the next `times` requests whose path fully matches path_regex with `status`.

        method "*" matches any method. body: JSON-able value, or str/bytes sent as is; by default
        a GitHub error body. Faults apply before authentication and routing, GraphQL included.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = Fault(method.upper(), re.compile(path_regex), status, times, dict(headers or {}), body)
        with self._lock:
            self.faults.append(fault)
        return fault

    def count(self, method: str, path_regex: str) -> int:
        """How many requests matched method ("*" for any) and the whole path."""
        pattern = re.compile(path_regex)
        return sum(1 for m, p in self.calls if method.upper() in ("*", m) and pattern.fullmatch(p))

    # -- HTTP ---------------------------------------------------------------------------------

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        raw_body = await request.body()
        git = github_git_http.GIT_PATH.match(scope["path"])
        if git is not None:
            headers = {name: value for name, value in request.headers.items()}
            with self._lock:
                self.publish_pull_refs()
                response = github_git_http.serve(
                    self.git_dir, request.method, git.group("rest"), request.url.query, headers, raw_body,
                    self._authorize_git,
                )  # fmt: skip
        else:
            authorization = request.headers.get("authorization")
            response = self._respond(
                request.method, scope["path"], request.url.query, authorization, raw_body
            )
        await response(scope, receive, send)

    def _authorize_git(self, token: str | None, service: str) -> str | None:
        refusal = auth.authorize_git(self, token, service)
        status = 200 if refusal is None else 401 if refusal == "401" else 403
        self.git_requests.append((service, auth.token_kind(self, token), status))
        return refusal

    def _respond(self, method: str, path: str, query: str, authorization: str | None, raw: bytes) -> Response:
        with self._lock:
            body: Any = None
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                body = raw.decode(errors="replace")
            self.calls.append((method, path))
            self.requests.append(RecordedRequest(method, path, query, body, authorization))
            for fault in self.faults:
                if fault.matches(method, path):
                    return fault.response()
            try:
                token = auth.authenticate(self, path, authorization)
                if isinstance(body, str):
                    raise GitHubError(400, "Problems parsing JSON")
                return self._route(method, path, query, body, token)
            except GitHubError as error:
                return error.response()
            except Exception:
                self.server_errors.append(traceback.format_exc())
                return GitHubError(500, "fake GitHub crashed; see GitHubServer.server_errors").response()

    def _route(self, method: str, path: str, query: str, body: Any, token: str) -> Response:
        found = self.router.match(method, path)
        if found is None:
            self.unhandled.append((method, path))
            raise not_found()
        handler, params = found
        named = (params.get("owner", self.owner).lower(), params.get("repo", self.repo).lower())
        if named != (self.owner.lower(), self.repo.lower()):
            raise not_found()  # another repository
        auth.check_job_token(self, token, handler.__name__, params, body)
        return handler(self, Call(method, path, params, QueryParams(query), body))
