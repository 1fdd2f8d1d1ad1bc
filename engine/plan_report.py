"""The plan comment: a CI run's reports per Terraform root (summaries, errors, cost, policy) as markdown."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from engine.description import md_escape
from engine.policy import PolicyFinding
from engine.summary import IMPORTANT_ATTRIBUTES, SENSITIVE, AttributeChange, PlanSummary, ResourceChange

_CELL_ATTRIBUTES = 10
_LISTED_POLICY_FAILURES = 10
_ACTION_WORDS: dict[str, str] = {
    "create": "create",
    "update": "update",
    "delete": "destroy",
    "replace": "replace",
    "read": "read",
    "forget": "forget",
}
_REASONS = {
    "replace_because_tainted": "tainted",
    "replace_because_cannot_update": "cannot be updated in place",
    "replace_by_request": "replacement requested",
    "delete_because_no_resource_config": "no longer in the configuration",
    "delete_because_no_module": "its module is gone",
    "delete_because_count_index": "count index out of range",
    "delete_because_each_key": "for_each key gone",
}


@dataclass(frozen=True)
class RootReport:
    """One Terraform root's outcome in a CI plan run."""

    directory: str
    summary: PlanSummary | None = None
    error: str | None = None
    monthly_cost: float | None = None
    policy: str | None = None
    locked_by: str | None = None  # the lock that stopped the plan: "lock <id>, held by <who>, ..."
    policy_failures: tuple[PolicyFinding, ...] = ()  # the checks that failed, when policy is a fail


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun: 1 database, 2 databases."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def count_line(create: int, update: int, delete: int, replace: int, forget: int = 0) -> str:
    line = f"{create} to add, {update} to change, {delete} to destroy, {replace} to replace"
    return line + (f", {forget} to forget" if forget else "")


def render_report(reports: Sequence[RootReport], title: str = "dbvend plan") -> str:
    """The plan comment: totals, then one section per Terraform root. Every text from a plan is escaped."""
    lines = [f"## {md_escape(title)}", "", _totals(reports), ""]
    for report in reports:
        lines += _root_section(report)
    return "\n".join(lines)


def _totals(reports: Sequence[RootReport]) -> str:
    if not reports:
        return "No Terraform root changed."
    summaries = [r.summary for r in reports if r.summary is not None]
    counts = count_line(*(sum(getattr(s, key) for s in summaries) for key in _COUNTED))
    parts = [f"**{counted(len(reports), 'database')}**: {counts}"]
    important = sum(len(s.important) for s in summaries)
    failed = sum(1 for r in reports if r.error is not None)
    locked = sum(1 for r in reports if r.locked_by is not None)
    costs = [r.monthly_cost for r in reports if r.monthly_cost is not None]
    parts += [f"⚠️ {important} important"] if important else []
    parts += [f"❌ {failed} failed"] if failed else []
    parts += [f"🔒 {locked} locked"] if locked else []
    parts += [f"≈ ${sum(costs):,.2f}/month"] if costs else []
    return " · ".join(parts)


_COUNTED = ("create", "update", "delete", "replace", "forget")


def _root_section(report: RootReport) -> list[str]:
    lines = [f"### {md_escape(report.directory)}", ""]
    if report.locked_by is not None:
        lines += [f"🔒 State locked ({md_escape(report.locked_by)}).", ""]
    if report.error is not None:
        lines += ["❌ Plan failed:", "", *code_block(report.error), ""]
    summary = report.summary
    if summary is not None:
        counts = count_line(*(getattr(summary, key) for key in _COUNTED))
        lines += ["No changes." if summary.is_empty else counts, ""]
        lines += [f"- ⚠️ {change_text(change, _important_diffs(change))}" for change in summary.important]
        lines += [""] if summary.important else []
    if report.monthly_cost is not None:
        lines += [f"Estimated cost: ≈ ${report.monthly_cost:,.2f}/month", ""]
    if report.policy is not None:
        lines += [f"Policy: {_policy_icon(report.policy)}{md_escape(report.policy)}", ""]
        lines += _policy_failures(report.policy_failures)
    if summary is not None:
        lines += _changes_details(summary) + _drift_details(summary)
    return lines


def code_block(text: str, info: str = "text") -> list[str]:
    """A fenced block that nothing in text can close: its fence is longer than any backtick run in it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, text.rstrip("\n"), fence]


def _policy_failures(failures: Sequence[PolicyFinding]) -> list[str]:
    """Each failed check with its name and resource, at most _LISTED_POLICY_FAILURES of them."""
    if not failures:
        return []
    shown = failures[:_LISTED_POLICY_FAILURES]
    lines = [
        f"- ❌ {md_escape(' '.join(filter(None, (f.check_id, f.name))))}{_on(f.resource)}" for f in shown
    ]
    more = len(failures) - len(shown)
    lines += [f"- and {counted(more, 'more failed check')}"] if more else []
    return [*lines, ""]


def _on(resource: str) -> str:
    return f" (resource {md_escape(resource)})" if resource else ""


def _policy_icon(policy: str) -> str:
    for prefix, icon in (("pass", "✅ "), ("warn", "🟡 "), ("fail", "❌ ")):
        if policy.lower().startswith(prefix):
            return icon
    return ""


def _important_diffs(change: ResourceChange) -> tuple[AttributeChange, ...]:
    return tuple(d for d in change.diffs if d.name in IMPORTANT_ATTRIBUTES or d.forces_replacement)


def change_text(change: ResourceChange, diffs: Sequence[AttributeChange]) -> str:
    """One resource change in a line: action, address, reason, then its diffs (at most 10)."""
    text = f"**{_ACTION_WORDS[change.kind]}** {md_escape(change.address)}"
    if change.action_reason:
        text += f" ({md_escape(_REASONS.get(change.action_reason, change.action_reason))})"
    return text + (f": {_diffs_text(diffs)}" if diffs else "")


def _diffs_text(diffs: Sequence[AttributeChange]) -> str:
    """The diffs, what forces a replacement first, then what makes a change important, at most 10."""
    ordered = sorted(diffs, key=lambda d: (not d.forces_replacement, d.name not in IMPORTANT_ATTRIBUTES))
    shown = [_diff_text(d) for d in ordered[:_CELL_ATTRIBUTES]]
    more = len(diffs) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _diff_text(diff: AttributeChange, prefix: str = "") -> str:
    """One attribute's change; a map's, key by key (`tags.team: a → b`); a value hidden on both sides
    (a secret) as `changed (sensitive)`."""
    name = prefix + diff.name
    if diff.keys:
        shown = [_diff_text(key, f"{name}.") for key in diff.keys[:_CELL_ATTRIBUTES]]
        more = len(diff.keys) - len(shown)
        text = "; ".join(shown) + (f"; and {counted(more, 'more key')} of {md_escape(name)}" if more else "")
    elif diff.before == diff.after == SENSITIVE:
        text = f"{md_escape(name)}: changed {SENSITIVE}"
    else:
        text = f"{md_escape(name)}: {md_escape(diff.before)} → {md_escape(diff.after)}"
    return text + (" (forces replacement)" if diff.forces_replacement else "")


def _changes_details(summary: PlanSummary) -> list[str]:
    """Every change, important ones first, under a title that counts what the count line counts (the
    data sources a plan reads are no change: named apart)."""
    if not summary.changes:
        return []
    ordered = sorted(summary.changes, key=lambda change: not change.important)
    changed = sum(1 for change in ordered if change.kind != "read")
    return [
        f"<details><summary>{_changes_title(changed, len(ordered) - changed)}</summary>",
        "",
        "| resource | action | changed attributes |",
        "|---|---|---|",
        *(_change_row(change) for change in ordered),
        "",
        "</details>",
        "",
    ]


def _changes_title(changed: int, reads: int) -> str:
    read = f"{counted(reads, 'data source')} read"
    if not changed:
        return f"{read}, no resource change"
    title = "1 resource change" if changed == 1 else f"All {changed} resource changes"
    return f"{title} (and {read})" if reads else title


def _change_row(change: ResourceChange) -> str:
    resource = ("⚠️ " if change.important else "") + md_escape(change.address)
    return f"| {resource} | {_ACTION_WORDS[change.kind]} | {_diffs_text(change.diffs)} |"


def _drift_details(summary: PlanSummary) -> list[str]:
    if not summary.drift:
        return []
    return [
        f"<details><summary>{len(summary.drift)} changed outside Terraform since the last apply</summary>",
        "",
        *(change_line(change) for change in summary.drift),
        "",
        "</details>",
        "",
    ]


def change_line(change: ResourceChange) -> str:
    """A change as a list item, ⚠️ when it is important: the plan comment's drift and the drift issue."""
    return f"- {'⚠️ ' if change.important else ''}{change_text(change, change.diffs)}"
