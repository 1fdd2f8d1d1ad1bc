"""`dbvend notify send`: the notifications due, sent once, for a process that runs no `dbvend serve`."""

from __future__ import annotations

from pathlib import Path

import click

from engine.cli.support import current_settings, out, reports_errors


@click.group()
def notify() -> None:
    """Notifications: the events in the ledger's outbox, posted to dbvend.yaml's targets."""


@notify.command("send")
@click.option(
    "--repo",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Read dbvend.yaml from this checkout (default: the GitOps store's main, as `dbvend serve` does).",
)
@click.option(
    "--budget", type=click.FloatRange(1, 900), default=60.0, show_default=True, help="Seconds at most."
)
@reports_errors
def notify_send(repo: Path | None, budget: float) -> None:
    """Send every notification due (DATABASE_URL's ledger, else the data dir's), then exit. A target
    that fails is listed and its notification retried, with backoff, by a later run (exit code 0: a
    receiver that is down is no failure of dbvend's)."""
    import time
    from functools import partial

    from engine.catalog import CATALOG_FILE
    from engine.catalog_reader import load_catalog
    from engine.notifier import deliver_pending
    from engine.services import build_backend
    from engine.store.ledger import Ledger

    settings = current_settings()
    settings.data.mkdir(parents=True, exist_ok=True)
    ledger = Ledger.connect(settings.ledger_url)
    try:
        read = partial(load_catalog, repo / CATALOG_FILE) if repo else build_backend(settings)[0].catalog
        sent = deliver_pending(ledger, read, deadline=time.monotonic() + budget)
    finally:
        ledger.engine.dispose()
    out.print(f"{sent.sent} sent, {sent.retrying} to retry, {sent.given_up} given up")
    for error in sent.errors:
        out.print(f"  {error}", markup=False)
