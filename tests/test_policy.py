"""The policy gate: decisions from dbvend.yaml (pure), and the warm checkov worker (real checkov)."""

from __future__ import annotations

import os
import signal
import stat
from datetime import date
from pathlib import Path

import pytest

from engine.catalog import PolicyRules, PolicySkip, default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.checkov.gate import PolicyGate, check_rendered, find_checkov, policy_decision, scan_with_cli
from engine.errors import CatalogError, CheckovMissing, PolicyScanError
from engine.policy import PolicyFinding, ScanResult, decide, policy_context
from engine.render import RenderedRoot

TODAY = date(2026, 11, 23)


def finding(check_id: str, resource: str = "aws_db_instance.this") -> PolicyFinding:
    return PolicyFinding(check_id, f"name of {check_id}", None, resource, "/main.tf", (1, 9), None)


# -- deciding -------------------------------------------------------------------------------


def test_no_findings_pass() -> None:
    assert decide(ScanResult(()), PolicyRules(), "dev", TODAY).result == "pass"


def test_an_unlisted_failure_fails_by_default_and_warns_with_default_warn() -> None:
    scan = ScanResult((finding("CKV_AWS_1"),))
    failed = decide(scan, PolicyRules(), "dev", TODAY)
    assert failed.result == "fail" and [f.check_id for f in failed.failures] == ["CKV_AWS_1"]
    warned = decide(scan, PolicyRules(default="warn"), "dev", TODAY)
    assert warned.result == "warn" and [f.check_id for f in warned.warnings] == ["CKV_AWS_1"]


def test_fail_and_warn_lists_override_the_default() -> None:
    scan = ScanResult((finding("CKV_AWS_1"), finding("CKV_AWS_2")))
    rules = PolicyRules(default="warn", fail=frozenset({"CKV_AWS_2"}), warn=frozenset({"CKV_AWS_1"}))
    decision = decide(scan, rules, "dev", TODAY)
    assert decision.result == "fail"
    assert [f.check_id for f in decision.failures] == ["CKV_AWS_2"]
    assert [f.check_id for f in decision.warnings] == ["CKV_AWS_1"]


def test_a_skip_applies_in_its_environments_until_its_date() -> None:
    skip = PolicySkip("CKV_AWS_1", "a reason that is long enough", date(2026, 12, 31), ("dev",))
    rules = PolicyRules(skip=(skip,))
    scan = ScanResult((finding("CKV_AWS_1"),))
    skipped = decide(scan, rules, "dev", TODAY)
    assert skipped.result == "pass" and skipped.skipped[0].reason == "a reason that is long enough"
    assert decide(scan, rules, "prod", TODAY).result == "fail", "not skipped in another environment"
    assert decide(scan, rules, "dev", date(2026, 12, 31)).result == "pass", "the last day still counts"
    expired = decide(scan, rules, "dev", date(2027, 1, 1))
    assert expired.result == "fail" and expired.notes == ("the skip of CKV_AWS_1 expired on 2026-12-31",)


def test_a_parsing_error_is_never_a_pass() -> None:
    decision = decide(ScanResult((), parsing_errors=("/main.tf",)), PolicyRules(), "dev", TODAY)
    assert decision.result == "fail" and "could not parse /main.tf" in decision.notes[0]


# -- dbvend.yaml's policy section -----------------------------------------------------------


def catalog_with(policy: str) -> str:
    return default_catalog_text().split("\npolicy:")[0] + "\n" + policy


def test_the_default_catalog_skips_each_built_in_check_with_a_reason() -> None:
    rules = parse_catalog(default_catalog_text()).policy
    assert rules.default == "fail" and rules.skip
    assert all(len(skip.reason) > 40 for skip in rules.skip)
    scoped = {s.check_id: s.environments for s in rules.skip if s.environments}
    assert scoped == {
        "CKV_AWS_139": ("dev", "staging"),
        "CKV_AWS_293": ("dev", "staging"),
        "CKV_AWS_157": ("dev", "staging"),
        "CKV_AWS_338": ("dev", "staging"),  # production keeps its logs a year
        "CKV_AWS_353": ("dev", "staging"),  # production has Performance Insights
    }


@pytest.mark.parametrize(
    ("policy", "key", "rule"),
    [
        ("policy:\n  default: maybe\n", "policy.default", "fail or warn"),
        ("policy:\n  warn: [ckv_lower]\n", "policy.warn", "check ids"),
        ("policy:\n  skip:\n    - id: CKV_AWS_1\n", "policy.skip[0].reason", "is required"),
        ("policy:\n  skip:\n    - {id: CKV_AWS_1, reason: short}\n", "policy.skip[0].reason", "why"),
        (
            "policy:\n  skip:\n    - {id: CKV_AWS_1, reason: a long enough reason, expires: soon}\n",
            "policy.skip[0].expires",
            "date",
        ),
        ("policy:\n  fail: [CKV_AWS_1]\n  warn: [CKV_AWS_1]\n", "policy.warn[0]", "twice"),
        ("policy:\n  whatever: 1\n", "policy.whatever", "not a known key"),
    ],
)
def test_policy_section_errors_name_the_key(policy: str, key: str, rule: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(catalog_with(policy))
    assert caught.value.key == key and rule in caught.value.rule


def test_a_skip_with_date_and_environments_is_parsed() -> None:
    rules = parse_catalog(
        catalog_with(
            "policy:\n  default: warn\n  skip:\n"
            "    - {id: CKV_AWS_1, reason: a long enough reason, expires: 2027-06-30, environments: [dev]}\n"
        )
    ).policy
    assert rules.default == "warn"
    assert rules.skip == (PolicySkip("CKV_AWS_1", "a long enough reason", date(2027, 6, 30), ("dev",)),)


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


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("workflow: dbvend.yml", "workflow: ../evil.sh", "github.workflow"),
        ("require_approval: true", "require_approval: maybe", "github.apply.require_approval"),
        ("approvers: []", "approvers: ['bad login!']", "github.apply.approvers"),
        ("issue_label: database-request", "issue_label: 'a,b'", "github.issue_label"),
    ],
)
def test_github_section_errors_name_the_key(old: str, new: str, key: str) -> None:
    text = default_catalog_text()
    assert old in text
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text.replace(old, new, 1))
    assert caught.value.key == key


def test_github_section_values() -> None:
    text = default_catalog_text().replace("approvers: []", "approvers: [alice, bob-2]")
    rules = parse_catalog(
        text.replace("required_checks: null", "required_checks: [ci, dbvend/policy]")
    ).github
    assert rules.apply.approvers == ("alice", "bob-2") and rules.apply.required_checks == (
        "ci",
        "dbvend/policy",
    )
    assert rules.workflow == "dbvend.yml" and rules.issue_label == "database-request"


def test_ttl_max_extensions_is_read_and_checked() -> None:
    from engine.catalog_reader import parse_catalog

    text = default_catalog_text().replace(
        "ttl: {default: 7d, max: 30d}", "ttl: {default: 7d, max: 30d, max_extensions: 3}"
    )
    assert parse_catalog(text).environments["dev"].ttl.max_extensions == 3
    assert parse_catalog(default_catalog_text()).environments["dev"].ttl.max_extensions is None
    broken = text.replace("max_extensions: 3", "max_extensions: -1")
    with pytest.raises(CatalogError, match="max_extensions: must be a whole number"):
        parse_catalog(broken)
