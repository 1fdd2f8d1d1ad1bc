"""`dbvend drift`: plan every database, and keep one GitHub issue per drifted database up to date."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from engine.cli.support import current_settings, out, reports_errors, step_summary
from engine.errors import GitOpsError
from engine.services import actions_github

if TYPE_CHECKING:  # imported when the command runs: `dbvend --help` stays quick
    from engine.drift import DriftAction
    from engine.github.drift_issues import GitHubDriftIssues


@click.command(
    "drift",
    epilog="Exit codes: 0 no drift, 2 drift found, 1 a root could not be planned or an issue not written.",
)
@click.option(
    "--repo",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=".",
    show_default=True,
    help="The infrastructure repository's checkout (the claims at its HEAD name the databases).",
)
@click.option("--parallel", type=click.IntRange(1, 32), default=4, show_default=True, help="Plans at once.")
@click.option("--backend-config", "backend_file", help="A -backend-config file for every root's init.")
@click.option(
    "--dry-run", is_flag=True, help="Plan and decide; say what would be done to the issues, write nothing."
)
@reports_errors
def drift(repo: Path, parallel: int, backend_file: str | None, dry_run: bool) -> None:
    """Plan every database (-detailed-exitcode); open, update or close one issue per drifted database.

    Databases whose destroy is requested are skipped. Without GITHUB_TOKEN and GITHUB_REPOSITORY the
    report is printed (and written to the job summary) and no issue is touched.
    """
    from engine.catalog import default_catalog_text
    from engine.catalog_reader import parse_catalog
    from engine.ci import claims_at, plan_roots
    from engine.cli.ci import plugin_cache
    from engine.drift import decide, describe, drift_roots, exit_code, render_run
    from engine.terraform import Terraform

    now = datetime.now(UTC).replace(microsecond=0)
    roots, skipped = drift_roots(claims_at(repo, "HEAD"))
    reports = []
    if roots:
        terraform = Terraform(current_settings().terraform, plugin_cache=plugin_cache())
        catalog = parse_catalog(default_catalog_text())  # only the policy gate reads it: none here
        reports = plan_roots(repo, roots, terraform, None, catalog, parallel, backend_file)
    issues = drift_issues()
    actions = decide(reports, issues.open_issues() if issues else [], now, skipped)
    notes, failed, remark = [""] * len(actions), False, ""
    if issues is None:
        remark = "No GITHUB_TOKEN / GITHUB_REPOSITORY: no drift issue is read or written."
    elif dry_run:
        notes, remark = [describe(a, written=False) for a in actions], "Dry run: no issue is written."
    else:
        notes, failed = write_issues(issues, actions)
    if not dry_run:
        notify_drift(actions, tracked=issues is not None)
    report = render_run(now, actions, notes, reports, remark)
    step_summary(report)
    out.print(report, markup=False, highlight=False, soft_wrap=True)
    code = 1 if failed else exit_code(actions)
    if code:
        sys.exit(code)


def write_issues(issues: GitHubDriftIssues, actions: Sequence[DriftAction]) -> tuple[list[str], bool]:
    """Each action done on GitHub: (a note per action, whether one failed). A failure is noted and
    the others still go ahead: one issue GitHub refuses does not hide the other databases' drift."""
    from engine.drift import describe

    notes, failed = [], False
    for action in actions:
        try:
            opened = None
            if action.kind == "open":
                opened = issues.open(action.title, action.body)
            elif action.kind == "update":
                assert action.issue is not None
                issues.edit(action.issue, action.body)
            elif action.kind == "close":
                assert action.issue is not None
                issues.close(action.issue, action.comment)
            notes.append(describe(action, written=True, opened=opened))
        except GitOpsError as exc:
            notes.append(f"❌ {exc}")
            failed = True
    return notes, failed


def notify_drift(actions: Sequence[DriftAction], tracked: bool) -> None:
    """A `drift` notification event per drifted database the ledger knows (DATABASE_URL), once per
    drift (engine.drift.occurrence); sent by whichever notifier runs (README "Notifications")."""
    from engine.drift import occurrence
    from engine.store.ledger import Ledger

    url = current_settings().database_url
    drifted = [action for action in actions if action.drifted]
    if not url or not drifted:
        return
    ledger = Ledger.connect(url)
    try:
        for action in drifted:
            _, environment, identifier = [*action.directory.split("/"), "", ""][:3]
            record = ledger.holder(environment, identifier)
            if record is not None and ledger.first_time(occurrence(action, tracked), "drift"):
                where = f" (issue #{action.issue})" if action.issue else ""
                ledger.notify("drift", record.id, f"drift: {action.detail}{where}")
    finally:
        ledger.engine.dispose()


def drift_issues() -> GitHubDriftIssues | None:
    """The repository's drift issues when this CI has a token and knows the repository, else None."""
    from engine.github.drift_issues import GitHubDriftIssues

    found = actions_github(current_settings())
    return GitHubDriftIssues(*found) if found is not None else None
