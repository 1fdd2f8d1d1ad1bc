"""Git repositories as the tests make and read them: rendered roots committed with the git CLI, and
a snapshot of everything a LocalRepository holds."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from engine.catalog import default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.claim import claim_from_raw
from engine.gitops.local import LocalRepository
from engine.render import render_claim


def repo_snapshot(repository: LocalRepository) -> tuple[str, str]:
    """Every ref and every change record: equal before and after means nothing was written."""
    refs = subprocess.run(
        ["git", "-C", str(repository.path), "for-each-ref"], capture_output=True, text=True, check=True
    ).stdout
    changes = "".join(sorted(p.name for p in (repository.state / "changes").iterdir()))
    return refs, changes


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def write_root(repo: Path, name: str, env: str, size: str = "small") -> str:
    catalog = parse_catalog(default_catalog_text())
    raw = {"database_name": name, "database_engine": "postgres", "environment": env, "size": size}
    claim = claim_from_raw(raw, catalog, f"req-{name}", datetime(2026, 11, 23, tzinfo=UTC))
    rendered = render_claim(claim)
    directory = repo / "terraform" / env / claim.request.identifier
    directory.mkdir(parents=True, exist_ok=True)
    for file_name, text in rendered.files.items():
        (directory / file_name).write_text(text)
    return f"terraform/{env}/{claim.request.identifier}"


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD").strip()
