"""The CI files dbvend ships and uses (action.yml, .circleci/config.yml, the reusable workflows, the
callers `dbvend init` installs, Dependabot's config): where they are, read as GitHub reads them, and
the token a job's dbvend step gets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import yaml

from tests.support.github_permissions import capped
from tests.support.paths import ROOT

ACTION_FILE = ROOT / "action.yml"
CIRCLE_FILE = ROOT / ".circleci" / "config.yml"
REUSABLE_DIR = ROOT / ".github" / "workflows"
REUSABLE = sorted(REUSABLE_DIR.glob("dbvend-*.yml"))
OWN_WORKFLOWS = sorted(REUSABLE_DIR.glob("*.yml"))
CALLERS = sorted((ROOT / "workflows").glob("*.yml"))
DISPATCH_CALLER = ROOT / "workflows" / "dbvend.yml"
DEPENDABOT_FILE = ROOT / ".github" / "dependabot.yml"

# The one spelling of where dbvend lives on GitHub; a fork changes it here and in the files above.
ACTION_REPOSITORY = "dbvend/dbvend"
ACTION_REF = "v1"
ACTION = f"{ACTION_REPOSITORY}@{ACTION_REF}"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
CIRCLE_PARAMETER = re.compile(r"<<\s*([\w.-]+)\s*>>")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """A workflow's `on:` (YAML 1.1 reads the bare key `on` as True)."""
    on = workflow.get("on", workflow.get(True))
    return {on: None} if isinstance(on, str) else dict(on or {})


def steps_of(workflow: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow.get("jobs", {}).values():
        yield from job.get("steps", [])


def action() -> dict[str, Any]:
    return load(ACTION_FILE)


def action_run_step() -> dict[str, Any]:
    (step,) = [s for s in action()["runs"]["steps"] if "dbvend ci " in s.get("run", "")]
    return step


def circle() -> dict[str, Any]:
    return load(CIRCLE_FILE)


def circle_run_step() -> dict[str, Any]:
    (step,) = [
        s["run"]
        for command in circle()["commands"].values()
        for s in command["steps"]
        if isinstance(s, dict) and "dbvend ci " in (s.get("run") or {}).get("command", "")
    ]
    return step


def run_scripts(path: Path) -> Iterator[str]:
    """Every shell script of a GitHub file (workflow or composite action) or of the CircleCI config."""
    data = load(path)
    if path == CIRCLE_FILE:
        for part in ("commands", "jobs"):
            for body in data.get(part, {}).values():
                for step in body.get("steps", []):
                    if isinstance(step, dict) and isinstance(step.get("run"), dict):
                        yield step["run"]["command"]
                    elif isinstance(step, dict) and isinstance(step.get("run"), str):
                        yield step["run"]
        return
    steps = data["runs"]["steps"] if path == ACTION_FILE else list(steps_of(data))
    yield from (step["run"] for step in steps if "run" in step)


def lookup(context: dict[str, Any], dotted: str) -> str:
    value: Any = context
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


REUSABLE_PREFIX: Final = f"{ACTION_REPOSITORY}/.github/workflows/"


def effective_permissions(path: Path, job_name: str, called_job: str | None = None) -> dict[str, str]:
    """The token a job's dbvend step gets: its own permissions, or, for a caller, the called job's
    capped by the caller's."""
    job = load(path)["jobs"][job_name]
    uses = job.get("uses", "")
    if not uses.startswith(REUSABLE_PREFIX):
        return dict(job["permissions"])
    called = load(ROOT / ".github" / "workflows" / uses[len(REUSABLE_PREFIX) :].split("@")[0])
    inner = called["jobs"][called_job or next(iter(called["jobs"]))]
    return capped(job["permissions"], inner["permissions"])
