"""`dbvend ttl` and `dbvend ci ttl`: when databases expire, and the sweep that acts on it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from engine.cli.ci import ci, plugin_cache
from engine.cli.support import current_settings, out, reports_errors, step_summary
from engine.errors import DbvendError
from engine.services import job_backend

if TYPE_CHECKING:
    from datetime import datetime

    from engine.ttl import Due


@click.group()
def ttl() -> None:
    """Time-to-live: when databases expire (from their claims, never from HCL)."""


@ttl.command("list")
@click.option("--now", "now_text", help="The time to judge by (ISO 8601 with zone; default: now).")
@click.option("--ref", default="HEAD", show_default=True, help="The commit whose claims are read.")
@click.option(
    "--repo", type=click.Path(file_okay=False, exists=True, path_type=Path), default=".", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
@reports_errors
def ttl_list(now_text: str | None, ref: str, repo: Path, as_json: bool) -> None:
    """Databases with a time-to-live, soonest first: expired, reminders owed, time left."""
    now, rows, _ = ttl_rows(repo, ref, now_text)
    if as_json:
        click.echo(json.dumps({"now": now.isoformat(), "databases": rows}, indent=2))
        return
    if not rows:
        out.print("no database has a time-to-live")
    for row in rows:
        out.print(
            f"{row['directory']:<48} {row['expires_at']:<22} {row['left']:>8}  {row['state']}", markup=False
        )


def ttl_rows(repo: Path, ref: str, now_text: str | None) -> tuple[datetime, list[dict[str, Any]], Due]:
    """(now, one row per database with a time-to-live, soonest first, with what is due, the Due)."""
    from datetime import UTC, datetime

    from engine.ci import claims_at
    from engine.ttl import describe_left, due, lease_of, parse_time

    try:
        now = parse_time(now_text) if now_text else datetime.now(UTC)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--now") from None
    try:
        leases = [lease_of(directory, text) for directory, text in sorted(claims_at(repo, ref).items())]
    except ValueError as exc:
        raise DbvendError(str(exc)) from None
    found = due(leases, now)
    expired = {lease.directory for lease in found.expired}
    owed = {reminder.lease.directory for reminder in found.reminders}
    rows = []
    for lease in sorted((x for x in leases if x.expires_at), key=lambda x: (x.expires_at, x.directory)):
        left = lease.left(now)
        assert left is not None and lease.expires_at is not None
        state = (
            "destroying"
            if lease.destroying
            else "expired"
            if lease.directory in expired
            else "reminder due"
            if lease.directory in owed
            else ""
        )
        rows.append(
            {
                "directory": lease.directory,
                "owner": lease.owner,
                "expires_at": lease.expires_at.isoformat().replace("+00:00", "Z"),
                "left": "-"
                if lease.directory in expired or left.total_seconds() < 0
                else describe_left(left),
                "state": state,
            }
        )
    return now, rows, found


@ci.command("ttl")
@click.option("--now", "now_text", help="The time to judge by (ISO 8601 with zone; default: now).")
@click.option("--dry-run", is_flag=True, help="Say what would be done; do nothing.")
@click.option(
    "--repo", type=click.Path(file_okay=False, exists=True, path_type=Path), default=".", show_default=True
)
@click.option("--backend-config", "backend_file", help="A -backend-config file (auto_destroy's init).")
@reports_errors
def ci_ttl(now_text: str | None, dry_run: bool, repo: Path, backend_file: str | None) -> None:
    """The scheduled time-to-live run on this checkout: reminders, destroy changes (on GitHub), and
    the destroy itself where dbvend.yaml sets auto_destroy; reported in the job summary."""

    settings = current_settings()
    github = job_backend(settings)
    backend, replies = github if github is not None else (None, None)

    def destroyer(root: str) -> tuple[bool, str]:
        return _auto_destroy(repo, root, settings, backend_file)

    report = sweep(repo, "HEAD", now_text, dry_run, backend, replies, destroyer)
    step_summary(report)


@ttl.command("sweep")
@click.option("--now", "now_text", help="The time to judge by (ISO 8601 with zone; default: now).")
@click.option("--dry-run", is_flag=True, help="Say what would be done; do nothing.")
@click.option(
    "--repo", type=click.Path(file_okay=False, exists=True, path_type=Path), help="Default: DBVEND_REPO."
)
@click.option("--ref", help="The commit whose claims are read (default: the default branch).")
@reports_errors
def ttl_sweep(now_text: str | None, dry_run: bool, repo: Path | None, ref: str | None) -> None:
    """Remind owners before expiry (once per reminder); propose the destruction of expired databases
    (a destroy change each, once)."""

    settings = current_settings()
    if settings.gitops == "github":
        from engine.services import build_backend

        backend, replies, _ = build_backend(settings)
        # A clone's HEAD is the default branch it was cloned at; `ref` picks another commit.
        sweep(repo or settings.repo_path, ref or "HEAD", now_text, dry_run, backend, replies)
        return
    from engine.gitops.local import LocalRepository

    path = repo or settings.repo_path
    local = LocalRepository.open_or_create(path)
    sweep(path, ref or local.default_branch(), now_text, dry_run, local, None)


def sweep(
    repo: Path,
    ref: str,
    now_text: str | None,
    dry_run: bool,
    backend: Any = None,
    replies: Any = None,
    destroyer: Any = None,
) -> str:
    """Reminders sent once each through the ledger (and GitHub in GitHub mode), expired databases
    acted on through `backend` (none: listed only); the report."""
    from engine.catalog import CATALOG_FILE
    from engine.catalog_reader import load_catalog
    from engine.description import md_escape
    from engine.sweep import expire, remind

    now, rows, found = ttl_rows(repo, ref, now_text)
    settings = current_settings()
    ledger = None
    if settings.has_ledger:
        from engine.store.ledger import Ledger

        ledger = Ledger.connect(settings.ledger_url)
    try:
        sent = remind(found, ledger, replies, now, dry_run) if ledger is not None else []
        acted = []
        if found.expired:
            catalog = backend.catalog() if backend is not None else load_catalog(repo / CATALOG_FILE)
            acted = expire(found, catalog, backend, ledger, replies, now, dry_run, destroyer)
    finally:
        if ledger is not None:
            ledger.engine.dispose()
    reminders_owed = [row for row in rows if row["state"] == "reminder due"]
    unsent = [] if ledger is not None else reminders_owed
    notes = []
    if ledger is not None and len(sent) < len(reminders_owed):
        notes.append(f"{len(reminders_owed) - len(sent)} reminders were sent by an earlier sweep.")
    elif ledger is None and reminders_owed:
        notes.append("No ledger here (DATABASE_URL): reminders are listed, not sent.")
    lines = [f"## dbvend ttl sweep at {now.isoformat()}" + (" (dry run)" if dry_run else ""), ""]
    lines += [f"- reminded: `{t.directory}` ({t.window} before expiry) via {t.where}" for t in sent]
    lines += [f"- reminder owed: `{r['directory']}` expires {r['expires_at']}" for r in unsent]
    lines += [f"- expired: `{e.directory}`: {md_escape(e.action)}" for e in acted]
    lines += [f"- being destroyed: `{r['directory']}`" for r in rows if r["state"] == "destroying"]
    if notes:
        lines += ["", *notes]
    if len(lines) == 2:
        lines.append("Nothing is expired or due for a reminder.")
    report = "\n".join(lines) + "\n"
    out.print(report, markup=False, highlight=False, soft_wrap=True)
    if any(e.action.startswith("failed") for e in acted):
        step_summary(report)
        sys.exit(1)
    return report


def _auto_destroy(repo: Path, root: str, settings: Any, backend_file: str | None) -> tuple[bool, str]:
    """auto_destroy: destroy the root from this checkout, then remove it from the branch (pushed)."""
    from engine.ci import apply_roots, remove_root
    from engine.terraform import Terraform

    terraform = Terraform(settings.terraform, plugin_cache=plugin_cache())
    (report,) = apply_roots(repo, [root], terraform, destroy=True, backend_file=backend_file)
    if not report.ok:
        return False, report.detail
    try:
        commit = remove_root(repo, root, f"dbvend: remove {root} (time-to-live ran out; destroyed)")
    except DbvendError as exc:
        return False, f"{report.detail}; the root was not removed: {exc}"
    return True, f"{report.detail}; root removed in {commit[:12]}"
