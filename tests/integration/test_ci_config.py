"""CI configuration run for real: the files are valid for GitHub and CircleCI (check-jsonschema's
vendored schemas), and the scripts of the Action and of the CircleCI jobs, run by bash against a real git
repository with a stub `dbvend`, pass it the same arguments. tests/unit/test_ci_config.py reads the
files; zizmor audits them (tests/integration/test_zizmor.py)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.ci_files import (
    ACTION_FILE,
    CALLERS,
    CIRCLE_FILE,
    CIRCLE_PARAMETER,
    DEPENDABOT_FILE,
    EXPRESSION,
    OWN_WORKFLOWS,
    action,
    action_run_step,
    circle,
    circle_run_step,
    lookup,
)

# --- valid for GitHub and CircleCI ----------------------------------------------------------------


def check_jsonschema() -> str:
    beside = Path(sys.executable).parent / "check-jsonschema"
    found = str(beside) if beside.exists() else shutil.which("check-jsonschema")
    assert found, "check-jsonschema is a dev dependency: pip install -e '.[dev]'"
    return found


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
