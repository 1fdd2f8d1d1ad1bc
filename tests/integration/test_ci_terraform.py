"""`dbvend ci plan / apply / destroy` end to end with the real terraform CLI.

The roots use only terraform's built-in `terraform_data` (no provider can be downloaded here)
and the S3 backend on a moto server, with its native lockfile locking.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from click.testing import CliRunner

from engine.cli import main
from tests.support.terraform_roots import ROOT_TF, backend_file

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
ROOT = "terraform/dev/orders"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD").strip()


def run(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(main, args, env=env)


@pytest.fixture
def infra(tmp_path: Path, backend: dict[str, str]) -> tuple[Path, str, str, dict[str, str]]:
    repo = tmp_path / "infra"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("infra\n")
    base = commit(repo, "start")
    (repo / ROOT).mkdir(parents=True)
    (repo / ROOT / "main.tf").write_text(ROOT_TF)
    head = commit(repo, "orders")
    backend_file(tmp_path, backend)
    env = {
        "TF_PLUGIN_CACHE_DIR": str(tmp_path / "plugin-cache"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    return repo, base, head, env


def state_of(backend: dict[str, str]) -> bytes:
    s3 = boto3.client("s3", endpoint_url=backend["endpoint"], region_name="us-east-1")
    body: bytes = s3.get_object(Bucket=backend["bucket"], Key=backend["key"])["Body"].read()
    return body


def test_plan_apply_destroy(infra: tuple[Path, str, str, dict[str, str]], backend: dict[str, str]) -> None:
    repo, base, head, env = infra
    config = str(repo.parent / "backend.hcl")
    refs = ["--repo", str(repo), "--base", base, "--head", head, "--backend-config", config]
    planned = run(["ci", "plan", *refs, "--no-policy"], env)
    assert planned.exit_code == 0, planned.output
    assert "1 to add" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    applied = run(["ci", "apply", *refs], env)
    assert applied.exit_code == 0, applied.output
    assert "applied: 1 to add" in applied.output
    assert b"terraform_data" in state_of(backend)
    again = run(["ci", "apply", *refs], env)
    assert again.exit_code == 0 and "no changes" in again.output
    destroyed = run(
        ["ci", "destroy", "--repo", str(repo), "--directory", ROOT, "--backend-config", config], env
    )
    assert destroyed.exit_code == 0, destroyed.output
    assert "destroyed: 0 to add, 0 to change, 1 to destroy" in destroyed.output
    assert b"terraform_data" not in state_of(backend)
    wrong = run(["ci", "destroy", "--repo", str(repo), "--directory", "terraform/../etc"], env)
    assert wrong.exit_code == 1 and "not a database root" in wrong.output


def test_a_held_lock_is_reported_not_a_crash(
    infra: tuple[Path, str, str, dict[str, str]],
    backend: dict[str, str],
) -> None:
    repo, base, head, env = infra
    config = str(repo.parent / "backend.hcl")
    root = repo / ROOT
    subprocess.run(
        ["terraform", "init", "-input=false", "-no-color", f"-backend-config={config}"],
        cwd=root, check=True, capture_output=True,
    )  # fmt: skip
    other = subprocess.Popen(
        ["terraform", "apply", "-auto-approve", "-input=false", "-no-color", "-var", "hold=8"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        s3 = boto3.client("s3", endpoint_url=backend["endpoint"], region_name="us-east-1")
        deadline = time.monotonic() + 30
        while not any(
            item["Key"].endswith(".tflock")
            for item in s3.list_objects_v2(Bucket=backend["bucket"]).get("Contents", [])
        ):
            assert time.monotonic() < deadline, "the other apply never took the lock"
            time.sleep(0.1)
        refs = ["--repo", str(repo), "--base", base, "--head", head, "--backend-config", config]
        result = run(["ci", "apply", *refs], env)
        assert result.exit_code == 1
        assert (
            "state lock" in result.output and "held by" in result.output and "Traceback" not in result.output
        )
    finally:
        other.communicate(timeout=60)


def test_apply_refuses_a_pull_request_that_moved(
    infra: tuple[Path, str, str, dict[str, str]], tmp_path: Path
) -> None:
    from tests.support.github_server import GitHubServer

    repo, base, head, env = infra
    with GitHubServer(tmp_path / "github") as github:
        github.commit("feature", {"x.txt": "one"})
        answer = httpx.post(
            f"{github.url}repos/acme/infra/pulls",
            json={"title": "t", "head": "feature", "base": "main"},
            headers={"Authorization": "token ghs_test"},
        )
        number = answer.json()["number"]
        env = env | {
            "GITHUB_TOKEN": "ghs_test",
            "GITHUB_REPOSITORY": "acme/infra",
            "GITHUB_API_URL": github.url,
        }
        result = run(
            ["ci", "apply", "--repo", str(repo), "--base", base, "--head", head, "--pr", str(number)], env
        )
    assert result.exit_code == 4, result.output
    assert f"pull request #{number} moved" in result.output and "plan again" in result.output
