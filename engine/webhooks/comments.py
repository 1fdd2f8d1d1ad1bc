"""`issue_comment` created: /plan, /apply, /destroy, /extend, /modify, /help on a dbvend pull request,
and /extend and /modify on the issue a database was requested with.

Only the comment's first line counts (engine.commands). dbvend reacts with "eyes" on receipt,
checks the commenter and the pull request against dbvend.yaml's rules (engine.commands.authorize)
and replies with the outcome. A pull request that is not one of dbvend's own (a fork's, a branch
that is not dbvend's, a marker of another change: engine.gitops.not_own_change) gets a reply
saying why, and nothing is dispatched. /plan, /apply and /destroy dispatch the reusable workflow
on the default branch with the pull request's number, its database directory and the command,
recorded in the ledger so that only the run answering it counts (engine.webhooks.pulls): the App
never runs terraform.
/extend and /modify open the extension's or the modification's own pull request (engine.lifecycle),
on the request's pull request (open or merged) or its issue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from engine.commands import (
    DATABASE_COMMANDS,
    WRITE_ONLY_COMMANDS,
    Command,
    Ignore,
    Refusal,
    Reply,
    authorize,
    parse_comment,
)
from engine.description import md_escape
from engine.errors import DbvendError, InvalidRequest
from engine.forms import field_error_lines
from engine.gitops import PullRequests, root_of_branch
from engine.guard import github_person, holder_of
from engine.identity import Actor
from engine.lifecycle import current_claim, extend_database, modify_database
from engine.roots import Root
from engine.services import Services
from engine.webhooks.context import WebhookContext

DISPATCHED: Final = ("plan", "apply", "destroy")


def handle(payload: dict[str, Any], context: WebhookContext) -> dict[str, Any]:
    issue = payload.get("issue") if isinstance(payload.get("issue"), dict) else {}
    comment = payload.get("comment") if isinstance(payload.get("comment"), dict) else {}
    if payload.get("action") != "created" or not issue or not comment:
        return {"detail": "not a new comment"}
    author = comment.get("user") or {}
    if author.get("type") == "Bot":
        return {"detail": "comments by bots are not commands"}
    parsed = parse_comment(str(comment.get("body") or ""))
    if isinstance(parsed, Ignore):
        return {"detail": "not a command"}
    pulls = context.services.pulls
    if pulls is None:
        return {"detail": "GitHub is not configured"}
    if not issue.get("pull_request"):
        return _on_issue(payload, issue, comment, parsed, pulls, context)
    number, commenter = int(issue["number"]), str(author.get("login") or "")
    catalog = context.services.backend.catalog()
    rules = catalog.github
    gated = isinstance(parsed, Command) and parsed.name not in WRITE_ONLY_COMMANDS
    teams = (rules.apply.approver_teams or ()) if gated else ()  # looked up only when they matter
    facts, pull = pulls.facts(number, commenter, teams)
    reason = pull.not_own(context.identity.full_name)
    directory = root_of_branch(pull.branch)
    if reason is not None or directory is None:
        what = f"`/{parsed.name}`" if isinstance(parsed, Command) else "dbvend"
        pulls.comment(number, f"{what} does nothing on this pull request: {md_escape(reason or '')}.")
        return {"detail": "not a dbvend pull request", "reason": reason}
    head = pull.branch
    pulls.react(int(comment["id"]), "eyes")
    if isinstance(parsed, Reply):
        pulls.comment(number, parsed.text)
        return {"detail": "replied"}
    command: Command = parsed
    production = catalog.is_production(Root.of(directory).environment)
    destroying = command.name == "destroy" or (command.name == "apply" and ".destroy-" in head)
    refusal = authorize(command, facts, rules.apply, production and destroying)
    if refusal is not None:
        pulls.comment(number, _refused(commenter, refusal))
        return {"detail": "refused", "command": command.name, "reasons": list(refusal.reasons)}
    if command.name in DATABASE_COMMANDS:
        return _database_change(context, pulls, number, directory, command, commenter)
    inputs = {"pr": str(number), "directory": directory, "command": command.name}
    identity = context.identity
    context.services.ledger.record_dispatch(
        number, command.name, identity.default_branch, identity.default_oid
    )
    pulls.dispatch(rules.workflow, identity.default_branch, inputs)
    pulls.comment(
        number,
        f"`/{command.name}` for `{directory}` started by @{md_escape(commenter)}: "
        f"workflow `{rules.workflow}` will report here.",
    )
    return {"detail": "dispatched", "command": command.name, "directory": directory}


def _on_issue(
    payload: dict[str, Any],
    issue: dict[str, Any],
    comment: dict[str, Any],
    parsed: Command | Reply,
    pulls: PullRequests,
    context: WebhookContext,
) -> dict[str, Any]:
    """On a plain issue only /extend and /modify count, and only on the issue a database was requested
    with."""
    if isinstance(parsed, Command) and parsed.name not in DATABASE_COMMANDS:
        return {"detail": "only /extend and /modify work on an issue"}
    number = int(issue["number"])
    record = context.services.ledger.by_issue(context.identity.full_name, number)
    if record is None:
        return {"detail": "not the issue of a database request"}
    commenter = str((comment.get("user") or {}).get("login") or "")
    pulls.react(int(comment["id"]), "eyes")
    if isinstance(parsed, Reply):
        pulls.comment(number, parsed.text)
        return {"detail": "replied"}
    directory = Root(record.environment, record.identifier).path
    return _database_change(context, pulls, number, directory, parsed, commenter)


def _database_change(
    context: WebhookContext,
    pulls: PullRequests,
    number: int,
    directory: str,
    command: Command,
    commenter: str,
) -> dict[str, Any]:
    """Open the pull request of an extension (/extend) or a modification (/modify), and say so (or
    why not) where the command was given."""
    root = Root.of(directory)
    services = context.services
    now, terraform = datetime.now(UTC), services.settings.terraform_path
    who = f"`/{command.name}` by @{md_escape(commenter)}"
    try:
        by = commenter_actor(services, pulls, commenter, command.name, root)
        if command.name == "modify":
            with services.settings.policy_gate() as gate:
                done = modify_database(
                    services.backend, root.environment, root.identifier, dict(command.changes), now, by,
                    gate, services.ledger, terraform,
                )  # fmt: skip
            change, what = done.change, "modification opened"
            effects = "\n".join(
                f"- `{e.field}`: {md_escape(e.before)} → {md_escape(e.after)} ({md_escape(e.impact)})"
                for e in done.modification.effects
            )
            said = (
                f"{who}: pull request #{change.id} changes `{directory}`:\n\n{effects}\n\nIt takes effect "
                "once merged and applied; its description says what happens to the running database."
            )
        else:
            extension = extend_database(
                services.backend, root.environment, root.identifier, command.argument or "", now, by,
                services.ledger, terraform,
            )  # fmt: skip
            change, what = extension.change, "extension opened"
            said = (
                f"{who}: pull request #{change.id} moves the expiry of `{directory}` from "
                f"{extension.previous_expiry} to {extension.claim.expires_at}. It takes effect once merged."
            )
    except DbvendError as exc:
        pulls.comment(number, f"`/{command.name}` for `{directory}` was not done{_why_not(exc)}")
        return {"detail": "refused", "command": command.name, "reasons": [str(exc)]}
    pulls.comment(number, said)
    return {"detail": what, "command": command.name, "change": change.id, "directory": directory}


def commenter_actor(services: Services, pulls: PullRequests, login: str, action: str, root: Root) -> Actor:
    """The commenter as the access rules see them (engine.guard.github_person)."""
    claim, _ = current_claim(services.backend, root.environment, root.identifier)
    holder = holder_of(services.ledger.of_database(root.environment, root.identifier), claim)
    rules = services.backend.catalog().access
    return github_person(
        rules, login, "comment", action, root.environment, holder, pulls.teams_of, pulls.permission
    )


def _refused(commenter: str, refusal: Refusal) -> str:
    return f"`/{refusal.command}` was not run for @{md_escape(commenter)}:\n\n{refusal.reason}"


def _why_not(exc: DbvendError) -> str:
    """Why a change (an extension, a modification) was not opened, as its commenter reads it: a broken
    rule by its field's name."""
    if isinstance(exc, InvalidRequest) and exc.errors:
        return ":\n\n" + "\n".join(field_error_lines(exc.errors))
    return f": {md_escape(str(exc))}"
