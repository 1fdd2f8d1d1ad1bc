"""engine.terraform with the real terraform CLI: terraform_data roots, the S3 backend on a moto server.

No provider can be downloaded on these machines (DESIGN.md §5); `terraform_data` and the
`local-exec` provisioner are built into terraform, and the S3 backend (native lockfile
locking) talks to moto as it would to S3.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import boto3
import pytest

from engine.errors import TerraformError
from engine.terraform import Terraform
from tests.support.paths import FAKE_TERRAFORM
from tests.support.terraform_roots import ROOT_TF, backend_file

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")


def make_root(tmp_path: Path, name: str = "orders") -> Path:
    root = tmp_path / "terraform" / "dev" / name
    root.mkdir(parents=True)
    (root / "main.tf").write_text(ROOT_TF)
    return root


def init(terraform: Terraform, root: Path, backend: dict[str, str]) -> None:
    backend_file(root, backend)
    assert terraform.init(root, backend_file="backend.hcl").exit_code == 0


def test_plan_show_apply_destroy_through_the_s3_backend(tmp_path: Path, backend: dict[str, str]) -> None:
    terraform = Terraform(plugin_cache=tmp_path / "plugin-cache")
    root = make_root(tmp_path)
    init(terraform, root, backend)
    planned = terraform.plan(root)
    assert planned.changes and planned.lock is None and planned.plan_file is not None
    plan = terraform.show_json(root, planned.plan_file)
    assert plan["format_version"].startswith("1.")
    (change,) = plan["resource_changes"]
    assert change["address"] == "terraform_data.database" and change["change"]["actions"] == ["create"]
    applied = terraform.apply(root, planned.plan_file)
    assert applied.ok
    assert terraform.plan(root).changes is False, "applied: nothing left to do"
    s3 = boto3.client("s3", endpoint_url=backend["endpoint"], region_name="us-east-1")
    state = s3.get_object(Bucket=backend["bucket"], Key=backend["key"])["Body"].read()
    assert b"terraform_data" in state
    stale = terraform.plan(root)  # a plan made, then the state moves under it: apply refuses
    (root / "main.tf").write_text(ROOT_TF.replace('default = "small"', 'default = "large"'))
    moved = terraform.plan(root)
    assert moved.changes and moved.plan_file is not None
    assert terraform.apply(root, moved.plan_file).ok
    assert stale.plan_file is not None
    with pytest.raises(TerraformError, match="apply failed") as failed:
        terraform.apply(root, stale.plan_file)
    assert "Saved plan is stale" in str(failed.value)
    destroyed = terraform.plan(root, destroy=True)
    assert destroyed.changes and destroyed.plan_file is not None
    actions = [
        c["change"]["actions"] for c in terraform.show_json(root, destroyed.plan_file)["resource_changes"]
    ]
    assert actions == [["delete"]]
    assert terraform.destroy(root).ok
    assert b"terraform_data" not in s3.get_object(Bucket=backend["bucket"], Key=backend["key"])["Body"].read()


def test_a_lock_held_by_another_process_is_reported_as_such(tmp_path: Path, backend: dict[str, str]) -> None:
    terraform = Terraform()
    root = make_root(tmp_path)
    init(terraform, root, backend)
    other = subprocess.Popen(
        ["terraform", "apply", "-auto-approve", "-input=false", "-no-color", "-var", "hold=6"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        s3 = boto3.client("s3", endpoint_url=backend["endpoint"], region_name="us-east-1")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            listed = s3.list_objects_v2(Bucket=backend["bucket"]).get("Contents", [])
            if any(item["Key"].endswith(".tflock") for item in listed):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the other apply never took the lock")
        held = terraform.plan(root)
        assert held.lock is not None and held.plan_file is None and not held.changes
        assert held.lock.operation == "OperationTypeApply" and held.lock.who
        assert "held by" in held.lock.describe() and "for apply" in held.lock.describe()
        assert terraform.destroy(root).lock is not None
    finally:
        output, _ = other.communicate(timeout=60)
    assert other.returncode == 0, output
    assert terraform.plan(root).lock is None


def test_failures_are_clear_and_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", "hunter2-hunter2")
    root = tmp_path / "broken"
    root.mkdir()
    (root / "main.tf").write_text('variable "password" {\n  default = "hunter2-hunter2"\n}\nresource {\n')
    terraform = Terraform()
    with pytest.raises(TerraformError, match=r"terraform init failed in .*broken") as failed:
        terraform.init(root)
    assert "hunter2" not in str(failed.value)


def test_a_step_past_its_timeout_is_stopped_and_named(tmp_path: Path, backend: dict[str, str]) -> None:
    from engine.errors import TerraformTimeout

    root = make_root(tmp_path)
    init(Terraform(), root, backend)
    slow = Terraform(timeout=2)
    planned = slow.plan(root)
    assert planned.plan_file is not None
    (root / "main.tf").write_text(ROOT_TF.replace("default = 0", "default = 30"))
    held = slow.plan(root)
    assert held.plan_file is not None
    started = time.monotonic()
    with pytest.raises(TerraformTimeout, match=r"terraform apply failed .*no answer after 2 s"):
        slow.apply(root, held.plan_file)
    assert time.monotonic() - started < 15


def test_a_large_plan_json_is_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Step output is cut to its end for display; a plan's JSON never is (it would not parse)."""
    from engine.terraform import OUTPUT_LIMIT

    change = {"address": "terraform_data.x", "type": "terraform_data", "change": {"actions": ["create"]}}
    plan = {"format_version": "1.2", "resource_changes": [change] * 5000}
    recorded = tmp_path / "plan.json"
    recorded.write_text(json.dumps(plan))
    assert recorded.stat().st_size > OUTPUT_LIMIT
    monkeypatch.setenv("FAKE_TERRAFORM_PLAN", str(recorded))
    fake = Terraform(str(FAKE_TERRAFORM))
    assert fake.show_json(tmp_path, tmp_path / "dbvend.tfplan") == plan
