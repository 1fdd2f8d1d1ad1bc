"""Clients of the GitHub stand-in (tests/support/github_server.py): githubkit as the tests and as dbvend
use it, git on its bare repository, and dbvend's services in GitHub mode against it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from githubkit import GitHub, TokenAuthStrategy
from githubkit.cache import MemCacheStrategy

from engine.github.client import RetryPolicy, github_client
from tests.support.github_server import GitHubServer

OWNER, REPO = "acme", "infra"


def git(server: GitHubServer, *args: str) -> str:
    command = ["git", "--git-dir", str(server.git_dir), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def client(server: GitHubServer, **options: Any) -> GitHub[Any]:
    # A fresh cache per client: githubkit's default cache is process-wide and would hand a JWT or an
    # installation token from an earlier test's server to this one.
    options.setdefault("auto_retry", False)
    return GitHub(
        options.pop("auth", TokenAuthStrategy("t")),
        base_url=server.url,
        cache_strategy=MemCacheStrategy(),
        **options,
    )


FAST = RetryPolicy(attempts=3, backoff=0.01, max_wait=5)


def client_for(server: GitHubServer, retry: RetryPolicy = FAST) -> Any:
    return github_client(base_url=server.url, token="ghs_test", retry=retry)


def github_services(tmp_path: Path, github: GitHubServer) -> Any:
    """dbvend's services in GitHub mode against the fake GitHub (the webhook secret is deliveries.SECRET)."""
    from engine.services import build_services
    from engine.settings import Settings

    settings = Settings(
        data=tmp_path / "data",
        api_keys="k",
        gitops="github",
        github_api_url=github.url,
        github_token="ghs_test",
        github_repository="acme/infra",
        github_webhook_secret="It's a Secret to Everybody",
    )
    services, _ = build_services(settings)
    return services
