"""CI configuration: action.yml, the reusable workflows, the callers `dbvend init` installs, CircleCI.

Checked here, offline: the files are valid for GitHub and CircleCI (check-jsonschema's vendored
schemas); the Action and the CircleCI jobs run the same `dbvend ci` invocation with the same flags from
the same sources (read from the files, then run against a real git repository with a stub `dbvend`);
no `${{ }}` expression is pasted into a shell script; the dispatch caller is what the App sends and
matches; every third-party action is pinned to a commit SHA and no checkout keeps its token; checkov
gets its own virtualenv. zizmor audits the same files (tests/test_zizmor.py).
"""

from __future__ import annotations

import ast
import base64
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.catalog import GitHubRules
from engine.webhooks.comments import DISPATCHED
from engine.webhooks.pulls import RUN_TITLE

ROOT = Path(__file__).resolve().parent.parent
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
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
CIRCLE_PARAMETER = re.compile(r"<<\s*([\w.-]+)\s*>>")
# `uses: owner/repo[/path]@<40-hex commit> # vX.Y.Z`: what every third-party reference looks like.
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<reference>\S+)(?P<rest>.*)$", re.M)
PINNED = re.compile(r"(?P<action>[\w.-]+/[\w.-]+(?:/[\w./-]+)?)@[0-9a-f]{40}")
VERSION_COMMENT = re.compile(r" # v\d+\.\d+\.\d+")
CHECKOUT = "actions/checkout"


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


def check_jsonschema() -> str:
    beside = Path(sys.executable).parent / "check-jsonschema"
    found = str(beside) if beside.exists() else shutil.which("check-jsonschema")
    assert found, "check-jsonschema is a dev dependency: pip install -e '.[dev]'"
    return found


# --- (a) valid for GitHub and CircleCI ------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-actions", [ACTION_FILE]),
        ("vendor.github-workflows", OWN_WORKFLOWS + CALLERS),
        ("vendor.circle-ci", [CIRCLE_FILE]),
        ("vendor.dependabot", [DEPENDABOT_FILE]),
    ],
    ids=["action", "workflows", "circleci", "dependabot"],
)
def test_schema_valid(schema: str, files: list[Path]) -> None:
    assert files
    done = subprocess.run(
        [check_jsonschema(), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


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


# Running the scripts: a real repository, a stub `dbvend` that records its arguments.


@dataclass
class Origin:
    bare: Path
    sha: dict[str, str] = field(default_factory=dict)


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Origin:
    """main: m1 - m2 - m3, then m4 merges b1; the pull request's branch dbvend/dev/orders: m2 - b1."""
    top = tmp_path_factory.mktemp("origin")
    bare, work = top / "origin.git", top / "work"
    git(top, "init", "-q", "--bare", "-b", "main", str(bare))
    git(top, "clone", "-q", str(bare), str(work))
    made = Origin(bare)

    def commit(name: str, path: str) -> None:
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(f"# {name}\n")
        git(work, "add", path)
        git(work, "commit", "-q", "-m", name)
        made.sha[name] = git(work, "rev-parse", "HEAD")

    git(work, "checkout", "-q", "-b", "main")
    commit("m1", "README.md")
    commit("m2", "terraform/dev/base/main.tf")
    git(work, "checkout", "-q", "-b", "dbvend/dev/orders")
    commit("b1", "terraform/dev/orders/main.tf")
    git(work, "checkout", "-q", "main")
    commit("m3", "docs.md")
    git(work, "merge", "-q", "--no-ff", "-m", "m4", "dbvend/dev/orders")
    made.sha["m4"] = git(work, "rev-parse", "HEAD")
    # origin's main stays at m3 (the pull request is open); the merge m4 is reachable for checkouts.
    git(work, "push", "-q", "origin", "HEAD~1:refs/heads/main", "dbvend/dev/orders", "HEAD:refs/heads/merged")
    return made


def checkout(origin: Origin, tmp_path: Path, sha: str) -> Path:
    work = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(origin.bare), str(work))
    git(work, "checkout", "-q", "--detach", sha)
    return work


def run(script: str, env: dict[str, str], cwd: Path, tmp_path: Path) -> tuple[int, list[str] | None, str]:
    """Run a step's script with a stub `dbvend` first on PATH: (exit status, its argv or None, stderr)."""
    stub_dir, argv_file = tmp_path / "stub", tmp_path / "argv"
    stub_dir.mkdir(exist_ok=True)
    argv_file.unlink(missing_ok=True)
    stub = stub_dir / "dbvend"
    stub.write_text('#!/bin/sh\nprintf "%s\\0" "$@" > "$DBVEND_ARGV"\n')
    stub.chmod(0o755)
    base = {"PATH": f"{stub_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path)}
    full = {**base, "DBVEND_ARGV": str(argv_file), **env}
    done = subprocess.run(["bash", "-c", script], cwd=cwd, env=full, capture_output=True, text=True)
    argv = argv_file.read_text().split("\0")[:-1] if argv_file.exists() else None
    return done.returncode, argv, done.stderr


def lookup(context: dict[str, Any], dotted: str) -> str:
    value: Any = context
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def action_env(inputs: dict[str, str], event_name: str, event: dict[str, Any], sha: str) -> dict[str, str]:
    """The run step's env as GitHub evaluates it for this event and these inputs."""
    declared = action()["inputs"]
    context = {
        "inputs": {name: str(spec.get("default", "")) for name, spec in declared.items()} | inputs,
        "github": {"event": event, "token": "t0ken"},
    }
    env = {}
    for name, value in action_run_step()["env"].items():
        (expression,) = EXPRESSION.findall(value)  # one plain context path per variable
        assert re.fullmatch(r"[\w.-]+", expression), f"{name}: {expression}"
        env[name] = lookup(context, expression)
    return env | {"GITHUB_EVENT_NAME": event_name, "GITHUB_SHA": sha, "GITHUB_REPOSITORY": "acme/infra"}


def circle_env(command: str, branch: str, pull_request: str | None) -> dict[str, str]:
    pipeline = {name: str(spec.get("default", "")) for name, spec in circle()["parameters"].items()}
    context = {"parameters": {"command": command, "directory": ""}, "pipeline": {"parameters": pipeline}}
    env = {
        name: CIRCLE_PARAMETER.sub(lambda m: lookup(context, m.group(1)), str(value))
        for name, value in circle_run_step()["environment"].items()
    }
    env |= {"CIRCLE_BRANCH": branch, "CIRCLE_PROJECT_USERNAME": "acme", "CIRCLE_PROJECT_REPONAME": "infra"}
    if pull_request:
        env["CIRCLE_PULL_REQUEST"] = f"https://github.com/acme/infra/pull/{pull_request}"
    return env


@pytest.mark.parametrize("command", ["plan", "check-generated"])
def test_pull_request_same_argv(command: str, origin: Origin, tmp_path: Path) -> None:
    sha = origin.sha
    work = checkout(origin, tmp_path, sha["b1"])
    # GitHub's event gives the base branch's tip (m3); both end at the merge base (m2).
    event = {
        "pull_request": {"number": 7, "base": {"sha": sha["m3"]}, "head": {"sha": sha["b1"]}},
        "repository": {"default_branch": "main"},
    }
    env = action_env({"command": command}, "pull_request", event, sha["b1"])
    status, github_argv, err = run(action_run_step()["run"], env, work, tmp_path)
    assert status == 0, err
    status, circle_argv, err = run(
        circle_run_step()["command"], circle_env(command, "dbvend/dev/orders", "7"), work, tmp_path
    )
    assert status == 0, err
    expected = ["ci", command, "--base", sha["m2"], "--head", sha["b1"]]
    assert github_argv == circle_argv == expected + (["--pr", "7"] if command == "plan" else [])


def test_merge_same_argv(origin: Origin, tmp_path: Path) -> None:
    sha = origin.sha
    work = checkout(origin, tmp_path, sha["m4"])
    event = {"before": sha["m3"], "repository": {"default_branch": "main"}}
    status, github_argv, err = run(
        action_run_step()["run"], action_env({"command": "apply"}, "push", event, sha["m4"]), work, tmp_path
    )
    assert status == 0, err
    status, circle_argv, err = run(
        circle_run_step()["command"], circle_env("apply", "main", None), work, tmp_path
    )
    assert status == 0, err
    assert github_argv == circle_argv == ["ci", "apply", "--base", sha["m3"], "--head", sha["m4"]]


def test_ttl_same_argv(tmp_path: Path) -> None:
    """The sweep takes no flags and needs no git: an empty directory will do."""
    env = action_env({"command": "ttl"}, "schedule", {}, "0" * 40)
    status, github_argv, err = run(action_run_step()["run"], env, tmp_path, tmp_path)
    assert status == 0, err
    status, circle_argv, err = run(
        circle_run_step()["command"], circle_env("ttl", "main", None), tmp_path, tmp_path
    )
    assert status == 0, err
    assert github_argv == circle_argv == ["ci", "ttl"]


DISPATCH_EVENT = {"inputs": {}, "repository": {"default_branch": "main"}}


@pytest.mark.parametrize(
    ("command", "tail"),
    [
        ("plan", ["--pr", "7"]),
        ("apply", ["--pr", "7", "--directory", "terraform/dev/orders"]),
        ("destroy", ["--pr", "7", "--directory", "terraform/dev/orders"]),
    ],
)
def test_dispatched_by_the_app(command: str, tail: list[str], origin: Origin, tmp_path: Path) -> None:
    """workflow_dispatch runs on main with the pull request's head checked out: base is the merge base."""
    sha = origin.sha
    work = checkout(origin, tmp_path, sha["b1"])
    inputs = {"command": command, "pr": "7", "directory": "terraform/dev/orders"}
    env = action_env(inputs, "workflow_dispatch", DISPATCH_EVENT, sha["m4"])
    status, argv, err = run(action_run_step()["run"], env, work, tmp_path)
    assert status == 0, err
    base = [] if command == "destroy" else ["--base", sha["m2"], "--head", sha["b1"]]
    assert argv == ["ci", command, *base, *tail]


@dataclass
class GitCall:
    argv: str
    config: dict[str, str]  # the GIT_CONFIG_* variables git was started with


def git_recorder(tmp_path: Path) -> tuple[Path, Path]:
    """A `git` that logs each call's arguments and GIT_CONFIG_* environment, then runs the real git."""
    bin_dir, log = tmp_path / "git-bin", tmp_path / "git-calls"
    bin_dir.mkdir()
    real = shutil.which("git")
    assert real
    (bin_dir / "git").write_text(
        "#!/bin/sh\n"
        f'{{ printf "argv=%s\\n" "$*"; env | grep "^GIT_CONFIG" | sort; echo --; }} >> "{log}"\n'
        f'exec "{real}" "$@"\n'
    )
    (bin_dir / "git").chmod(0o755)
    return bin_dir, log


def git_calls(log: Path) -> list[GitCall]:
    calls = []
    for record in log.read_text().split("--\n")[:-1]:
        argv, *variables = record.splitlines()
        calls.append(GitCall(argv.removeprefix("argv="), dict(v.split("=", 1) for v in variables)))
    return calls


@pytest.mark.parametrize("persisted", [False, True], ids=["no-credentials", "checkout-kept-its-header"])
def test_default_branch_fetch_sends_the_token_through_the_environment(
    persisted: bool, origin: Origin, tmp_path: Path
) -> None:
    """The checkouts keep no credentials: the Action's fetch of the default branch (no base given)
    sends GITHUB_TOKEN as actions/checkout would, as an Authorization header in git's environment
    configuration: never in argv or .git/config, and only to that one fetch."""
    token = "ghs_t0ken"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    work = checkout(origin, tmp_path, origin.sha["b1"])
    if persisted:
        git(work, "config", "http.https://github.example/.extraheader", "AUTHORIZATION: basic kept")
    bin_dir, log = git_recorder(tmp_path)
    inputs = {"command": "plan", "pr": "7", "github-token": token}
    env = action_env(inputs, "workflow_dispatch", DISPATCH_EVENT, origin.sha["m4"])
    env |= {
        "GITHUB_SERVER_URL": "https://github.example",
        "PATH": f"{tmp_path / 'stub'}{os.pathsep}{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    status, argv, err = run(action_run_step()["run"], env, work, tmp_path)
    assert status == 0, err
    assert argv == ["ci", "plan", "--base", origin.sha["m2"], "--head", origin.sha["b1"], "--pr", "7"]
    calls = git_calls(log)
    (fetch,) = [call for call in calls if call.argv.startswith("fetch ")]
    header = {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.https://github.example/.extraheader",
        "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
    }
    assert fetch.config == ({} if persisted else header)  # git would send two headers
    assert [call.config for call in calls if call is not fetch] == [{}] * (len(calls) - 1)
    for secret in (token, basic):
        assert not any(secret in call.argv for call in calls)
        assert secret not in (work / ".git" / "config").read_text()


@pytest.mark.parametrize(
    "inputs",
    [
        {"command": "apply; id"},
        {"command": "destroy"},
        {"command": "destroy", "directory": "terraform/dev/../../etc"},
        {"command": "destroy", "directory": "terraform/dev/x y"},
        {"command": "apply", "directory": "/tmp/x"},
        {"command": "apply", "pr": "7; id"},
        {"command": "plan", "pr": "$(id)"},
    ],
)
def test_bad_inputs_never_reach_dbvend(inputs: dict[str, str], origin: Origin, tmp_path: Path) -> None:
    work = checkout(origin, tmp_path, origin.sha["b1"])
    env = action_env(inputs, "workflow_dispatch", DISPATCH_EVENT, origin.sha["m4"])
    status, argv, err = run(action_run_step()["run"], env, work, tmp_path)
    assert (status, argv) == (2, None), err
    assert err.startswith("dbvend: ")


@pytest.mark.parametrize(
    "inputs", [{"command": "drift"}, {"command": "drift", "pr": "7", "directory": "terraform/dev/orders"}]
)
def test_drift_runs_dbvend_drift_alone_in_both(
    inputs: dict[str, str], origin: Origin, tmp_path: Path
) -> None:
    """drift is `dbvend drift`, not a `dbvend ci` subcommand: every database, no refs, no pull request."""
    work = checkout(origin, tmp_path, origin.sha["m4"])
    env = action_env(inputs, "schedule", {"repository": {"default_branch": "main"}}, origin.sha["m4"])
    status, github_argv, err = run(action_run_step()["run"], env, work, tmp_path)
    assert status == 0, err
    status, circle_argv, err = run(
        circle_run_step()["command"], circle_env("drift", "main", "7"), work, tmp_path
    )
    assert status == 0, err
    assert github_argv == circle_argv == ["drift"]


def test_drift_exit_code_reaches_the_job(origin: Origin, tmp_path: Path) -> None:
    """Exit 2 (drift found) fails the scheduled job, as `dbvend drift` says."""
    work = checkout(origin, tmp_path, origin.sha["m4"])
    stub_dir = tmp_path / "stub"
    stub_dir.mkdir()
    (stub_dir / "dbvend").write_text("#!/bin/sh\nexit 2\n")
    (stub_dir / "dbvend").chmod(0o755)
    env = action_env({"command": "drift"}, "schedule", {}, origin.sha["m4"])
    env |= {"PATH": f"{stub_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", "-c", action_run_step()["run"]], cwd=work, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr


def test_circleci_applies_on_merge_only_when_asked(tmp_path: Path) -> None:
    (gate,) = [s["run"] for s in circle()["jobs"]["apply"]["steps"][:1] if isinstance(s, dict) and "run" in s]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "circleci-agent").write_text('#!/bin/sh\necho "$@" > "$HOME/halted"\n')
    (bin_dir / "circleci-agent").chmod(0o755)
    for value, halted in [("true", False), ("false", True), ("", True)]:
        (tmp_path / "halted").unlink(missing_ok=True)
        env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path)}
        subprocess.run(
            ["bash", "-c", gate["command"]], env=env | {"DBVEND_APPLY_ON_MERGE": value}, check=True
        )
        assert (tmp_path / "halted").exists() == halted, value
    assert circle()["jobs"]["apply"]["steps"][1] == "setup"  # nothing is installed before the gate


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
