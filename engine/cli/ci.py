"""`dbvend ci`: what the Action and the CircleCI job run in an infrastructure repository."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from engine.ci import changed_roots, check_generated
from engine.cli.support import current_settings, job_github, out, reports_errors, step_summary
from engine.errors import DbvendError, StaleHead
from engine.roots import Root
from engine.ttl import Lease, lease_of

if TYPE_CHECKING:
    from engine.identity import Actor

REFS = [
    click.option("--base", required=True, help="The commit to compare with (the pull request's base)."),
    click.option("--head", default="HEAD", show_default=True, help="The commit to look at."),
    click.option(
        "--repo",
        "repo",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        default=".",
        show_default=True,
        help="The infrastructure repository.",
    ),
]


def refs(command: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(REFS):
        command = option(command)
    return command


@click.group()
def ci() -> None:
    """Plan, apply and check the database roots changed between two commits (CI only)."""


@ci.command("roots")
@refs
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
@reports_errors
def roots(base: str, head: str, repo: Path, as_json: bool) -> None:
    """The database roots changed between --base and --head (the ones CI plans)."""
    found = changed_roots(repo, base, head)
    if as_json:
        click.echo(json.dumps({"changed": list(found.changed), "removed": list(found.removed)}))
        return
    for root in found.changed:
        click.echo(root)
    for root in found.removed:
        click.echo(f"{root} (removed)")


@ci.command("check-generated", epilog="Exit codes: 0 every root is as dbvend renders it, 3 one is not.")
@refs
@reports_errors
def check_generated_command(base: str, head: str, repo: Path) -> None:
    """Render every changed root's request.json again and refuse hand edits of main.tf."""
    found = changed_roots(repo, base, head)
    mismatches = check_generated(repo, head, found.changed)
    lines = [f"## dbvend check-generated: {len(found.changed)} changed roots, {len(mismatches)} edited"]
    for mismatch in mismatches:
        lines += ["", f"### `{mismatch.directory}`", mismatch.reason]
        if mismatch.diff:
            lines += ["", "```diff", mismatch.diff.rstrip("\n"), "```"]
    if not mismatches:
        lines.append("Every changed root is exactly what dbvend renders from its request.json.")
    report = "\n".join(lines) + "\n"
    step_summary(report)
    out.print(report, markup=False, highlight=False, soft_wrap=True)
    if mismatches:
        sys.exit(3)


SUMMARY_MARKER = "dbvend:plan-summary"


@ci.command("plan", epilog="Exit codes: 0 planned, 3 a policy failed, 1 a root could not be planned.")
@refs
@click.option("--pr", "pull_request", type=int, help="The pull request to write the summary comment on.")
@click.option("--parallel", type=click.IntRange(1, 32), default=4, show_default=True, help="Plans at once.")
@click.option("--backend-config", "backend_file", help="A -backend-config file for every root's init.")
@click.option("--no-policy", is_flag=True, help="Skip the policy gate on the plans.")
@reports_errors
def plan(
    base: str, head: str, repo: Path, pull_request: int | None, parallel: int, backend_file: str | None,
    no_policy: bool,
) -> None:  # fmt: skip
    """Plan the roots changed between --base and --head; summarise them on the pull request."""
    from engine.catalog import CATALOG_FILE
    from engine.catalog_reader import load_catalog
    from engine.ci import plan_roots
    from engine.plan_report import render_report
    from engine.terraform import Terraform

    settings = current_settings()
    found = changed_roots(repo, base, head)
    if not found.changed:
        out.print("no database root changed: nothing to plan")
        step_summary("dbvend plan: no database root changed.\n")
        return
    catalog = load_catalog(repo / CATALOG_FILE)
    terraform = Terraform(settings.terraform, plugin_cache=plugin_cache())
    gate = None if no_policy else settings.policy_gate()
    try:
        reports = plan_roots(repo, found.changed, terraform, gate, catalog, parallel, backend_file)
    finally:
        if gate is not None:
            gate.close()
    report = render_report(reports, title=f"dbvend plan ({head[:12]})")
    _record_plans(settings, reports, _leases(repo, [r.directory for r in reports]))
    step_summary(report)
    out.print(report, markup=False, highlight=False, soft_wrap=True)
    if pull_request is not None:
        write_summary_comment(pull_request, report)
    if any(r.error or r.locked_by for r in reports):
        sys.exit(1)
    if any((r.policy or "").startswith("fail") for r in reports):
        sys.exit(3)


def plugin_cache() -> Path:
    """TF_PLUGIN_CACHE_DIR, else terraform's usual place: shared by every root of the run."""
    return Path(os.environ.get("TF_PLUGIN_CACHE_DIR") or Path.home() / ".terraform.d" / "plugin-cache")


def write_summary_comment(number: int, report: str) -> None:
    """The summary on the pull request: its comments found by marker and edited in place."""
    from engine.comment_parts import split_comment

    pulls = _github_pulls()
    if pulls is not None:
        pulls.write_parts(number, SUMMARY_MARKER, split_comment(report, SUMMARY_MARKER))


APPLY_MARKER = "dbvend:apply-summary"
DIRECTORY_OPTION = click.option(
    "--directory", help="One database root (terraform/<env>/<identifier>) instead of the changed ones."
)


@ci.command("apply", epilog="Exit codes: 0 applied, 4 the branch moved since (stale), 1 a root failed.")
@refs
@click.option("--pr", "pull_request", type=int, help="The pull request applied from (before its merge).")
@DIRECTORY_OPTION
@click.option("--backend-config", "backend_file", help="A -backend-config file for every root's init.")
@reports_errors
def apply(
    base: str,
    head: str,
    repo: Path,
    pull_request: int | None,
    directory: str | None,
    backend_file: str | None,
) -> None:
    """Apply the changed roots (or --directory): from the pull request (/apply) or on merge."""
    roots = _roots(repo, base, head, directory)
    if pull_request is not None:
        _refuse_stale(repo, pull_request, head)
    else:
        _refuse_unapproved_production_destroy(repo, roots)
    _apply(repo, roots, pull_request, backend_file, destroy=False)


def _refuse_unapproved_production_destroy(repo: Path, roots: list[str]) -> None:
    """On merge nobody has checked an approval: a production database marked for destruction is
    destroyed only by `/destroy` on its pull request (which needs one), never by a merge."""
    from engine.catalog import CATALOG_FILE
    from engine.catalog_reader import load_catalog
    from engine.ci import destroy_requested

    marked = [root for root in roots if destroy_requested(repo, root)]
    if not marked:
        return
    catalog = load_catalog(repo / CATALOG_FILE)
    for root in marked:
        if catalog.is_production(Root.of(root).environment):
            raise DbvendError(
                f"{root} is a production database marked for destruction: it is destroyed only by "
                "`/destroy` on its approved pull request, not on merge"
            )


@ci.command("destroy", epilog="Exit codes: 0 destroyed, 1 a root failed.")
@click.option(
    "--directory", required=True, help="The database root to destroy (terraform/<env>/<identifier>)."
)
@click.option("--pr", "pull_request", type=int, help="The pull request to report on.")
@click.option(
    "--repo", type=click.Path(file_okay=False, exists=True, path_type=Path), default=".", show_default=True
)
@click.option("--backend-config", "backend_file", help="A -backend-config file for the root's init.")
@reports_errors
def destroy(directory: str, pull_request: int | None, repo: Path, backend_file: str | None) -> None:
    """Destroy one database root's resources (plan -destroy, then apply that plan)."""
    _apply(repo, _roots(repo, "", "", directory), pull_request, backend_file, destroy=True)


def _roots(repo: Path, base: str, head: str, directory: str | None) -> list[str]:
    from engine.ci import roots_in

    if directory is None:
        return list(changed_roots(repo, base, head).changed)
    root = directory.strip("/")
    if roots_in([f"{root}/main.tf"]) != [root] or not (repo / root / "main.tf").is_file():
        raise DbvendError(f"{directory} is not a database root (terraform/<env>/<identifier> with a main.tf)")
    return [root]


def _refuse_stale(repo: Path, number: int, head: str) -> None:
    """/apply applies what was reviewed: the pull request's head must still be --head."""
    from engine.ci import git

    pulls = _github_pulls()
    if pulls is None:
        return
    wanted = git(repo, "rev-parse", head).strip()
    current = pulls.head_sha(number)
    if current != wanted:
        raise StaleHead(
            f"pull request #{number} moved to {current[:12]} since {wanted[:12]} was planned:"
            " plan again, then /apply"
        )


def _apply(repo: Path, roots: list[str], number: int | None, backend_file: str | None, destroy: bool) -> None:
    from engine.ci import apply_roots, render_apply
    from engine.terraform import Terraform

    command = "destroy" if destroy else "apply"
    if not roots:
        out.print(f"no database root changed: nothing to {command}")
        step_summary(f"dbvend {command}: no database root changed.\n")
        return
    settings = current_settings()
    terraform = Terraform(settings.terraform, plugin_cache=plugin_cache())
    leases = _leases(repo, roots)  # read before a destroyed root is removed
    pulls = _github_pulls() if number is not None else None
    reports = _remove_destroyed(
        repo, apply_roots(repo, roots, terraform, destroy, backend_file), pulls, number
    )
    report = render_apply(reports, command)
    step_summary(report)
    out.print(report, markup=False, highlight=False, soft_wrap=True)
    if pulls is not None and number is not None:
        from engine.comment_parts import split_comment

        marker = f"{APPLY_MARKER}:{command}"
        pulls.write_parts(number, marker, split_comment(report, marker))
    _record(settings, reports, leases, command)
    if not all(r.ok for r in reports):
        sys.exit(1)


def _remove_destroyed(repo: Path, reports: list[Any], pulls: Any, number: int | None) -> list[Any]:
    """A root whose destroy change was destroyed goes from the repository: a commit on the branch
    applied (the pull request's head for /destroy, else the branch checked out), pushed."""
    from dataclasses import replace

    from engine.ci import destroy_requested, remove_root

    done = []
    for report in reports:
        if report.ok and report.destroyed and destroy_requested(repo, report.directory):
            branch = pulls.head(number)[1] if pulls is not None and number is not None else None
            try:
                commit = remove_root(
                    repo, report.directory, f"dbvend: remove {report.directory} (destroyed)", branch
                )
            except DbvendError as exc:
                report = replace(report, ok=False, detail=f"{report.detail}; the root was not removed: {exc}")
            else:
                report = replace(report, detail=f"{report.detail}; root removed in {commit[:12]}")
        done.append(report)
    return done


def _leases(repo: Path, roots: list[str]) -> dict[str, Lease]:
    """Each root's request (id, and the final snapshot a destroy keeps), from its request.json."""
    found = {}
    for root in roots:
        try:
            found[root] = lease_of(root, (repo / root / "request.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return found


def ci_actor() -> Actor:
    """Who a CI job acts for: the GitHub user whose event started the run (GITHUB_ACTOR), else
    dbvend's CI itself (CircleCI, a machine of one's own)."""
    from engine.identity import person, system

    login = os.environ.get("GITHUB_ACTOR", "")
    return person(login, "ci") if login else system("ci")


def _record(settings: Any, reports: list[Any], leases: dict[str, Lease], command: str) -> None:
    """Each root's request in the ledger, when this CI can reach it (DATABASE_URL): applied or
    destroyed, or a note of the failure. Destroyed is a fact about AWS: it holds even when the
    root's removal failed after it."""
    outcomes = {
        r.directory: ("destroyed" if r.destroyed else "applied" if r.ok else "", r.detail) for r in reports
    }
    connections = {r.directory: r.connection.as_dict() for r in reports if r.connection is not None}
    _in_ledger(settings, leases, outcomes, command, connections)


def _record_plans(settings: Any, reports: list[Any], leases: dict[str, Lease]) -> None:
    """Each planned root's request in the ledger, when this CI can reach it: `planned`, with the
    plan's counts, policy and cost (what the portal shows as the latest plan), or a note of why not."""
    from engine.ci import count_line_of

    lines = {}
    for report in reports:
        if report.summary is not None and not report.error:
            facts = [count_line_of(report.summary), report.policy, _cost_text(report.monthly_cost)]
            lines[report.directory] = ("planned", "; ".join(fact for fact in facts if fact))
        else:
            lines[report.directory] = ("", report.error or f"state locked ({report.locked_by})")
    _in_ledger(settings, leases, lines, "plan")


def _cost_text(monthly: float | None) -> str | None:
    return None if monthly is None else f"about ${monthly:,.2f} a month"


def _in_ledger(
    settings: Any,
    leases: dict[str, Lease],
    outcomes: dict[str, tuple[str, str]],
    command: str,
    connections: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Per root, its request moved to a status (or, when it cannot move there, a note), with a
    line saying what CI did; nothing without DATABASE_URL or for roots the ledger does not know.
    An applied root's connection details are recorded in the same transaction, before the move; a
    destroyed one's final snapshot (restore_from "final") with the move."""
    if not settings.database_url:
        return
    from engine.store.ledger import Ledger

    found = connections or {}
    ledger = Ledger.connect(settings.database_url)
    try:
        for directory, (status, line) in outcomes.items():
            lease = leases.get(directory)
            if lease is None or ledger.get(lease.request_id) is None:
                continue
            request_id = lease.request_id
            kept = lease.final_snapshot if status == "destroyed" else None
            detail = f"dbvend ci {command}: {directory}: {line.splitlines()[0] if line else ''}"
            with ledger.transaction() as connection:
                if directory in found:
                    ledger.record_connection(request_id, found[directory], connection)
                moved = status and ledger.transition(
                    request_id, status, detail, final_snapshot=kept, connection=connection, actor=ci_actor()
                )
                if not moved:
                    ledger.note(request_id, detail, connection)
    finally:
        ledger.engine.dispose()


def _github_pulls() -> Any:
    """GitHub's pull requests when this CI has a token and knows the repository, else None."""
    from engine.github.pulls import GitHubPullRequests

    found = job_github()
    return GitHubPullRequests(*found) if found is not None else None
