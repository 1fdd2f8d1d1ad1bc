"""engine.plan_report: the plan comment's counts, sections, flags, policy, locks, and what it never shows."""

from __future__ import annotations

from dataclasses import replace

from engine.ci import policy_line
from engine.plan_report import RootReport, render_report
from engine.policy import PolicyDecision, PolicyFinding
from engine.summary import summarize_plan
from tests.support.markdown import balanced
from tests.support.plans import RECORDED, SECRETS, change, load, plan_of

# --- render_report ---------------------------------------------------------------------------------------


def reports_of_every_fixture() -> list[RootReport]:
    return [
        RootReport(f"terraform/prod/{name}", summarize_plan(load(name)), monthly_cost=12.5 * i, policy="pass")
        for i, name in enumerate(RECORDED, start=1)
    ]


def test_render_report_counts_and_sections() -> None:
    text = render_report(reports_of_every_fixture())
    first_line_after_title = text.split("\n")[2]
    assert first_line_after_title.startswith(
        "**6 databases**: 3 to add, 3 to change, 3 to destroy, 4 to replace"
    )
    assert "⚠️ 6 important" in first_line_after_title
    assert "≈ $262.50/month" in first_line_after_title
    for name in RECORDED:
        assert f"### terraform/prod/{name.replace('_', chr(92) + '_')}" in text
    section = text.split("### terraform/prod/update\\_class\\_storage")[1].split("### ")[0]
    assert "0 to add, 2 to change, 0 to destroy, 0 to replace" in section
    assert "Estimated cost: ≈ $25.00/month" in section
    assert "Policy: ✅ pass" in section
    assert "<details><summary>All 2 resource changes</summary>" in section
    important = section.index("- ⚠️ **update** aws\\_db\\_instance.this")
    assert important < section.index("<details>")  # important changes come first
    assert "instance\\_class: db.t4g.medium → db.r6g.large" in section
    rows = [line for line in section.split("\n") if line.startswith("| ")]
    assert rows[1].startswith("| ⚠️ aws\\_db\\_instance.this | update |")
    assert rows[2].startswith("| aws\\_cloudwatch\\_metric\\_alarm.free\\_storage | update | threshold")
    noop = text.split("### terraform/prod/noop")[1].split("### ")[0]
    assert "No changes." in noop and "<details>" not in noop


def test_render_report_never_shows_a_secret() -> None:
    text = render_report(reports_of_every_fixture())
    assert "password: changed (sensitive)" in text
    for secret in SECRETS:
        assert secret not in text
    assert "hunter" not in text.lower()


def test_render_report_flags_replacements_with_their_reason() -> None:
    text = render_report([RootReport("terraform/prod/ledger", summarize_plan(load("replace_cluster")))])
    assert (
        "- ⚠️ **replace** aws\\_rds\\_cluster.this (cannot be updated in place): "
        "storage\\_encrypted: false → true (forces replacement)"
    ) in text
    assert "- ⚠️ **replace** aws\\_rds\\_cluster\\_instance.this\\[0\\]" in text
    assert "⚠️ **replace** aws\\_cloudwatch" not in text


def test_render_report_error_lock_and_policy() -> None:
    error = "Error: Unsupported argument\n  on main.tf line 12:\n`````\n```\n</details>\nEnd."
    text = render_report(
        [
            RootReport(
                "terraform/dev/broken",
                error=error,
                policy="fail: CKV_DBV_4, CKV_AWS_16",
                locked_by="alice, since 2026-11-23 09:00 UTC",
            )
        ]
    )
    assert "🔒 State locked (alice, since 2026-11-23 09:00 UTC)." in text
    assert "Policy: ❌ fail: CKV\\_DBV\\_4, CKV\\_AWS\\_16" in text
    assert f"``````text\n{error}\n``````" in text  # a fence longer than the error's longest backtick run
    assert "❌ 1 failed · 🔒 1 locked" in text
    assert balanced(text)


def test_failed_policy_checks_are_listed_with_their_name_and_resource_ten_at_most() -> None:
    failures = tuple(
        PolicyFinding(f"CKV_DBV_{i}", f"Check {i}", None, f"aws_db_instance.db{i}", "/main.tf", (1, 2), None)
        for i in range(1, 13)
    )
    report = RootReport("terraform/prod/orders", policy="fail: many", policy_failures=failures)
    text = render_report([report])
    assert "- ❌ CKV\\_DBV\\_1 Check 1 (resource aws\\_db\\_instance.db1)" in text
    assert "CKV\\_DBV\\_10 Check 10" in text and "CKV\\_DBV\\_11" not in text
    assert "- and 2 more failed checks" in text
    assert "more failed check\n" in render_report([replace(report, policy_failures=failures[:11])])


def test_counts_are_singular_for_one_and_agree_with_the_count_line() -> None:
    created = summarize_plan(load("create_root"))  # 3 creates and 1 data source read
    text = render_report([RootReport("terraform/dev/orders", created)])
    assert "3 to add, 0 to change" in text
    assert "<details><summary>All 3 resource changes (and 1 data source read)</summary>" in text
    one = summarize_plan(plan_of(change(["create"], None, {"engine": "postgres"}, "aws_db_instance")))
    text = render_report([RootReport("terraform/dev/orders", one)])
    assert "**1 database**: 1 to add" in text and "<details><summary>1 resource change</summary>" in text
    assert policy_line(PolicyDecision("warn", warnings=failures_of(1))) == "warn: 1 warning"
    assert policy_line(PolicyDecision("warn", warnings=failures_of(2))) == "warn: 2 warnings"


def failures_of(count: int) -> tuple[PolicyFinding, ...]:
    return tuple(PolicyFinding(f"CKV_{i}", "name", None, "r", "/main.tf", (1, 1), None) for i in range(count))


def test_a_map_shows_its_changed_keys_and_hides_only_secret_values() -> None:
    before = {"tags": {"team": "a", "api_token": "t0k-one", "keep": "x", "cost": "CC-1-secret", "gone": "g"}}
    after = {"tags": {"team": "b", "api_token": "t0k-two", "keep": "x", "cost": "CC-2-secret", "new": "n"}}
    mask = {"tags": {"cost": True}}  # a sensitive variable in one tag
    plan = plan_of(change(["update"], before, after, before_sensitive=mask, after_sensitive=mask))
    text = render_report([RootReport("terraform/dev/orders", summarize_plan(plan))])
    assert "tags.team: a → b" in text
    assert "tags.api\\_token: changed (sensitive)" in text and "t0k" not in text
    assert "tags.cost: changed (sensitive)" in text and "CC-" not in text
    assert "tags.gone: g → (absent)" in text and "tags.new: (absent) → n" in text
    assert "tags.keep" not in text
    whole = {"tags": True}
    hidden = change(["update"], before, after, before_sensitive=whole, after_sensitive=whole)
    text = render_report([RootReport("terraform/dev/orders", summarize_plan(plan_of(hidden)))])
    assert "tags: changed (sensitive)" in text and "team" not in text  # sensitive whole: no key shown


def test_drift_is_marked_important_in_the_plan_comment_as_in_the_drift_issue() -> None:
    text = render_report([RootReport("terraform/prod/billing", summarize_plan(load("unknown_values")))])
    drift = text.split("changed outside Terraform since the last apply</summary>")[1]
    assert "- ⚠️ **update** aws\\_db\\_instance.this: backup\\_retention\\_period: 7 → 1" in drift


def test_render_report_escapes_plan_text() -> None:
    hostile = "<img src=x onerror=alert(1)>"
    plan = plan_of(
        {
            "address": 'aws_db_instance.this["a|b](http://evil)"]',
            "mode": "managed",
            "type": "aws_db_instance",
            "name": "this",
            "change": {
                "actions": ["update"],
                "before": {"instance_class": "db.t4g.micro"},
                "after": {"instance_class": f"</details>{hostile}|`x`"},
                "after_unknown": {},
            },
        }
    )
    text = render_report([RootReport("terraform/prod/<b>x</b>", summarize_plan(plan))], title="plan *x*")
    assert hostile not in text and "<b>" not in text and "</details><img" not in text
    assert "## plan \\*x\\*" in text
    assert '\\["a\\|b\\](http://evil)"\\]' in text
    assert balanced(text)
    row = next(line for line in text.split("\n") if line.startswith("| ⚠️"))
    assert row.count(" | ") == 2  # no cell broken by a pipe from the plan


def test_render_report_of_nothing() -> None:
    assert render_report([]) == "## dbvend plan\n\nNo Terraform root changed.\n"
