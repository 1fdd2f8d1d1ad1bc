"""`dbvend ci`: the changed roots between two commits of a real git repository, hand edits refused."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.catalog import default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.ci import (
    apply_roots,
    branch_moved,
    changed_roots,
    check_generated,
    push_environment,
    push_refusal,
    read_files,
    roots_in,
)
from engine.claim import claim_from_raw
from engine.cli import main
from engine.render import render_claim
from engine.terraform import Terraform

ENVS = ("dev", "staging", "prod")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def write_root(repo: Path, name: str, env: str, size: str = "small") -> str:
    catalog = parse_catalog(default_catalog_text())
    raw = {"database_name": name, "database_engine": "postgres", "environment": env, "size": size}
    claim = claim_from_raw(raw, catalog, f"req-{name}", datetime(2026, 11, 23, tzinfo=UTC))
    rendered = render_claim(claim)
    directory = repo / "terraform" / env / claim.request.identifier
    directory.mkdir(parents=True, exist_ok=True)
    for file_name, text in rendered.files.items():
        (directory / file_name).write_text(text)
    return f"terraform/{env}/{claim.request.identifier}"


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[str]]:
    """A repository of 500 database roots, committed once: (repo, base commit, roots)."""
    repo = tmp_path_factory.mktemp("fleet")
    git(repo, "init", "-q", "-b", "main")
    (repo / "terraform").mkdir()
    (repo / "terraform" / "README.md").write_text("roots live here\n")
    roots = [write_root(repo, f"db{n:03d}", ENVS[n % 3]) for n in range(500)]
    return repo, commit(repo, "500 databases"), roots


def test_roots_in_paths() -> None:
    paths = [
        "terraform/dev/orders/main.tf",
        "terraform/dev/orders/request.json",
        "terraform/prod/billing/main.tf",
        "terraform/README.md",
        "terraform/dev/orders/modules/x.tf",  # deeper than a root's own files
        "docs/terraform/dev/x/main.tf",
        "terraform/Dev/Upper/main.tf",
    ]
    assert roots_in(paths) == ["terraform/dev/orders", "terraform/prod/billing"]


def test_of_500_roots_only_the_changed_one_is_selected(fleet: tuple[Path, str, list[str]]) -> None:
    repo, base, roots = fleet
    assert changed_roots(repo, base, base).changed == ()
    git(repo, "checkout", "-q", "-b", "resize", base)
    changed = write_root(repo, "db007", ENVS[7 % 3], size="large")
    assert changed == roots[7]
    head = commit(repo, "db007 to large")
    found = changed_roots(repo, base, head)
    assert found.changed == (changed,) and found.removed == ()
    assert check_generated(repo, head, found.changed) == []
    runner = CliRunner()
    listed = runner.invoke(
        main, ["ci", "roots", "--repo", str(repo), "--base", base, "--head", head, "--json"]
    )
    assert listed.exit_code == 0 and json.loads(listed.output) == {"changed": [changed], "removed": []}
    git(repo, "checkout", "-q", "main")


def test_a_removed_root_is_told_apart(fleet: tuple[Path, str, list[str]]) -> None:
    repo, base, roots = fleet
    git(repo, "checkout", "-q", "-b", "remove", base)
    git(repo, "rm", "-rq", roots[3])
    head = commit(repo, "remove db003")
    assert changed_roots(repo, base, head).removed == (roots[3],)
    git(repo, "checkout", "-q", "main")


def test_hand_edits_are_refused_with_the_diff(fleet: tuple[Path, str, list[str]], tmp_path: Path) -> None:
    repo, base, roots = fleet
    git(repo, "checkout", "-q", "-b", "hand-edit", base)
    main_tf = repo / roots[11] / "main.tf"
    main_tf.write_text(main_tf.read_text().replace("deletion_protection", "# deletion_protection", 1))
    (repo / "terraform" / "dev" / "stray").mkdir(parents=True)
    (repo / "terraform" / "dev" / "stray" / "main.tf").write_text('resource "x" "y" {}\n')
    head = commit(repo, "edit by hand")
    found = changed_roots(repo, base, head)
    assert found.changed == ("terraform/dev/stray", roots[11])
    mismatches = {m.directory: m for m in check_generated(repo, head, found.changed)}
    assert "request.json is missing" in mismatches["terraform/dev/stray"].reason
    edited = mismatches[roots[11]]
    assert "differs" in edited.reason and "+  # deletion_protection" in edited.diff
    summary = tmp_path / "summary.md"
    result = CliRunner().invoke(
        main,
        ["ci", "check-generated", "--repo", str(repo), "--base", base, "--head", head],
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.exit_code == 3, result.output
    assert "2 edited" in summary.read_text() and "```diff" in summary.read_text()
    git(repo, "checkout", "-q", "main")


def test_read_files_in_one_batch(fleet: tuple[Path, str, list[str]]) -> None:
    repo, base, roots = fleet
    files = read_files(repo, base, [f"{roots[0]}/main.tf", "terraform/none/x/main.tf", "terraform/README.md"])
    assert files["terraform/none/x/main.tf"] is None and files["terraform/README.md"] == "roots live here\n"
    assert (files[f"{roots[0]}/main.tf"] or "").startswith("# Generated by dbvend")


def test_bad_refs_are_a_clear_error(fleet: tuple[Path, str, list[str]]) -> None:
    repo, _, _ = fleet
    result = CliRunner().invoke(
        main, ["ci", "roots", "--repo", str(repo), "--base", "nope", "--head", "HEAD"]
    )
    assert result.exit_code == 1 and "git diff" in result.output


FAKE_TERRAFORM = Path(__file__).resolve().parent / "fake_terraform.py"
PLANS = Path(__file__).resolve().parent / "fixtures"


def terraform_calls(log: Path) -> list[tuple[str, str]]:
    """(root relative to terraform/, command) for each call the stand-in recorded."""
    calls = []
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        calls.append(("/".join(Path(entry["cwd"]).parts[-3:]), entry["args"][0]))
    return calls


def test_ci_plan_plans_exactly_the_one_changed_root_of_500(
    fleet: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    repo, base, roots = fleet
    git(repo, "checkout", "-q", "-b", "plan-one", base)
    write_root(repo, "db042", ENVS[42 % 3], size="large")
    head = commit(repo, "db042 to large")
    log, summary = tmp_path / "terraform.log", tmp_path / "summary.md"
    env = {
        "DBVEND_TERRAFORM": str(FAKE_TERRAFORM),
        "FAKE_TERRAFORM_LOG": str(log),
        "TF_PLUGIN_CACHE_DIR": str(tmp_path / "plugin-cache"),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    args = ["ci", "plan", "--repo", str(repo), "--base", base, "--head", head, "--no-policy"]
    result = CliRunner().invoke(main, args, env=env)
    git(repo, "checkout", "-q", "main")
    assert result.exit_code == 0, result.output
    assert terraform_calls(log) == [(roots[42], "init"), (roots[42], "plan"), (roots[42], "show")]
    report = summary.read_text()
    assert roots[42] in report and "1 to add" in report
    assert all(root not in report for root in roots[:42] + roots[43:])


def test_ci_plan_gates_the_plan_and_keeps_one_summary_comment_up_to_date(
    fleet: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    from tests.github_server import GitHubServer

    repo, base, _ = fleet
    git(repo, "checkout", "-q", "-b", "plan-prod", base)
    changed = write_root(repo, "db044", ENVS[44 % 3], size="large")
    assert changed.startswith("terraform/prod/")
    head = commit(repo, "db044 to large")
    with GitHubServer(tmp_path / "github") as github:
        number = github.create_issue("a pull request stands in", "")
        env = {
            "DBVEND_TERRAFORM": str(FAKE_TERRAFORM),
            "FAKE_TERRAFORM_PLAN": str(PLANS / "plan_prod_bad.json"),
            "GITHUB_TOKEN": "ghs_test",
            "GITHUB_REPOSITORY": "acme/infra",
            "GITHUB_API_URL": github.url,
            "TF_PLUGIN_CACHE_DIR": str(tmp_path / "plugin-cache"),
        }
        args = ["ci", "plan", "--repo", str(repo), "--base", base, "--head", head, "--pr", str(number)]
        first = CliRunner().invoke(main, args, env=env)
        assert first.exit_code == 3, first.output  # the recorded plan breaks production policies
        (comment,) = github.comment_bodies(number)
        assert comment.startswith("<!-- dbvend:plan-summary part 1/1 -->")
        assert changed in comment and "fail: " in comment
        env["FAKE_TERRAFORM_PLAN"] = str(PLANS / "plan_prod_good.json")
        again = CliRunner().invoke(main, args, env=env)
        assert again.exit_code == 0, again.output
        (updated,) = github.comment_bodies(number)  # edited in place, not a second comment
        assert "pass" in updated and "fail: " not in updated
    git(repo, "checkout", "-q", "main")


def test_ci_plan_refuses_a_catalog_naming_an_unknown_check(
    fleet: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    """The CI's policy decision is the pipeline's (engine.checkov.gate.policy_decision): a dbvend.yaml
    that names a check neither checkov nor policies/ defines stops the plan (issue 20)."""
    repo, base, _ = fleet
    git(repo, "checkout", "-q", "-b", "typo", base)
    typo = default_catalog_text().replace("  warn: []\n", "  warn: [CKV_NOPE_1]\n", 1)
    (repo / "dbvend.yaml").write_text(typo)
    write_root(repo, "db045", ENVS[45 % 3], size="medium")
    head = commit(repo, "db045 to medium, and a typo")
    env = {
        "DBVEND_TERRAFORM": str(FAKE_TERRAFORM),
        "FAKE_TERRAFORM_PLAN": str(PLANS / "plan_prod_good.json"),
        "TF_PLUGIN_CACHE_DIR": str(tmp_path / "plugin-cache"),
    }
    args = ["ci", "plan", "--repo", str(repo), "--base", base, "--head", head]
    result = CliRunner().invoke(main, args, env=env)
    git(repo, "checkout", "-q", "main")
    assert result.exit_code == 2, result.output
    assert "unknown check ids: CKV_NOPE_1" in result.output


# -- pushing a removal: the job's token, given through git's environment ---------------------------


def origin_checkout(tmp_path: Path, url: str) -> Path:
    repo = tmp_path / "checkout"
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    git(repo, "remote", "add", "origin", url)
    return repo


def test_the_token_reaches_git_only_through_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret")
    monkeypatch.delenv("GIT_CONFIG_COUNT", raising=False)
    repo = origin_checkout(tmp_path, "https://github.com/acme/infra")
    env = push_environment(repo)
    assert env is not None and env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_CONFIG_COUNT"] == "1"
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraheader"
    assert env["GIT_CONFIG_VALUE_0"] == "AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hzX3NlY3JldA=="
    assert "ghs_secret" not in (repo / ".git" / "config").read_text()
    seen = subprocess.run(
        ["git", "-C", str(repo), "config", "--get", "http.https://github.com/.extraheader"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert seen.stdout.strip() == env["GIT_CONFIG_VALUE_0"], "git reads it from the environment"


def test_no_second_header_over_a_checkout_that_persisted_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """actions/checkout with persist-credentials left on: two Authorization headers would be refused."""
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret")
    repo = origin_checkout(tmp_path, "https://github.com/acme/infra")
    git(repo, "config", "http.https://github.com/.extraheader", "AUTHORIZATION: basic persisted")
    assert "GIT_CONFIG_KEY_0" not in (push_environment(repo) or {})
    ssh = origin_checkout(tmp_path / "ssh", "git@github.com:acme/infra.git")
    assert "GIT_CONFIG_KEY_0" not in (push_environment(ssh) or {}), "an SSH origin keeps its own key"


@pytest.mark.parametrize(
    ("output", "says"),
    [
        (
            "remote: Permission to acme/infra.git denied to github-actions[bot].\nfatal: unable to access"
            " 'https://github.com/acme/infra/': The requested URL returned error: 403",
            "the token may not write to the repository (a GitHub Actions job needs `contents: write`)",
        ),
        (
            "fatal: could not read Username for 'https://github.com': terminal prompts disabled",
            "no credentials to push with (set GITHUB_TOKEN to a token with contents: write)",
        ),
        (
            "remote: error: GH006: Protected branch update failed for refs/heads/main.",
            "main is protected against this push",
        ),
    ],
)
def test_a_refused_push_says_why(output: str, says: str) -> None:
    assert not branch_moved(output)
    told = push_refusal("main", output)
    assert told.startswith(says) and told.endswith(output)


def test_only_a_branch_that_moved_is_fetched_and_rebased() -> None:
    assert branch_moved(" ! [rejected]        HEAD -> main (fetch first)\nerror: failed to push some refs")
    assert branch_moved(" ! [rejected]        HEAD -> main (non-fast-forward)")
    assert not branch_moved(" ! [remote rejected] HEAD -> main (protected branch hook declined)")


def test_apply_leaves_alone_a_plan_whose_only_change_is_aws_minor_upgrade(tmp_path: Path) -> None:
    """A root written with a full version, upgraded by AWS (17.4 -> 17.6): its plan would go back to
    17.4, which RDS refuses ("Cannot upgrade ... from 17.6 to 17.4"); nobody asked for it, so apply
    runs no `terraform apply` for it (tests/fixtures/plans/minor_upgrade_by_aws.json)."""
    root = tmp_path / "terraform" / "dev" / "orders"
    root.mkdir(parents=True)
    log = tmp_path / "terraform.log"
    environment = {"FAKE_TERRAFORM_LOG": str(log), "PATH": os.environ["PATH"]}
    terraform = Terraform(executable=str(FAKE_TERRAFORM), environment=environment)
    for recording, applied in (("minor_upgrade_by_aws", False), ("major_upgrade_requested", True)):
        log.unlink(missing_ok=True)
        terraform = replace(
            terraform,
            environment={**environment, "FAKE_TERRAFORM_PLAN": str(PLANS / "plans" / f"{recording}.json")},
        )
        (report,) = apply_roots(tmp_path, ["terraform/dev/orders"], terraform)
        assert report.ok, report
        commands = [command for _, command in terraform_calls(log)]
        assert ("apply" in commands) is applied, (recording, commands)
        assert report.detail == (
            "applied: 0 to add, 1 to change, 0 to destroy, 0 to replace" if applied else "no changes"
        )


def test_ci_plan_shows_no_change_for_aws_minor_upgrade_and_the_major_one_asked_for(
    fleet: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    """Issue 19's done-when: a dev database AWS upgraded from 17.4 to 17.6 (recorded plan) shows no
    change in `dbvend ci plan`; a major upgrade someone asked for is shown (tests/fixtures/plans/)."""
    repo, base, _ = fleet
    git(repo, "checkout", "-q", "-b", "plan-upgrades", base)
    changed = write_root(repo, "db042", ENVS[42 % 3], size="large")
    head = commit(repo, "db042 to large")
    reports = {}
    for recording in ("minor_upgrade_by_aws", "major_upgrade_requested"):
        summary = tmp_path / f"{recording}.md"
        env = {
            "DBVEND_TERRAFORM": str(FAKE_TERRAFORM),
            "FAKE_TERRAFORM_PLAN": str(PLANS / "plans" / f"{recording}.json"),
            "TF_PLUGIN_CACHE_DIR": str(tmp_path / "plugin-cache"),
            "GITHUB_STEP_SUMMARY": str(summary),
        }
        args = ["ci", "plan", "--repo", str(repo), "--base", base, "--head", head, "--no-policy"]
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 0, result.output
        reports[recording] = summary.read_text()
    git(repo, "checkout", "-q", "main")
    minor, major = reports["minor_upgrade_by_aws"], reports["major_upgrade_requested"]
    assert changed in minor and "0 to add, 0 to change, 0 to destroy" in minor
    assert "engine\\_version" not in minor and "drift" not in minor.lower()
    assert "0 to add, 1 to change, 0 to destroy" in major
    assert "engine\\_version" in major and "16.8" in major and "17" in major
