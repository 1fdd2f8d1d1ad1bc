"""The `dbvend` command."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from engine.catalog import CATALOG_FILE
from engine.catalog_reader import load_catalog
from engine.checkov.gate import PolicyGate
from engine.claim import claim_from_raw
from engine.cli.support import (
    F,
    current_settings,
    database_argument,
    moment_option,
    optional_ledger,
    out,
    reports_errors,
)
from engine.errors import DbvendError
from engine.gitops import Change
from engine.gitops.local import LocalRepository, init_layout
from engine.pipeline import Outcome, new_request_id, prepare, process_request
from engine.policy import PolicyDecision
from engine.restore_from import parse_restore_option
from engine.settings import Settings

EXIT_CODES_HELP = "Exit codes: 0 done, 2 invalid input, 3 refused by a check, 4 conflict, 1 other errors."


def request_options(command: F) -> F:
    """The fields of a DatabaseRequest as options (shared by `render` and `request`)."""
    options = [
        click.option("--name", "database_name", required=True, help="Database name (letters, digits, _)."),
        click.option(
            "--engine",
            "database_engine",
            required=True,
            help="postgres, mysql, aurora-postgresql or aurora-mysql.",
        ),
        click.option("--env", "environment", required=True, help="Environment from dbvend.yaml."),
        click.option("--identifier", help="RDS identifier; derived from the name when absent."),
        click.option("--engine-version", help="Engine version offered in dbvend.yaml."),
        click.option("--size", help="small, medium or large (default small)."),
        click.option("--storage-gb", type=int, help="Allocated storage (RDS engines only)."),
        click.option("--ttl", help="Time to live: 12h, 7d or none (default from dbvend.yaml)."),
        click.option("--owner", help="Owner's login or e-mail (tagged)."),
        click.option("--team", help="Owning team (tagged)."),
        click.option("--reason", help="Why the database is needed."),
        click.option("--min-acu", type=float, help="Aurora: minimum capacity units."),
        click.option("--max-acu", type=float, help="Aurora: maximum capacity units."),
        click.option("--readers", type=int, help="Aurora: number of reader instances."),
        click.option("--proxy/--no-proxy", default=None, help="Aurora: put an RDS Proxy in front."),
        click.option(
            "--restore-from",
            help="Create it from another database: ENV/ID:SNAPSHOT (a snapshot id, or final: the one"
            " dbvend kept when it destroyed ENV/ID) or ENV/ID@TIME (a UTC time such as"
            " 2026-12-01T10:00:00Z, or latest).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def request_fields(params: dict[str, Any]) -> dict[str, Any]:
    fields = (
        "database_name",
        "database_engine",
        "environment",
        "identifier",
        "engine_version",
        "size",
        "storage_gb",
        "ttl",
        "owner",
        "team",
        "reason",
        "min_acu",
        "max_acu",
        "readers",
        "proxy",
    )
    chosen = {k: params[k] for k in fields if params.get(k) is not None}
    if params.get("restore_from") is not None:
        chosen["restore_from"] = parse_restore_option(params["restore_from"])
    return chosen


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(package_name="dbvend")
def main() -> None:
    """dbvend: self-service databases as reviewed, policy-checked Terraform changes.

    Settings come from the environment: DBVEND_DATA (data dir, default ./dbvend-data)
    and DBVEND_REPO (the local GitOps repository, default $DBVEND_DATA/repo).
    """


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@reports_errors
def init(directory: Path) -> None:
    """Write dbvend.yaml and the layout into a repository (created when DIRECTORY is not one)."""
    if not (directory / ".git").exists():
        LocalRepository.open_or_create(directory)
        out.print(f"created a git repository at {directory} with dbvend.yaml and a first commit")
        return
    written = init_layout(directory)
    if written:
        out.print("wrote " + ", ".join(written) + f" in {directory}; review and commit them")
    else:
        out.print(f"{directory} already has the dbvend layout; nothing written")


@main.command(epilog=EXIT_CODES_HELP)
@request_options
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write <env>/<identifier>/ files into.",
)
@click.option(
    "--catalog",
    "catalog_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="dbvend.yaml to use (default: ./dbvend.yaml, else the built-in defaults).",
)
@reports_errors
def render(out_dir: Path, catalog_path: Path | None, **params: Any) -> None:
    """Render and check a request's Terraform into a directory, without committing anything."""
    from datetime import UTC, datetime

    settings = current_settings()
    catalog = load_catalog(catalog_path or Path(CATALOG_FILE))
    claim = claim_from_raw(request_fields(params), catalog, new_request_id(), datetime.now(UTC))
    with settings.policy_gate() as gate:
        outcome = prepare(claim, catalog, gate, settings.terraform_path)
    for name, text in outcome.rendered.files.items():
        target = out_dir / outcome.rendered.relative(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    _print_checks(outcome.checks)
    _print_policy(outcome.policy)
    out.print(f"wrote {out_dir / outcome.rendered.root}/ (estimated ${outcome.cost.monthly_usd:,.2f}/month)")


@main.command(epilog=EXIT_CODES_HELP)
@request_options
@click.option("--json", "as_json", is_flag=True, help="Print the change as JSON.")
@reports_errors
def request(as_json: bool, **params: Any) -> None:
    """Request a database: validate, render, check, commit on a branch and open a change.

    When there is a ledger (DATABASE_URL, or one `dbvend serve` made in the data dir) the request
    is recorded there too, with channel "cli", as the API would record it.
    """
    settings = current_settings()
    _open_request(
        settings, LocalRepository.open_or_create(settings.repo_path), request_fields(params), as_json
    )


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("database", metavar="ENV/NAME")
@click.option(
    "--to", "to_environment", required=True, help="The copy's environment (dbvend.yaml's clone_from)."
)
@click.option(
    "--name", required=True, help="The copy's name; its identifier: lower case, hyphens for underscores."
)
@click.option("--ttl", help="The copy's time-to-live, such as 2d; default: the environment's.")
@click.option("--owner", help="Default: the source's owner.")
@click.option("--team", help="Default: the source's team.")
@click.option("--json", "as_json", is_flag=True, help="Print the change as JSON.")
@reports_errors
def clone(database: str, as_json: bool, **body: str | None) -> None:
    """Request a copy of a database on main, restored from its latest restorable time (like
    POST /v1/databases/{env}/{name}/clone): a request like any other, with its own time-to-live."""
    from engine.clone import as_clone_refusal, clone_fields
    from engine.errors import InvalidRequest
    from engine.lifecycle import current_claim

    settings = current_settings()
    repo = LocalRepository.open_or_create(settings.repo_path)
    source, _ = current_claim(repo, *database_argument(database))
    fields = clone_fields(source, {name: value for name, value in body.items() if value is not None})
    try:
        _open_request(settings, repo, fields, as_json)
    except InvalidRequest as refused:
        raise as_clone_refusal(refused) from None


def _open_request(settings: Settings, repo: LocalRepository, fields: dict[str, Any], as_json: bool) -> None:
    """A request's change opened (through the ledger when there is one) and said."""
    with settings.policy_gate() as gate:
        if settings.has_ledger:
            outcome = _request_through_ledger(settings, repo, gate, fields)
        else:
            outcome = process_request(fields, repo, gate, terraform=settings.terraform_path)
    change = outcome.change
    assert change is not None
    if as_json:
        click.echo(change.to_json(), nl=False)
        return
    _print_checks(outcome.checks)
    _print_policy(outcome.policy)
    out.print(
        f"[bold green]change #{change.id}[/] opened on branch [bold]{change.branch}[/] "
        f"({change.commit[:12]}); estimated ${outcome.cost.monthly_usd:,.2f}/month"
    )
    out.print(f"merge it with: dbvend merge {change.id}")


@main.group()
def policy() -> None:
    """The policy gate: checkov with dbvend.yaml's decisions and the organisation's policies."""


@policy.command("check", epilog="Exit codes: 0 pass (or warnings only), 3 a policy failed, 1 other errors.")
@click.argument("directories", nargs=-1, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--plan",
    "plans",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A plan as `terraform show -json` writes it (repeatable).",
)
@click.option("--env", "environment", help="Environment of the plans (default: from each root's claim/path).")
@click.option(
    "--catalog",
    "catalog_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="dbvend.yaml to decide with (default: ./dbvend.yaml, else the built-in defaults).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the decisions as JSON.")
@reports_errors
def policy_check(
    directories: tuple[Path, ...],
    plans: tuple[Path, ...],
    environment: str | None,
    catalog_path: Path | None,
    as_json: bool,
) -> None:
    """Check Terraform roots (DIRECTORIES) or plans (--plan) against the policy gate."""
    from datetime import UTC, datetime

    from engine.checkov.gate import policy_decision, root_environment

    if not directories and not plans:
        raise click.UsageError("give at least one directory or --plan PLAN.json")
    catalog = load_catalog(catalog_path or Path(CATALOG_FILE))
    today = datetime.now(UTC).date()
    decisions: dict[str, PolicyDecision] = {}
    with current_settings().policy_gate() as gate:
        for directory in directories:
            env = environment or root_environment(directory) or ""
            decisions[str(directory)] = policy_decision(gate, directory, catalog, env, today)
        for plan in plans:
            decisions[str(plan)] = policy_decision(gate, plan, catalog, environment or "", today, plan=True)
    if as_json:
        click.echo(json.dumps({target: d.as_dict() for target, d in decisions.items()}, indent=2))
    else:
        for target, decision in decisions.items():
            out.print(f"[bold]{target}[/]", markup=True, end=": ")
            _print_policy(decision)
            for finding in decision.failures:
                where = f"{finding.file} lines {finding.lines[0]}-{finding.lines[1]}"
                out.print(
                    f"  FAIL {finding.check_id} {finding.name} ({finding.resource}, {where})", markup=False
                )
                if finding.guideline:
                    out.print(f"       {finding.guideline}", markup=False)
            for note in decision.notes:
                out.print(f"  note: {note}", markup=False)
    if any(d.result == "fail" for d in decisions.values()):
        sys.exit(3)


@main.command()
@click.option("--status", type=click.Choice(["open", "merged", "closed"]), help="Only changes in this state.")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@reports_errors
def changes(status: str | None, as_json: bool) -> None:
    """List the changes dbvend has proposed in the local repository."""
    found = LocalRepository.open_or_create(current_settings().repo_path).changes(status)
    if as_json:
        click.echo(json.dumps([json.loads(c.to_json()) for c in found], indent=2))
        return
    table = Table("id", "status", "branch", "request id", "created")
    for change in found:
        table.add_row(str(change.id), change.status, change.branch, change.request_id, change.created_at)
    out.print(table if found else "no changes")


def change_command(command: Callable[[int], None]) -> click.Command:
    """A `dbvend <verb> CHANGE` command of the local repository."""
    return main.command()(click.argument("change_id", metavar="CHANGE", type=int)(reports_errors(command)))


@change_command
def merge(change_id: int) -> None:
    """Merge an open change into main (what merging its pull request does on GitHub)."""
    change = _settle(change_id, "merged")
    out.print(f"merged change #{change.id} into main ({(change.merge_commit or '')[:12]})")


@change_command
def close(change_id: int) -> None:
    """Close an open change without merging it (its branch is deleted)."""
    change = _settle(change_id, "closed")
    out.print(f"closed change #{change.id}; {change.branch} deleted")


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("database", metavar="ENV/NAME")
@click.argument("ttl_text", metavar="TTL")
@click.option("--now", "now_text", help="The time to extend from (ISO 8601 with zone; default: now).")
@click.option("--by", help="Who asks (default: $USER).")
@reports_errors
def extend(database: str, ttl_text: str, now_text: str | None, by: str | None) -> None:
    """Extend a database's time-to-live to now + TTL (hours or days: 12h, 3d): a change to merge."""
    import getpass

    from engine.identity import operator
    from engine.lifecycle import extend_database
    from engine.services import build_backend

    environment, identifier = database_argument(database)
    now = moment_option(now_text)
    settings = current_settings()
    backend = build_backend(settings)[0]
    with optional_ledger(settings) as ledger:
        done = extend_database(
            backend,
            environment,
            identifier,
            ttl_text,
            now,
            operator(by or getpass.getuser()),
            ledger,
            settings.terraform_path,
        )
    change = done.change
    out.print(
        f"change #{change.id} ({change.branch}) extends {environment}/{identifier} until "
        f"{done.claim.expires_at} (was {done.previous_expiry}); merge it to take effect",
        markup=False,
    )


@main.command()
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="Print the request as JSON.")
@reports_errors
def status(request_id: str, as_json: bool) -> None:
    """A request's status and history from the ledger."""
    from engine.store.ledger import Ledger

    record = Ledger.connect(current_settings().ledger_url).get(request_id)
    if record is None:
        raise DbvendError(f"no request {request_id} in the ledger")
    if as_json:
        click.echo(json.dumps(record.as_dict(), indent=2))
        return
    out.print(f"request {record.id}: [bold]{record.status}[/] ({record.environment}/{record.identifier})")
    table = Table("status", "at", "detail")
    for event in record.history:
        table.add_row(event.status, event.at, event.detail or "")
    out.print(table)
    if record.change_link:
        out.print(f"change: {record.change_link}")
    if record.policy is not None:
        policy = record.policy
        counts = f"{len(policy.get('warnings', []))} warnings, {len(policy.get('skipped', []))} skipped"
        out.print(f"policy gate: {policy.get('result')} ({counts})", markup=False)
    for error in record.errors:
        out.print("error: " + ", ".join(f"{k}: {v}" for k, v in error.items()), markup=False, soft_wrap=True)


def _request_through_ledger(
    settings: Settings, repo: LocalRepository, gate: PolicyGate, fields: dict[str, Any]
) -> Outcome:
    """Accept the request like the API does, then be its consumer at once.

    The message is queued already in this process's hands, so a running `dbvend serve` does not
    take it; if this process dies, it comes back to that worker after the visibility timeout.
    """
    import getpass

    from engine.intake import accept_request
    from engine.queue.local import InHand, LocalQueue
    from engine.queue.worker import REFUSALS, Worker
    from engine.store.ledger import Ledger

    try:
        requester = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid
        requester = "cli"
    ledger = Ledger.connect(settings.ledger_url)
    queue = LocalQueue(ledger, settings.visibility_timeout, settings.max_receives)
    in_hand = InHand(visibility_timeout=settings.visibility_timeout)
    record, message_id = accept_request(fields, "cli", requester, ledger, repo, in_hand=in_hand)
    message = queue.in_hand(message_id, in_hand)
    if message is None:
        raise DbvendError(f"request {record.id} was recorded but its message is gone from the queue")
    result = Worker(ledger, queue, repo, gate, settings.terraform_path).handle(message)
    if isinstance(result, REFUSALS):
        raise result
    if isinstance(result, Exception):
        raise DbvendError(
            f"request {record.id} failed and is queued to be tried again by `dbvend serve`: {result}"
        ) from result
    if result is None:
        raise DbvendError(f"request {record.id} was settled by another consumer before this one")
    return result


def _settle(change_id: int, status: str) -> Change:
    """Merge or close a change in the local repository, and tell the ledger."""
    settings = current_settings()
    repository = LocalRepository.open_or_create(settings.repo_path)
    change = repository.merge(change_id) if status == "merged" else repository.close(change_id)
    _record_in_ledger(settings, change, status)
    return change


def _record_in_ledger(settings: Settings, change: Change, status: str) -> None:
    """Tell the ledger, when there is one, that a change was merged or closed."""
    import getpass

    from engine.identity import operator
    from engine.lifecycle import settle_change
    from engine.store.ledger import Ledger

    if not settings.has_ledger:
        return
    ledger = Ledger.connect(settings.ledger_url)
    try:
        merge_commit = change.merge_commit if status == "merged" else None
        where, by = f"with dbvend {status[:-1]}", operator(getpass.getuser())
        settle_change(ledger, change.id, change.request_id, status, where, merge_commit, by)
    finally:
        ledger.engine.dispose()


def _print_policy(decision: PolicyDecision) -> None:
    colour = {"pass": "green", "warn": "yellow", "fail": "red"}[decision.result]
    out.print(f"policy gate: [bold {colour}]{decision.result}[/]", end="")
    out.print(f" ({len(decision.warnings)} warnings, {len(decision.skipped)} skipped by dbvend.yaml)")
    for finding in decision.warnings:
        line = f"  warning: {finding.check_id} {finding.name} ({finding.resource})"
        out.print(line, markup=False, soft_wrap=True)


def _print_checks(checks: list[Any]) -> None:
    table = Table("check", "result", "detail")
    colour = {"pass": "green", "fail": "red", "skip": "yellow"}
    for check in checks:
        table.add_row(check.name, f"[{colour[check.status]}]{check.status}[/]", check.detail)
    out.print(table)


def _register() -> None:
    from engine.cli.audit import audit
    from engine.cli.ci import ci
    from engine.cli.connect import connect
    from engine.cli.drift import drift
    from engine.cli.modify import modify
    from engine.cli.notify import notify
    from engine.cli.serve import serve
    from engine.cli.ttl import ttl

    main.add_command(ci)
    main.add_command(connect)
    main.add_command(ttl)
    main.add_command(drift)
    main.add_command(modify)
    main.add_command(serve)
    main.add_command(notify)
    main.add_command(audit)


_register()
