"""`dbvend audit export`: the audit trail from the ledger as JSON lines, oldest first."""

from __future__ import annotations

import json
import os
import sys

import click

from engine.cli.support import current_settings, reports_errors
from engine.errors import DbvendError


@click.group()
def audit() -> None:
    """The audit trail: who did what, through which door, to which database, with what outcome."""


@audit.command("export", epilog="Exit codes: 0 written, 2 an invalid option, 1 other errors.")
@click.option(
    "--since", required=True, help="From this time on: ISO 8601 with its zone, such as 2026-05-01T00:00:00Z."
)
@click.option("--until", help="Before this time (ISO 8601 with its zone); default: no end.")
@click.option("--database", metavar="ENV/NAME", help="Only the events of this database.")
@click.option("--actor", help="Only this actor's events: github:<login>, key:<name>, dbvend.")
@reports_errors
def audit_export(since: str, until: str | None, database: str | None, actor: str | None) -> None:
    """Write the audit trail to stdout as JSON lines, oldest first.

    One object per event, with the fields GET /v1/audit answers, from the ledger (DATABASE_URL's,
    else the data dir's); read a thousand rows at a time, so millions of events take no more
    memory than a thousand."""
    from engine.audit import parse_audit_query
    from engine.store.ledger import Ledger

    query = parse_audit_query(database=database, actor=actor, since=since, until=until)
    settings = current_settings()
    if not settings.has_ledger:
        raise DbvendError(
            "there is no ledger: set DATABASE_URL, or DBVEND_DATA to where `dbvend serve` keeps it"
        )
    ledger = Ledger.connect(settings.ledger_url)
    try:
        for row in ledger.audit_rows(query):
            sys.stdout.write(json.dumps(row.as_json(), separators=(",", ":")) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped (`| head`): no traceback, and none at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        ledger.engine.dispose()
