"""Pull requests on GitHub for the comment commands (engine.gitops.PullRequests): reactions,
comments, the facts authorization decides on, a comment in parts, workflow dispatch."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from githubkit import GitHub
from githubkit.exception import RequestFailed

from engine.commands import PullRequestFacts, standing_reviews
from engine.errors import GitOpsError
from engine.github import decode
from engine.github.client import github_error, owner_and_name, rest_json
from engine.gitops import PullHead, Reaction

log = logging.getLogger("dbvend.github")


class GitHubPullRequests:
    """Reactions, comments, the facts for authorization, and workflow dispatch on GitHub."""

    def __init__(self, client: GitHub[Any], full_name: str) -> None:
        self.client = client
        self.owner, self.name = owner_and_name(full_name)

    def react(self, comment_id: int, content: Reaction) -> None:
        try:
            self.client.rest.reactions.create_for_issue_comment(
                self.owner, self.name, comment_id, content=content
            )
        except RequestFailed as exc:
            log.warning("could not react to comment %d: %s", comment_id, exc.response.status_code)

    def comment(self, number: int, body: str) -> None:
        try:
            self.client.rest.issues.create_comment(self.owner, self.name, number, body=body)
        except RequestFailed as exc:
            raise _unreadable(f"comment on #{number}", exc) from None

    def permission(self, login: str) -> str:
        """A user's permission on the repository: admin, maintain, write, triage, read or none."""
        try:
            answer = self.client.rest.repos.get_collaborator_permission_level(self.owner, self.name, login)
        except RequestFailed as exc:
            raise _unreadable(f"read the permission of {login}", exc) from None
        return decode.role(rest_json(answer))

    def facts(
        self, number: int, commenter: str, teams: Collection[str] = ()
    ) -> tuple[PullRequestFacts, PullHead]:
        rest = self.client.rest
        try:
            permission = self.permission(commenter)
            pull = rest_json(rest.pulls.get(self.owner, self.name, number))
            listed: Iterable[Any] = rest.paginate(
                rest.pulls.list_reviews, owner=self.owner, repo=self.name, pull_number=number, per_page=100
            )
            found = decode.reviews(review.model_dump() for review in listed)
            head = PullHead.of(pull)
            runs = rest_json(rest.checks.list_for_ref(self.owner, self.name, head.sha, per_page=100))
        except RequestFailed as exc:
            raise _unreadable(f"read pull request #{number}", exc) from None
        author = decode.author(pull)
        approvers = [
            review.login
            for login, review in standing_reviews(found).items()
            if review.state.upper() == "APPROVED" and login != author.casefold()
        ]
        approver_teams = self.team_memberships(approvers, teams) if teams else {}
        checks = decode.check_results(runs)
        return decode.pull_request_facts(pull, commenter, permission, found, checks, approver_teams), head

    def teams_of(self, login: str, teams: Collection[str]) -> frozenset[str]:
        return frozenset(self.team_memberships([login], sorted(teams)).get(login, ()))

    def team_memberships(self, logins: Iterable[str], teams: Collection[str]) -> dict[str, list[str]]:
        """login -> the given teams (of the repository owner's organisation) the login is an active member of.

        One call per login and team. A login whose membership could not be read (the App lacks the
        organisation's members permission, or the owner is not an organisation) is left out, so
        authorization says its membership is not known rather than that it is not a member.
        """
        found: dict[str, list[str]] = {}
        teams_api = self.client.rest.teams
        for login in logins:
            member_of: list[str] = []
            for team in teams:
                try:
                    answer = teams_api.get_membership_for_user_in_org(self.owner, team, login)
                except RequestFailed as exc:
                    if exc.response.status_code == 404:  # not a member (or no such team)
                        continue
                    log.warning("team membership of %s in %s: %d", login, team, exc.response.status_code)
                    break
                if decode.active_membership(rest_json(answer)):
                    member_of.append(team)
            else:
                found[login] = member_of
        return found

    def head_sha(self, number: int) -> str:
        """The pull request's head commit now."""
        return self.head(number)[0]

    def head(self, number: int) -> tuple[str, str]:
        """The pull request's head commit and branch now."""
        try:
            pull = rest_json(self.client.rest.pulls.get(self.owner, self.name, number))
        except RequestFailed as exc:
            raise _unreadable(f"read pull request #{number}", exc) from None
        head = PullHead.of(pull)
        return head.sha, head.branch

    def write_parts(self, number: int, marker: str, parts: Sequence[str]) -> list[int]:
        """A comment in parts (engine.comment_parts.split_comment), kept up to date in place.

        The pull request's comments carrying `marker` are found; part i is written over the
        i-th of them, missing parts are added, and parts left over from a longer earlier
        summary are deleted. Returns the comment ids in order.
        """
        issues = self.client.rest.issues
        try:
            comments: Iterable[Any] = self.client.rest.paginate(
                issues.list_comments, owner=self.owner, repo=self.name, issue_number=number, per_page=100
            )
            ids = decode.marked_comments((comment.model_dump() for comment in comments), marker)
            written = []
            for index, body in enumerate(parts):
                if index < len(ids):
                    issues.update_comment(self.owner, self.name, ids[index], body=body)
                    written.append(ids[index])
                else:
                    written.append(
                        issues.create_comment(self.owner, self.name, number, body=body).parsed_data.id
                    )
            for extra in ids[len(parts) :]:
                issues.delete_comment(self.owner, self.name, extra)
        except RequestFailed as exc:
            raise _unreadable(f"write the summary on #{number}", exc) from None
        return written

    def dispatch(self, workflow: str, ref: str, inputs: dict[str, str]) -> None:
        """Start `workflow` on `ref` (the default branch: the workflow's own file comes from there,
        never from the pull request)."""
        try:
            self.client.rest.actions.create_workflow_dispatch(
                self.owner, self.name, workflow, ref=ref, inputs=inputs
            )
        except RequestFailed as exc:
            raise github_error(f"start {workflow} on {ref}", exc) from None


def _unreadable(what: str, exc: RequestFailed) -> GitOpsError:
    """GitHub could not <what>: <status> (the status only: these answers carry nothing more a user needs)."""
    return GitOpsError(f"GitHub could not {what}: {exc.response.status_code}")
