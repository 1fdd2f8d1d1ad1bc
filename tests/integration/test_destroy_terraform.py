"""The destroy path end to end with the real terraform CLI: a destroy change, auto_destroy, failures.

Roots use only terraform's built-in `terraform_data` (no provider can be downloaded here) with the
S3 backend on a moto server; their request.json is a real claim (the one a destroy change marks).
The checkouts are real git repositories, some cloned from a bare `origin`.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from engine.catalog import default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.claim import claim_from_raw, marked_for_destroy
from engine.cli import main
from engine.gitops.local import GITIGNORE
from engine.intake import record_and_queue
from engine.store.ledger import Ledger
from engine.store.records import NewRequest
from tests.support.ci_files import ROOT as SOURCE
from tests.support.ci_files import effective_permissions
from tests.support.github_server import GitHubServer
from tests.support.terraform_roots import ROOT_TF

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")

ROOT = "terraform/dev/orders"
ACCEPTED_AT = datetime(2026, 11, 23, tzinfo=UTC)  # dev (7d) expires 2026-11-30, staging (14d) 2026-12-07
AFTER_EXPIRY = "2027-01-01T00:00:00Z"
REMOVED = f"dbvend: remove {ROOT} (destroyed)"
# What could make dbvend write to GitHub, or read a ledger other than the test's own.
UNSET = (
    "GITHUB_TOKEN",
    "GITHUB_REPOSITORY",
    "GITHUB_API_URL",
    "DBVEND_GITOPS",
    "DBVEND_GITHUB_TOKEN",
    "DBVEND_GITHUB_REPOSITORY",
    "DBVEND_GITHUB_APP_ID",
    "DBVEND_REPO",
    "DATABASE_URL",
)


@dataclass
class Infra:
    """One test's world: a checkout, a state bucket on moto, a ledger and the CLI's environment."""

    repo: Path
    bucket: str
    endpoint: str
    config: str  # the -backend-config file (everything but each root's key, which main.tf has)
    ledger_url: str
    env: dict[str, str | None]

    def run(self, *args: str) -> Any:
        return CliRunner().invoke(main, list(args), env=self.env)

    def s3(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def state(self, root: str = ROOT) -> dict[str, Any]:
        body = self.s3().get_object(Bucket=self.bucket, Key=state_key(root))["Body"].read()
        state: dict[str, Any] = json.loads(body)
        return state

    def resources(self, root: str = ROOT) -> list[str]:
        return [f"{r['type']}.{r['name']}" for r in self.state(root)["resources"]]

    def ledger(self) -> Ledger:
        return Ledger.connect(self.ledger_url)

    def status(self, request_id: str) -> tuple[str, int]:
        """The request's status in the ledger, and how many events its history holds."""
        ledger = self.ledger()
        try:
            record = ledger.get(request_id)
            assert record is not None
            return record.status, len(record.history)
        finally:
            ledger.engine.dispose()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)
    return head_of(repo)


def head_of(repo: Path, ref: str = "HEAD") -> str:
    return git(repo, "rev-parse", ref).strip()


def subject(repo: Path, ref: str = "HEAD") -> str:
    return git(repo, "log", "-1", "--format=%s", ref).strip()


def tracked(repo: Path, ref: str, root: str = ROOT) -> list[str]:
    return git(repo, "ls-tree", "-r", "--name-only", ref, "--", root).split()


def state_key(root: str) -> str:
    return root.removeprefix("terraform/") + "/terraform.tfstate"


def claim_json(root: str, destroy: bool = False) -> str:
    """The root's request.json, as dbvend writes it; with `destroy`, as a destroy change marks it."""
    _, environment, name = root.split("/")
    raw = {"database_name": name, "database_engine": "postgres", "environment": environment}
    claim = claim_from_raw(raw, parse_catalog(default_catalog_text()), f"req-{name}", ACCEPTED_AT)
    assert claim.root == root
    if destroy:
        claim = marked_for_destroy(claim, datetime(2026, 11, 28, tzinfo=UTC), "no longer needed")
    return claim.to_json()


def write_root(repo: Path, root: str) -> None:
    """A terraform_data root whose backend block names its own state key; its claim beside it."""
    directory = repo / root
    directory.mkdir(parents=True, exist_ok=True)
    main_tf = ROOT_TF.replace('backend "s3" {}', f'backend "s3" {{\n    key = "{state_key(root)}"\n  }}')
    assert main_tf != ROOT_TF
    (directory / "main.tf").write_text(main_tf)
    (directory / "request.json").write_text(claim_json(root))


def mark_for_destroy(repo: Path, root: str = ROOT) -> str:
    """What a destroy change does: only the claim changes, marked; the commit's id."""
    (repo / root / "request.json").write_text(claim_json(root, destroy=True))
    head = commit(repo, f"Destroy {root}")
    assert git(repo, "diff", "--name-only", "HEAD^", "HEAD").split() == [f"{root}/request.json"]
    return head


def backend_config(path: Path, bucket: str, endpoint: str) -> str:
    """The S3 backend's settings for moto, but no key: each root's backend block has its own."""
    path.write_text(
        f"""bucket = "{bucket}"
region = "us-east-1"
use_lockfile = true
use_path_style = true
endpoints = {{ s3 = "{endpoint}" }}
skip_credentials_validation = true
skip_requesting_account_id = true
skip_metadata_api_check = true
skip_region_validation = true
"""
    )
    return str(path)


def record_request(ledger_url: str, root: str, *statuses: str) -> str:
    """The root's request in the ledger (the id its claim carries), moved through `statuses`."""
    _, environment, name = root.split("/")
    request_id = f"req-{name}"
    ledger = Ledger.connect(ledger_url)
    try:
        payload = {"database_name": name, "database_engine": "postgres", "environment": environment}
        record_and_queue(ledger, NewRequest(request_id, "api", "key-a", payload, environment, name, name))
        for status in statuses:
            assert ledger.transition(request_id, status, "test"), status
    finally:
        ledger.engine.dispose()
    return request_id


@pytest.fixture
def infra(tmp_path: Path, moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Infra]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-value")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    bucket = f"state-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    Ledger.connect(ledger_url).engine.dispose()  # the schema, made once
    env: dict[str, str | None] = {name: None for name in UNSET}
    env |= {
        "TF_PLUGIN_CACHE_DIR": str(tmp_path / "plugin-cache"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "DBVEND_DATA": str(tmp_path / "no-data"),
        "DATABASE_URL": ledger_url,
    }
    config = backend_config(tmp_path / "backend.hcl", bucket, moto_server)
    yield Infra(tmp_path / "infra", bucket, moto_server, config, ledger_url, env)


def new_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("infra\n")
    (path / ".gitignore").write_text(GITIGNORE)  # as `dbvend init` writes it: no .terraform/, no plans
    commit(path, "start")
    return path


def applied_on_main(infra: Infra, *roots: str) -> str:
    """The roots committed on main, each applied for real (`ci apply --directory`); main's head."""
    repo = infra.repo
    for root in roots:
        write_root(repo, root)
    head = commit(repo, "databases")
    for root in roots:
        done = infra.run("ci", "apply", "--repo", str(repo), "--base", "HEAD", "--directory", root,
                         "--backend-config", infra.config)  # fmt: skip
        assert done.exit_code == 0, done.output
        assert "applied: 1 to add" in done.output
        assert infra.resources(root) == ["terraform_data.database"]
    return head


def destroy_applied(infra: Infra, base: str, head: str) -> Any:
    """`dbvend ci apply` of a destroy change checked out at `head`."""
    return infra.run("ci", "apply", "--repo", str(infra.repo), "--base", base, "--head", head,
                     "--backend-config", infra.config)  # fmt: skip


def assert_removed(repo: Path, before: str, message: str = REMOVED, root: str = ROOT) -> str:
    """HEAD is one commit after `before`, removing exactly the root's files; its id."""
    head = head_of(repo)
    assert head_of(repo, "HEAD^") == before and subject(repo) == message
    assert git(repo, "diff", "--name-only", before, head).split() == [
        f"{root}/main.tf",
        f"{root}/request.json",
    ]
    assert tracked(repo, head, root) == [] and not (repo / root / "main.tf").exists()
    return head


# -- a destroy change ----------------------------------------------------------------------------


def test_a_destroy_change_is_planned_destroyed_and_its_root_removed(infra: Infra) -> None:
    repo = new_repo(infra.repo)
    request_id = record_request(infra.ledger_url, ROOT, "change_open", "merged")
    main_head = applied_on_main(infra, ROOT)
    assert infra.status(request_id)[0] == "applied"
    git(repo, "checkout", "-q", "-b", "destroy-orders")
    head = mark_for_destroy(repo)

    planned = infra.run("ci", "plan", "--repo", str(repo), "--base", main_head, "--head", head,
                        "--backend-config", infra.config, "--no-policy")  # fmt: skip
    assert planned.exit_code == 0, planned.output
    summary = Path(str(infra.env["GITHUB_STEP_SUMMARY"])).read_text()
    assert "**1 database**: 0 to add, 0 to change, 1 to destroy" in summary, summary
    assert infra.resources() == ["terraform_data.database"], "a plan destroys nothing"
    ledger = infra.ledger()
    noted = ledger.get(request_id)
    ledger.engine.dispose()
    assert noted is not None and noted.status == "applied"  # a plan notes, never moves it back
    assert (noted.history[-1].detail or "").startswith(
        f"dbvend ci plan: {ROOT}: 0 to add, 0 to change, 1 to destroy"
    )

    destroyed = destroy_applied(infra, main_head, head)
    assert destroyed.exit_code == 0, destroyed.output
    removal = assert_removed(repo, head)
    assert f"`{ROOT}`: destroyed: 0 to add, 0 to change, 1 to destroy" in destroyed.output
    assert f"root removed in {removal[:12]}" in destroyed.output
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "destroy-orders"
    assert head_of(repo, "main") == main_head, "the branch applied gets the removal, not main"
    assert infra.resources() == [], "the state in S3 holds nothing any more"
    assert infra.status(request_id)[0] == "destroyed"
    ledger = infra.ledger()
    assert ledger.final_snapshot("dev", "orders") is None, "dev keeps no final snapshot"
    ledger.engine.dispose()

    state, events = infra.state(), infra.status(request_id)[1]
    again = infra.run(
        "ci", "destroy", "--repo", str(repo), "--directory", ROOT, "--backend-config", infra.config
    )
    assert again.exit_code == 1 and "not a database root" in again.output, again.output
    assert "Traceback" not in again.output
    assert head_of(repo) == removal and infra.state() == state
    assert infra.status(request_id) == ("destroyed", events)


def test_a_plan_moves_its_request_to_planned_with_what_it_would_do(infra: Infra) -> None:
    repo = new_repo(infra.repo)
    request_id = record_request(infra.ledger_url, ROOT, "change_open")
    base = head_of(repo)
    git(repo, "checkout", "-q", "-b", "dbvend/dev/orders")
    write_root(repo, ROOT)
    head = commit(repo, "request")
    planned = infra.run("ci", "plan", "--repo", str(repo), "--base", base, "--head", head,
                        "--backend-config", infra.config, "--no-policy")  # fmt: skip
    assert planned.exit_code == 0, planned.output
    ledger = infra.ledger()
    record = ledger.get(request_id)
    ledger.engine.dispose()
    assert record is not None and record.status == "planned"
    detail = record.history[-1].detail or ""
    assert detail.startswith(f"dbvend ci plan: {ROOT}: 1 to add, 0 to change, 0 to destroy"), detail
    assert "a month" in detail  # the cost estimate goes along


def cloned_from_origin(infra: Infra, tmp_path: Path) -> Path:
    """The checkout, a clone of a bare repository (`origin`); the bare repository's path."""
    seed = new_repo(tmp_path / "seed")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(infra.repo))
    return origin


def destroy_branch_on_origin(infra: Infra, tmp_path: Path) -> tuple[Path, str, str, str]:
    """The database applied from main, then a destroy change on branch destroy-orders, both pushed
    to `origin`: (origin's path, the request id, main's head, the destroy change's head)."""
    origin = cloned_from_origin(infra, tmp_path)
    repo = infra.repo
    request_id = record_request(infra.ledger_url, ROOT, "change_open", "merged")
    main_head = applied_on_main(infra, ROOT)
    git(repo, "push", "-q", "origin", "main")
    git(repo, "checkout", "-q", "-b", "destroy-orders")
    head = mark_for_destroy(repo)
    git(repo, "push", "-q", "origin", "destroy-orders")  # the destroy change's branch
    return origin, request_id, main_head, head


def test_the_removal_is_pushed_to_the_branch_on_origin(infra: Infra, tmp_path: Path) -> None:
    origin, request_id, main_head, head = destroy_branch_on_origin(infra, tmp_path)
    repo = infra.repo
    ledger = infra.ledger()
    try:
        assert ledger.transition(request_id, "destroy_open", "destroy change opened")
    finally:
        ledger.engine.dispose()

    destroyed = destroy_applied(infra, main_head, head)
    assert destroyed.exit_code == 0, destroyed.output
    removal = assert_removed(repo, head)
    assert head_of(origin, "refs/heads/destroy-orders") == removal, "pushed to the branch on origin"
    assert subject(origin, "destroy-orders") == REMOVED and tracked(origin, "destroy-orders") == []
    assert head_of(origin, "refs/heads/main") == main_head
    assert git(origin, "for-each-ref", "--format=%(refname)").split() == [
        "refs/heads/destroy-orders",
        "refs/heads/main",
    ]
    assert infra.resources() == [] and infra.status(request_id)[0] == "destroyed"


def someone_pushes(origin: Path, tmp_path: Path, branch: str, path: str, text: str) -> str:
    """Another clone's commit on `branch` of origin, changing one file: its id."""
    other = tmp_path / f"other-{uuid.uuid4().hex[:8]}"
    git(tmp_path, "clone", "-q", "-b", branch, str(origin), str(other))
    (other / path).write_text(text)
    theirs = commit(other, f"an edit of {path}")
    git(other, "push", "-q", "origin", branch)
    return theirs


def test_a_removal_is_rebased_onto_a_branch_that_moved(infra: Infra, tmp_path: Path) -> None:
    origin, request_id, main_head, head = destroy_branch_on_origin(infra, tmp_path)
    theirs = someone_pushes(origin, tmp_path, "destroy-orders", "README.md", "infra, edited\n")

    destroyed = destroy_applied(infra, main_head, head)
    assert destroyed.exit_code == 0, destroyed.output
    removal = head_of(origin, "refs/heads/destroy-orders")
    assert head_of(origin, f"{removal}^") == theirs, "the one removal commit, on top of theirs"
    assert subject(origin, "destroy-orders") == REMOVED and tracked(origin, "destroy-orders") == []
    assert git(origin, "diff", "--name-only", theirs, removal).split() == [
        f"{ROOT}/main.tf",
        f"{ROOT}/request.json",
    ]
    assert git(origin, "show", f"{removal}:README.md") == "infra, edited\n"
    assert f"root removed in {removal[:12]}" in destroyed.output
    assert infra.resources() == [] and infra.status(request_id)[0] == "destroyed"


def test_a_removal_the_branch_conflicts_with_is_reported_after_the_destroy(
    infra: Infra, tmp_path: Path
) -> None:
    origin, request_id, main_head, head = destroy_branch_on_origin(infra, tmp_path)
    theirs = someone_pushes(origin, tmp_path, "destroy-orders", f"{ROOT}/request.json", "{}\n")

    destroyed = destroy_applied(infra, main_head, head)
    assert destroyed.exit_code == 1, destroyed.output
    assert "destroyed: 0 to add, 0 to change, 1 to destroy" in destroyed.output
    assert "the root was not removed: destroy-orders changed terraform/dev/orders since this checkout" in (
        destroyed.output
    ), destroyed.output
    assert f"remove {ROOT} on destroy-orders by hand" in destroyed.output
    assert "Traceback" not in destroyed.output
    assert head_of(origin, "refs/heads/destroy-orders") == theirs and tracked(origin, "destroy-orders") != []
    assert git(infra.repo, "status", "--porcelain", "--untracked-files=no") == "", "the rebase was undone"
    assert infra.resources() == [], "the destroy itself went through"
    ledger = infra.ledger()
    try:
        record = ledger.get(request_id)
        assert record is not None and "the root was not removed" in (record.history[-1].detail or "")
        assert record.status == "destroyed", "nothing is left in AWS, whatever became of the commit"
    finally:
        ledger.engine.dispose()


# -- auto_destroy --------------------------------------------------------------------------------


def test_auto_destroy_destroys_an_expired_dev_root_and_lists_staging(infra: Infra) -> None:
    repo = new_repo(infra.repo)
    catalog = default_catalog_text()
    dev_ttl = "ttl: {default: 7d, max: 30d}"
    assert catalog.count(dev_ttl) == 1, "dev's ttl line in the packaged dbvend.yaml"
    (repo / "dbvend.yaml").write_text(
        catalog.replace(dev_ttl, "ttl: {default: 7d, max: 30d, auto_destroy: true}")
    )
    commit(repo, "dev destroys expired databases itself")
    staging = "terraform/staging/billing"
    dev_id = record_request(infra.ledger_url, ROOT, "change_open", "merged")
    staging_id = record_request(infra.ledger_url, staging, "change_open", "merged")
    before = applied_on_main(infra, ROOT, staging)
    staging_state = infra.state(staging)
    ttl = ("ci", "ttl", "--repo", str(repo), "--now", AFTER_EXPIRY, "--backend-config", infra.config)

    swept = infra.run(*ttl)
    assert swept.exit_code == 0, swept.output
    # auto_destroy needs no GitOps store: only terraform and the checkout
    assert f"- expired: `{ROOT}`: destroyed" in swept.output, swept.output  # auto_destroy, no GitHub needed
    removal = assert_removed(repo, before, f"dbvend: remove {ROOT} (time-to-live ran out; destroyed)")
    assert infra.resources() == []
    assert f"`{staging}`: expired at" in swept.output and "listed (no GitOps store" in swept.output
    assert infra.state(staging) == staging_state and tracked(repo, "HEAD", staging) != []
    assert infra.status(dev_id)[0] == "destroyed" and infra.status(staging_id)[0] == "applied"

    events = infra.status(staging_id)
    second = infra.run(*ttl)
    assert second.exit_code == 0, second.output
    assert f"`{ROOT}`" not in second.output and f"- expired: `{staging}`" in second.output
    assert head_of(repo) == removal and infra.state(staging) == staging_state
    assert infra.status(staging_id) == events


def test_auto_destroy_in_github_mode_pushes_the_removal_and_proposes_the_rest(
    infra: Infra, tmp_path: Path
) -> None:
    catalog = default_catalog_text().replace(
        "ttl: {default: 7d, max: 30d}", "ttl: {default: 7d, max: 30d, auto_destroy: true}"
    )
    staging = "terraform/staging/billing"
    seeded = seeded_with(tmp_path, ROOT, staging) | {"dbvend.yaml": catalog}
    dev_id = record_request(infra.ledger_url, ROOT, "change_open", "merged")
    staging_id = record_request(infra.ledger_url, staging, "change_open", "merged")
    with GitHubServer(tmp_path / "github", files=seeded) as github:
        token = github.job_token(effective_permissions(SOURCE / "workflows" / "dbvend-ttl.yml", "ttl"))
        repo = checkout(github, token, infra.repo, "main")
        before = head_of(repo)
        for root in (ROOT, staging):
            done = infra.run("ci", "apply", "--repo", str(repo), "--base", "HEAD", "--directory", root,
                             "--backend-config", infra.config)  # fmt: skip
            assert done.exit_code == 0 and infra.resources(root) == ["terraform_data.database"], done.output
        infra.env |= job_environment(github, token)
        ttl = ("ci", "ttl", "--repo", str(repo), "--now", AFTER_EXPIRY, "--backend-config", infra.config)

        swept = infra.run(*ttl)
        assert swept.exit_code == 0, swept.output
        assert f"- expired: `{ROOT}`: destroyed" in swept.output, swept.output
        removal = assert_removed(repo, before, f"dbvend: remove {ROOT} (time-to-live ran out; destroyed)")
        assert github.branch_sha("main") == removal, "the removal is pushed to main on GitHub"
        assert infra.resources() == [] and infra.resources(staging) == ["terraform_data.database"]
        assert f"- expired: `{staging}`: destroy change #" in swept.output, swept.output
        (pull,) = github.pulls.values()
        proposed = json.loads(github.read_file(pull.head_ref, f"{staging}/request.json") or "{}")
        assert pull.state == "open" and proposed["destroy_requested_at"] == "2027-01-01T00:00:00Z"
        assert infra.status(dev_id)[0] == "destroyed" and infra.status(staging_id)[0] == "destroy_open"

        second = infra.run(*ttl)
        assert second.exit_code == 0, second.output
        assert f"`{ROOT}`" not in second.output and f"destroy change #{pull.number} is open" in second.output
        assert github.branch_sha("main") == removal and len(github.pulls) == 1
        assert ("git-receive-pack", "job", 200) in github.git_requests, (
            "pushed over HTTP with the job's token"
        )


def test_a_database_its_ttl_destroyed_is_restored_from_its_final_snapshot_on_github(
    infra: Infra, tmp_path: Path, gate: Any
) -> None:
    """Issue 22's journey in GitHub mode: a staging database expires, `dbvend ci ttl` destroys it
    (auto_destroy) and the ledger keeps the final snapshot its destroy kept; a request of the same
    name with restore_from final then opens a pull request restoring that snapshot."""
    from engine.github.repository import GitHubRepository
    from engine.intake import accept_request
    from engine.pipeline import process_request
    from tests.support.github_clients import client_for

    staging = "terraform/staging/billing"
    catalog = default_catalog_text().replace(
        "ttl: {default: 14d, max: 90d}", "ttl: {default: 14d, max: 90d, auto_destroy: true}"
    )
    seeded = seeded_with(tmp_path, staging) | {"dbvend.yaml": catalog}
    request_id = record_request(infra.ledger_url, staging, "change_open", "merged")
    with GitHubServer(tmp_path / "github", files=seeded) as github:
        token = github.job_token(effective_permissions(SOURCE / "workflows" / "dbvend-ttl.yml", "ttl"))
        repo = checkout(github, token, infra.repo, "main")
        done = infra.run("ci", "apply", "--repo", str(repo), "--base", "HEAD", "--directory", staging,
                         "--backend-config", infra.config)  # fmt: skip
        assert done.exit_code == 0, done.output
        infra.env |= job_environment(github, token)
        swept = infra.run(
            "ci", "ttl", "--repo", str(repo), "--now", AFTER_EXPIRY, "--backend-config", infra.config
        )
        assert swept.exit_code == 0 and f"- expired: `{staging}`: destroyed" in swept.output, swept.output
        assert github.read_file("main", f"{staging}/request.json") is None, "its root is gone from main"
        ledger = infra.ledger()
        try:
            assert ledger.final_snapshot("staging", "billing") == "billing-final-reqbilli"
            backend = GitHubRepository(client_for(github), f"{github.owner}/{github.repo}")
            raw = {
                "database_name": "billing",
                "database_engine": "postgres",
                "environment": "staging",
                "restore_from": {"database": "staging/billing", "snapshot": "final"},
            }
            record, _ = accept_request(raw, "api", "key-a", ledger, backend)
            assert record.payload["restore_from"]["snapshot"] == "billing-final-reqbilli"
            outcome = process_request(record.payload, backend, gate, request_id=record.id, ledger=ledger)
        finally:
            ledger.engine.dispose()
        assert outcome.change is not None and outcome.change.status == "open"
        (pull,) = [p for p in github.pulls.values() if p.head_ref == "dbvend/staging/billing"]
        main_tf = github.read_file(pull.head_ref, f"{staging}/main.tf") or ""
        assert 'snapshot_identifier = "billing-final-reqbilli"' in main_tf
        assert infra.status(request_id)[0] == "destroyed"


# -- on GitHub, with the token each workflow's own permissions give --------------------------------

MERGE_CALLER = SOURCE / "workflows" / "dbvend-main.yml"  # apply on merge
DISPATCH_CALLER = SOURCE / "workflows" / "dbvend.yml"  # the App's /apply and /destroy


def basic_header(token: str) -> str:
    return "AUTHORIZATION: basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()


def checkout(github: GitHubServer, token: str, path: Path, ref: str) -> Path:
    """What actions/checkout with persist-credentials: false leaves: `ref` checked out from GitHub over
    HTTP with the job's token (a branch as that branch, a pull request's head detached), and no
    credentials in the checkout."""
    auth = ("-c", f"http.extraHeader={basic_header(token)}")
    if not path.exists():
        path.mkdir()
        git(path, "init", "-q")
        git(path, "remote", "add", "origin", github.git_url)
    git(path, *auth, "fetch", "-q", "--no-tags", "origin", "+refs/heads/*:refs/remotes/origin/*", ref)
    if ref.startswith("refs/pull/"):
        git(path, "checkout", "-q", "--detach", "FETCH_HEAD")
    else:
        git(path, "checkout", "-q", "-B", ref, "FETCH_HEAD")
    return path


def job_environment(github: GitHubServer, token: str) -> dict[str, str | None]:
    """What the Action's dbvend step gets from GitHub Actions."""
    return {"GITHUB_TOKEN": token, "GITHUB_REPOSITORY": "acme/infra", "GITHUB_API_URL": github.url}


def seeded_with(tmp_path: Path, *roots: str) -> dict[str, str]:
    files = {".gitignore": GITIGNORE}
    for root in roots:
        write_root(tmp_path / "roots", root)
        files |= {
            f"{root}/{n}": (tmp_path / "roots" / root / n).read_text() for n in ("main.tf", "request.json")
        }
    return files


def apply_from_main(infra: Infra, github: GitHubServer, token: str) -> str:
    """The database applied for real from main's checkout; main's head."""
    repo = checkout(github, token, infra.repo, "main")
    done = infra.run("ci", "apply", "--repo", str(repo), "--base", "HEAD", "--directory", ROOT,
                     "--backend-config", infra.config)  # fmt: skip
    assert done.exit_code == 0 and infra.resources() == ["terraform_data.database"], done.output
    return head_of(repo)


def destroy_merged(infra: Infra, github: GitHubServer, token: str) -> tuple[str, str]:
    """The database applied from main, then its destroy change merged and checked out as the push's
    workflow checks it out: (main before the merge, the merge)."""
    infra.env |= job_environment(github, token)
    before = apply_from_main(infra, github, token)
    merged = github.commit("main", {f"{ROOT}/request.json": claim_json(ROOT, destroy=True)}, "Merge #7")
    checkout(github, token, infra.repo, "main")
    return before, merged


def assert_nothing_persisted(repo: Path, token: str) -> None:
    config = (repo / ".git" / "config").read_text()
    assert token not in config and "extraheader" not in config.lower()


@pytest.mark.parametrize("moved", [False, True], ids=["main as merged", "main moved since"])
def test_a_destroy_change_applied_on_merge_is_removed_and_pushed_with_the_workflows_token(
    infra: Infra, tmp_path: Path, moved: bool
) -> None:
    request_id = record_request(infra.ledger_url, ROOT, "change_open", "merged")
    with GitHubServer(tmp_path / "github", files=seeded_with(tmp_path, ROOT)) as github:
        token = github.job_token(effective_permissions(MERGE_CALLER, "apply"))
        before, merged = destroy_merged(infra, github, token)
        parent = merged
        if moved:  # another pull request merged while this job ran
            parent = github.commit("main", {"terraform/README.md": "databases\n"}, "Merge #8")

        done = destroy_applied(infra, before, merged)
        assert done.exit_code == 0, done.output
        removal = github.branch_sha("main")
        assert removal is not None
        latest, previous = github.log("main")[:2]
        assert latest == f"{removal} {REMOVED}" and previous.split()[0] == parent
        assert github.read_file("main", f"{ROOT}/request.json") is None
        assert github.read_file("main", f"{ROOT}/main.tf") is None
        if moved:
            assert github.read_file("main", "terraform/README.md") == "databases\n"
        assert f"root removed in {removal[:12]}" in done.output
        assert infra.resources() == [] and infra.status(request_id)[0] == "destroyed"
        assert ("git-receive-pack", "job", 200) in github.git_requests
        assert_nothing_persisted(infra.repo, token)


def test_a_token_that_cannot_write_is_told_after_the_destroy(infra: Infra, tmp_path: Path) -> None:
    """The permissions the apply-on-merge job had before (contents: read)."""
    request_id = record_request(infra.ledger_url, ROOT, "change_open", "merged")
    with GitHubServer(tmp_path / "github", files=seeded_with(tmp_path, ROOT)) as github:
        token = github.job_token({"contents": "read", "id-token": "write"})
        before, merged = destroy_merged(infra, github, token)

        done = destroy_applied(infra, before, merged)
        assert done.exit_code == 1, done.output
        assert (
            "the root was not removed: the token may not write to the repository (a GitHub Actions job"
            " needs `contents: write`)" in done.output
        ), done.output
        assert "denied to github-actions[bot]" in done.output and "Traceback" not in done.output
        assert github.branch_sha("main") == merged
        assert infra.resources() == [] and infra.status(request_id)[0] == "destroyed"


def test_apply_on_a_destroy_changes_pull_request_pushes_the_removal_to_its_branch(
    infra: Infra, tmp_path: Path
) -> None:
    import httpx

    request_id = record_request(infra.ledger_url, ROOT, "change_open", "merged")
    with GitHubServer(tmp_path / "github", files=seeded_with(tmp_path, ROOT)) as github:
        token = github.job_token(effective_permissions(DISPATCH_CALLER, "apply"))
        infra.env |= job_environment(github, token)
        main_head = apply_from_main(infra, github, token)
        branch = "dbvend/destroy-dev-orders"
        head = github.commit(
            branch, {f"{ROOT}/request.json": claim_json(ROOT, destroy=True)}, f"Destroy {ROOT}"
        )
        opened = httpx.post(
            f"{github.url}repos/acme/infra/pulls",
            headers={"Authorization": "token ghs_app"},
            json={"title": f"Destroy {ROOT}", "head": branch, "base": "main", "body": "destroy"},
        )
        assert opened.status_code == 201, opened.text
        number = opened.json()["number"]
        repo = checkout(github, token, infra.repo, f"refs/pull/{number}/head")

        done = infra.run("ci", "apply", "--repo", str(repo), "--pr", str(number), "--directory", ROOT,
                         "--base", main_head, "--head", "HEAD", "--backend-config", infra.config)  # fmt: skip
        assert done.exit_code == 0, done.output
        removal = github.branch_sha(branch)
        assert removal is not None and github.log(branch)[:2] == [
            f"{removal} {REMOVED}",
            f"{head} Destroy {ROOT}",
        ]
        assert github.read_file(branch, f"{ROOT}/main.tf") is None and github.branch_sha("main") == main_head
        (comment,) = github.comment_bodies(number)
        assert f"root removed in {removal[:12]}" in comment
        assert infra.resources() == [] and infra.status(request_id)[0] == "destroyed"
        assert_nothing_persisted(repo, token)


# -- failures ------------------------------------------------------------------------------------


def hold_the_lock(infra: Infra) -> None:
    """Another run's lock on the root's state: the object S3 native locking writes."""
    lock = {
        "ID": "0c0ffee0-1111-2222-3333-444455556666",
        "Operation": "OperationTypeApply",
        "Info": "",
        "Who": "someone@elsewhere",
        "Version": "1.11.4",
        "Created": "2026-11-28T10:00:00Z",
        "Path": f"{infra.bucket}/{state_key(ROOT)}",
    }
    infra.s3().put_object(
        Bucket=infra.bucket, Key=f"{state_key(ROOT)}.tflock", Body=json.dumps(lock).encode()
    )


def test_a_destroy_stopped_by_a_held_lock_leaves_the_root(infra: Infra) -> None:
    repo = new_repo(infra.repo)
    request_id = record_request(infra.ledger_url, ROOT, "change_open", "merged")
    main_head = applied_on_main(infra, ROOT)
    git(repo, "checkout", "-q", "-b", "destroy-orders")
    head = mark_for_destroy(repo)
    hold_the_lock(infra)
    state = infra.state()

    locked = destroy_applied(infra, main_head, head)
    assert locked.exit_code == 1, locked.output
    assert "state lock 0c0ffee0-1111-2222-3333-444455556666 held by someone@elsewhere" in locked.output
    assert "Traceback" not in locked.output and "root removed" not in locked.output
    assert head_of(repo) == head and tracked(repo, head) == [f"{ROOT}/main.tf", f"{ROOT}/request.json"]
    assert infra.state() == state and infra.status(request_id)[0] == "applied"

    infra.s3().delete_object(Bucket=infra.bucket, Key=f"{state_key(ROOT)}.tflock")  # the other run ends
    retried = destroy_applied(infra, main_head, head)
    assert retried.exit_code == 0, retried.output
    assert_removed(repo, head)
    assert infra.resources() == [] and infra.status(request_id)[0] == "destroyed"


def test_a_destroy_whose_backend_bucket_is_missing_leaves_the_root(infra: Infra, tmp_path: Path) -> None:
    repo = new_repo(infra.repo)
    request_id = record_request(infra.ledger_url, ROOT, "change_open", "merged")
    write_root(repo, ROOT)
    main_head = commit(repo, "orders")
    git(repo, "checkout", "-q", "-b", "destroy-orders")
    head = mark_for_destroy(repo)
    missing = f"missing-{uuid.uuid4().hex[:12]}"
    infra.config = backend_config(tmp_path / "missing.hcl", missing, infra.endpoint)

    failed = destroy_applied(infra, main_head, head)
    assert failed.exit_code == 1, failed.output
    assert f"`{ROOT}`" in failed.output and "terraform init failed" in failed.output
    assert f'S3 bucket "{missing}" does not exist' in failed.output, failed.output
    assert "Traceback" not in failed.output and "root removed" not in failed.output
    assert head_of(repo) == head and tracked(repo, head) == [f"{ROOT}/main.tf", f"{ROOT}/request.json"]
    status, _ = infra.status(request_id)
    assert status == "merged"
    ledger = infra.ledger()
    try:
        record = ledger.get(request_id)
        assert record is not None
        assert any("dbvend ci apply" in (event.detail or "") for event in record.history), (
            "the failure is noted"
        )
    finally:
        ledger.engine.dispose()
