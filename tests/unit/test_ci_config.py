"""CI configuration: action.yml, the reusable workflows, the callers `dbvend init` installs, CircleCI.

Read from the files, offline: the Action and the CircleCI jobs run the same `dbvend ci` invocation
with the same flags from the same sources; no `${{ }}` expression is pasted into a shell script; the
dispatch caller is what the App sends and matches; every third-party action is pinned to a commit SHA
and no checkout keeps its token; checkov gets its own virtualenv. tests/integration/test_ci_config.py
validates the files with check-jsonschema and runs their scripts against a real git repository;
zizmor audits the same files (tests/integration/test_zizmor.py).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from engine.catalog import GitHubRules
from engine.webhooks.comments import DISPATCHED
from engine.webhooks.pulls import RUN_TITLE
from tests.support.ci_files import (
    ACTION,
    ACTION_FILE,
    ACTION_REF,
    ACTION_REPOSITORY,
    CALLERS,
    CIRCLE_FILE,
    DEPENDABOT_FILE,
    DISPATCH_CALLER,
    EXPRESSION,
    OWN_WORKFLOWS,
    REUSABLE,
    REUSABLE_DIR,
    ROOT,
    action,
    action_run_step,
    circle,
    circle_run_step,
    load,
    lookup,
    run_scripts,
    steps_of,
    triggers,
)

# The flags of `dbvend ci` (engine/cli/), per subcommand.
CLI_FLAGS = {
    "plan": {"--base", "--head", "--pr", "--parallel"},
    "apply": {"--base", "--head", "--pr", "--directory"},
    "destroy": {"--directory", "--pr"},
    "check-generated": {"--base", "--head"},
    "ttl": set(),
    "drift": set(),  # `dbvend drift` (engine/cli/drift.py): the Action runs it outside `dbvend ci`
}
# Which reusable workflow runs which commands, and the CircleCI job that must run the same ones.
PARITY = {
    "dbvend-plan.yml": "plan",
    "dbvend-apply.yml": "apply",
    "dbvend-ttl.yml": "ttl",
    "dbvend-drift.yml": "drift",
}
SHARED_START = "# ---- same in action.yml and .circleci/config.yml"
SHARED_END = "# ---- end of the shared invocation ----"
# `uses: owner/repo[/path]@<40-hex commit> # vX.Y.Z`: what every third-party reference looks like.
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<reference>\S+)(?P<rest>.*)$", re.M)
PINNED = re.compile(r"(?P<action>[\w.-]+/[\w.-]+(?:/[\w./-]+)?)@[0-9a-f]{40}")
VERSION_COMMENT = re.compile(r" # v\d+\.\d+\.\d+")
CHECKOUT = "actions/checkout"


def invocations(path: Path) -> list[str]:
    """Every `dbvend ci ...` command line in a file's scripts, continuation lines joined."""
    found = []
    for script in run_scripts(path):
        joined = re.sub(r"\\\n\s*", " ", script)
        found += [line.strip() for line in joined.splitlines() if re.match(r"\s*dbvend ci\b", line)]
    return found


def flags_of(invocation: str) -> tuple[str, dict[str, str]]:
    """(subcommand, {flag: variable}) of one invocation; `${X}`, `"$X"` and `${X:+--f "$X"}` alike."""
    text = re.sub(r"\$\{(\w+)\}", r"$\1", invocation)  # ${X} -> $X
    text = re.sub(r"\$\{\w+:\+(.*?)\}", r"\1", text)  # ${X:+--flag "$X"} -> --flag "$X"
    words = text.replace('"', "").split()
    assert words[:2] == ["dbvend", "ci"], invocation
    flags = dict(re.findall(r"(--[a-z][a-z-]*)\s+\$(\w+)", " ".join(words[3:])))
    return words[2], flags


def shared_block(script: str) -> str:
    start, end = script.index(SHARED_START), script.index(SHARED_END)
    return script[start : end + len(SHARED_END)]


# --- (a) the files ---------------------------------------------------------------------------------


def test_the_files_exist() -> None:
    assert ACTION_FILE.is_file() and CIRCLE_FILE.is_file()
    assert {p.name for p in REUSABLE} == {
        "dbvend-plan.yml",
        "dbvend-apply.yml",
        "dbvend-destroy.yml",
        "dbvend-ttl.yml",
        "dbvend-drift.yml",
    }
    assert (REUSABLE_DIR / "ci.yml").is_file()
    assert {p.name for p in CALLERS} == {
        "dbvend.yml",
        "dbvend-pr.yml",
        "dbvend-main.yml",
        "dbvend-ttl.yml",
        "dbvend-drift.yml",
    }


# --- (b) the Action and CircleCI run the same invocation ------------------------------------------


def test_one_invocation_in_each_and_the_same_flags() -> None:
    (in_action,) = invocations(ACTION_FILE)
    (in_circle,) = invocations(CIRCLE_FILE)
    assert flags_of(in_action) == flags_of(in_circle)
    subcommand, flags = flags_of(in_action)
    assert subcommand == "$COMMAND"
    assert flags == {"--base": "BASE_SHA", "--head": "HEAD_SHA", "--pr": "PR", "--directory": "DIRECTORY"}
    assert set(flags) <= set().union(*CLI_FLAGS.values())


def test_the_invocation_block_is_the_same_text() -> None:
    action_block = shared_block(action_run_step()["run"])
    assert shared_block(circle_run_step()["command"]) == action_block
    assert "dbvend ci " in action_block


def test_where_each_flag_comes_from() -> None:
    env = action_run_step()["env"]
    assert env["COMMAND"] == "${{ inputs.command }}"
    assert env["BASE_SHA"] == "${{ inputs.base }}"
    assert env["HEAD_SHA"] == "${{ inputs.head }}"
    assert env["PR"] == "${{ inputs.pr }}"
    assert env["DIRECTORY"] == "${{ inputs.directory }}"
    assert env["GITHUB_TOKEN"] == "${{ inputs.github-token }}"
    assert env["EVENT_PR_BASE"] == "${{ github.event.pull_request.base.sha }}"
    assert env["EVENT_PR_HEAD"] == "${{ github.event.pull_request.head.sha }}"
    assert env["EVENT_BEFORE"] == "${{ github.event.before }}"
    circle_step = circle_run_step()
    assert circle_step["environment"]["COMMAND"] == "<< parameters.command >>"
    assert circle_step["environment"]["DIRECTORY"] == "<< parameters.directory >>"
    script = circle_step["command"]
    assert 'git merge-base "origin/$DEFAULT_BRANCH" HEAD' in script
    assert "git rev-parse HEAD~1" in script
    assert "CIRCLE_PULL_REQUEST" in script


def github_commands(path: Path) -> list[str]:
    return [s["with"]["command"] for s in steps_of(load(path)) if s.get("uses") == ACTION]


def circle_commands(job: str) -> list[str]:
    steps = circle()["jobs"][job]["steps"]
    return [s["dbvend-ci"]["command"] for s in steps if isinstance(s, dict) and "dbvend-ci" in s]


@pytest.mark.parametrize(("workflow", "job"), sorted(PARITY.items()))
def test_each_circleci_job_runs_what_its_workflow_runs(workflow: str, job: str) -> None:
    commands = github_commands(REUSABLE_DIR / workflow)
    assert commands == circle_commands(job)
    assert job in commands


def test_destroy_workflow_runs_destroy() -> None:
    assert github_commands(REUSABLE_DIR / "dbvend-destroy.yml") == ["destroy"]


def test_circleci_workflows() -> None:
    config = circle()
    jobs = {
        name: [next(iter(entry)) for entry in workflow["jobs"]]
        for name, workflow in config["workflows"].items()
    }
    assert jobs == {"dbvend": ["plan", "apply"], "dbvend-ttl": ["ttl"], "dbvend-drift": ["drift"]}
    main = {next(iter(e)): e[next(iter(e))] for e in config["workflows"]["dbvend"]["jobs"]}
    branch = "<< pipeline.parameters.default-branch >>"
    assert main["plan"]["filters"] == {"branches": {"ignore": branch}}
    assert main["apply"]["filters"] == {"branches": {"only": branch}}
    assert config["parameters"]["default-branch"]["default"] == "main"
    scheduled = {"equal": ["scheduled_pipeline", "<< pipeline.trigger_source >>"]}
    run_ttl, run_drift = "<< pipeline.parameters.run-ttl >>", "<< pipeline.parameters.run-drift >>"
    assert config["workflows"]["dbvend"]["when"] == {"not": {"or": [run_ttl, run_drift, scheduled]}}
    # a schedule runs the ttl sweep unless it sets run-drift; run-drift runs drift alone
    assert config["workflows"]["dbvend-ttl"]["when"] == {
        "or": [run_ttl, {"and": [scheduled, {"not": run_drift}]}]
    }
    assert config["workflows"]["dbvend-drift"]["when"] == run_drift
    assert config["parameters"]["run-drift"]["default"] is False
    for entry in [spec for workflow in config["workflows"].values() for spec in workflow["jobs"]]:
        (spec,) = entry.values()
        assert spec["context"] == "<< pipeline.parameters.context >>"  # OIDC tokens need a context


# --- (c) no expression pasted into a script -------------------------------------------------------


@pytest.mark.parametrize("path", [ACTION_FILE, *OWN_WORKFLOWS, *CALLERS], ids=lambda p: p.name)
def test_no_expression_in_run_scripts(path: Path) -> None:
    """`${{ inputs.x }}` in a script is pasted into the shell before it runs (script injection):
    values reach scripts through env: and are used as "$VARS"."""
    for script in run_scripts(path):
        assert not EXPRESSION.search(script), f"{path.name}: pass it through env:\n{script}"


def test_every_input_the_action_reads_is_declared() -> None:
    declared = set(action()["inputs"])
    used = set(re.findall(r"\binputs\.([\w-]+)", ACTION_FILE.read_text()))
    assert used == declared


# --- (d) the dispatch caller and the App ----------------------------------------------------------


def dispatched_inputs() -> set[str]:
    """The keys of the `inputs` dict engine/webhooks/comments.py sends with the dispatch."""
    tree = ast.parse((ROOT / "engine" / "webhooks" / "comments.py").read_text())
    for node in ast.walk(tree):
        named = isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "inputs" for t in node.targets
        )
        if named and isinstance(node.value, ast.Dict):
            return {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    raise AssertionError("comments.py no longer builds `inputs = {...}`")


def test_dispatch_caller_inputs_are_what_the_app_sends() -> None:
    workflow = load(DISPATCH_CALLER)
    assert DISPATCH_CALLER.name == GitHubRules().workflow
    on = triggers(workflow)
    assert set(on) == {"workflow_dispatch"}
    inputs = on["workflow_dispatch"]["inputs"]
    assert set(inputs) == dispatched_inputs() == {"pr", "directory", "command"}
    assert inputs["command"]["type"] == "choice"
    assert set(inputs["command"]["options"]) == set(DISPATCHED)


@pytest.mark.parametrize("command", DISPATCHED)
def test_dispatch_run_name_is_what_the_app_matches(command: str) -> None:
    workflow = load(DISPATCH_CALLER)
    context = {"inputs": {"command": command, "pr": "1234", "directory": "terraform/dev/orders"}}
    title = EXPRESSION.sub(lambda m: lookup(context, m.group(1)), workflow["run-name"])
    found = RUN_TITLE.search(title)
    assert found is not None, title
    assert found.groups() == (command, "1234")
    # ...and it runs exactly the matching reusable workflow.
    jobs = workflow["jobs"]
    chosen = [job["uses"] for job in jobs.values() if job["if"] == f"inputs.command == '{command}'"]
    assert chosen == [f"{ACTION_REPOSITORY}/.github/workflows/dbvend-{command}.yml@{ACTION_REF}"]


# --- (e) permissions, concurrency, references, checkov ---------------------------------------------


@pytest.mark.parametrize("path", REUSABLE, ids=lambda p: p.name)
def test_reusable_workflows(path: Path) -> None:
    workflow = load(path)
    assert set(triggers(workflow)) == {"workflow_call"}
    assert workflow["permissions"] == {}  # nothing by default: each job says what it needs
    for name, job in workflow["jobs"].items():
        permissions = job["permissions"]
        assert isinstance(permissions, dict) and permissions, name
        assert set(permissions.values()) <= {"read", "write"}
        concurrency = job["concurrency"]
        scheduled = path.name in ("dbvend-ttl.yml", "dbvend-drift.yml")  # one run at a time per repository
        assert EXPRESSION.search(concurrency["group"]) or scheduled, name
        steps = job["steps"]
        assert steps[0]["uses"].startswith(f"{CHECKOUT}@") and steps[0]["with"]["fetch-depth"] == 0
        (uses,) = [s for s in steps if s.get("uses", "").startswith(ACTION_REPOSITORY)]
        assert uses["uses"] == ACTION
        assert set(uses["with"]) <= set(action()["inputs"]), name
        # OIDC (id-token) only where the job can assume a role.
        assert (permissions.get("id-token") == "write") == ("aws-role-arn" in uses["with"]), name


def test_concurrency_per_pull_request_and_per_directory() -> None:
    def groups(name: str) -> list[dict[str, Any]]:
        return [job["concurrency"] for job in load(REUSABLE_DIR / name)["jobs"].values()]

    for group in groups("dbvend-plan.yml"):
        assert "inputs.pr || github.event.pull_request.number" in group["group"]
        assert group["cancel-in-progress"] is True  # a newer plan supersedes
    (apply,) = groups("dbvend-apply.yml")
    (destroy,) = groups("dbvend-destroy.yml")
    assert apply["group"].startswith("dbvend-terraform-${{ inputs.directory")
    assert destroy["group"] == "dbvend-terraform-${{ inputs.directory }}"
    (ttl,) = groups("dbvend-ttl.yml")
    (drift,) = groups("dbvend-drift.yml")
    assert apply["cancel-in-progress"] is destroy["cancel-in-progress"] is ttl["cancel-in-progress"] is False
    assert drift == {"group": "dbvend-drift", "cancel-in-progress": False}  # two runs never race on an issue


def test_apply_workflow_serves_the_app_and_merges() -> None:
    workflow = load(REUSABLE_DIR / "dbvend-apply.yml")
    inputs = triggers(workflow)["workflow_call"]["inputs"]
    assert {"pr", "directory", "apply-on-merge"} <= set(inputs)
    assert inputs["apply-on-merge"] == {**inputs["apply-on-merge"], "type": "boolean", "default": False}
    (job,) = workflow["jobs"].values()
    assert job["if"] == "inputs.directory != '' || (inputs.apply-on-merge && github.event_name == 'push')"
    assert job["env"] == {"DBVEND_APPLY_ON_MERGE": "${{ inputs.apply-on-merge }}"}


@pytest.mark.parametrize("path", CALLERS, ids=lambda p: p.name)
def test_callers(path: Path) -> None:
    """Each caller calls one of the reusable workflows at ACTION_REF, and passes only inputs that
    workflow declares, with every required one."""
    workflow = load(path)
    assert workflow["permissions"] == {}
    prefix = f"{ACTION_REPOSITORY}/.github/workflows/"
    for name, job in workflow["jobs"].items():
        assert job["uses"].startswith(prefix) and job["uses"].endswith(f"@{ACTION_REF}"), name
        called = job["uses"][len(prefix) : -len(f"@{ACTION_REF}")]
        assert (REUSABLE_DIR / called).is_file(), called
        declared = triggers(load(REUSABLE_DIR / called))["workflow_call"]["inputs"]
        given = set(job.get("with", {}))
        assert given <= set(declared), name
        assert {k for k, spec in declared.items() if spec.get("required")} <= given, name
        assert job["with"]["aws-role-arn"] == "${{ vars.DBVEND_AWS_ROLE_ARN }}"


def test_caller_triggers() -> None:
    pr = triggers(load(ROOT / "workflows" / "dbvend-pr.yml"))
    assert pr == {"pull_request": {"paths": ["terraform/**"]}}
    main = load(ROOT / "workflows" / "dbvend-main.yml")
    assert triggers(main) == {"push": {"branches": ["main"], "paths": ["terraform/**"]}}
    (apply,) = main["jobs"].values()
    assert apply["if"] == "vars.DBVEND_APPLY_ON_MERGE == 'true'"
    assert apply["with"]["apply-on-merge"] is True
    ttl = triggers(load(ROOT / "workflows" / "dbvend-ttl.yml"))
    assert set(ttl) == {"schedule", "workflow_dispatch"}
    assert ttl["schedule"][0]["cron"].split()[1:] == ["*", "*", "*", "*"]  # hourly
    drift = triggers(load(ROOT / "workflows" / "dbvend-drift.yml"))
    assert set(drift) == {"schedule", "workflow_dispatch"}
    minute, hour, *rest = drift["schedule"][0]["cron"].split()
    assert minute.isdigit() and hour.isdigit() and rest == ["*", "*", "*"]  # daily


def test_every_reference_to_dbvend_on_github_is_the_same() -> None:
    files = [ACTION_FILE, CIRCLE_FILE, *REUSABLE, *CALLERS]
    references = [
        (path.name, m.group(0))
        for path in files
        for m in re.finditer(r"[\w.-]+/[\w.-]+(?:/\.github/workflows/[\w.-]+)?@[\w.-]+", path.read_text())
        if "dbvend" in m.group(0) and not m.group(0).startswith(("actions/", "hashicorp/"))
    ]
    assert references
    for name, reference in references:
        assert reference.startswith(ACTION_REPOSITORY) and reference.endswith(f"@{ACTION_REF}"), (
            name,
            reference,
        )
    assert f"git+https://github.com/{ACTION}" in CIRCLE_FILE.read_text()  # CircleCI's default install


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))  # workflows/dbvend-ttl.yml, .github/workflows/dbvend-ttl.yml


def uses_of(path: Path) -> list[str]:
    """Every `uses:` of a workflow (steps and reusable-workflow jobs) or of the composite Action."""
    data = load(path)
    if path == ACTION_FILE:
        return [s["uses"] for s in data["runs"]["steps"] if "uses" in s]
    jobs = data["jobs"].values()
    return [job["uses"] for job in jobs if "uses" in job] + [s["uses"] for s in steps_of(data) if "uses" in s]


@pytest.mark.parametrize("path", [ACTION_FILE, *OWN_WORKFLOWS, *CALLERS], ids=relative)
def test_every_third_party_action_is_pinned_to_a_commit(path: Path) -> None:
    """A tag can be moved to other code; a commit cannot. dbvend's own references follow ACTION_REF
    on purpose (.github/zizmor.yml); everything else is `@<commit> # vX.Y.Z`, which Dependabot updates."""
    lines = list(USES_LINE.finditer(path.read_text()))
    assert sorted(m["reference"] for m in lines) == sorted(uses_of(path))  # no `uses:` escapes the lines
    for line in lines:
        reference = line["reference"]
        if reference.startswith(f"{ACTION_REPOSITORY}/") or reference.startswith(f"{ACTION_REPOSITORY}@"):
            continue
        assert PINNED.fullmatch(reference), f"{path.name}: pin {reference} to a full commit SHA"
        assert VERSION_COMMENT.fullmatch(line["rest"]), f"{path.name}: {reference} needs ' # vX.Y.Z'"


def test_one_commit_per_action_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for path in [ACTION_FILE, *OWN_WORKFLOWS, *CALLERS]:
        for line in USES_LINE.finditer(path.read_text()):
            if found := PINNED.fullmatch(line["reference"]):
                pins.setdefault(found["action"], set()).add(line["reference"] + line["rest"])
    assert {"actions/checkout", "actions/setup-python", "hashicorp/setup-terraform"} <= set(pins)
    assert {action: len(seen) for action, seen in pins.items()} == dict.fromkeys(pins, 1), pins


@pytest.mark.parametrize("path", [*OWN_WORKFLOWS, *CALLERS], ids=relative)
def test_no_checkout_keeps_its_token(path: Path) -> None:
    """actions/checkout writes the token into .git/config unless told not to, where everything the
    job runs later (pip's packages, terraform's providers) can read it. dbvend's pushes and the
    Action's fetch send it through git's environment instead."""
    steps = [s for s in steps_of(load(path)) if s.get("uses", "").startswith(f"{CHECKOUT}@")]
    for step in steps:
        assert step["with"]["persist-credentials"] is False, path.name
    assert bool(steps) == (path in OWN_WORKFLOWS), path.name  # the callers run no steps of their own


def test_dependabot_updates_the_pins() -> None:
    """Weekly, from "/" (Dependabot's value for .github/workflows/ and the root's action.yml), minor
    and patch releases in one pull request; dbvend's own references are left on ACTION_REF."""
    (update,) = load(DEPENDABOT_FILE)["updates"]
    assert update["package-ecosystem"] == "github-actions"
    assert update["directory"] == "/" and "directories" not in update
    assert update["schedule"]["interval"] == "weekly"
    assert [group["update-types"] for group in update["groups"].values()] == [["minor", "patch"]]
    assert update["ignore"] == [{"dependency-name": ACTION_REPOSITORY}]


def makefile_checkov_version() -> str:
    (version,) = re.findall(r"^CHECKOV_VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    return version


def venv_of(script: str, package: str) -> str:
    """The virtualenv whose python pip-installs `package` in a script."""
    (venv,) = re.findall(rf'"?([^"\s]+)/bin/python"? -m pip install [^\n]*{re.escape(package)}', script)
    return venv


def test_checkov_gets_its_own_venv_in_the_action() -> None:
    (install,) = [s for s in action()["runs"]["steps"] if "checkov==" in s.get("run", "")]
    assert install["env"]["CHECKOV_VERSION"] == makefile_checkov_version()
    script = install["run"]
    checkov, dbvend = venv_of(script, '"checkov==$CHECKOV_VERSION"'), venv_of(script, '"$spec"')
    assert checkov != dbvend
    # a step output, not GITHUB_ENV: only the `dbvend ci` step gets it (and dbvend's venv on its PATH)
    assert f'echo "checkov={checkov}" >> "$GITHUB_OUTPUT"' in script
    assert f'echo "dbvend-bin={dbvend}/bin" >> "$GITHUB_OUTPUT"' in script
    assert not re.search(r'>> *"?\$\{?GITHUB_(ENV|PATH)\b', ACTION_FILE.read_text())  # zizmor: github-env
    env = action_run_step()["env"]
    assert env["DBVEND_CHECKOV"] == f"${{{{ steps.{install['id']}.outputs.checkov }}}}"
    assert env["DBVEND_BIN"] == f"${{{{ steps.{install['id']}.outputs.dbvend-bin }}}}"
    assert action_run_step()["run"].startswith('set -euo pipefail\nPATH="$DBVEND_BIN:$PATH"')
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"  # default: the Action's checkout


def test_checkov_gets_its_own_venv_on_circleci() -> None:
    environment = circle()["executors"]["dbvend"]["environment"]
    assert environment["CHECKOV_VERSION"] == makefile_checkov_version()
    (script,) = [s for s in run_scripts(CIRCLE_FILE) if "checkov==" in s]
    checkov, dbvend = venv_of(script, '"checkov==$CHECKOV_VERSION"'), venv_of(script, '"$spec"')
    assert (checkov, dbvend) == ("$DBVEND_CHECKOV", "~/.tools/dbvend")


def test_terraform_is_pinned_and_verified() -> None:
    version = action()["inputs"]["terraform-version"]["default"]
    environment = circle()["executors"]["dbvend"]["environment"]
    assert environment["TERRAFORM_VERSION"] == version == "1.11.4"
    assert re.fullmatch(r"[0-9a-f]{64}", environment["TERRAFORM_SHA256"])
    (script,) = [s for s in run_scripts(CIRCLE_FILE) if "releases.hashicorp.com" in s]
    assert 'echo "$TERRAFORM_SHA256  /tmp/$zip" | sha256sum -c -' in script
    setup = [
        s for s in action()["runs"]["steps"] if s.get("uses", "").startswith("hashicorp/setup-terraform")
    ]
    assert setup[0]["with"] == {
        "terraform_version": "${{ inputs.terraform-version }}",
        "terraform_wrapper": False,
    }


def test_action_steps() -> None:
    steps = action()["runs"]["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    for name in ("actions/setup-python", "hashicorp/setup-terraform", "actions/cache"):
        assert name in uses
    (aws,) = [s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert aws["if"] == "inputs.aws-role-arn != ''"
    assert aws["with"]["role-to-assume"] == "${{ inputs.aws-role-arn }}"
    (cache,) = [s for s in steps if s.get("uses", "").startswith("actions/cache@")]
    assert "hashFiles('**/.terraform.lock.hcl')" in cache["with"]["key"]
    assert "runner.os" in cache["with"]["key"] and "inputs.terraform-version" in cache["with"]["key"]
    assert action_run_step()["working-directory"] == "${{ inputs.working-directory }}"
    assert action()["inputs"]["github-token"]["default"] == "${{ github.token }}"
