"""Drift issues on GitHub (githubkit): the open ones with dbvend's label, opened, edited, closed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from githubkit import GitHub
from githubkit.exception import RequestFailed

from engine.drift import DRIFT_LABEL, DriftIssue
from engine.github.client import github_error, owner_and_name
from engine.github.decode import drift_issues


class GitHubDriftIssues:
    """The repository's drift issues: one per drifted database, found again by the marker in its body."""

    def __init__(self, client: GitHub[Any], full_name: str, label: str = DRIFT_LABEL) -> None:
        self.owner, self.name = owner_and_name(full_name)
        self.client, self.label = client, label

    def open_issues(self) -> list[DriftIssue]:
        """Every open issue with the label (all pages). GitHub lists pull requests as issues: not those."""
        rest = self.client.rest
        try:
            found: Iterable[Any] = rest.paginate(
                rest.issues.list_for_repo,
                owner=self.owner,
                repo=self.name,
                labels=self.label,
                state="open",
                per_page=100,
            )
            return drift_issues(issue.model_dump() for issue in found)
        except RequestFailed as exc:
            raise github_error(f"list the open {self.label} issues", exc) from None

    def open(self, title: str, body: str) -> int:
        """A new issue with the label; its number."""
        try:
            made = self.client.rest.issues.create(
                self.owner, self.name, title=title, body=body, labels=[self.label]
            ).parsed_data
        except RequestFailed as exc:
            raise github_error(f"open the issue {title!r}", exc) from None
        return made.number

    def edit(self, number: int, body: str) -> None:
        try:
            self.client.rest.issues.update(self.owner, self.name, number, body=body)
        except RequestFailed as exc:
            raise github_error(f"edit issue #{number}", exc) from None

    def close(self, number: int, comment: str) -> None:
        """Say why in a comment, then close the issue as completed."""
        try:
            self.client.rest.issues.create_comment(self.owner, self.name, number, body=comment)
            self.client.rest.issues.update(
                self.owner, self.name, number, state="closed", state_reason="completed"
            )
        except RequestFailed as exc:
            raise github_error(f"close issue #{number}", exc) from None
