"""engine/checkov/gate.py: the warm checkov worker the policy gate scans with, under real checkov
(tests/unit/test_policy.py decides on what it finds)."""

from __future__ import annotations

import os
import signal
import stat
from datetime import date
from pathlib import Path

import pytest

from engine.catalog import default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.checkov.gate import PolicyGate, check_rendered, find_checkov, policy_decision, scan_with_cli
from engine.errors import CatalogError, CheckovMissing, PolicyScanError
from engine.policy import policy_context
from engine.render import RenderedRoot
from tests.support.catalogs import catalog_with

TODAY = date(2026, 11, 23)


# -- the warm gate, with real checkov -------------------------------------------------------

TF_BAD = 'resource "aws_db_instance" "db" {\n  storage_encrypted   = false\n  publicly_accessible = true\n}\n'


def root_with(tmp_path: Path, text: str = TF_BAD) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf").write_text(text)
    return root


def test_the_gate_reports_typed_findings(gate: PolicyGate, tmp_path: Path) -> None:
    result = gate.scan(root_with(tmp_path))
    by_id = {f.check_id: f for f in result.findings}
    assert {"CKV_AWS_16", "CKV_AWS_17"} <= set(by_id)  # not encrypted, publicly accessible
    encrypted = by_id["CKV_AWS_16"]
    assert encrypted.resource == "aws_db_instance.db" and encrypted.file == "/main.tf"
    assert encrypted.lines == (1, 4) and encrypted.name
    assert "CKV_AWS_16" not in result.passed


def test_every_scan_is_fresh(gate: PolicyGate, tmp_path: Path) -> None:
    bad = gate.scan(root_with(tmp_path))
    good_root = tmp_path / "good"
    good_root.mkdir()
    (good_root / "main.tf").write_text('resource "aws_db_instance" "db" {\n  storage_encrypted = true\n}\n')
    good = gate.scan(good_root)
    assert "CKV_AWS_16" in {f.check_id for f in bad.findings}
    assert "CKV_AWS_16" not in {f.check_id for f in good.findings} and "CKV_AWS_16" in good.passed


def test_a_killed_worker_is_restarted(tmp_path: Path) -> None:
    with PolicyGate(find_checkov()) as own:
        own.known()
        assert own._process is not None
        first_pid = own._process.pid
        os.kill(first_pid, signal.SIGKILL)
        own._process.wait()
        result = own.scan(root_with(tmp_path))
        assert "CKV_AWS_16" in {f.check_id for f in result.findings}
        assert own._process is not None and own._process.pid != first_pid


def test_a_hung_scan_times_out_and_the_next_scan_gets_a_new_worker(tmp_path: Path) -> None:
    with PolicyGate(find_checkov(), timeout=3) as own:
        own.known()
        assert own._process is not None
        hung = own._process
        os.kill(hung.pid, signal.SIGSTOP)  # alive, answering nothing
        with pytest.raises(PolicyScanError, match="timed out after 3 s"):
            own.scan(root_with(tmp_path))
        assert hung.wait(timeout=10) is not None, "the hung worker was killed"
        own.timeout = 120
        assert own.scan(tmp_path / "root").findings


def fake_checkov(tmp_path: Path) -> Path:
    """A checkov whose Python exits at once: the worker can never start."""
    venv = tmp_path / "broken-checkov"
    (venv / "bin").mkdir(parents=True)
    for name in ("python", "checkov"):
        path = venv / "bin" / name
        path.write_text("#!/bin/sh\nexit 7\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return venv


def test_a_worker_that_cannot_start_is_an_error_unless_fallback_is_asked_for(tmp_path: Path) -> None:
    broken = find_checkov(fake_checkov(tmp_path))
    with pytest.raises(PolicyScanError, match="did not start"), PolicyGate(broken, start_timeout=10) as gate:
        gate.scan(root_with(tmp_path))
    real = find_checkov()
    with PolicyGate(type(real)(python=broken.python, cli=real.cli), cli_fallback=True) as fallback:
        result = fallback.scan(tmp_path / "root")
    assert {"CKV_AWS_16", "CKV_AWS_17"} <= {f.check_id for f in result.findings}


def test_a_missing_checkov_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(CheckovMissing, match="make checkov"):
        find_checkov(tmp_path / "nowhere")
    empty = tmp_path / "empty-venv"
    (empty / "bin").mkdir(parents=True)
    with pytest.raises(CheckovMissing, match="DBVEND_CHECKOV"):
        find_checkov(empty)


def test_the_cli_and_the_worker_find_the_same(gate: PolicyGate, tmp_path: Path) -> None:
    root = root_with(tmp_path)
    job = {"framework": "terraform", "root": str(root)}
    by_cli = scan_with_cli(gate.checkov, job, gate.policy_dirs, 120)
    by_worker = gate.scan(root)
    assert sorted(f.check_id for f in by_cli.findings) == sorted(f.check_id for f in by_worker.findings)


def test_unknown_check_ids_in_the_catalog_are_an_error(gate: PolicyGate) -> None:
    catalog = parse_catalog(catalog_with("policy:\n  warn: [CKV_AWS_16, CKV_NOPE_1]\n"))
    rendered = RenderedRoot("terraform/dev/x", {"main.tf": TF_BAD})
    with pytest.raises(CatalogError, match="unknown check ids: CKV_NOPE_1"):
        check_rendered(gate, rendered, catalog, "dev", TODAY)


def test_a_plan_is_refused_for_unknown_check_ids_as_a_root_is(gate: PolicyGate, tmp_path: Path) -> None:
    """`dbvend ci plan` decided on its own and scanned on with a typo in dbvend.yaml (issue 20)."""
    catalog = parse_catalog(catalog_with("policy:\n  fail: [CKV_NOPE_1]\n"))
    with pytest.raises(CatalogError, match="unknown check ids: CKV_NOPE_1"):
        policy_decision(gate, tmp_path / "plan.json", catalog, "dev", TODAY, plan=True)


def test_check_rendered_names_files_by_their_path_in_the_repository(gate: PolicyGate) -> None:
    catalog = parse_catalog(default_catalog_text())
    rendered = RenderedRoot("terraform/dev/x", {"main.tf": TF_BAD})
    decision = check_rendered(gate, rendered, catalog, "dev", TODAY)
    assert decision.result == "fail"
    assert {f.file for f in decision.failures} == {"terraform/dev/x/main.tf"}
    assert policy_context(catalog)["environments"]["prod"]["production"] is True
