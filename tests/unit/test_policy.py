"""The policy gate's decisions (engine/policy.py) from dbvend.yaml's policy section, on what a scan found;
the warm checkov worker that scans is tested with real checkov in tests/integration/test_checkov_gate.py."""

from __future__ import annotations

from datetime import date

import pytest

from engine.catalog import PolicyRules, PolicySkip, default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.errors import CatalogError
from engine.policy import PolicyFinding, ScanResult, decide
from tests.support.catalogs import catalog_with

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
