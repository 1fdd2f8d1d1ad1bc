"""What every `dbvend` command shares: the consoles, and errors turned into exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click
from rich.console import Console

from engine.errors import DbvendError, InvalidRequest

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
