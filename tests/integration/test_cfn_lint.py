"""github-app/template.yaml under cfn-lint: nothing at all from its own rules, and with the serverless
rules only the findings README.md explains."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT

TEMPLATE = ROOT / "github-app" / "template.yaml"
README = ROOT / "github-app" / "README.md"
SERVERLESS_RULES = "cfn_lint_serverless.rules"  # as its README runs it: cfn-lint template.yaml -a <this>

# (rule, resource) of each finding kept on purpose; github-app/README.md gives the reason of each.
ALLOWED = {
    ("WS1000", "ApiFunction"),
    ("WS1000", "ConsumerFunction"),
    ("WS2002", "RestApi"),
    ("WS1004", "ApiFunction"),
    ("WS1004", "ConsumerFunction"),
    ("ES6000", "RequestDeadLetterQueue"),
    ("ES6000", "SubscriptionDeadLetterQueue"),
    ("ES6000", "PeriodicDeadLetterQueue"),
}
# What the stack must never lose again (issue 18): access logs, a throttle on every route, and the
# deliveries SNS could not make to SQS.
NEVER_ALLOWED = {"ES2000", "ES2003", "ES7000"}


def cfn_lint(*arguments: str) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).with_name("cfn-lint")
    command = str(tool) if tool.exists() else shutil.which("cfn-lint")
    assert command, "cfn-lint is a dev dependency"
    return subprocess.run(
        [command, *arguments], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )


def serverless_findings() -> set[tuple[str, str]]:
    """(rule id, resource) of every finding of cfn-lint plus the serverless rules on the template."""
    done = cfn_lint(str(TEMPLATE.relative_to(ROOT)), "-a", SERVERLESS_RULES, "-f", "json")
    assert done.stderr == "", done.stderr  # a rules module that cannot be imported fails here, not skips
    findings = json.loads(done.stdout)
    assert (done.returncode == 0) == (findings == []), done.stdout
    return {(finding["Rule"]["Id"], finding["Location"]["Path"][1]) for finding in findings}


def readme_findings() -> set[tuple[str, str]]:
    """The (rule, resource) rows of the README's table of kept findings, each with a reason."""
    rows = re.findall(r"^\| `?([EW]S\d{4})`? \| `?(\w+)`? \| (.+) \|$", README.read_text(), re.MULTILINE)
    assert all(reason.strip() for _, _, reason in rows)
    return {(rule, resource) for rule, resource, _ in rows}


def test_the_serverless_rules_find_only_the_allowed_findings() -> None:
    found = serverless_findings()
    assert found - ALLOWED == set(), "new findings: fix them, or allow them with a reason in the README"
    assert ALLOWED - found == set(), "allowed findings that no longer occur: drop them here and in the README"


def test_the_allowed_findings_are_exactly_the_ones_the_readme_explains() -> None:
    assert readme_findings() == ALLOWED


def test_access_logs_throttling_and_the_subscriptions_dead_letters_are_never_allowed() -> None:
    assert {rule for rule, _ in ALLOWED} & NEVER_ALLOWED == set()


def test_the_serverless_rules_are_loaded() -> None:
    """A rules module that fails to load would make every run clean: list the rules it adds."""
    done = cfn_lint("-a", SERVERLESS_RULES, "--list-rules")
    assert done.returncode == 0, done.stderr
    listed = set(re.findall(r"^([EW]S\d{4})\b", done.stdout, re.MULTILINE))
    assert {rule for rule, _ in ALLOWED} | NEVER_ALLOWED <= listed


def test_cfn_lint_passes_without_output() -> None:
    tool = Path(sys.executable).with_name("cfn-lint")
    command = str(tool) if tool.exists() else shutil.which("cfn-lint")
    assert command, "cfn-lint is a dev dependency"
    done = subprocess.run(
        [command, str(TEMPLATE.relative_to(ROOT))], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
