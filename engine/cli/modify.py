"""`dbvend modify ENV/NAME --size medium ...`: a day-two change to a database, opened as a change to merge."""

from __future__ import annotations

from typing import Any

import click

from engine.cli.support import (
    current_settings,
    database_argument,
    moment_option,
    optional_ledger,
    out,
    reports_errors,
)
from engine.spec import SIZES


@click.command(
    epilog="Exit codes: 0 done, 2 invalid input, 3 refused by a check or the policy, 4 conflict, 1 other."
)
@click.argument("database", metavar="ENV/NAME")
@click.option("--size", type=click.Choice(SIZES), help="The instance class's size (not for Aurora).")
@click.option("--storage-gb", type=int, help="Allocated storage in GB: grows only, by 10% or more.")
@click.option("--engine-version", help="A later engine version the catalog offers (a new major upgrades).")
@click.option("--readers", type=int, help="Aurora: the number of reader instances.")
@click.option(
    "--proxy/--no-proxy", default=None, help="Aurora: an RDS Proxy in front of the cluster, or none."
)
@click.option("--min-acu", type=float, help="Aurora: the least capacity, in ACUs.")
@click.option("--max-acu", type=float, help="Aurora: the most capacity, in ACUs.")
@click.option("--owner", help="The owner tag: a login or an e-mail.")
@click.option("--team", help="The team tag.")
@click.option("--now", "now_text", help="When it is asked (ISO 8601 with zone; default: now).")
@click.option("--by", help="Who asks (default: $USER).")
@reports_errors
def modify(database: str, now_text: str | None, by: str | None, **fields: Any) -> None:
    """Change a database (size, storage, engine version, Aurora capacity, readers, proxy, owner,
    team): checked and gated like a new request, a change to merge; it says per field what happens
    to the running database."""
    import getpass

    from engine.identity import operator
    from engine.lifecycle import modify_database
    from engine.services import build_backend

    environment, identifier = database_argument(database)
    now = moment_option(now_text)
    asked = {name: value for name, value in fields.items() if value is not None}
    if not asked:
        raise click.UsageError("say what to change: --size, --storage-gb, --engine-version, ... (see --help)")
    settings = current_settings()
    backend = build_backend(settings)[0]
    with optional_ledger(settings) as ledger, settings.policy_gate() as gate:
        done = modify_database(
            backend,
            environment,
            identifier,
            asked,
            now,
            operator(by or getpass.getuser()),
            gate,
            ledger,
            settings.terraform_path,
        )
    change = done.change
    out.print(f"change #{change.id} ({change.branch}) changes {environment}/{identifier}:", markup=False)
    for effect in done.modification.effects:
        out.print(
            f"  {effect.field}: {effect.before} -> {effect.after}: {effect.impact}: {effect.behaviour.what}",
            markup=False,
        )
    out.print("merge it to take effect; CI's plan on it confirms what changes", markup=False)
