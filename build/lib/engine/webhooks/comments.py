"""`issue_comment` created on a dbvend pull request: /plan, /apply, /destroy, /extend, /help.

Only the comment's first line counts (engine.commands). dbvend reacts with "eyes" on receipt,
checks the commenter and the pull request against dbvend.yaml's rules (engine.commands.authorize)
and replies with the outcome. /plan, /apply and /destroy dispatch the reusable workflow with the
pull request's number, its database directory and the command: the App never runs terraform.
"""

from __future__ import annotations

from typing import Any, Final

from engine.commands import WRITE_ONLY_COMMANDS, Command, Ignore, Reply, authorize, parse_comment
from engine.description import md_escape
from engine.webhooks import WebhookContext

DISPATCHED: Final = ("plan", "apply", "destroy")


def handle(payload: dict[str, Any], context: WebhookContext) -> dict[str, Any]:
    issue = payload.get("issue") if isinstance(payload.get("issue"), dict) else {}
    comment = payload.get("comment") if isinstance(payload.get("comment"), dict) else {}
    if payload.get("action") != "created" or not issue or not comment or not issue.get("pull_request"):
        return {"detail": "not a new comment on a pull request"}
    author = comment.get("user") or {}
    if author.get("type") == "Bot":
        return {"detail": "comments by bots are not commands"}
    parsed = parse_comment(str(comment.get("body") or ""))
    if isinstance(parsed, Ignore):
        return {"detail": "not a command"}
    pulls = context.services.pulls
    if pulls is None:
        return {"detail": "GitHub is not configured"}
    number, commenter = int(issue["number"]), str(author.get("login") or "")
    rules = context.services.backend.catalog().github
    gated = isinstance(parsed, Command) and parsed.name not in WRITE_ONLY_COMMANDS
    teams = (rules.apply.approver_teams or ()) if gated else ()  # looked up only when they matter
    facts, head = pulls.facts(number, commenter, teams)
    if not head.startswith("dbvend/"):
        return {"detail": "not a dbvend pull request"}
    pulls.react(int(comment["id"]), "eyes")
    if isinstance(parsed, Reply):
        pulls.comment(number, parsed.text)
        return {"detail": "replied"}
    command: Command = parsed
    refusal = authorize(command, facts, rules.apply)
    if refusal is not None:
        pulls.comment(
            number, f"`/{command.name}` was not run for @{md_escape(commenter)}:\n\n{refusal.reason}"
        )
        return {"detail": "refused", "command": command.name, "reasons": list(refusal.reasons)}
    if command.name not in DISPATCHED:
        pulls.comment(number, f"`/{command.name}` is not available yet in this version of dbvend.")
        return {"detail": "not available", "command": command.name}
    parts = head.split("/")
    directory = f"terraform/{parts[1]}/{parts[2]}" if len(parts) == 3 else ""
    inputs = {"pr": str(number), "directory": directory, "command": command.name}
    pulls.dispatch(rules.workflow, "main", inputs)
    pulls.comment(
        number,
        f"`/{command.name}` for `{directory}` started by @{md_escape(commenter)}: "
        f"workflow `{rules.workflow}` will report here.",
    )
    return {"detail": "dispatched", "command": command.name, "directory": directory}
