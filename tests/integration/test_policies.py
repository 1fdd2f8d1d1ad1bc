"""The organisation's policies (policies/, CKV_DBV_*) under real checkov: fixtures, and every rendered root.

tests/data/policies/<CHECK_ID>/{good,bad}/<case>/ are small Terraform roots. A good root has no
CKV_DBV finding at all; a bad root fails with exactly its policy's id (checkov's own CKV_AWS
findings are not the policies' business here). A root is scanned with FIXTURE_CONTEXT unless it
has a context.json of its own (`{}`: the gate gave no context).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.catalog import Catalog, default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.checkov.gate import PolicyGate, check_rendered
from engine.claim import claim_from_raw
from engine.render import render_claim
from tests.support.paths import POLICY_FIXTURES as FIXTURES
from tests.support.paths import ROOT as PROJECT

POLICIES = PROJECT / "policies"
POLICY_ID = re.compile(r"CKV_DBV_\d+")

FIXTURE_CONTEXT: dict[str, Any] = {
    "environments": {
        "dev": {"instance_classes": ["db.t3.micro", "db.t3.small", "db.t3.medium"], "max_acu": 4.0},
        "staging": {"instance_classes": ["db.t3.small", "db.t3.medium", "db.m6g.large"], "max_acu": 16.0},
        "prod": {
            "instance_classes": ["db.t3.medium", "db.m6g.large", "db.r6g.xlarge"],
            "max_acu": 64.0,
            "production": True,
        },
    }
}

Scan = Callable[[Path, Mapping[str, Any] | None], list[dict[str, Any]]]


# -- checkov: the session's real gate (tests/integration/conftest.py) ---------------------------------------


@pytest.fixture(scope="session")
def policy_scan(gate: PolicyGate) -> Scan:
    def scan(root: Path, context: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        """The failed findings of one root; a parsing error fails the test."""
        result = gate.scan(root, context)
        assert not result.parsing_errors, f"{root}: {result.parsing_errors}"
        return [f.as_dict() for f in result.findings]

    return scan


def policy_ids_of(findings: list[dict[str, Any]]) -> set[str]:
    return {f["check_id"] for f in findings if POLICY_ID.fullmatch(f["check_id"])}


# -- the policies' files ----------------------------------------------------------------------


def policy_files() -> dict[str, list[str]]:
    """policies/<file>.py -> the CKV_DBV ids it names (read without importing checkov)."""
    found = {}
    for path in sorted(POLICIES.glob("*.py")):
        if path.name.startswith("_"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found[path.name] = [
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and POLICY_ID.fullmatch(node.value)
        ]
    return found


POLICY_IDS = sorted({i for ids in policy_files().values() for i in ids}, key=lambda i: int(i.split("_")[-1]))


def fixture_roots(check_id: str, kind: str) -> list[Path]:
    return sorted(p for p in (FIXTURES / check_id / kind).glob("*") if p.is_dir())


def context_of(root: Path) -> Mapping[str, Any]:
    own = root / "context.json"
    return json.loads(own.read_text(encoding="utf-8")) if own.exists() else FIXTURE_CONTEXT


def test_each_policy_file_has_one_unique_id_and_fixtures(gate: PolicyGate) -> None:
    files = policy_files()
    assert {name: ids for name, ids in files.items() if len(ids) != 1} == {}, "one check id per file"
    ids = [ids[0] for ids in files.values()]
    assert len(ids) == len(set(ids)), f"check ids used twice: {sorted(i for i in ids if ids.count(i) > 1)}"
    assert set(ids) == {i for i in gate.known() if POLICY_ID.fullmatch(i)}, "checkov loads them all"
    for check_id in ids:
        assert fixture_roots(check_id, "good"), f"{check_id} has no good fixture"
        assert fixture_roots(check_id, "bad"), f"{check_id} has no bad fixture"
    stray = {p.name for p in FIXTURES.iterdir()} - set(ids)
    assert not stray, f"fixtures of no policy: {sorted(stray)}"


def assert_policy(scan: Scan, check_id: str) -> None:
    """Good roots: no CKV_DBV finding. Bad roots: CKV_DBV findings of exactly check_id, each explained."""
    problems = []
    for root in fixture_roots(check_id, "good"):
        failed = policy_ids_of(scan(root, context_of(root)))
        if failed:
            problems.append(f"good/{root.name} failed {sorted(failed)}")
    for root in fixture_roots(check_id, "bad"):
        findings = [f for f in scan(root, context_of(root)) if POLICY_ID.fullmatch(f["check_id"])]
        if policy_ids_of(findings) != {check_id}:
            problems.append(f"bad/{root.name} failed {sorted(policy_ids_of(findings))}, not [{check_id}]")
        unexplained = [
            f["resource"] for f in findings if not (f["guideline"] and f["severity"] and f["name"])
        ]
        if unexplained:
            problems.append(f"bad/{root.name}: findings without name, severity or guideline: {unexplained}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("check_id", POLICY_IDS)
def test_policy_fixtures(policy_scan: Scan, check_id: str) -> None:
    assert_policy(policy_scan, check_id)


# -- what dbvend renders ----------------------------------------------------------------------

SUBNETS = "[{id: subnet-0123456789abcdef0, az: us-east-1a}, {id: subnet-0fedcba9876543210, az: us-east-1b}]"
ACCEPTED_AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RENDERED: list[tuple[str, str, dict[str, Any]]] = [
    *[
        (engine, env, {"size": size})
        for engine in ("postgres", "mysql", "aurora-postgresql", "aurora-mysql")
        for env in ("dev", "staging", "prod")
        for size in ("small", "medium", "large")
    ],
    ("postgres", "dev", {"ttl": "12h", "storage_gb": 100, "owner": "alice", "team": "Payments"}),
    ("mysql", "prod", {"ttl": "none", "storage_gb": 4000, "engine_version": "8.0"}),
    ("aurora-postgresql", "prod", {"readers": 3, "min_acu": 2, "max_acu": 64}),
    ("aurora-mysql", "staging", {"readers": 2}),
    ("aurora-postgresql", "dev", {"proxy": True, "readers": 0}),
    ("aurora-postgresql", "prod", {"proxy": True, "readers": 2}),
    ("aurora-mysql", "staging", {"proxy": True}),
    ("aurora-mysql", "prod", {"proxy": True, "readers": 5}),
]


@pytest.fixture(scope="module")
def catalog_with_subnets() -> Catalog:
    """The default dbvend.yaml, with the network an RDS Proxy needs in every environment."""
    text = default_catalog_text()
    assert "subnet_ids: []" in text
    networked = text.replace("subnet_ids: []", f"subnet_ids: {SUBNETS}")
    return parse_catalog(networked.replace("db_subnet_group: null", "db_subnet_group: dbvend-private"))


def test_every_rendered_root_passes_the_gate_and_every_default_skip_is_needed(
    gate: PolicyGate, catalog_with_subnets: Catalog
) -> None:
    """Engine x environment x size, and the options (TTL, storage, readers, ACUs, proxy): the whole
    gate (checkov's checks, the organisation's, dbvend.yaml's decisions) passes with no failure
    and no warning; and each skip in the default dbvend.yaml is used by some root (none is stale)."""
    assert len(RENDERED) == 44
    problems, skipped = [], set()
    for engine, env, extra in RENDERED:
        raw = {"database_name": "orders", "database_engine": engine, "environment": env, **extra}
        rendered = render_claim(claim_from_raw(raw, catalog_with_subnets, "3f2a1c9e-request", ACCEPTED_AT))
        if extra.get("proxy"):
            assert 'resource "aws_db_proxy"' in rendered.files["main.tf"]
        decision = check_rendered(gate, rendered, catalog_with_subnets, env, ACCEPTED_AT.date())
        if decision.result != "pass":
            found = [f"{f.check_id} {f.resource}" for f in (*decision.failures, *decision.warnings)]
            problems.append(f"{engine} {env} {extra}: {decision.result} {found} {decision.notes}")
        skipped |= {s.finding.check_id for s in decision.skipped}
    assert problems == []
    assert skipped == {skip.check_id for skip in catalog_with_subnets.policy.skip}
