"""The `dbvend` command, run as a user runs it: the installed console script in a fresh directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.gitops.local import LocalRepository
from engine.hcl import check_schema, parse_hcl, resources_of
from engine.intake import accept_request
from engine.queue.local import LocalQueue
from engine.store.ledger import Ledger
from tests.support.paths import PLANS, ROOT

DBVEND = str(Path(sys.executable).with_name("dbvend"))


def dbvend(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DBVEND_")}
    return subprocess.run(
        [DBVEND, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**clean, "COLUMNS": "200", **env},
        timeout=120,
    )


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True).stdout


def test_the_seed_request_in_a_fresh_directory(tmp_path: Path) -> None:
    done = dbvend(tmp_path, "request", "--name", "mydb123", "--engine", "mysql", "--env", "prod")
    assert done.returncode == 0, done.stderr
    assert "change #1 opened on branch dbvend/prod/mydb123" in done.stdout
    repo = tmp_path / "dbvend-data" / "repo"
    main_tf = git(repo, "show", "dbvend/prod/mydb123:terraform/prod/mydb123/main.tf")
    parsed = parse_hcl(main_tf)
    db = resources_of(parsed)[("aws_db_instance", "this")]
    assert db["instance_class"] == '"db.t3.medium"' and db["engine"] == '"mysql"'
    assert "password" not in main_tf.replace("manage_master_user_password", "")
    assert check_schema(parsed) == []
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH: cannot run terraform fmt -check here")
    root = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", "-b", "dbvend/prod/mydb123", str(repo), str(root)], check=True)
    fmt = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", str(root / "terraform")],
        capture_output=True,
        text=True,
        env={**os.environ, "CHECKPOINT_DISABLE": "1"},
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_exit_codes(tmp_path: Path) -> None:
    base = ["request", "--name", "orders", "--engine", "postgres", "--env", "dev"]
    invalid = dbvend(tmp_path, "request", "--name", "postgres", "--engine", "postgres", "--env", "dev")
    assert invalid.returncode == 2 and "database_name" in invalid.stderr and "reserved" in invalid.stderr
    unknown_env = dbvend(tmp_path, "request", "--name", "x1", "--engine", "postgres", "--env", "qa")
    assert unknown_env.returncode == 2 and "environment" in unknown_env.stderr
    assert dbvend(tmp_path, *base).returncode == 0
    conflict = dbvend(tmp_path, *base)
    assert conflict.returncode == 4 and "already requested in open change #1" in conflict.stderr
    bad_type = dbvend(tmp_path, *base, "--storage-gb", "lots")
    assert bad_type.returncode == 2


def test_with_a_ledger_cli_requests_are_recorded_like_the_apis(tmp_path: Path) -> None:
    """Once `dbvend serve` has made a ledger, `dbvend request` records its requests there
    (channel cli), a name held by a queued API request is a conflict, and merge is recorded."""
    repo = LocalRepository.open_or_create(tmp_path / "dbvend-data" / "repo")
    ledger = Ledger.connect(f"sqlite:///{tmp_path / 'dbvend-data' / 'ledger.sqlite3'}")
    queued, _ = accept_request(
        {"database_name": "queued", "database_engine": "mysql", "environment": "dev"},
        "api",
        "k1",
        ledger,
        repo,
    )
    held = dbvend(tmp_path, "request", "--name", "queued", "--engine", "mysql", "--env", "dev")
    assert held.returncode == 4 and f"request {queued.id}" in held.stderr
    assert ledger.count() == 1
    invalid = dbvend(tmp_path, "request", "--name", "no way", "--engine", "mysql", "--env", "dev")
    assert invalid.returncode == 2 and ledger.count() == 1
    done = dbvend(tmp_path, "request", "--name", "orders", "--engine", "postgres", "--env", "dev", "--json")
    assert done.returncode == 0, done.stderr
    change = json.loads(done.stdout)
    (listed,) = [r for r in ledger.list_requests() if r.channel == "cli"]
    record = ledger.get(listed.id)
    assert record is not None
    assert record.id == change["request_id"] and record.requester.startswith("cli")
    assert record.change_id == change["id"] and record.status == "change_open"
    assert [e.status for e in record.history] == ["accepted", "processing", "change_open"]
    assert LocalQueue(ledger).depth() == {"ready": 1, "done": 1, "dead": 0}  # the API's still waits
    assert dbvend(tmp_path, "merge", str(change["id"])).returncode == 0
    shown = dbvend(tmp_path, "status", record.id)
    assert shown.returncode == 0 and "merged" in shown.stdout and "policy gate: pass" in shown.stdout


def test_a_refused_check_exits_3(tmp_path: Path) -> None:
    # A catalog whose tag breaks nothing at validation but makes a check fail is hard to build on
    # purpose; instead point the fmt check at a terraform that reformats everything.
    fake = tmp_path / "bin" / "terraform"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\ncat >/dev/null; echo 'reformatted'\n")
    fake.chmod(0o755)
    done = dbvend(
        tmp_path,
        "request",
        "--name",
        "orders",
        "--engine",
        "postgres",
        "--env",
        "dev",
        DBVEND_TERRAFORM=str(fake),
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "terraform-fmt" in done.stderr
    repo = tmp_path / "dbvend-data" / "repo"
    assert git(repo, "branch", "--list", "dbvend/*").strip() == ""


def test_changes_and_merge(tmp_path: Path) -> None:
    assert (
        dbvend(tmp_path, "request", "--name", "orders", "--engine", "postgres", "--env", "dev").returncode
        == 0
    )
    listed = dbvend(tmp_path, "changes", "--json")
    assert [c["branch"] for c in json.loads(listed.stdout)] == ["dbvend/dev/orders"]
    merged = dbvend(tmp_path, "merge", "1")
    assert merged.returncode == 0 and "merged change #1" in merged.stdout
    assert json.loads(dbvend(tmp_path, "changes", "--json", "--status", "merged").stdout)[0]["id"] == 1
    again = dbvend(tmp_path, "merge", "1")
    assert again.returncode == 1 and "not open" in again.stderr
    assert dbvend(tmp_path, "merge", "7").returncode == 1


def test_render_writes_without_committing(tmp_path: Path) -> None:
    done = dbvend(
        tmp_path,
        "render",
        "--name",
        "ledger",
        "--engine",
        "aurora-mysql",
        "--env",
        "dev",
        "--readers",
        "1",
        "--out",
        "out",
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out/terraform/dev/ledger").iterdir()) == [
        "main.tf",
        "request.json",
    ]
    assert not (tmp_path / "dbvend-data").exists()


def test_clone_on_the_command_line(tmp_path: Path) -> None:
    """dbvend clone ENV/NAME --to ENV --name NAME [--ttl]: one change of a copy, as the API's clone."""
    assert (
        dbvend(tmp_path, "request", "--name", "orders", "--engine", "postgres", "--env", "staging").returncode
        == 0
    )
    missing = dbvend(tmp_path, "clone", "staging/orders", "--to", "dev", "--name", "orders_pr1")
    assert missing.returncode != 0 and "no database staging/orders" in missing.stderr  # not merged yet
    assert dbvend(tmp_path, "merge", "1").returncode == 0
    done = dbvend(tmp_path, "clone", "staging/orders", "--to", "dev", "--name", "orders_pr1", "--ttl", "2d")
    assert done.returncode == 0, done.stderr
    repo = tmp_path / "dbvend-data" / "repo"
    claim = json.loads(git(repo, "show", "dbvend/dev/orders-pr1:terraform/dev/orders-pr1/request.json"))
    assert claim["ttl"] == "2d" and claim["restore_latest"] and claim["restore_source_identifier"] == "orders"
    assert claim["request"]["database_name"] == "orders"
    refused = dbvend(tmp_path, "clone", "staging/orders", "--to", "prod", "--name", "orders_pr2")
    assert refused.returncode == 2, refused.stderr
    assert "restore_from.database: prod may copy only from prod" in refused.stderr
    named = dbvend(tmp_path, "clone", "staging/orders", "--to", "qa", "--name", "orders_pr3")
    assert named.returncode == 2 and "to_environment: must be one of the environments" in named.stderr


def test_restore_from_on_the_command_line(tmp_path: Path) -> None:
    """--restore-from ENV/ID:SNAPSHOT and ENV/ID@TIME: merged sources restore; refusals name the field."""
    base = ["request", "--name", "orders", "--engine", "postgres"]
    assert dbvend(tmp_path, *base, "--env", "staging").returncode == 0
    assert dbvend(tmp_path, "merge", "1").returncode == 0
    copy = [*base, "--env", "dev", "--identifier", "orders-copy"]
    done = dbvend(tmp_path, *copy, "--restore-from", "staging/orders@latest")
    assert done.returncode == 0, done.stderr
    repo = tmp_path / "dbvend-data" / "repo"
    main_tf = git(repo, "show", "dbvend/dev/orders-copy:terraform/dev/orders-copy/main.tf")
    block = resources_of(parse_hcl(main_tf))[("aws_db_instance", "this")]["restore_to_point_in_time"]
    assert block[0]["source_db_instance_identifier"] == '"orders"' and block[0]["use_latest_restorable_time"]
    future = dbvend(tmp_path, *copy, "--restore-from", "staging/orders@2099-01-01T00:00:00Z")
    assert future.returncode == 2 and "restore_from.point_in_time: is in the future" in future.stderr
    nowhere = dbvend(tmp_path, *copy, "--restore-from", "dev/orders:orders-final-1")
    assert nowhere.returncode == 2 and "restore_from.database: no database dev/orders" in nowhere.stderr
    from_prod = dbvend(tmp_path, *copy, "--restore-from", "prod/orders:orders-final-1")
    assert from_prod.returncode == 2 and "production data stays in production" in from_prod.stderr
    bad = dbvend(tmp_path, *copy, "--restore-from", "staging/orders")
    assert bad.returncode == 2 and "restore_from: needs a snapshot" in bad.stderr
    rendered = dbvend(
        tmp_path, "render", *copy[1:], "--restore-from", "prod/orders:orders-final-1", "--out", "out"
    )
    assert rendered.returncode == 0, rendered.stderr
    assert (
        'snapshot_identifier = "orders-final-1"'
        in (tmp_path / "out/terraform/dev/orders-copy/main.tf").read_text()
    )


def test_init_writes_the_layout(tmp_path: Path) -> None:
    done = dbvend(tmp_path, "init", "infra")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "infra/dbvend.yaml").exists()
    form = tmp_path / "infra/.github/ISSUE_TEMPLATE/database.yml"
    assert form.read_text() == (ROOT / "workflows/ISSUE_TEMPLATE/database.yml").read_text()
    callers = sorted(p.name for p in (ROOT / "workflows").glob("*.yml"))
    assert callers and sorted(p.name for p in (tmp_path / "infra/.github/workflows").iterdir()) == callers
    for name in callers:  # the thin callers of the reusable workflows, as they are in workflows/
        installed = (tmp_path / "infra/.github/workflows" / name).read_text()
        assert installed == (ROOT / "workflows" / name).read_text()
    assert git(tmp_path / "infra", "log", "--format=%s").strip() == "dbvend: initialise the repository"
    existing = tmp_path / "existing"
    subprocess.run(["git", "init", "-q", str(existing)], check=True)
    done = dbvend(tmp_path, "init", "existing")
    assert "wrote dbvend.yaml" in done.stdout and (existing / "dbvend.yaml").exists()
    assert "nothing written" in dbvend(tmp_path, "init", "existing").stdout


def test_help_everywhere(tmp_path: Path) -> None:
    for command in (
        [],
        ["init"],
        ["render"],
        ["request"],
        ["changes"],
        ["merge"],
        ["close"],
        ["serve"],
        ["status"],
    ):
        done = dbvend(tmp_path, *command, "--help")
        assert done.returncode == 0 and "Usage: dbvend" in done.stdout, command


def test_a_policy_violation_is_refused_by_the_cli_with_the_finding(tmp_path: Path) -> None:
    repo = LocalRepository.open_or_create(tmp_path / "dbvend-data" / "repo")
    catalog = (repo.path / "dbvend.yaml").read_text()
    narrowed = catalog.replace("  dev:\n", "  dev:\n    allowed_instance_classes: [db.t3.micro]\n", 1)
    (repo.path / "dbvend.yaml").write_text(narrowed)
    git(repo.path, "commit", "-qam", "narrower allow-list")
    refs = git(repo.path, "for-each-ref")
    refused = dbvend(
        tmp_path, "request", "--name", "wide", "--engine", "mysql", "--env", "dev", "--size", "large"
    )
    assert refused.returncode == 3, refused.stderr
    assert "CKV_DBV_3" in refused.stderr and "aws_db_instance.this" in refused.stderr
    assert git(repo.path, "for-each-ref") == refs
    done = dbvend(tmp_path, "request", "--name", "fits", "--engine", "mysql", "--env", "dev")
    assert done.returncode == 0, done.stderr
    assert "policy gate: pass" in done.stdout


def test_policy_check_on_roots_and_plans(tmp_path: Path) -> None:
    """`dbvend policy check DIR... --plan PLAN.json`: the gate the Action runs; 0 pass, 3 fail."""
    out = tmp_path / "out"
    made = dbvend(
        tmp_path, "render", "--name", "orders", "--engine", "postgres", "--env", "prod", "--out", str(out)
    )
    assert made.returncode == 0, made.stderr
    root = out / "terraform" / "prod" / "orders"
    passing = dbvend(tmp_path, "policy", "check", str(root), "--plan", str(PLANS / "plan_prod_good.json"))
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert passing.stdout.count("policy gate: pass") == 2
    failing = dbvend(
        tmp_path,
        "policy",
        "check",
        str(root),
        "--plan",
        str(PLANS / "plan_prod_bad.json"),
        "--env",
        "prod",
        "--json",
    )
    assert failing.returncode == 3, failing.stderr
    decisions = json.loads(failing.stdout)
    assert decisions[str(root)]["result"] == "pass"
    bad = decisions[str(PLANS / "plan_prod_bad.json")]
    assert bad["result"] == "fail"
    assert {f["check_id"] for f in bad["failures"] if f["check_id"].startswith("CKV_DBV")} == {
        "CKV_DBV_4",
        "CKV_DBV_5",
    }
    assert all(f["resource"] == "aws_db_instance.this" for f in bad["failures"])
    usage = dbvend(tmp_path, "policy", "check")
    assert usage.returncode == 2 and "at least one directory" in usage.stderr


def test_a_missing_checkov_is_a_clear_error(tmp_path: Path) -> None:
    missing = dbvend(
        tmp_path,
        "request",
        "--name",
        "x1",
        "--engine",
        "mysql",
        "--env",
        "dev",
        DBVEND_CHECKOV=str(tmp_path / "none"),
    )
    assert missing.returncode == 1
    assert "checkov is not installed" in missing.stderr and "make checkov" in missing.stderr
