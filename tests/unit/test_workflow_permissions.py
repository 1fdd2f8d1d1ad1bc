"""Every job that runs a dbvend command holds exactly the GITHUB_TOKEN permissions the command uses.

Read from the files themselves: each job whose steps use the dbvend Action (dbvend/dbvend@v1) runs
the `dbvend ci` command its `command:` input names; each caller job runs what the reusable workflow
it calls runs, with the caller's inputs. A called workflow's job gets at most what its caller's job
grants (GitHub caps it), so a caller must grant every permission its command uses and a job must
hold none its command never uses. What each command uses (NEEDS) is what dbvend does on GitHub with
the job's token; tests/integration/test_destroy_terraform.py runs destroy changes with tokens made from these
permissions against the fake GitHub, which refuses whatever they do not grant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import pytest

from tests.support.ci_files import (
    ACTION,
    CALLERS,
    OWN_WORKFLOWS,
    REUSABLE_PREFIX,
    ROOT,
    effective_permissions,
    load,
    triggers,
)
from tests.support.github_permissions import LEVEL

WORKFLOW_FILES: Final = [*OWN_WORKFLOWS, *CALLERS]

# What each command does with the job's token (GITHUB_TOKEN) on GitHub, and why.
NEEDS: Final[dict[str, dict[str, str]]] = {
    "check-generated": {"contents": "read"},  # reads the checkout; the report is the job summary
    "plan": {"contents": "read"},
    "apply": {"contents": "write"},  # a destroyed destroy change's directory: a pushed commit removes it
    "destroy": {"contents": "write"},  # the same removal, pushed to the pull request's branch
    # auto_destroy pushes a removal; a destroy change is a branch (contents), a pull request and labels
    # on it (pull-requests); reminders are comments on the requests' issues (issues)
    "ttl": {"contents": "write", "pull-requests": "write", "issues": "write"},
    "drift": {"contents": "read", "issues": "write"},  # one issue per drifted database
}
# With a pull request (--pr): its head is checked (/apply), its branch read (/destroy), and the report
# is its comment; a pull request's comments need pull-requests (not issues) permission.
WITH_PULL_REQUEST: Final = {"pull-requests": "write"}
TAKES_PULL_REQUEST: Final = ("plan", "apply", "destroy")
WITH_AWS_ROLE: Final = {"id-token": "write"}  # AWS through GitHub's OIDC provider, when aws-role-arn is set
EXPRESSION: Final = re.compile(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}")


def union(*grants: Mapping[str, str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for grant in grants:
        for scope, level in grant.items():
            if LEVEL[level] > LEVEL[merged.get(scope, "none")]:
                merged[scope] = level
    return merged


def resolve(value: Any, inputs: Mapping[str, Any] | None) -> Any:
    """A `with:` value with `${{ inputs.x }}` replaced by the caller's input (None: unknown)."""
    if inputs is None or not isinstance(value, str):
        return value
    match = EXPRESSION.fullmatch(value.strip())
    return inputs.get(match.group(1), "") if match else value


def maybe_set(value: Any) -> bool:
    """Whether an input may be non-empty: a literal that is, or any expression."""
    return value not in (None, "", False)


def needs(command: str, pull_request: bool, aws_role: bool) -> dict[str, str]:
    extras = [WITH_PULL_REQUEST] if pull_request and command in TAKES_PULL_REQUEST else []
    return union(NEEDS[command], *extras, *([WITH_AWS_ROLE] if aws_role else []))


def step_needs(step: Mapping[str, Any], events: set[str], inputs: Mapping[str, Any] | None) -> dict[str, str]:
    """What one step of the dbvend Action needs, its inputs resolved against a caller's `inputs`."""
    given = {name: resolve(value, inputs) for name, value in (step.get("with") or {}).items()}
    command = given["command"]
    assert command in NEEDS, f"{command!r} is not a dbvend command"
    pull_request = maybe_set(given.get("pr")) or bool(events & {"pull_request", "pull_request_target"})
    return needs(command, pull_request, maybe_set(given.get("aws-role-arn")))


def job_needs(job: Mapping[str, Any], events: set[str], inputs: Mapping[str, Any] | None) -> dict[str, str]:
    """What a job's dbvend steps need (a reusable workflow's jobs, when it calls one)."""
    uses = job.get("uses", "")
    if uses.startswith(REUSABLE_PREFIX):
        called = load(ROOT / ".github" / "workflows" / uses[len(REUSABLE_PREFIX) :].split("@")[0])
        declared = triggers(called)["workflow_call"].get("inputs", {})
        given = {name: spec.get("default", "") for name, spec in declared.items()} | dict(
            job.get("with") or {}
        )
        return union(*(job_needs(inner, events, given) for inner in called["jobs"].values()))
    steps = [step for step in job.get("steps", []) if step.get("uses") == ACTION]
    return union(*(step_needs(step, events, inputs) for step in steps))


def problems(path: Path, workflow: Mapping[str, Any]) -> list[str]:
    """Each job whose permissions differ from what its dbvend commands use, said with the difference."""
    events = set(triggers(dict(workflow)))
    reusable = events == {"workflow_call"}
    found = []
    for name, job in workflow["jobs"].items():
        wanted = job_needs(job, events, None if reusable else {})
        if not wanted:
            continue
        held = dict(job.get("permissions") or {})
        missing = {s: lvl for s, lvl in wanted.items() if LEVEL[held.get(s, "none")] < LEVEL[lvl]}
        unused = {s: lvl for s, lvl in held.items() if LEVEL[lvl] > LEVEL[wanted.get(s, "none")]}
        if missing:
            found.append(f"{path.name}: job {name} lacks {missing}")
        if unused:
            found.append(f"{path.name}: job {name} holds {unused}, which it never uses")
    return found


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_job_holds_what_its_commands_use_and_no_more(path: Path) -> None:
    workflow = load(path)
    assert workflow.get("permissions") in ({}, {"contents": "read"}), "nothing beyond read by default"
    assert problems(path, workflow) == []


def test_every_dbvend_command_is_reached_by_some_job() -> None:
    reached = set()
    for path in WORKFLOW_FILES:
        for job in load(path)["jobs"].values():
            for step in job.get("steps", []):
                if step.get("uses") == ACTION:
                    reached.add(step["with"]["command"])
    assert reached == set(NEEDS)


def test_a_destroy_applied_on_merge_gets_contents_write_through_its_caller() -> None:
    caller = ROOT / "workflows" / "dbvend-main.yml"
    assert effective_permissions(caller, "apply") == {"contents": "write", "id-token": "write"}
    dispatched = ROOT / "workflows" / "dbvend.yml"
    assert effective_permissions(dispatched, "apply")["contents"] == "write"
    assert effective_permissions(dispatched, "destroy")["contents"] == "write"


def test_the_check_fails_on_an_apply_job_that_can_read_only() -> None:
    """The permissions the apply jobs had before: the removal of a destroyed root could not be pushed."""
    path = ROOT / ".github" / "workflows" / "dbvend-apply.yml"
    workflow = load(path)
    (job,) = workflow["jobs"].values()
    job["permissions"] = {"contents": "read", "pull-requests": "write", "issues": "write", "checks": "write",
                          "id-token": "write"}  # fmt: skip
    assert problems(path, workflow) == [
        "dbvend-apply.yml: job apply lacks {'contents': 'write'}",
        "dbvend-apply.yml: job apply holds {'issues': 'write', 'checks': 'write'}, which it never uses",
    ]
    caller_path = ROOT / "workflows" / "dbvend-main.yml"
    caller = load(caller_path)
    caller["jobs"]["apply"]["permissions"] = {
        "contents": "read",
        "pull-requests": "write",
        "id-token": "write",
    }
    assert problems(caller_path, caller) == [
        "dbvend-main.yml: job apply lacks {'contents': 'write'}",
        "dbvend-main.yml: job apply holds {'pull-requests': 'write'}, which it never uses",
    ]


def test_the_action_runs_dbvend_with_the_jobs_token() -> None:
    """The permissions above are the job token's: the Action hands that token to `dbvend ci`."""
    action = load(ROOT / "action.yml")
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    (step,) = [s for s in action["runs"]["steps"] if str(s.get("name", "")).startswith("dbvend ci")]
    assert step["env"]["GITHUB_TOKEN"] == "${{ inputs.github-token }}"
    assert "dbvend ci" in step["run"] and "dbvend drift" in step["run"]
    for path in WORKFLOW_FILES:
        for job in load(path)["jobs"].values():
            for uses in [s for s in job.get("steps", []) if s.get("uses") == ACTION]:
                assert "github-token" not in (uses.get("with") or {}), f"{path.name}: the job's own token"
