"""The githubkit client: App or token auth, write pacing, retries, and the GraphQL and error transport.

Content-creating calls are paced under GitHub's secondary limits (80 a minute, 500 an hour);
5xx answers and 403/429 with Retry-After are retried with backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from githubkit import GitHub
from githubkit.exception import GitHubException, GraphQLFailed, RateLimitExceeded, RequestFailed
from githubkit.retry import RetryOption
from githubkit.throttling import BaseThrottler

from engine.errors import GitOpsError
from engine.github.decode import graphql_refusal, rest_error

log = logging.getLogger("dbvend.github")


@dataclass
class Pacer(BaseThrottler):
    """Keeps content-creating calls under GitHub's secondary limits: a sliding window per limit.

    A content-creating call is any POST, PATCH, PUT or DELETE except a GraphQL query.
    """

    limits: tuple[tuple[int, float], ...] = ((80, 60.0), (500, 3600.0))
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _sent: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def creates_content(request: httpx.Request) -> bool:
        if request.method not in ("POST", "PATCH", "PUT", "DELETE"):
            return False
        if request.url.path.rstrip("/").endswith("/graphql"):
            return b"mutation" in request.content[:2000]
        return True

    def wait_for_turn(self) -> None:
        with self._lock:
            while True:
                now = self.clock()
                longest = max(window for _, window in self.limits)
                while self._sent and self._sent[0] <= now - longest:
                    self._sent.popleft()
                delay = 0.0
                for count, window in self.limits:
                    recent = [t for t in self._sent if t > now - window]
                    if len(recent) >= count:
                        delay = max(delay, recent[-count] + window - now)
                if delay <= 0:
                    self._sent.append(now)
                    return
                log.info("pacing GitHub writes: waiting %.1f s", delay)
                self.sleep(delay)

    @contextmanager
    def acquire(self, request: httpx.Request) -> Generator[None, Any, Any]:
        if self.creates_content(request):
            self.wait_for_turn()
        yield

    @asynccontextmanager
    async def async_acquire(self, request: httpx.Request) -> Any:
        if self.creates_content(request):
            self.wait_for_turn()
        yield


@dataclass(frozen=True)
class RetryPolicy:
    """githubkit's retry decision: 5xx with backoff; 403/429 rate limits after their Retry-After."""

    attempts: int = 4
    backoff: float = 1.0  # seconds before the first retry of a 5xx; doubled each time
    max_wait: float = 120.0  # a Retry-After beyond this is not waited for

    def __call__(self, exc: GitHubException, retry_count: int) -> RetryOption:
        if retry_count >= self.attempts:
            return RetryOption(False)
        if isinstance(exc, RateLimitExceeded):
            wait = exc.retry_after.total_seconds()
            if wait > self.max_wait:
                return RetryOption(False)
            log.warning("GitHub rate limit (%s): retrying in %.0f s", type(exc).__name__, wait)
            return RetryOption(True, exc.retry_after)
        if isinstance(exc, RequestFailed) and exc.response.status_code >= 500:
            wait = self.backoff * 2**retry_count
            log.warning("GitHub answered %d: retrying in %.1f s", exc.response.status_code, wait)
            return RetryOption(True, timedelta(seconds=wait))
        return RetryOption(False)


def github_client(
    *,
    base_url: str | None,
    token: str | None = None,
    app_id: int | str | None = None,
    private_key: str | None = None,
    installation_id: int | None = None,
    repository: str | None = None,
    retry: RetryPolicy | None = None,
    pacer: Pacer | None = None,
) -> GitHub[Any]:
    """A githubkit client: an App installation (found for `repository` when no id is given), or a token."""
    from githubkit import AppAuthStrategy, AppInstallationAuthStrategy, TokenAuthStrategy
    from githubkit.cache import MemCacheStrategy

    options: dict[str, Any] = {
        "base_url": base_url,
        "auto_retry": retry or RetryPolicy(),
        "throttler": pacer or Pacer(),
        "http_cache": False,
        "timeout": 30.0,
        "cache_strategy": MemCacheStrategy(),  # tokens per client, not shared by the whole process
    }
    if token:
        return GitHub(TokenAuthStrategy(token), **options)
    if app_id is None or not private_key:
        raise GitOpsError("GitHub needs DBVEND_GITHUB_APP_ID and a private key (or DBVEND_GITHUB_TOKEN)")
    if installation_id is None:
        if not repository:
            raise GitOpsError("GitHub needs DBVEND_GITHUB_INSTALLATION_ID or DBVEND_GITHUB_REPOSITORY")
        owner, _, name = repository.partition("/")
        app = GitHub(AppAuthStrategy(app_id, private_key), **options)
        try:
            installation_id = app.rest.apps.get_repo_installation(owner, name).parsed_data.id
        except RequestFailed as exc:
            raise GitOpsError(f"the GitHub App is not installed on {repository}: {exc}") from None
    return GitHub(AppInstallationAuthStrategy(app_id, private_key, installation_id), **options)


def github_error(what: str, exc: RequestFailed) -> GitOpsError:
    """GitHub's status and message, e.g. "GitHub could not edit issue #4: 404 Not Found"."""
    return rest_error(what, exc.response.status_code, exc.response.text)


def graphql(
    client: GitHub[Any], query: str, variables: dict[str, Any], races: bool = False
) -> dict[str, Any]:
    """The `data` of a GraphQL answer; RefRace when `races` and GitHub says the ref moved, else
    GitOpsError for any error GitHub reports (rate limits are githubkit's, retried by RetryPolicy)."""
    try:
        data: dict[str, Any] = client.graphql.request(query, variables)
    except GraphQLFailed as exc:
        raise graphql_refusal([e.model_dump() for e in exc.response.errors or []], races) from None
    except RequestFailed as exc:
        raise github_error("GraphQL", exc) from None
    return data


def owner_and_name(full_name: str) -> tuple[str, str]:
    """`owner/name` split; GitOpsError for anything else."""
    owner, _, name = full_name.partition("/")
    if not owner or not name or "/" in name:
        raise GitOpsError(f"repository must be owner/name, not {full_name!r}")
    return owner, name


def rest_json(answer: Any) -> Any:
    """A githubkit answer's parsed JSON, validated against GitHub's schema on the way
    (`.parsed_data`), as the plain objects the decoders (engine.github.decode) read."""
    data = answer.parsed_data
    if isinstance(data, list):
        return [item.model_dump() for item in data]
    return data.model_dump()
