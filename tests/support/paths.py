"""Where the tests find the repository's files and their own data (tests/data/)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
DATA = TESTS / "data"
PLANS = DATA / "plans"  # `terraform show -json` plans, recorded or written to Terraform's format
GOLDEN = DATA / "golden"  # rendered roots, one folder per case (tests/unit/test_render.py)
COMMENTS = (
    DATA / "comments"
)  # every text dbvend posts, one file per case (tests/integration/test_comment_golden.py)
POLICY_FIXTURES = DATA / "policies"  # <CHECK_ID>/{good,bad}/<case>/ (tests/integration/test_policies.py)
GITHUB_ANSWERS = DATA / "github"  # GitHub's GraphQL answers, recorded (tests/unit/test_github_decode.py)
FAKE_TERRAFORM = TESTS / "support" / "fake_terraform.py"
