"""`dbvend ci`: what the Action and the CircleCI job run in an infrastructure repository."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from engine.ci import changed_roots, check_generated
from engine.cli import out, reports_errors

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


def step_summary(markdown: str) -> None:
    """Append to the GitHub Actions job summary when there is one."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(markdown)
