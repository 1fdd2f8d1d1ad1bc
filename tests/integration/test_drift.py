"""`dbvend drift` for real: the issues on the fake GitHub, the command with the fake terraform, and a real
drift in real terraform (tests/unit/test_drift.py tests the decisions)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import click
import pytest
from click.testing import CliRunner, Result

from engine.cli.drift import drift
from engine.drift import DRIFT_LABEL, issue_body, marker
from engine.errors import GitOpsError
from engine.github.client import github_client
from engine.github.drift_issues import GitHubDriftIssues
from tests.support.github_server import GitHubServer
from tests.support.paths import FAKE_TERRAFORM, PLANS
from tests.support.plans import plan
from tests.support.repositories import commit, git, write_root
from tests.support.terraform_roots import ROOT_TF

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
ORDERS, BILLING = "terraform/dev/orders", "terraform/dev/billing"


@click.group()
def cli() -> None:
    """Stands in for the `dbvend` group, which registers `drift` itself."""


cli.add_command(drift)


# -- the GitHub adapter ----------------------------------------------------------------------------------


def test_the_adapter_lists_every_page_and_skips_pull_requests(tmp_path: Path) -> None:
    with GitHubServer(tmp_path / "github") as github:
        for n in range(105):
            github.create_issue(
                f"Drift: terraform/dev/db{n}", marker(f"terraform/dev/db{n}"), labels=(DRIFT_LABEL,)
            )
        github.create_issue("unlabelled", marker("terraform/dev/other"))
        closed = github.create_issue("closed", marker("terraform/dev/closed"), labels=(DRIFT_LABEL,))
        github.issues[closed].state = "closed"
        issues = GitHubDriftIssues(github_client(base_url=github.url, token="ghs_test"), "acme/infra")
        found = issues.open_issues()
        assert len(found) == 105 and {i.directory for i in found} == {
            f"terraform/dev/db{n}" for n in range(105)
        }
        assert github.count("GET", "/repos/acme/infra/issues") == 2
        number = issues.open("Drift: terraform/dev/x", marker("terraform/dev/x"))
        assert github.issues[number].labels == [DRIFT_LABEL] and github.issues[number].user == github.actor
        issues.edit(number, "new body")
        issues.close(number, "gone")
        assert github.issues[number].body == "new body" and github.issues[number].state == "closed"
        assert github.issues[number].state_reason == "completed" and github.comment_bodies(number) == ["gone"]
        github.fail("PATCH", r"/repos/acme/infra/issues/\d+", 404)
        with pytest.raises(GitOpsError, match=r"GitHub could not edit issue #1: 404 Not Found"):
            issues.edit(1, "x")
        assert not github.server_errors and not github.unhandled


# -- the command, with the fake terraform and the fake GitHub ------------------------------------------


@pytest.fixture
def infra(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str | None]]]:
    """A repository of three databases (one being destroyed) and a terraform whose plan each root
    chooses: its untracked plan.json (a recorded plan), else no changes; a `plan-fails` file fails it."""
    repo = tmp_path / "infra"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for name in ("orders", "billing", "leaving"):
        write_root(repo, name, "dev")
    leaving = repo / "terraform/dev/leaving/request.json"
    leaving.write_text(
        json.dumps({**json.loads(leaving.read_text()), "destroy_requested_at": "2026-11-22T10:00:00Z"})
    )
    commit(repo, "three databases")
    terraform = tmp_path / "terraform"
    terraform.write_text(
        f"""#!{sys.executable}
import os, pathlib, sys
here = pathlib.Path.cwd()
if sys.argv[1] == "plan" and (here / "plan-fails").exists():
    sys.exit("Error: reading RDS DB Instance (orders): RequestExpired")
chosen = here / "plan.json"
os.environ["FAKE_TERRAFORM_PLAN"] = str(chosen if chosen.exists() else {str(PLANS / "noop.json")!r})
os.execv(sys.executable, [sys.executable, {str(FAKE_TERRAFORM)!r}, *sys.argv[1:]])
"""
    )
    terraform.chmod(0o755)
    env: dict[str, str | None] = {
        "DBVEND_TERRAFORM": str(terraform),
        "FAKE_TERRAFORM_LOG": str(tmp_path / "terraform.log"),
        "TF_PLUGIN_CACHE_DIR": str(tmp_path / "plugin-cache"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_TOKEN": None,  # CliRunner unsets a variable given as None
        "GITHUB_REPOSITORY": None,
        "DBVEND_GITHUB_TOKEN": None,
    }
    yield repo, env


def drifts(repo: Path, root: str, plan_name: str | None) -> None:
    target = repo / root / "plan.json"
    if plan_name is None:
        target.unlink(missing_ok=True)
    else:
        shutil.copy(PLANS / f"{plan_name}.json", target)


def run(repo: Path, env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(cli, ["drift", "--repo", str(repo), *args], env=env)


def writes(github: GitHubServer) -> list[tuple[str, str]]:
    return [(method, path) for method, path in github.calls if method in ("POST", "PATCH", "DELETE")]


def test_one_issue_per_drifted_database_kept_up_to_date(
    infra: tuple[Path, dict[str, str | None]], tmp_path: Path
) -> None:
    repo, env = infra
    with GitHubServer(tmp_path / "github") as github:
        env |= {"GITHUB_TOKEN": "ghs_test", "GITHUB_REPOSITORY": "acme/infra", "GITHUB_API_URL": github.url}
        drifts(repo, ORDERS, "update_class_storage")
        first = run(repo, env)
        assert first.exit_code == 2, first.output
        (number,) = github.issues
        issue = github.issues[number]
        assert (issue.title, issue.labels, issue.state) == (
            "Drift: terraform/dev/orders",
            [DRIFT_LABEL],
            "open",
        )
        assert (issue.body or "").startswith(marker(ORDERS)) and "instance\\_class" in (issue.body or "")
        assert f"issue #{number} opened" in first.output and "skipped (being destroyed)" in first.output
        logged = [json.loads(line) for line in Path(str(env["FAKE_TERRAFORM_LOG"])).read_text().splitlines()]
        assert not [entry for entry in logged if entry["cwd"].endswith("/leaving")]  # never planned

        before = len(writes(github))
        again = run(repo, env)
        assert again.exit_code == 2 and f"issue #{number} unchanged" in again.output
        assert len(writes(github)) == before and list(github.issues) == [number]  # no new issue, no edit

        drifts(repo, ORDERS, "replace_cluster")
        changed = run(repo, env)
        assert changed.exit_code == 2 and f"issue #{number} updated" in changed.output
        assert writes(github)[before:] == [("PATCH", f"/repos/acme/infra/issues/{number}")]
        assert "**replace** aws\\_rds\\_cluster.this" in (issue.body or "") and list(github.issues) == [
            number
        ]

        drifts(repo, ORDERS, None)
        fixed = run(repo, env)
        assert fixed.exit_code == 0, fixed.output
        assert (issue.state, issue.state_reason) == ("closed", "completed")
        (comment,) = github.comment_bodies(number)
        assert comment.startswith("No drift any more") and f"issue #{number} closed" in fixed.output

        before = len(writes(github))
        clean = run(repo, env)
        assert clean.exit_code == 0 and len(writes(github)) == before
        assert (
            "2 databases planned**: 0 drifted, 2 without drift"
            in Path(str(env["GITHUB_STEP_SUMMARY"])).read_text()
        )
        assert not github.server_errors and not github.unhandled


def test_a_failed_plan_keeps_its_issue_and_exits_1(
    infra: tuple[Path, dict[str, str | None]], tmp_path: Path
) -> None:
    repo, env = infra
    with GitHubServer(tmp_path / "github") as github:
        env |= {"GITHUB_TOKEN": "ghs_test", "GITHUB_REPOSITORY": "acme/infra", "GITHUB_API_URL": github.url}
        number = github.create_issue(
            "Drift: terraform/dev/orders",
            issue_body(ORDERS, plan("update_class_storage"), NOW),
            labels=(DRIFT_LABEL,),
        )
        (repo / ORDERS / "plan-fails").touch()
        drifts(repo, BILLING, "update_class_storage")
        result = run(repo, env)
        assert result.exit_code == 1, result.output
        assert "could not be planned" in result.output and "RequestExpired" in result.output
        assert f"issue #{number} left as it is" in result.output
        assert github.issues[number].state == "open" and not github.comment_bodies(number)
        assert [i.title for i in github.issues.values()] == [
            "Drift: terraform/dev/orders",
            "Drift: terraform/dev/billing",
        ]


def test_a_refused_write_is_reported_and_the_rest_still_written(
    infra: tuple[Path, dict[str, str | None]], tmp_path: Path
) -> None:
    repo, env = infra
    with GitHubServer(tmp_path / "github") as github:
        env |= {"GITHUB_TOKEN": "ghs_test", "GITHUB_REPOSITORY": "acme/infra", "GITHUB_API_URL": github.url}
        gone = github.create_issue(
            "Drift: terraform/dev/gone", marker("terraform/dev/gone"), labels=(DRIFT_LABEL,)
        )
        github.fail(
            "POST",
            rf"/repos/acme/infra/issues/{gone}/comments",
            403,
            body={"message": "Resource not accessible by integration"},
        )
        drifts(repo, ORDERS, "update_class_storage")
        result = run(repo, env)
        assert result.exit_code == 1, result.output
        assert (
            f"GitHub could not close issue #{gone}: 403 Resource not accessible by integration"
            in result.output
        )
        assert [i.title for i in github.issues.values() if i.state == "open"] == [
            "Drift: terraform/dev/gone",
            "Drift: terraform/dev/orders",
        ]


def test_dry_run_and_local_mode_write_nothing(
    infra: tuple[Path, dict[str, str | None]], tmp_path: Path
) -> None:
    repo, env = infra
    drifts(repo, ORDERS, "update_class_storage")
    local = run(repo, env)
    assert local.exit_code == 2, local.output
    assert "No GITHUB_TOKEN / GITHUB_REPOSITORY" in local.output
    summary = Path(str(env["GITHUB_STEP_SUMMARY"])).read_text()
    assert f"`{ORDERS}`: drift: 0 to add, 2 to change" in summary and "### terraform/dev/orders" in summary
    with GitHubServer(tmp_path / "github") as github:
        env |= {"GITHUB_TOKEN": "ghs_test", "GITHUB_REPOSITORY": "acme/infra", "GITHUB_API_URL": github.url}
        dry = run(repo, env, "--dry-run")
        assert dry.exit_code == 2, dry.output
        assert "an issue would be opened" in dry.output and "Dry run" in dry.output
        assert writes(github) == [] and github.issues == {}


def test_help_names_the_exit_codes() -> None:
    result = CliRunner().invoke(cli, ["drift", "--help"])
    assert result.exit_code == 0
    assert "Exit codes: 0 no drift, 2 drift found, 1 a root could not be planned" in " ".join(
        result.output.split()
    )


# -- a real drift, with the real terraform CLI --------------------------------------------------------------


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_real_terraform_finds_state_changed_behind_its_back(
    tmp_path: Path, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two terraform_data databases applied to the S3 backend on moto: no drift; then one's state object is
    rewritten behind terraform's back (as a console edit would leave it), and `dbvend drift` finds it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-value")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    bucket = f"state-{tmp_path.name[-12:].lower().replace('_', '-')}"
    s3.create_bucket(Bucket=bucket)
    config = tmp_path / "backend.hcl"
    config.write_text(
        f'bucket = "{bucket}"\nregion = "us-east-1"\nuse_lockfile = true\nuse_path_style = true\n'
        f'endpoints = {{ s3 = "{moto_server}" }}\nskip_credentials_validation = true\n'
        "skip_requesting_account_id = true\nskip_metadata_api_check = true\nskip_region_validation = true\n"
    )
    repo = tmp_path / "infra"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    base = commit_empty(repo)
    for name in ("orders", "billing"):
        root = write_root(repo, name, "dev")  # a real claim, and a terraform_data root with its own state key
        (repo / root / "main.tf").write_text(
            ROOT_TF.replace(
                'backend "s3" {}', f'backend "s3" {{\n    key = "dev/{name}/terraform.tfstate"\n  }}'
            )
        )
    head = commit(repo, "two databases")
    env: dict[str, str | None] = {"TF_PLUGIN_CACHE_DIR": str(tmp_path / "plugin-cache"), "GITHUB_TOKEN": None}
    env |= {"GITHUB_REPOSITORY": None, "DBVEND_GITHUB_TOKEN": None, "GITHUB_STEP_SUMMARY": None}
    from engine.cli import main

    applied = CliRunner().invoke(
        main,
        ["ci", "apply", "--repo", str(repo), "--base", base, "--head", head, "--backend-config", str(config)],
        env=env,
    )
    assert applied.exit_code == 0, applied.output
    clean = run(repo, env, "--backend-config", str(config))
    assert clean.exit_code == 0, clean.output
    assert "2 databases planned**: 0 drifted, 2 without drift" in clean.output

    key = "dev/orders/terraform.tfstate"
    state: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    (instance,) = state["resources"][0]["instances"]
    instance["attributes"]["input"]["value"] = "xlarge"
    instance["attributes"]["output"]["value"] = "xlarge"
    state["serial"] += 1
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(state).encode())

    found = run(repo, env, "--backend-config", str(config))
    assert found.exit_code == 2, found.output
    assert f"`{ORDERS}`: drift: " in found.output and f"`{BILLING}`: no drift" in found.output
    assert "terraform\\_data.database | update | input: xlarge → small" in found.output
    with GitHubServer(tmp_path / "github") as github:
        env |= {"GITHUB_TOKEN": "ghs_test", "GITHUB_REPOSITORY": "acme/infra", "GITHUB_API_URL": github.url}
        reported = run(repo, env, "--backend-config", str(config))
        assert reported.exit_code == 2, reported.output
        (issue,) = github.issues.values()
        assert issue.title == f"Drift: {ORDERS}" and issue.labels == [DRIFT_LABEL]
        assert "**update** terraform\\_data.database: input: xlarge → small" in (issue.body or "")


def commit_empty(repo: Path) -> str:
    git(
        repo,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "start",
    )
    return git(repo, "rev-parse", "HEAD").strip()
