"""dbvend's one reply per issue and marker on GitHub, edited in place (engine.gitops.IssueReplies)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

from githubkit import GitHub
from githubkit.exception import RequestFailed

from engine.errors import GitOpsError
from engine.github.client import github_error, owner_and_name
from engine.github.decode import comment_with
from engine.store.ledger import Ledger


class GitHubIssueReplies:
    """dbvend's one comment per issue and marker, edited in place.

    With a ledger the comment's id is kept there under a unique key (engine.store.ledger.claim_comment):
    the first writer makes the comment, every later writer edits it, and a writer that comes while
    the first is still making it leaves its text for the first to write next (no one waits). So
    two deliveries GitHub sends together (issues.opened and issues.labeled for one form) cannot
    both find no comment and both make one. Without a ledger (a CI job without DATABASE_URL) the
    comment is found again by its hidden marker.
    """

    stale: float = 300.0  # a claim without a comment after this long was abandoned: take it over

    def __init__(self, client: GitHub[Any], full_name: str, ledger: Ledger | None = None) -> None:
        self.client, self.full_name, self.ledger = client, full_name, ledger
        self.owner, self.name = owner_and_name(full_name)

    def reply(self, issue_number: int, marker: str, body: str) -> None:
        try:
            if self.ledger is None:
                self._write(issue_number, marker, body, self._find(issue_number, marker))
            else:
                self._reply_once(self.ledger, issue_number, marker, body)
        except RequestFailed as exc:
            raise github_error(f"comment on #{issue_number}", exc) from None

    def _reply_once(self, ledger: Ledger, issue_number: int, marker: str, body: str) -> None:
        digest = hashlib.sha256(marker.encode()).hexdigest()[:32]
        key, token = f"{self.full_name.casefold()}#{issue_number} {digest}", uuid.uuid4().hex
        for _ in range(3):  # a comment deleted under us is made again, at most twice
            slot = ledger.claim_comment(key, token, self.stale)
            comment_id = slot.comment_id
            if comment_id is None and slot.mine:
                comment_id = self._write(issue_number, marker, body, self._find(issue_number, marker))
                body = ledger.record_comment(key, token, comment_id) or ""
            elif comment_id is None:
                comment_id = ledger.leave_comment(key, body)  # the holder writes it after its own
                if comment_id is None:
                    return
            while body:
                if not self._edit(comment_id, body):
                    ledger.forget_comment(key)  # someone deleted it: the next round makes a new one
                    break
                body = ledger.take_pending_comment(key) or ""
            else:
                return
        raise GitOpsError(f"dbvend's comment on #{issue_number} keeps disappearing")

    def _find(self, issue_number: int, marker: str) -> int | None:
        """dbvend's comment carrying `marker`, made before the ledger knew it (or without one)."""
        rest = self.client.rest
        comments: Iterable[Any] = rest.paginate(
            rest.issues.list_comments,
            owner=self.owner,
            repo=self.name,
            issue_number=issue_number,
            per_page=100,
        )
        return comment_with((comment.model_dump() for comment in comments), marker)

    def _write(self, issue_number: int, marker: str, body: str, existing: int | None) -> int:
        if existing is not None and self._edit(existing, body):
            return existing
        rest = self.client.rest
        return int(rest.issues.create_comment(self.owner, self.name, issue_number, body=body).parsed_data.id)

    def _edit(self, comment_id: int, body: str) -> bool:
        """Edit a comment; False when it no longer exists."""
        try:
            self.client.rest.issues.update_comment(self.owner, self.name, comment_id, body=body)
        except RequestFailed as exc:
            if exc.response.status_code == 404:
                return False
            raise
        return True
