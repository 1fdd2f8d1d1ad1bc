"""The issue form (workflows/ISSUE_TEMPLATE/database.yml) against GitHub's issue-form schema, with
check-jsonschema's vendored copy; tests/unit/test_forms.py holds it and engine/forms.py together."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT

FORM_FILE = ROOT / "workflows" / "ISSUE_TEMPLATE" / "database.yml"


def test_form_passes_githubs_issue_form_schema() -> None:
    tool = Path(sys.executable).with_name("check-jsonschema")
    command = str(tool) if tool.exists() else shutil.which("check-jsonschema")
    assert command, "check-jsonschema is a dev dependency"
    done = subprocess.run(
        [command, "--builtin-schema", "vendor.github-issue-forms", str(FORM_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
