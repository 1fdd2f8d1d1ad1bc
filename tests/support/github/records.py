"""What GitHub keeps per pull request and plain issue, and how it numbers, names and dates things."""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

WEB = "https://github.com"


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def crc_id(text: str, base: int = 1_000_000) -> int:
    """A stable number for a name (a user's, a team's, an app's id)."""
    return base + zlib.crc32(text.encode())


def node_id(prefix: str, number: int) -> str:
    return f"{prefix}_kw{base64.b64encode(str(number).encode()).decode().rstrip('=')}"


def short_branch(ref: str) -> str:
    return ref.removeprefix("refs/heads/")


def pull_database_id(number: int) -> int:
    return crc_id(f"pull/{number}", 2_000_000_000)


@dataclass
class PullRequestRecord:
    """The server's state for one pull request; `GitHubServer.pull_request(n)` gives the JSON."""

    number: int
    title: str
    body: str | None
    head_ref: str
    base_ref: str
    head_sha: str
    user: str
    draft: bool
    created_at: datetime
    state: str = "open"
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    mergeable_override: tuple[bool | None, str] | None = None
    head_owner: str | None = None  # the owner of the fork the head branch is on; None: this repository
    head_repository_deleted: bool = False  # the fork is gone: head.repo is null


@dataclass
class IssueRecord:
    """A plain issue (not a pull request): it takes comments, labels and reactions."""

    number: int
    title: str
    body: str | None
    user: str
    created_at: datetime
    state: str = "open"
    updated_at: datetime | None = None
    labels: list[str] = field(default_factory=list)
    closed_at: datetime | None = None
    closed_by: str | None = None
    state_reason: str | None = None
