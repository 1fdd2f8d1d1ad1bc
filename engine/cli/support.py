"""What every `dbvend` command shares: its one Settings, the consoles, the job summary, and
errors turned into exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console

from engine.errors import DbvendError, InvalidRequest
from engine.services import actions_github
from engine.settings import Settings

if TYPE_CHECKING:
    from engine.store.ledger import Ledger

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(command: F) -> F:
    """Turn dbvend's errors into a readable message and their exit code."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except InvalidRequest as exc:
            err.print("[bold red]invalid request[/]")
            for error in exc.errors:
                err.print(f"  [bold]{error.field}[/]: {error.rule}", markup=True)
            sys.exit(exc.exit_code)
        except DbvendError as exc:
            err.print(f"[bold red]error:[/] {click.style(str(exc), bold=False)}", markup=True)
            sys.exit(exc.exit_code)

    return run  # type: ignore[return-value]


def current_settings(**overrides: Any) -> Settings:
    """The command's one Settings, read from the environment (DBVEND_*) at its first use and kept
    on the click context for the rest of the command; `overrides` (`dbvend serve`'s options) are
    applied at that first use."""
    context = click.get_current_context(silent=True)
    root = context.find_root() if context is not None else None
    if root is not None and isinstance(root.obj, Settings):
        return root.obj
    made = Settings(**{k: v for k, v in overrides.items() if v is not None})
    if root is not None:
        root.obj = made
    return made


def database_argument(text: str) -> tuple[str, str]:
    """ENV/NAME of a command about one database: its environment and identifier (lower case)."""
    environment, _, identifier = text.partition("/")
    if not environment or not identifier or "/" in identifier:
        raise click.BadParameter("must be <environment>/<name>, such as dev/orders", param_hint="ENV/NAME")
    return environment, identifier.lower()


def moment_option(text: str | None) -> datetime:
    """A command's --now (ISO 8601 with its zone), or now."""
    from engine.ttl import parse_time

    try:
        return parse_time(text) if text else datetime.now(UTC)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--now") from None


@contextmanager
def optional_ledger(settings: Settings) -> Iterator[Ledger | None]:
    """The ledger when one is configured (or `dbvend serve` made one), closed afterwards; else None."""
    if not settings.has_ledger:
        yield None
        return
    from engine.store.ledger import Ledger

    ledger = Ledger.connect(settings.ledger_url)
    try:
        yield ledger
    finally:
        ledger.engine.dispose()


def step_summary(markdown: str) -> None:
    """Append to the GitHub Actions job summary when there is one."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(markdown)


def job_github() -> tuple[Any, str] | None:
    """In a CI job: a GitHub client and the repository (engine.services.actions_github), or None,
    said once, when the job has no token or does not know its repository."""
    found = actions_github(current_settings())
    if found is None:
        out.print("no GITHUB_TOKEN / GITHUB_REPOSITORY: nothing is written on GitHub")
    return found
