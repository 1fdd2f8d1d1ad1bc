"""zizmor, offline, finds nothing of medium or high severity in the Action, the workflows and Dependabot.

zizmor (a dev dependency) audits GitHub Actions files statically: unpinned `uses:`, credentials left
in the checkout (artipacked), expressions expanded into scripts (template-injection), writes to
GITHUB_ENV / GITHUB_PATH, permissions, cache poisoning, Dependabot's cooldown and more. Its policy is
.github/zizmor.yml; a finding kept on purpose carries a `# zizmor: ignore[audit]` comment with its reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.ci_files import (
    ACTION_FILE,
    ACTION_REPOSITORY,
    CALLERS,
    DEPENDABOT_FILE,
    OWN_WORKFLOWS,
    ROOT,
)

CONFIG = ROOT / ".github" / "zizmor.yml"
# Every file is named: given the directory workflows/, zizmor collects nothing (it looks for
# workflows/.github/workflows/), and says so only when no other input is given.
AUDITED = [ACTION_FILE, *OWN_WORKFLOWS, *CALLERS, DEPENDABOT_FILE]
FAILING = {"Medium", "High"}
# --offline keeps zizmor off the network already; it gets no token either.
TOKENS = {"GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN"}


def zizmor_executable() -> str:
    beside = Path(sys.executable).parent / "zizmor"
    found = str(beside) if beside.exists() else shutil.which("zizmor")
    assert found, "zizmor is a dev dependency: pip install -e '.[dev]'"
    return found


def audit(paths: list[Path], cwd: Path = ROOT) -> list[dict[str, Any]]:
    """zizmor's findings (JSON v1) for these files, offline, with the project's configuration."""
    env = {name: value for name, value in os.environ.items() if name not in TOKENS}
    command = [zizmor_executable(), "--offline", "--no-exit-codes", "--strict-collection", "--format", "json"]
    done = subprocess.run(
        [*command, "--config", str(CONFIG), *(str(p.relative_to(cwd)) for p in paths)],
        cwd=cwd,
        env=env | {"NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr  # --no-exit-codes: non-zero is zizmor failing, not findings
    findings = json.loads(done.stdout)
    assert isinstance(findings, list), done.stdout
    return findings


def describe(finding: dict[str, Any]) -> str:
    """`file:line audit (severity): what`, from the finding's primary location."""
    locations = finding["locations"]
    primary = next((loc for loc in locations if loc["symbolic"]["kind"] == "Primary"), locations[0])
    path = primary["symbolic"]["key"]["Local"]["verbatim_path"]
    line = primary["concrete"]["location"]["start_point"]["row"] + 1
    severity = finding["determinations"]["severity"]
    return f"{path}:{line} {finding['ident']} ({severity}): {primary['symbolic']['annotation']}"


def test_nothing_medium_or_high() -> None:
    assert all(path.is_file() for path in AUDITED)
    findings = audit(AUDITED)
    failing = [describe(f) for f in findings if f["determinations"]["severity"] in FAILING]
    assert not failing, "zizmor --offline (docs: https://docs.zizmor.sh/audits/):\n" + "\n".join(failing)


def test_only_dbvend_itself_may_follow_a_tag() -> None:
    policies = yaml.safe_load(CONFIG.read_text())["rules"]["unpinned-uses"]["config"]["policies"]
    assert policies == {"*": "hash-pin", f"{ACTION_REPOSITORY}/*": "ref-pin"}


def test_the_audit_catches_a_tag_pinned_action(tmp_path: Path) -> None:
    """The harness works: a third-party action on a tag is a high finding; dbvend's own `@v1` is not."""
    workflow = tmp_path / ".github" / "workflows" / "probe.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(
        "name: probe\n"
        "on: workflow_dispatch\n"
        "permissions: {}\n"
        "jobs:\n"
        "  probe:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/setup-python@v5\n"
        f"      - uses: {ACTION_REPOSITORY}@v1\n"
        "  called:\n"
        f"    uses: {ACTION_REPOSITORY}/.github/workflows/dbvend-ttl.yml@v1\n"
    )
    unpinned = [describe(f) for f in audit([workflow], cwd=tmp_path) if f["ident"] == "unpinned-uses"]
    assert [d.split(": ")[0] for d in unpinned] == [".github/workflows/probe.yml:8 unpinned-uses (High)"]
